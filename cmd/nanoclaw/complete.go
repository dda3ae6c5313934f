package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
)

// addCompletions teaches shell completion the values users would otherwise look up: group
// folders (the directories under groups/, read without opening the store, which completion
// must not write), plugin modules and JSON files. Commands are found by path, so a command
// missing here (renamed, removed) is simply not completed.
func addCompletions(root *cobra.Command, e env) {
	folders := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return groupFolders(e), cobra.ShellCompDirectiveNoFileComp
	}
	files := func(ext string) cobra.CompletionFunc {
		return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{ext}, cobra.ShellCompDirectiveFilterFileExt
		}
	}
	flags := map[string]map[string]cobra.CompletionFunc{
		"groups add":    {"folder": folders, "container-config": none},
		"groups reset":  {"folder": folders},
		"policy mount":  {"group": folders, "allowlist": files("json"), "plugin": files("wasm"), "host-path": dirs},
		"policy ipc":    {"group": folders, "task-group": folders, "request": files("json"), "groups": files("json"), "plugin": files("wasm"), "dir": fixed("messages", "tasks")},
		"policy route":  {"message": files("json"), "groups": files("json"), "plugin": files("wasm")},
		"auth":          {"phone": none},
		"chat":          {"name": none},
		"groups remove": {"jid": none},
	}
	for path, fs := range flags {
		c, _, err := root.Find(strings.Fields(path))
		if err != nil || c.CommandPath() != "nanoclaw "+path {
			continue
		}
		for name, f := range fs {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, f)
			}
		}
	}
	if c, _, err := root.Find([]string{"plugin", "check"}); err == nil && c.Name() == "check" {
		c.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return []string{"wasm"}, cobra.ShellCompDirectiveFilterFileExt
		}
	}
}

// none completes nothing: a value only the user knows (a phone number, a name).
func none(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// dirs completes directories.
func dirs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

// fixed completes one of a few words.
func fixed(words ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return words, cobra.ShellCompDirectiveNoFileComp
	}
}

// groupFolders lists the folders under groups/ that are valid group folders ("global" is
// not one).
func groupFolders(e env) []string {
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir(filepath.Join(paths.Root, "groups"))
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range entries {
		if d.IsDir() && ipcpolicy.ValidFolder(d.Name()) {
			out = append(out, d.Name())
		}
	}
	return out
}
