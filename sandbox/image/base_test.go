package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withEngine adds to the stub a fake docker (images kept in a file; `pull` succeeds only
// when registry is true; every call logged) and a fake mmdebstrap that writes the tarball it
// is asked for and logs the call.
func (s *stubSystem) withEngine(t *testing.T, registry bool, images ...string) {
	t.Helper()
	bash := filepath.Join(s.dir, "bin", "bash")
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("images", strings.Join(images, "\n")+"\n")
	write("engine.log", "")
	pull := "exit 1"
	if registry {
		pull = `echo debian:bookworm-slim >> $d/images`
	}
	write("bin/docker", "#!"+bash+`
d=`+s.dir+`
echo "docker $1 $2" >> $d/engine.log
case "$1 $2" in
"image inspect") grep -qx "$3" $d/images ;;
"pull -q") `+pull+` ;;
"build -q") for a in "$@"; do [ "$prev" = -t ] && echo "$a" >> $d/images; prev=$a; done ;;
"import --change") for a in "$@"; do last=$a; done; echo "$last" >> $d/images ;;
*) exit 3 ;;
esac
`)
	write("bin/mmdebstrap", "#!"+bash+`
d=`+s.dir+`
echo mmdebstrap >> $d/engine.log
prev=
for a in "$@"; do [ "$prev" = bookworm ] && echo rootfs > "$a"; prev=$a; done
`)
}

func (s *stubSystem) engineCalls(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "engine.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "; ")
}

// TestBaseChoice: the full image's base is reused when built; otherwise it comes from the
// registry where one answers, else from mmdebstrap (its tarball cached, so a second import
// needs no mirror), and the script says which in one line.
func TestBaseChoice(t *testing.T) {
	full := []string{"mmdebstrap", "debian-archive-keyring", "uidmap"}
	cases := []struct {
		name      string
		env       []string
		registry  bool
		tarball   bool // the rootfs tarball is already cached
		args      []string
		wantCode  int
		wantLines []string // stderr+stdout lines, the tag as TAG
		wantCalls string
	}{
		{name: "registry answers", registry: true,
			wantLines: []string{"image: base from the registry's debian:bookworm-slim (Dockerfile.base)", "TAG"},
			wantCalls: "docker image inspect; docker image inspect; docker pull -q; docker build -q"},
		{name: "no registry: mmdebstrap", registry: false,
			wantLines: []string{"image: base from mmdebstrap (no registry needed): Debian bookworm from http://deb.debian.org/debian", "image: mmdebstrap took", "TAG"},
			wantCalls: "docker image inspect; docker image inspect; docker pull -q; mmdebstrap; docker import --change"},
		{name: "no registry, rootfs cached", registry: false, tarball: true,
			wantLines: []string{"image: base from mmdebstrap (no registry needed): Debian bookworm from http://deb.debian.org/debian", "TAG"},
			wantCalls: "docker image inspect; docker image inspect; docker pull -q; docker import --change"},
		{name: "mmdebstrap asked for although a registry answers", env: []string{"NANOCLAW_IMAGE_BASE=mmdebstrap"}, registry: true, tarball: true,
			wantLines: []string{"image: base from mmdebstrap (no registry needed): Debian bookworm from http://deb.debian.org/debian", "TAG"},
			wantCalls: "docker image inspect; docker import --change"},
		{name: "only asking for a cached base", args: []string{"--cached"}, wantCode: 1, wantCalls: "docker image inspect"},
		{name: "unknown way", env: []string{"NANOCLAW_IMAGE_BASE=nix"}, wantCode: 2,
			wantLines: []string{"image: NANOCLAW_IMAGE_BASE must be mmdebstrap or registry, not nix"}, wantCalls: "docker image inspect"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStub(t, "1000", full, false, 0)
			s.withEngine(t, c.registry)
			cache := filepath.Join(s.dir, "cache")
			env := append([]string{"XDG_CACHE_HOME=" + cache, "HOME=" + s.dir}, c.env...)
			if c.tarball {
				// The first run leaves the tarball; forget the image it imported.
				first := newStub(t, "1000", full, false, 0)
				first.withEngine(t, false)
				first.script(t, []string{"XDG_CACHE_HOME=" + cache, "HOME=" + first.dir}, "base.sh")
			}
			code, out := s.script(t, env, "base.sh", c.args...)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d:\n%s", code, c.wantCode, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if out == "" {
				lines = nil
			}
			if len(lines) != len(c.wantLines) {
				t.Fatalf("output:\n%s\nwant %d lines: %q", out, len(c.wantLines), c.wantLines)
			}
			for i, w := range c.wantLines {
				if w == "TAG" {
					if !strings.HasPrefix(lines[i], "nanoclaw-agent-base:") {
						t.Errorf("last line %q is not the base's tag", lines[i])
					}
					continue
				}
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d: %q, want %q", i, lines[i], w)
				}
			}
			if got := s.engineCalls(t); got != c.wantCalls {
				t.Errorf("calls: %s\nwant:  %s", got, c.wantCalls)
			}
			if c.wantCode != 0 {
				return
			}
			// A second run finds the base and builds nothing.
			code, out = s.script(t, env, "base.sh")
			if code != 0 || !strings.Contains(out, "(cached)") || strings.Count(out, "\n") != 2 {
				t.Errorf("second run: exit %d:\n%s", code, out)
			}
			if got := s.engineCalls(t); got != c.wantCalls+"; docker image inspect" {
				t.Errorf("second run calls: %s", got)
			}
		})
	}
}
