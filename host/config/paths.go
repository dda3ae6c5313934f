// Package config holds the host's settings: where things live on disk and, as later parts of
// the host need them, the validated values of NanoClaw's environment variables.
package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Paths are the directories and files the host uses, all derived from the project root.
type Paths struct {
	Root          string // the project checkout (NanoClaw: process.cwd())
	Data          string // runtime state, git-ignored
	Plugins       string // watched plugin directory: *.wasm + *.json
	PluginCache   string // wazero's compiled-code cache: mode 0700, never mounted anywhere
	ControlSocket string // the running host's control socket, mode 0600
	ConfigDir     string // ~/.config/nanoclaw: allowlists, outside the project, never mounted
	PluginGrants  string // optional operator file widening or narrowing capability grants
}

// PathsFromEnv derives Paths from root, honouring NANOCLAW_PLUGINS_DIR,
// NANOCLAW_PLUGIN_CACHE, NANOCLAW_CONFIG_DIR and NANOCLAW_PLUGIN_GRANTS.
func PathsFromEnv(root string, getenv func(string) string) (Paths, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return Paths{}, fmt.Errorf("project root: %w", err)
	}
	p := Paths{Root: abs, Data: filepath.Join(abs, "data"), Plugins: filepath.Join(abs, "plugins")}
	p.PluginCache = filepath.Join(p.Data, "plugin-cache")
	if c := getenv("NANOCLAW_PLUGIN_CACHE"); c != "" {
		if p.PluginCache, err = filepath.Abs(c); err != nil {
			return Paths{}, fmt.Errorf("NANOCLAW_PLUGIN_CACHE: %w", err)
		}
	}
	p.ControlSocket = filepath.Join(p.Data, "nanoclaw.sock")
	if d := getenv("NANOCLAW_PLUGINS_DIR"); d != "" {
		if p.Plugins, err = filepath.Abs(d); err != nil {
			return Paths{}, fmt.Errorf("NANOCLAW_PLUGINS_DIR: %w", err)
		}
	}
	p.ConfigDir = getenv("NANOCLAW_CONFIG_DIR")
	if p.ConfigDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return Paths{}, fmt.Errorf("home directory (set NANOCLAW_CONFIG_DIR instead): %w", err)
		}
		p.ConfigDir = filepath.Join(home, ".config", "nanoclaw")
	}
	p.PluginGrants = getenv("NANOCLAW_PLUGIN_GRANTS")
	if p.PluginGrants == "" {
		p.PluginGrants = filepath.Join(p.ConfigDir, "plugin-grants.json")
	}
	return p, nil
}

// Protected lists the host's own state, which no additional mount may be, lie inside or
// contain, for any group and under any allowlist (main's read-only project mount is made by
// the sandbox, not the allowlist): the project root (code, .env, .git, bin/), the data
// directory (IPC, sessions, proxy sockets), store/ (the databases and WhatsApp credentials),
// the plugin directory and its compile cache (code the host runs), the config directory
// (the allowlists themselves), groups/ and each group's folder (every group's memory). Most
// lie inside the project root by default; each is listed on its own because configuration
// can move it elsewhere, and so that a refusal names the most specific one. A group folder
// made after the list was built is still covered by groups/.
//
// This is the one list: the host hands it to mount plugins and `nanoclaw policy mount`
// uses the same, so the explanation cannot drift from what the host enforces.
func (p Paths) Protected() []string {
	groups := filepath.Join(p.Root, "groups")
	list := []string{p.Root, p.Data, filepath.Join(p.Root, "store"), p.Plugins, p.PluginCache, p.ConfigDir, groups}
	entries, _ := os.ReadDir(groups) // missing or unreadable: groups/ itself still covers them
	for _, e := range entries {
		if e.IsDir() || e.Type()&fs.ModeSymlink != 0 {
			list = append(list, filepath.Join(groups, e.Name()))
		}
	}
	return list
}
