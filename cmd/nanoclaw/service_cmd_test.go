package main

import (
	"encoding/xml"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestServiceFiles: what `service install` writes and runs, for each OS (the OS is a
// parameter, so every one is tested on any machine).
func TestServiceFiles(t *testing.T) {
	p := serviceParams{Root: "/srv/nano claw", Binary: "/srv/nano claw/bin/nanoclaw", Home: "/home/a", UID: 501}
	cases := []struct {
		name    string
		goos    string
		p       serviceParams
		noStart bool
		path    string
		has     []string
		lacks   []string
		steps   []string
	}{
		{name: "linux user unit", goos: "linux", p: p, path: "/home/a/.config/systemd/user/nanoclaw.service",
			has: []string{"ExecStart=/srv/nano claw/bin/nanoclaw run", "WorkingDirectory=/srv/nano claw", "Restart=always",
				"KillMode=process", "WantedBy=default.target", "Environment=HOME=/home/a", "Environment=PATH=/usr/local/bin:/usr/bin:/bin"},
			lacks: []string{"DOCKER_HOST", "{{"},
			steps: []string{"systemctl --user daemon-reload", "systemctl --user enable nanoclaw.service", "systemctl --user restart nanoclaw.service"}},
		{name: "linux system unit as root", goos: "linux", p: serviceParams{Root: "/srv/n", Binary: "/usr/bin/nanoclaw", Home: "/root", DockerHost: "unix:///run/d.sock"},
			path:  "/etc/systemd/system/nanoclaw.service",
			has:   []string{"WantedBy=multi-user.target", "Environment=DOCKER_HOST=unix:///run/d.sock"},
			steps: []string{"systemctl daemon-reload", "systemctl enable nanoclaw.service", "systemctl restart nanoclaw.service"}},
		{name: "linux without starting", goos: "linux", p: p, noStart: true, path: "/home/a/.config/systemd/user/nanoclaw.service",
			steps: []string{"systemctl --user daemon-reload", "systemctl --user enable nanoclaw.service"}},
		{name: "macOS launchd agent", goos: "darwin", p: p, path: "/home/a/Library/LaunchAgents/com.nanoclaw.plist",
			has: []string{"<key>Label</key>\n\t<string>com.nanoclaw</string>",
				"<array>\n\t\t<string>/srv/nano claw/bin/nanoclaw</string>\n\t\t<string>run</string>\n\t</array>",
				"<key>WorkingDirectory</key>\n\t<string>/srv/nano claw</string>",
				"<key>RunAtLoad</key>\n\t<true/>", "<key>KeepAlive</key>\n\t<true/>",
				"<key>StandardOutPath</key>\n\t<string>/srv/nano claw/logs/nanoclaw.log</string>",
				"<key>StandardErrorPath</key>\n\t<string>/srv/nano claw/logs/nanoclaw.error.log</string>",
				"<key>PATH</key>\n\t\t<string>/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin</string>",
				"<key>HOME</key>\n\t\t<string>/home/a</string>"},
			lacks: []string{"DOCKER_HOST", "{{"},
			steps: []string{"launchctl bootout gui/501/com.nanoclaw (may fail)", "launchctl bootstrap gui/501 /home/a/Library/LaunchAgents/com.nanoclaw.plist"}},
		{name: "macOS escapes XML and passes DOCKER_HOST", goos: "darwin",
			p:     serviceParams{Root: "/Users/a&b/<n>", Binary: "/Users/a&b/<n>/bin/nanoclaw", Home: "/Users/a&b", UID: 502, DockerHost: "unix:///Users/a&b/.docker/run/docker.sock"},
			path:  "/Users/a&b/Library/LaunchAgents/com.nanoclaw.plist",
			has:   []string{"<string>/Users/a&amp;b/&lt;n&gt;</string>", "<key>DOCKER_HOST</key>\n\t\t<string>unix:///Users/a&amp;b/.docker/run/docker.sock</string>"},
			lacks: []string{"a&b"},
			steps: []string{"launchctl bootout gui/502/com.nanoclaw (may fail)", "launchctl bootstrap gui/502 /Users/a&b/Library/LaunchAgents/com.nanoclaw.plist"}},
		{name: "macOS without starting", goos: "darwin", p: p, noStart: true, path: "/home/a/Library/LaunchAgents/com.nanoclaw.plist",
			steps: []string{"launchctl bootout gui/501/com.nanoclaw (may fail)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec, err := serviceFor(c.goos, c.p, c.noStart)
			if err != nil {
				t.Fatal(err)
			}
			if spec.Path != c.path {
				t.Errorf("path %s, want %s", spec.Path, c.path)
			}
			for _, want := range c.has {
				if !strings.Contains(spec.Content, want) {
					t.Errorf("lacks %q:\n%s", want, spec.Content)
				}
			}
			for _, bad := range c.lacks {
				if strings.Contains(spec.Content, bad) {
					t.Errorf("has %q:\n%s", bad, spec.Content)
				}
			}
			var steps []string
			for _, s := range spec.Steps {
				line := strings.Join(s.args, " ")
				if s.mayFail {
					line += " (may fail)"
				}
				steps = append(steps, line)
			}
			if !slices.Equal(steps, c.steps) {
				t.Errorf("steps %q\nwant  %q", steps, c.steps)
			}
			if c.goos == "darwin" {
				checkPlist(t, spec.Content)
				if c.noStart && !strings.Contains(spec.Hint, "launchctl bootstrap gui/501 "+c.path) {
					t.Errorf("hint %q does not say how to start it", spec.Hint)
				}
				if !slices.Contains(spec.Dirs, c.p.Root+"/logs") {
					t.Errorf("the logs directory is not made: %v", spec.Dirs)
				}
			}
		})
	}
	if _, err := serviceFor("plan9", p, false); err == nil || !strings.Contains(err.Error(), "Linux (systemd) and macOS (launchd), not plan9") {
		t.Errorf("an unknown OS: %v", err)
	}
}

// checkPlist parses the plist as XML: a path that breaks it would leave launchd with
// nothing to load.
func checkPlist(t *testing.T, content string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(content))
	d.Strict = true
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, content)
		}
	}
}

// TestServiceInstallPrint: --print shows this OS's file and installs nothing.
func TestServiceInstallPrint(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	out, code := cli(t, t.TempDir(), map[string]string{}, "service", "install", "--print")
	want := map[string]string{"linux": "[Service]", "darwin": "<key>RunAtLoad</key>"}[runtime.GOOS]
	if code != 0 || want == "" || !strings.Contains(out, want) {
		t.Fatalf("service install --print on %s: exit %d\n%s", runtime.GOOS, code, out)
	}
}
