// Package memory makes the memory files agents keep from the host's templates, and nothing
// else: each group's own groups/<folder>/CLAUDE.md (from templates/main.md for the main
// group, templates/group.md for any other) and the one global groups/global/CLAUDE.md every
// group reads (templates/global.md).
//
// Templates and memory files are kept apart: a template is tracked and the host's, a memory
// file is the agent's and git-ignored. So an agent's notes never dirty the checkout, an
// update to a template never meets an agent's edit, and no agent can change what another
// group's memory starts from. A memory file that exists is never touched: it may hold what a
// user asked the assistant to remember.
package memory

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
)

// The templates, templates/<name>.md in the project.
const (
	// TemplateMain starts the main group's own memory.
	TemplateMain = "main"
	// TemplateGroup starts every other group's own memory.
	TemplateGroup = "group"
	// TemplateGlobal starts the global memory: shared by every group, written by main.
	TemplateGlobal = "global"
)

// templateName is the name the templates are written with; Render replaces it.
const templateName = "Andy"

// Render gives a template the assistant's name, as NanoClaw does: "# Andy" and "You are
// Andy" become "# <name>" and "You are <name>"; any other "Andy" is left as written.
func Render(tmpl []byte, assistantName string) []byte {
	if assistantName == "" || assistantName == templateName {
		return tmpl
	}
	text := strings.ReplaceAll(string(tmpl), "# "+templateName, "# "+assistantName)
	text = strings.ReplaceAll(text, "You are "+templateName, "You are "+assistantName)
	return []byte(text)
}

// Ensure creates the memory a group's run reads and is missing: the global memory and the
// group's own (the main template for main, the group template for any other), each with the
// assistant's name. Existing files are kept as they are, and something that is not a regular
// file where memory goes (an agent's link) is left alone and logged by agents. The group's
// folder must exist (agentfs.PrepareGroup); groups/global is made if missing. A project
// without a template makes no memory from it; a template that is not a regular file (a link,
// a FIFO) or is too large is an error: memory is better missing than taken from elsewhere.
func Ensure(agents *agentfs.FS, folder string, isMain bool, assistantName string) error {
	if err := agents.PrepareGlobal(); err != nil {
		return fmt.Errorf("global memory: %w", err)
	}
	if err := create(agents, agentfs.Global, TemplateGlobal, assistantName); err != nil {
		return fmt.Errorf("global memory: %w", err)
	}
	tmpl := TemplateGroup
	if isMain {
		tmpl = TemplateMain
	}
	if err := create(agents, folder, tmpl, assistantName); err != nil {
		return fmt.Errorf("memory of group %s: %w", folder, err)
	}
	return nil
}

// create makes folder's CLAUDE.md from the template unless it has one.
func create(agents *agentfs.FS, folder, tmpl, assistantName string) error {
	if agents.HasMemory(folder) {
		return nil
	}
	b, err := agents.ReadTemplate(tmpl)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := agents.CreateMemory(folder, Render(b, assistantName)); err != nil {
		return err
	}
	return nil
}
