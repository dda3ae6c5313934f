package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/memory"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// TestHostile is the hostile-agent suite (security issue 11): a scripted model drives real
// agents — the real runner in real containers of the minimal image plus sockcat — through
// the attacks of the original report, against a host running as root in this process and
// against one running as an unprivileged user (uid 4242) in a child process. After every
// attack the host's files outside the containers' mounts (the project, a victim directory
// of decoy secrets, the config directory) are unchanged and the main chat is still answered.
func TestHostile(t *testing.T) {
	d := requireDocker(t)
	image := hostileImage(t, d)
	// The host in this process runs as the test's user: root in CI, where agents run as 1000.
	name := "root"
	if os.Getuid() != 0 {
		name = "uid" + strconv.Itoa(os.Getuid())
	}
	t.Run(name, func(t *testing.T) { hostileSuite(t, startHostileHost(t, d, image, 0)) })
	t.Run("uid4242", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("the unprivileged-host variant needs a root test process to switch to uid 4242")
		}
		hostileSuite(t, startHostileHost(t, d, image, 4242))
	})
}

// hostileSuite runs every attack against one host, in order: each leaves the host serving.
func hostileSuite(t *testing.T, h *hostileHost) {
	start := time.Now()
	defer func() { t.Logf("suite wall time %v", time.Since(start).Round(time.Millisecond)) }()
	if want := fmt.Sprintf("agents run as: user=%d:%d ", h.agentUID, h.agentUID); !strings.Contains(h.log.String(), want) {
		t.Fatalf("the host does not run agents as %d", h.agentUID)
	}
	memoryAndConversation(t, h)
	visibility(t, h)
	memoryLinks(t, h)
	globalMemory(t, h)
	agentDirs(t, h)
	logEscapes(t, h)
	socketAttacks(t, h)
	spoofing(t, h)
	registrations(t, h)
	mountGuard(t, h)
	finalChecks(t, h)
}

// memoryAndConversation: the agent can append to its memory (it owns CLAUDE.md), writes
// its session, and a three-message conversation costs three model requests, not a loop.
func memoryAndConversation(t *testing.T, h *hostileHost) {
	t.Run("memory-append", func(t *testing.T) {
		out := h.play(t, "local:chatty", "memory-append",
			bash(`echo 'remember: hostile suite was here' >> /workspace/group/CLAUDE.md && tail -n 1 /workspace/group/CLAUDE.md && echo "uid=$(id -u)"`))
		if len(out) != 1 || !strings.Contains(out[0], "remember: hostile suite was here") || !strings.Contains(out[0], fmt.Sprintf("uid=%d", h.agentUID)) {
			t.Fatalf("the append: %q", out)
		}
		b, err := os.ReadFile(filepath.Join(h.lay.work, "groups", "chatty", "CLAUDE.md"))
		if err != nil || !strings.HasSuffix(string(b), "remember: hostile suite was here\n") {
			t.Fatalf("the host's CLAUDE.md: %q, %v", b, err)
		}
		h.waitIdle(t, "chatty")
	})
	t.Run("session-written", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(h.lay.work, "data", "sessions", "chatty", ".nanoclaw", "sessions", "*.json"))
		if len(files) != 1 {
			t.Fatalf("session files %v", files)
		}
		fi, err := os.Stat(files[0])
		if err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(h.agentUID) || fi.Mode().Perm() != 0o600 {
			t.Fatalf("session file %s: %v %v", files[0], fi, err)
		}
	})
	t.Run("conversation-no-loop", func(t *testing.T) {
		before := h.api.requests("chatty")
		c := h.chat(t, "local:chatty")
		for i, text := range []string{"hello one", "hello two", "hello three"} {
			c.say(text)
			if got := c.reply(time.Minute); got != "reply: "+text {
				t.Fatalf("reply %q to %q", got, text)
			}
			if i == 0 {
				// A fresh container: its memory and its resumed session reached the model.
				body := h.api.allBodies()
				last := body[len(body)-1]
				if !strings.Contains(last, "remember: hostile suite was here") {
					t.Error("the appended memory is not in the next run's system prompt")
				}
				if !strings.Contains(last, "run memory-append") {
					t.Error("the next run did not resume the session")
				}
			}
		}
		h.waitIdle(t, "chatty")
		if n := h.api.requests("chatty") - before; n != 3 {
			t.Fatalf("three messages cost %d model requests", n)
		}
	})
}

// visibility: main and a non-main agent search everything they can see for the decoy
// secrets, and main tries the parts of the project it must not see or write. A tool's
// output goes to the model, so no-secret-reached-the-model checks this run as well.
func visibility(t *testing.T, h *hostileHost) {
	for _, folder := range []string{"main", "evil"} {
		h.attack(t, "read-everything-"+folder, func(t *testing.T) {
			out := h.play(t, "local:"+folder, "read-all-"+folder, bash(
				`find / \( -path /proc -o -path /sys -o -path /dev -o -path /home/node \) -prune -o -type f -print > /tmp/files 2>/dev/null; `+
					`echo "files=$(wc -l < /tmp/files)"; tr '\n' '\0' < /tmp/files | xargs -0 grep -Iho 'decoy-[a-z-]*-[A-Z0-9]*' 2>/dev/null | sort -u; `+
					`echo "env=$(cat /workspace/project/.env 2>&1 | wc -c)"; ls -A /workspace/project/store /workspace/project/data 2>&1; `+
					`touch /workspace/project/planted; echo "touch=$?"`))[0]
			m := regexp.MustCompile(`files=(\d+)`).FindStringSubmatch(out)
			if n, _ := strconv.Atoi(m[1]); m == nil || n < 10 {
				t.Fatalf("the search saw too few files to mean anything:\n%s", out)
			}
			for _, s := range h.lay.secrets {
				if strings.Contains(out, s) {
					t.Errorf("%s sees the decoy secret %q", folder, s)
				}
			}
			if folder == "main" && (!strings.Contains(out, "env=0") || strings.Contains(out, "touch=0") || strings.Contains(out, "nanoclaw.db")) {
				t.Errorf("main's view of the project:\n%s", out)
			}
		})
	}
}

// memoryLinks: the agent replaces its CLAUDE.md with links (dangling into the victim
// directory or the project, or to a victim file) and the host is made to touch it: main
// re-registers the group, `nanoclaw groups add` re-adds it, and its next container starts.
// The host creates nothing at a link's target, hands nothing to the agent and leaves the
// link alone.
func memoryLinks(t *testing.T, h *hostileHost) {
	v, w := h.lay.victim, h.lay.work
	cases := []struct{ name, target string }{
		{"dangling-absolute-link-into-victim", v + "/planted-by-host"},
		{"dangling-absolute-link-into-project", w + "/planted-by-host"},
		{"dangling-relative-link-out-of-groups", "../../../victim/planted-relative"},
		{"link-to-victim-file", v + "/etc-shadow"},
		{"relative-link-to-root-owned-file", "../../../victim/root-only"},
		{"link-to-host-database", w + "/store/nanoclaw.db"},
	}
	for _, c := range cases {
		h.attack(t, "memory-"+c.name, func(t *testing.T) {
			h.waitIdle(t, "evil") // the plant run starts a fresh container: the host prepares the folder
			out := h.play(t, "local:evil", "plant-"+c.name,
				bash(`cd /workspace/group && rm -rf CLAUDE.md && ln -s '`+c.target+`' CLAUDE.md && readlink CLAUDE.md`))
			if !strings.Contains(out[0], c.target) {
				t.Fatalf("plant: %q", out)
			}
			out = h.play(t, "local:main", "reregister-"+c.name, tool("register_group",
				map[string]any{"jid": "local:evil", "name": "Evil", "folder": "evil", "trigger": "@Andy", "requiresTrigger": false}))
			if !strings.Contains(out[0], "registered") {
				t.Fatalf("main's register_group: %q", out)
			}
			if got, code := h.cli(t, "groups", "add", "--jid", "local:evil", "--folder", "evil", "--name", "Evil", "--no-trigger-required"); code != 0 {
				t.Fatalf("groups add: %s", got)
			}
			if got, err := os.Readlink(filepath.Join(w, "groups", "evil", "CLAUDE.md")); err != nil || got != c.target {
				t.Errorf("the host did not leave the link alone: %q, %v", got, err)
			}
		})
	}
	h.attack(t, "memory-fifo", func(t *testing.T) {
		h.waitIdle(t, "evil")
		out := h.play(t, "local:evil", "plant-fifo", bash(`cd /workspace/group && rm -rf CLAUDE.md && sockcat -mkfifo CLAUDE.md && ls -l CLAUDE.md`))
		if !strings.Contains(out[0], "mkfifo ok") {
			t.Fatalf("plant: %q", out)
		}
		out = h.play(t, "local:main", "reregister-fifo", tool("register_group",
			map[string]any{"jid": "local:evil", "name": "Evil", "folder": "evil", "trigger": "@Andy", "requiresTrigger": false}))
		if !strings.Contains(out[0], "registered") {
			t.Fatalf("main's register_group: %q", out)
		}
		if got, code := h.cli(t, "groups", "add", "--jid", "local:evil", "--folder", "evil", "--name", "Evil", "--no-trigger-required"); code != 0 {
			t.Fatalf("groups add: %s", got)
		}
		// The runner itself would block reading a FIFO as its memory: that only stalls the
		// agent that made it, so the test takes it away before the group's next run.
		h.waitIdle(t, "evil")
		if err := os.Remove(filepath.Join(w, "groups", "evil", "CLAUDE.md")); err != nil {
			t.Fatal(err)
		}
	})
	h.attack(t, "memory-restored", func(t *testing.T) {
		h.waitIdle(t, "evil") // the last link meets a fresh container's preparation too
		h.play(t, "local:evil", "restore-memory", bash(`cd /workspace/group && rm -rf CLAUDE.md && echo '# Evil' > CLAUDE.md`))
	})
}

// globalMemory: main has groups/global read-write; it replaces the global memory with
// links, a FIFO, a huge file and a directory, then registers groups. The global memory is no
// template any more: each registration succeeds, the new group's memory is the group template
// (nothing of what main planted), and what main planted is left alone without hanging the
// host. Main cannot reach the templates themselves: the project is read-only in its container
// (the attack's snapshot would see any change to templates/).
func globalMemory(t *testing.T, h *hostileHost) {
	v := h.lay.victim
	want := string(memory.Render(mustRead(t, filepath.Join(h.lay.work, "templates", "group.md")), "Andy"))
	cases := []struct{ name, plant string }{
		{"link-to-world-readable-victim-file", `ln -s '` + v + `/notes.txt' CLAUDE.md`},
		{"relative-link-to-host-database", `ln -s ../../store/nanoclaw.db CLAUDE.md`},
		{"relative-link-inside-groups", `ln -s ../main/CLAUDE.md CLAUDE.md`},
		{"fifo", `sockcat -mkfifo CLAUDE.md`},
		{"oversized", `head -c 300000 /dev/zero | tr '\0' x > CLAUDE.md`},
		{"directory", `mkdir CLAUDE.md`},
	}
	for i, c := range cases {
		h.attack(t, "global-memory-"+c.name, func(t *testing.T) {
			folder := fmt.Sprintf("fresh%d", i)
			out := h.play(t, "local:main", "global-"+c.name,
				bash(`cd /workspace/global && rm -rf CLAUDE.md && `+c.plant+` && ls -l`),
				tool("register_group", map[string]any{"jid": "local:" + folder, "name": folder, "folder": folder, "trigger": "@Andy"}))
			if !strings.Contains(out[1], "registered") {
				t.Errorf("register_group beside a %s global memory: %q", c.name, out[1])
			}
			if got, code := h.cli(t, "groups", "add", "--jid", "local:cli"+folder, "--folder", "cli"+folder); code != 0 {
				t.Errorf("groups add beside a %s global memory: %s", c.name, got)
			}
			for _, f := range []string{folder, "cli" + folder} {
				if b, err := os.ReadFile(filepath.Join(h.lay.work, "groups", f, "CLAUDE.md")); err != nil || string(b) != want {
					t.Errorf("%s's memory is not the group template: %q, %v", f, b, err)
				}
			}
			if fi, err := os.Lstat(filepath.Join(h.lay.work, "groups", "global", "CLAUDE.md")); err != nil || c.name != "oversized" && fi.Mode().IsRegular() {
				t.Errorf("what main planted was not left alone: %v, %v", fi, err)
			}
			h.noSecretInMemory(t)
		})
	}
	h.attack(t, "global-memory-restored", func(t *testing.T) {
		h.play(t, "local:main", "global-restore",
			bash(`cd /workspace/global && rm -rf CLAUDE.md && printf '# Global memory\n' > CLAUDE.md`),
			tool("register_group", map[string]any{"jid": "local:freshok", "name": "freshok", "folder": "freshok", "trigger": "@Andy"}))
		b, err := os.ReadFile(filepath.Join(h.lay.work, "groups", "freshok", "CLAUDE.md"))
		if err != nil || string(b) != want {
			t.Fatalf("a registration's memory: %q, %v; want the group template", b, err)
		}
		if b, err := os.ReadFile(filepath.Join(h.lay.work, "groups", "global", "CLAUDE.md")); err != nil || string(b) != "# Global memory\n" {
			t.Fatalf("main's global memory: %q, %v", b, err)
		}
		h.noSecretInMemory(t)
	})
	h.attack(t, "templates-read-only-for-main", func(t *testing.T) {
		out := h.play(t, "local:main", "templates-write",
			bash(`for f in /workspace/project/templates/*.md; do echo pwned >> "$f" && echo "wrote $f"; done; ln -sf /etc/passwd /workspace/project/templates/group.md && echo linked; echo end`))
		if strings.Contains(out[0], "wrote ") || strings.Contains(out[0], "linked") || !strings.Contains(out[0], "end") {
			t.Errorf("main wrote to the templates: %q", out[0])
		}
	})
}

// mustRead is a file's bytes.
func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noSecretInMemory checks that no group's CLAUDE.md holds a decoy secret.
func (h *hostileHost) noSecretInMemory(t testing.TB) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(h.lay.work, "groups", "*", "CLAUDE.md"))
	for _, f := range files {
		fi, err := os.Lstat(f)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, s := range h.lay.secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds the decoy secret %q", f, s)
			}
		}
	}
}

// agentDirs: links where the host keeps (or once kept) its files in the agent's
// directories: logs/ in the group folder, and the session store's entries.
func agentDirs(t *testing.T, h *hostileHost) {
	v, w := h.lay.victim, h.lay.work
	for _, c := range []struct{ name, target string }{
		{"logs-dir-link-to-victim", v},
		{"logs-dir-link-to-store", w + "/store"},
	} {
		h.attack(t, c.name, func(t *testing.T) {
			h.waitIdle(t, "evil")
			logs, _ := filepath.Glob(filepath.Join(w, "data", "logs", "evil", "*.log"))
			h.play(t, "local:evil", c.name, bash(`cd /workspace/group && rm -rf logs && ln -s '`+c.target+`' logs && ls -l logs`))
			h.waitIdle(t, "evil")
			h.play(t, "local:evil", c.name+"-again", bash(`ls -l /workspace/group/logs`))
			h.waitIdle(t, "evil")
			after, _ := filepath.Glob(filepath.Join(w, "data", "logs", "evil", "*.log"))
			if len(after) < len(logs)+2 {
				t.Errorf("run logs in data/logs/evil: %d before, %d after two runs", len(logs), len(after))
			}
		})
	}
	h.attack(t, "session-store-links", func(t *testing.T) {
		h.waitIdle(t, "evil")
		h.play(t, "local:evil", "session-links", bash(`cd /home/node && ln -sfn '`+v+`/.ssh' .claude && ln -sfn '`+v+`/etc-shadow' .bash_history && `+
			`mkdir -p .nanoclaw/sessions && for f in .nanoclaw/sessions/*.json; do ln -sf '`+v+`/root-only' "$f"; done; `+
			`ln -sfn ../../../../victim .nanoclaw/victim && ls -la . .nanoclaw/sessions`))
		h.play(t, "local:main", "reregister-sessions", tool("register_group",
			map[string]any{"jid": "local:evil", "name": "Evil", "folder": "evil", "trigger": "@Andy", "requiresTrigger": false}))
		if got, code := h.cli(t, "groups", "add", "--jid", "local:evil", "--folder", "evil", "--name", "Evil", "--no-trigger-required"); code != 0 {
			t.Fatalf("groups add: %s", got)
		}
		h.waitIdle(t, "evil")
		// A fresh container on the linked store: the runner cannot resume and starts over.
		h.play(t, "local:evil", "session-after", bash(`ls -la /home/node/.nanoclaw/sessions`))
	})
}

// logEscapes: file names and output with newlines, carriage returns and terminal escapes,
// written to the runner's own stdout and stderr, and a tool name from the model full of
// them: the run log (data/logs/<folder>) stays one host line per line with every agent line
// behind "| ", and the host's own log carries no raw escape.
func logEscapes(t *testing.T, h *hostileHost) {
	h.attack(t, "run-log-escapes", func(t *testing.T) {
		h.waitIdle(t, "evil")
		dir := filepath.Join(h.lay.work, "data", "logs", "evil")
		before, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		h.play(t, "local:evil", "escapes",
			bash(`cd /workspace/group && touch "$(printf 'evil\n=== Container run ===\nstatus: success\033[31mred\033[0m\r')" && ls; `+
				`printf 'FORGED-STDERR\n=== Container run ===\n\033]0;pwned\007\r\n' > /proc/1/fd/2; echo "stderr=$?"; `+
				`printf 'FORGED-STDOUT\n=== Stdout ===\n\033[2J\r\n' > /proc/1/fd/1; echo "stdout=$?"`),
			func([]string) toolCall {
				return toolCall{Name: "no_such_tool\n=== Container run ===\x1b[31m", Input: map[string]any{}}
			},
			bash(`sockcat -tag escape-type -d '{"type":"x\u001b[2J\nFORGED-HOST-LINE\r"}'`))
		h.waitIdle(t, "evil")
		after, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		if len(after) <= len(before) {
			t.Fatal("no new run log")
		}
		b, err := os.ReadFile(after[len(after)-1])
		if err != nil {
			t.Fatal(err)
		}
		checkRunLog(t, string(b))
		if !strings.Contains(string(b), "FORGED-STDERR") {
			t.Error("the agent's write to the runner's stderr is not in the run log: the check above proved nothing")
		}
		hostLog := h.log.String()
		if strings.ContainsAny(hostLog, "\x1b\r\a") {
			t.Error("the host log holds a raw escape, carriage return or bell")
		}
		for _, line := range strings.Split(hostLog, "\n") {
			if strings.HasPrefix(line, "FORGED") || strings.HasPrefix(line, "=== Container run") {
				t.Errorf("a forged line in the host log: %q", line)
			}
		}
	})
}

// checkRunLog checks a run log's lines: no raw control character, one header, and every
// line of the agent's blocks (the request, stderr, stdout) behind "| ".
func checkRunLog(t testing.TB, log string) {
	t.Helper()
	if i := strings.IndexFunc(log, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }); i >= 0 {
		t.Errorf("raw control character %q in the run log at %d", log[i], i)
	}
	if n := strings.Count("\n"+log, "\n=== Container run ===\n"); n != 1 || !strings.HasPrefix(log, "=== Container run ===\n") {
		t.Errorf("the run log's header line appears %d times:\n%s", n, log)
	}
	section := ""
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "=== ") && strings.HasSuffix(line, " ===") {
			section = line
			continue
		}
		agentBlock := section == "=== Stderr ===" || section == "=== Stdout ==="
		if line == "" || strings.HasPrefix(line, "| ") {
			continue
		}
		if agentBlock || strings.Contains(line, "FORGED") {
			t.Errorf("an agent's line outside the \"| \" prefix in %s: %q", section, line)
		}
	}
}

// sockcatLines parses sockcat's "[tag] status=N body=..." lines.
func sockcatLines(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if tag, rest, ok := strings.Cut(line, "] "); ok && strings.HasPrefix(tag, "[") {
			m[tag[1:]] = rest
		}
	}
	return m
}

// socketAttacks: the agent socket from inside the container (sockcat) and from the host.
func socketAttacks(t *testing.T, h *hostileHost) {
	h.attack(t, "socket-oversized-bodies", func(t *testing.T) {
		out := h.play(t, "local:evil", "oversized", bash(strings.Join([]string{
			`sockcat -tag big -pad 1100000 -jid local:evil`,
			`sockcat -tag big-chunked -pad 1100000 -jid local:evil -chunked`,
			`sockcat -tag big-claimed -raw -d 'POST /ipc HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n{"type":"list_tasks"}'`,
			`sockcat -tag big-ack -path /input/ack -pad 20000 -jid x`,
			`sockcat -tag after -d '{"type":"list_tasks"}'`,
		}, "; ")))
		got := sockcatLines(out[0])
		for tag, want := range map[string]string{"big": "status=413", "big-chunked": "status=413", "big-claimed": "status=413",
			"big-ack": "status=400", "after": "status=200"} {
			if !strings.HasPrefix(got[tag], want) {
				t.Errorf("%s: %q, want %s", tag, got[tag], want)
			}
		}
		// Nothing was sent: the evil chat's next message was the "done" play waited for.
	})
	h.attack(t, "socket-malformed-requests", func(t *testing.T) {
		cases := []struct{ tag, args, want string }{
			{"bad-json", `-d '{"type":'`, `status=400`},
			{"not-an-object", `-d '[1,2]'`, `status=400`},
			{"duplicate-keys", `-d '{"type":"list_tasks","type":"message"}'`, `appears twice`},
			{"wrong-field-type", `-d '{"type":7}'`, `status=400`},
			{"unknown-type", `-d '{"type":"format_disk"}'`, `status=403`},
			{"empty-body", `-d ''`, `status=400`},
			{"trailing-data", `-d '{"type":"list_tasks"} {"type":"list_tasks"}'`, `status=400`},
			{"unknown-path", `-path /admin -d '{}'`, `status=404`},
			{"ipc-with-slash", `-path /ipc/ -d '{}'`, `status=404`},
			{"dot-dot-path", `-path /v1/../ipc -d '{"type":"list_tasks"}'`, `status=4`}, // never the IPC service
			{"get-ipc", `-X GET -path /ipc`, `status=405`},
			{"delete-input", `-X DELETE -path /input`, `status=405`},
			{"put-ack", `-X PUT -path /input/ack -d '{}'`, `status=405`},
			{"ack-unknown-field", `-path /input/ack -d '{"run":"x","ids":[1],"extra":1}'`, `status=400`},
			{"raw-garbage", `-raw -d 'GARBAGE\r\n\r\n'`, `status=400`},
			{"raw-huge-header", `-raw -d "GET /input HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 70000 /dev/zero | tr '\0' a)\r\n\r\n"`, `status=431`},
			{"still-serving", `-d '{"type":"list_tasks"}'`, `status=200`},
		}
		var cmds []string
		for _, c := range cases {
			cmds = append(cmds, "sockcat -tag "+c.tag+" "+c.args)
		}
		got := sockcatLines(h.play(t, "local:evil", "malformed", bash(strings.Join(cmds, "; ")))[0])
		for _, c := range cases {
			t.Run(c.tag, func(t *testing.T) {
				if !strings.Contains(got[c.tag], c.want) {
					t.Errorf("%q, want %s", got[c.tag], c.want)
				}
			})
		}
	})
	h.attack(t, "socket-flood", func(t *testing.T) {
		stop := filepath.Join(h.lay.work, "groups", "evil", "stop-flood")
		const refusal = "agent socket request refused: group=evil "
		limited, refusals, start := strings.Count(h.log.String(), "code=rate_limited"), strings.Count(h.log.String(), refusal), time.Now()
		h.api.script("flood", bash(`sockcat -tag flood -n 0 -c 4 -until /workspace/group/stop-flood -d '{"type":"list_tasks"}'; rm -f /workspace/group/stop-flood; `+
			`sockcat -tag input-flood -n 3000 -c 4 -X GET -path '/input?run=run-0-forged'`))
		evil := h.chat(t, "local:evil")
		evil.say("run flood")
		h.log.waitFor(t, "code=rate_limited", limited+1, 30*time.Second) // the flood hit the limit
		// Meanwhile other groups are served: main's agent answers, main's IPC is not limited.
		begin := time.Now()
		h.ping(t)
		if status, body, err := socketDo(h.lay.work, "main", "POST", "/ipc", `{"type":"list_tasks"}`); err != nil || status != 200 {
			t.Errorf("main's IPC during evil's flood: %d %s %v", status, body, err)
		}
		if d := time.Since(begin); d > 20*time.Second {
			t.Errorf("main took %v to answer during evil's flood", d)
		}
		if err := os.WriteFile(stop, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := evil.reply(time.Minute); got != "done flood" {
			t.Fatalf("evil answered %q", got)
		}
		line := sockcatLines(h.api.resultsOf("flood")[0])["flood"]
		m := regexp.MustCompile(`200=(\d+) 429=(\d+) in (\S+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("flood: %q", line)
		}
		ok, _ := strconv.Atoi(m[1])
		took, _ := time.ParseDuration(m[3])
		if max := 60 + int(20*took.Seconds()) + 20; ok > max {
			t.Errorf("%d requests performed in %v: more than the burst and rate allow (%d)", ok, took, max)
		}
		if !strings.Contains(sockcatLines(h.api.resultsOf("flood")[0])["input-flood"], "403=3000") {
			t.Errorf("the input stream flood: %q", h.api.resultsOf("flood")[0])
		}
		// The host's log is not the agent's to flood: a journal that drops a noisy service's
		// lines would drop the host's own with them.
		logged := strings.Count(h.log.String(), refusal) - refusals
		if max := 20 + 2*int(time.Since(start).Seconds()); logged > max {
			t.Errorf("the flood wrote %d refusal lines to the host log in %v (want at most %d)", logged, time.Since(start).Round(time.Millisecond), max)
		}
		t.Logf("flood: %s", h.api.resultsOf("flood")[0])
	})
	h.attack(t, "socket-held-connections", func(t *testing.T) {
		ready := filepath.Join(h.lay.work, "groups", "evil", "hold-ready")
		stop := filepath.Join(h.lay.work, "groups", "evil", "stop-hold")
		h.api.script("hold", bash(`sockcat -tag hold -hold 40 -ready /workspace/group/hold-ready -until /workspace/group/stop-hold; `+
			`rm -f /workspace/group/stop-hold /workspace/group/hold-ready; sockcat -tag after -d '{"type":"list_tasks"}'`))
		evil := h.chat(t, "local:evil")
		evil.say("run hold")
		waitFile(t, ready, time.Minute)
		// The host side piles on: hundreds of idle connections to evil's socket.
		var conns []net.Conn
		for range 300 {
			c, err := net.Dial("unix", filepath.Join(h.lay.work, "data", "agents", "evil", "agent.sock"))
			if err != nil {
				break
			}
			conns = append(conns, c)
		}
		begin := time.Now()
		h.ping(t)
		if status, body, err := socketDo(h.lay.work, "main", "POST", "/ipc", `{"type":"list_tasks"}`); err != nil || status != 200 {
			t.Errorf("main's IPC while evil's socket is saturated: %d %s %v", status, body, err)
		}
		if d := time.Since(begin); d > 20*time.Second {
			t.Errorf("main took %v to answer while evil's socket is saturated", d)
		}
		for _, c := range conns {
			c.Close()
		}
		if err := os.WriteFile(stop, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := evil.reply(time.Minute); got != "done hold" {
			t.Fatalf("evil answered %q", got)
		}
		got := sockcatLines(h.api.resultsOf("hold")[0])
		if !strings.HasPrefix(got["after"], "status=200") {
			t.Errorf("evil's own IPC after releasing its connections: %q", got["after"])
		}
		t.Logf("hold: %s (%d host-side connections)", got["hold"], len(conns))
	})
	h.attack(t, "socket-dir-read-only", func(t *testing.T) {
		out := h.play(t, "local:evil", "run-dir", bash(`cd /run/nanoclaw; `+
			`rm -f agent.sock; echo "rm=$?"; mv agent.sock moved; echo "mv=$?"; ln -sf /tmp/x agent.sock; echo "ln=$?"; `+
			`touch newfile; echo "touch=$?"; mkdir d; echo "mkdir=$?"; chmod 777 agent.sock; echo "chmod=$?"; ls -a; `+
			`sockcat -tag still -d '{"type":"list_tasks"}'`))
		for _, op := range []string{"rm", "mv", "ln", "touch", "mkdir", "chmod"} {
			if strings.Contains(out[0], op+"=0") {
				t.Errorf("%s in /run/nanoclaw succeeded:\n%s", op, out[0])
			}
		}
		if !strings.HasPrefix(sockcatLines(out[0])["still"], "status=200") {
			t.Errorf("the socket after the attempts:\n%s", out[0])
		}
	})
	h.attack(t, "socket-input-stream-hijack", func(t *testing.T) {
		h.waitIdle(t, "evil")
		var hostSide string
		out := h.play(t, "local:evil", "hijack", bash(`true`), func([]string) toolCall {
			id := h.currentRun("evil")
			status, body, err := socketDo(h.lay.work, "evil", "GET", "/input?run="+id, "")
			hostSide = fmt.Sprintf("status=%d %s %v", status, body, err)
			return toolCall{Name: "bash", Input: map[string]any{"command": strings.Join([]string{
				`sockcat -tag second-stream -X GET -path '/input?run=` + id + `'`,
				`sockcat -tag other-run -X GET -path '/input?run=run-0-forged'`,
				`sockcat -tag no-run -X GET -path '/input'`,
				`sockcat -tag ack-never-sent -path /input/ack -d '{"run":"` + id + `","ids":[999]}'`,
				`sockcat -tag ack-zero -path /input/ack -d '{"run":"` + id + `","ids":[0]}'`,
				`sockcat -tag ack-negative -path /input/ack -d '{"run":"` + id + `","ids":[-1]}'`,
				`sockcat -tag ack-other-run -path /input/ack -d '{"run":"run-0-forged","ids":[1]}'`,
			}, "; ")}}
		})
		got := sockcatLines(out[1])
		for tag, want := range map[string]string{"second-stream": "status=403", "other-run": "status=403", "no-run": "status=403",
			"ack-never-sent": "status=400", "ack-zero": "status=400", "ack-negative": "status=400", "ack-other-run": "status=403"} {
			if !strings.HasPrefix(got[tag], want) {
				t.Errorf("%s: %q, want %s", tag, got[tag], want)
			}
		}
		if !strings.HasPrefix(hostSide, "status=403") || !strings.Contains(hostSide, "already open") {
			t.Errorf("a second stream from the host side: %s", hostSide)
		}
		// Another group's socket does not know evil's run.
		id := h.currentRun("evil")
		if status, body, err := socketDo(h.lay.work, "main", "GET", "/input?run="+id, ""); err != nil || status != 403 {
			t.Errorf("evil's run on main's socket: %d %s %v", status, body, err)
		}
	})
}

// spoofing: a non-main agent claims main's identity or acts on main's chat, tasks and
// registration; everything is refused, nothing is sent or changed, and every refusal is
// listed by `nanoclaw status --json` with its group and reason.
func spoofing(t *testing.T, h *hostileHost) {
	var taskID string
	h.attack(t, "identity-spoofing", func(t *testing.T) {
		status, body, err := socketDo(h.lay.work, "main", "POST", "/ipc",
			`{"type":"schedule_task","prompt":"main's own task","schedule_type":"cron","schedule_value":"0 0 1 1 *","targetJid":"local:main"}`)
		var resp struct {
			Result struct {
				TaskID string `json:"taskId"`
			} `json:"result"`
		}
		if err != nil || status != 200 || json.Unmarshal([]byte(body), &resp) != nil || resp.Result.TaskID == "" {
			t.Fatalf("main's task: %d %s %v", status, body, err)
		}
		taskID = resp.Result.TaskID
		cases := []struct{ tag, body, want string }{
			{"message-main", `{"type":"message","chatJid":"local:main","text":"spoofed-by-evil","groupFolder":"main","isMain":true}`, "status=403"},
			{"message-chatty", `{"type":"message","chatJid":"local:chatty","text":"spoofed-by-evil"}`, "status=403"},
			{"schedule-for-main", `{"type":"schedule_task","prompt":"spoofed-by-evil","schedule_type":"once","schedule_value":"2030-01-01T00:00:00","targetJid":"local:main","groupFolder":"main","isMain":true}`, "status=403"},
			{"register-self-main", `{"type":"register_group","jid":"local:evil","name":"x","folder":"evil","trigger":"@Andy","isMain":true}`, "status=403"},
			{"register-main-chat", `{"type":"register_group","jid":"local:main","name":"x","folder":"evil","trigger":"@Andy"}`, "status=403"},
			{"pause-main-task", `{"type":"pause_task","taskId":"` + taskID + `","groupFolder":"main","isMain":true}`, "status=403"},
			{"cancel-main-task", `{"type":"cancel_task","taskId":"` + taskID + `","isMain":true}`, "status=403"},
			{"update-main-task", `{"type":"update_task","taskId":"` + taskID + `","prompt":"spoofed-by-evil","isMain":true}`, "status=403"},
			{"refresh-groups", `{"type":"refresh_groups","isMain":true}`, "status=403"},
			{"available-groups", `{"type":"available_groups","isMain":true}`, "status=403"},
			{"list-tasks", `{"type":"list_tasks","groupFolder":"main","isMain":true}`, "status=200"},
		}
		var cmds []string
		for _, c := range cases {
			cmds = append(cmds, "sockcat -tag "+c.tag+" -d '"+c.body+"'")
		}
		got := sockcatLines(h.play(t, "local:evil", "spoof", bash(strings.Join(cmds, "; ")))[0])
		for _, c := range cases {
			if !strings.HasPrefix(got[c.tag], c.want) {
				t.Errorf("%s: %q, want %s", c.tag, got[c.tag], c.want)
			}
		}
		if strings.Contains(got["list-tasks"], taskID) {
			t.Errorf("evil sees main's task: %s", got["list-tasks"])
		}
		// Nothing reached chatty either: its next message is answered first.
		chatty := h.chat(t, "local:chatty")
		chatty.say("after the spoofing")
		if got := chatty.reply(time.Minute); got != "reply: after the spoofing" {
			t.Errorf("chatty's next message: %q", got)
		}
		// Main cannot make a group main either.
		got = sockcatLines(h.play(t, "local:main", "main-makes-main", bash(
			`sockcat -tag make-main -d '{"type":"register_group","jid":"local:sneaky","name":"s","folder":"sneaky","trigger":"@Andy","isMain":true}'`))[0])
		if !strings.HasPrefix(got["make-main"], "status=403") {
			t.Errorf("main registering a main group: %q", got["make-main"])
		}
		// Nothing changed: main's task is active and unchanged, evil is not main.
		_, body, _ = socketDo(h.lay.work, "main", "POST", "/ipc", `{"type":"list_tasks"}`)
		if !strings.Contains(body, taskID) || !strings.Contains(body, `"status":"active"`) || strings.Contains(body, "spoofed-by-evil") {
			t.Errorf("main's tasks after the attack: %s", body)
		}
		out, code := h.cli(t, "groups", "list", "--json")
		var groups []struct {
			JID, Folder string
			IsMain      bool
		}
		if code != 0 || json.Unmarshal([]byte(out), &groups) != nil {
			t.Fatalf("groups list: %s", out)
		}
		for _, g := range groups {
			if g.IsMain != (g.JID == "local:main") || (g.JID == "local:main" && g.Folder != "main") || g.JID == "local:sneaky" {
				t.Errorf("after the attack: %+v", g)
			}
		}
	})
	t.Run("status-lists-refused-requests", func(t *testing.T) {
		out, code := h.cli(t, "status", "--json")
		var st struct {
			Errors []store.IPCRefusal `json:"recentRefusals"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("status --json (%d): %s", code, out)
		}
		want := map[string]string{"message": "evil", "schedule_task": "evil", "register_group": "evil", "pause_task": "evil",
			"cancel_task": "evil", "update_task": "evil", "refresh_groups": "evil", "available_groups": "evil"}
		for _, e := range st.Errors {
			if want[e.Type] == e.Group && e.Code == "refused" && strings.HasPrefix(e.Reason, "denied by ipcauthz: ") && e.Request != "" {
				delete(want, e.Type)
			}
		}
		if len(want) > 0 {
			t.Errorf("refusals missing from status: %v\n%s", want, out)
		}
		if !strings.Contains(out, "spoofed-by-evil") {
			t.Error("the refused requests' bodies are not kept")
		}
		text, _ := h.cli(t, "status")
		if !strings.Contains(text, "recent refused IPC requests") || !strings.Contains(text, "evil message (refused)") {
			t.Errorf("status:\n%s", text)
		}
	})
}

// registrations: main registers groups under folders that are invalid, reserved or
// another group's, and moves a group onto another's folder: each is refused, and no group
// changes folder or becomes main.
func registrations(t *testing.T, h *hostileHost) {
	h.attack(t, "main-registers-bad-folders", func(t *testing.T) {
		cases := []struct{ tag, jid, folder, want string }{
			{"reserved-global", "local:g1", "global", "status=403"},
			{"reserved-global-case", "local:g2", "Global", "status=403"},
			{"parent-dir", "local:g3", "../escape", "status=403"},
			{"nested", "local:g4", "evil/sub", "status=403"},
			{"hidden", "local:g5", ".hidden", "status=403"},
			{"leading-dash", "local:g6", "-rf", "status=403"},
			{"too-long", "local:g7", strings.Repeat("a", 65), "status=403"},
			{"absolute", "local:g8", "/tmp/x", "status=403"},
			{"steal-evil-folder", "local:thief", "evil", "status=500"},
			{"move-evil-onto-chatty", "local:evil", "chatty", "status=500"},
			{"move-evil-onto-main", "local:evil", "main", "status=500"},
		}
		var cmds []string
		for _, c := range cases {
			cmds = append(cmds, fmt.Sprintf(`sockcat -tag %s -d '{"type":"register_group","jid":%q,"name":"x","folder":%q,"trigger":"@Andy"}'`, c.tag, c.jid, c.folder))
		}
		got := sockcatLines(h.play(t, "local:main", "bad-folders", bash(strings.Join(cmds, "; ")))[0])
		for _, c := range cases {
			if !strings.HasPrefix(got[c.tag], c.want) {
				t.Errorf("%s: %q, want %s", c.tag, got[c.tag], c.want)
			}
		}
		out, code := h.cli(t, "groups", "list", "--json")
		var groups []struct {
			JID, Folder string
			IsMain      bool
		}
		if code != 0 || json.Unmarshal([]byte(out), &groups) != nil {
			t.Fatalf("groups list: %s", out)
		}
		for _, g := range groups {
			if strings.HasPrefix(g.JID, "local:g") || g.JID == "local:thief" || (g.JID == "local:evil" && g.Folder != "evil") || g.IsMain != (g.JID == "local:main") {
				t.Errorf("after the attack: %+v", g)
			}
		}
	})
}

// mountGuard: with an allowlist whose read-write root contains the project, main registers
// a group asking for the host's own state, the config directory and the victim's .ssh as
// extra mounts: each is refused and invisible in the container, while a harmless sibling
// is mounted read-write and a read-only root nested in the read-write one stays read-only.
// Then that group, through its read-write mount, swaps a directory another group mounts
// for a link into the project: the other group gets nothing.
func mountGuard(t *testing.T, h *hostileHost) {
	w, a := h.lay.work, h.lay.allowed
	refused := []struct{ name, path string }{
		{"data", w + "/data"},
		{"data-agents-main", w + "/data/agents/main"},
		{"data-sessions", w + "/data/sessions"},
		{"store", w + "/store"},
		{"plugins", w + "/plugins"},
		{"plugin-cache", h.lay.cache},
		{"groups", w + "/groups"},
		{"groups-main", w + "/groups/main"},
		{"groups-global", w + "/groups/global"},
		{"bin", w + "/bin"},
		{"git", w + "/.git"},
		{"project-root", w},
		{"allowed-root-itself", h.lay.base},
		{"config-dir", h.lay.config},
		{"victim-ssh", h.lay.victim + "/.ssh"},
		{"symlink-to-store", a + "/innocent-link"},
		{"dot-dot-into-data", a + "/rw/../../w/data"},
		{"trailing-slash-store", w + "/store/"},
	}
	h.attack(t, "mount-guard", func(t *testing.T) {
		var mounts []any
		for _, r := range refused {
			mounts = append(mounts, map[string]any{"hostPath": r.path, "containerPath": "m-" + r.name, "readonly": false})
		}
		mounts = append(mounts,
			map[string]any{"hostPath": a + "/rw", "containerPath": "m-sibling", "readonly": false},
			map[string]any{"hostPath": a + "/ro/sub", "containerPath": "m-nested-ro", "readonly": false})
		register := func(jid, folder string, mounts []any) string {
			b, _ := json.Marshal(map[string]any{"type": "register_group", "jid": jid, "name": folder, "folder": folder, "trigger": "@Andy",
				"requiresTrigger": false, "containerConfig": map[string]any{"additionalMounts": mounts}})
			return "sockcat -tag " + folder + " -d '" + string(b) + "'"
		}
		got := sockcatLines(h.play(t, "local:main", "register-mounty", bash(register("local:mounty", "mounty", mounts)+"; "+
			register("local:mounty2", "mounty2", []any{map[string]any{"hostPath": a + "/rw/shared", "containerPath": "shared", "readonly": false}})))[0])
		for _, f := range []string{"mounty", "mounty2"} {
			if !strings.HasPrefix(got[f], "status=200") {
				t.Fatalf("main registering %s: %q", f, got[f])
			}
		}
		h.dial(t, "local:mounty")
		h.dial(t, "local:mounty2")
		out := h.play(t, "local:mounty", "mount-probe", bash(`ls -1a /workspace/extra; for d in /workspace/extra/*; do `+
			`if touch "$d/probe" 2>/dev/null; then echo "writable $d"; else echo "readonly $d"; fi; done`))[0]
		log := h.log.String()
		for _, r := range refused {
			t.Run(r.name, func(t *testing.T) {
				if strings.Contains(out, "m-"+r.name) {
					t.Errorf("the container sees %s:\n%s", r.path, out)
				}
				if !strings.Contains(log, "additional mount refused: group=mounty host_path="+r.path+" ") {
					t.Errorf("no refusal of %s in the host log", r.path)
				}
			})
		}
		t.Run("sibling-read-write", func(t *testing.T) {
			if !strings.Contains(out, "writable /workspace/extra/m-sibling") {
				t.Errorf("the allowed sibling:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(a, "rw", "probe")); err != nil {
				t.Error(err)
			}
		})
		t.Run("nested-read-only-root", func(t *testing.T) {
			if !strings.Contains(out, "readonly /workspace/extra/m-nested-ro") {
				t.Errorf("the read-only root nested in the read-write one:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(a, "ro", "sub", "probe")); err == nil {
				t.Error("the agent wrote under the read-only root")
			}
		})
		t.Run("swapped-for-link-into-project", func(t *testing.T) {
			h.play(t, "local:mounty", "swap-shared", bash(`cd /workspace/extra/m-sibling && rm -rf shared && ln -s '`+w+`/store' shared && ls -l`))
			out := h.play(t, "local:mounty2", "probe-shared", bash(`ls -1a /workspace/extra 2>&1; ls /workspace/extra/shared 2>&1`))[0]
			if strings.Contains(out, "nanoclaw.db") {
				t.Errorf("the other group sees the host's store:\n%s", out)
			}
			if !strings.Contains(h.log.String(), "additional mount refused: group=mounty2 host_path="+a+"/rw/shared ") {
				t.Error("no refusal of the swapped directory in the host log")
			}
		})
	})
}

// finalChecks: no model request ever carried a decoy secret, the host stops cleanly, and
// its database opens with main still the only main group.
func finalChecks(t *testing.T, h *hostileHost) {
	t.Run("no-secret-reached-the-model", func(t *testing.T) {
		for i, b := range h.api.allBodies() {
			for _, s := range h.lay.secrets {
				if strings.Contains(b, s) {
					t.Errorf("model request %d carries the decoy secret %q", i, s)
				}
			}
		}
	})
	t.Run("host-files-intact", func(t *testing.T) {
		h.stop()
		st, err := store.Open(context.Background(), filepath.Join(h.lay.work, "store", "nanoclaw.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		groups, err := st.RegisteredGroups(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			if g.IsMain != (g.Folder == "main") {
				t.Errorf("group %+v", g)
			}
		}
	})
}

func socketClient(sock string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

func newRequest(method, path, body string) (*http.Request, error) {
	var r *strings.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	if r == nil {
		return http.NewRequest(method, "http://agent"+path, nil)
	}
	return http.NewRequest(method, "http://agent"+path, r)
}
