package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	anthropic "github.com/anthropics/anthropic-sdk-go"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// config is everything the runner takes from its environment. Every path is configurable so
// tests can point the runner at temp dirs; the defaults are the container's mount points.
//
//	NANOCLAW_WORKSPACE      /workspace   (group/, global/, project/, extra/* below it)
//	NANOCLAW_SOCKET         /run/nanoclaw/agent.sock: the group's agent socket, the only
//	                        way to the host (model API, IPC requests, input stream)
//	NANOCLAW_MODEL          claude-sonnet-5-5 (a run request's "model" wins)
//	NANOCLAW_WEB_TOOLS      on unless "0": server-side web_search and web_fetch
//	NANOCLAW_MAX_TOKENS     16384
//	NANOCLAW_MAX_ITERATIONS 100 model calls per turn
//	NANOCLAW_MAX_RETRIES    2
//	NANOCLAW_SESSIONS_DIR   $HOME/.nanoclaw/sessions
//	NANOCLAW_BASH           /bin/bash (script phase of scheduled tasks)
//	NANOCLAW_EXTRA_DIRS     extra mount points outside $NANOCLAW_WORKSPACE/extra (path list)
//	NANOCLAW_COMPACT_AT     150000 input tokens: the conversation is compacted past this
//	                        (contextedits.go, summarize.go); at least 1000; a run
//	                        request's "compactAt" (the host's setting) wins
type config struct {
	workspace  string
	groupDir   string
	globalDir  string
	projectDir string
	extraDir   string
	extraDirs  []string

	socket        string
	model         string
	webTools      bool
	maxTokens     int64
	maxIterations int
	maxRetries    int
	sessionsDir   string
	bash          string
	compactAt     int64
}

const defaultModel = anthropic.ModelClaudeSonnet5_5

// defaultCompactAt is the API's own default trigger for server-side compaction: far enough
// below a 200k-token window that one more turn of tool output still fits.
const defaultCompactAt = 150_000

// minCompactAt keeps a typo (NANOCLAW_COMPACT_AT=150) from summarizing after every turn.
const minCompactAt = 1000

func loadConfig(getenv func(string) string) (config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	var c config
	c.workspace = get("NANOCLAW_WORKSPACE", "/workspace")
	c.groupDir = filepath.Join(c.workspace, "group")
	c.globalDir = filepath.Join(c.workspace, "global")
	c.projectDir = filepath.Join(c.workspace, "project")
	c.extraDir = filepath.Join(c.workspace, "extra")
	c.socket = get("NANOCLAW_SOCKET", runproto.SocketPath)
	c.model = get("NANOCLAW_MODEL", defaultModel)
	c.webTools = getenv("NANOCLAW_WEB_TOOLS") != "0"
	c.bash = get("NANOCLAW_BASH", "/bin/bash")
	c.extraDirs = filepath.SplitList(get("NANOCLAW_EXTRA_DIRS", ""))

	var err error
	num := func(k string, def int) int {
		v := get(k, "")
		if v == "" {
			return def
		}
		n, e := strconv.Atoi(v)
		if e != nil || n < 0 {
			err = fmt.Errorf("%s=%q: want a non-negative integer", k, v)
			return def
		}
		return n
	}
	c.maxTokens = int64(num("NANOCLAW_MAX_TOKENS", 16384))
	c.maxIterations = num("NANOCLAW_MAX_ITERATIONS", 100)
	c.maxRetries = num("NANOCLAW_MAX_RETRIES", 2)
	c.compactAt = int64(num("NANOCLAW_COMPACT_AT", defaultCompactAt))
	if err != nil {
		return c, err
	}
	if c.compactAt < minCompactAt {
		return c, fmt.Errorf("NANOCLAW_COMPACT_AT=%d: want at least %d input tokens", c.compactAt, minCompactAt)
	}

	if d := get("NANOCLAW_SESSIONS_DIR", ""); d != "" {
		c.sessionsDir = d
	} else {
		home := get("HOME", "")
		if home == "" {
			return c, fmt.Errorf("HOME is not set and NANOCLAW_SESSIONS_DIR is empty")
		}
		c.sessionsDir = filepath.Join(home, ".nanoclaw", "sessions")
	}
	return c, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// roots returns the file tools' AllowedRoots and ReadOnlyRoots. Workdir is the group folder.
// AllowedRoots: global, project (main's read-only mount) and each /workspace/extra/* dir that
// exist. ReadOnlyRoots: project always, global for non-main groups. The container mounts
// enforce read-only too; these make the tools refuse early with a clear message.
func (c config) roots(isMain bool) (allowed, readOnly []string) {
	for _, d := range []string{c.globalDir, c.projectDir} {
		if isDir(d) {
			allowed = append(allowed, d)
		}
	}
	if entries, err := os.ReadDir(c.extraDir); err == nil {
		for _, e := range entries {
			p := filepath.Join(c.extraDir, e.Name())
			if isDir(p) { // follows symlinks, like a mount
				allowed = append(allowed, p)
			}
		}
	}
	for _, p := range c.extraDirs {
		if filepath.IsAbs(p) && isDir(p) {
			allowed = append(allowed, p)
		}
	}
	readOnly = []string{c.projectDir}
	if !isMain {
		readOnly = append(readOnly, c.globalDir)
	}
	return allowed, readOnly
}
