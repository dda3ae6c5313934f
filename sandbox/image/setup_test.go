// Package image holds the agent image recipes (shell and Dockerfiles); its tests run the
// set-up script's decisions against a stubbed package manager.
package image

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubSystem is a PATH holding only the tools setup.sh uses: the real shell utilities, and
// fake dpkg, apt-get and id driven by files in the stub's directory.
type stubSystem struct {
	dir string
}

// newStub makes a system with uid, the packages installed, and apt-get present or not.
// aptFails is how many apt-get install calls fail before one succeeds (a fresh machine's
// missing lists); -1 fails them all.
func newStub(t *testing.T, uid string, installed []string, apt bool, aptFails int) *stubSystem {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"bash", "grep", "mktemp", "rm", "tail", "cat", "echo", "sha256sum", "cut", "dirname", "timeout", "date", "mkdir", "mv"} {
		real, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("the test needs %s: %v", tool, err)
		}
		if err := os.Symlink(real, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("installed", strings.Join(installed, "\n")+"\n", 0o644)
	write("apt.log", "", 0o644)
	write("aptfails", strings.Repeat("x\n", max(aptFails, 0)), 0o644)
	if aptFails < 0 {
		write("aptfails", strings.Repeat("x\n", 1000), 0o644)
	}
	write("bin/id", "#!"+filepath.Join(bin, "bash")+"\n[ \"$1\" = -u ] && echo "+uid+"\n", 0o755)
	// dpkg -s PKG: the status line of an installed package, or dpkg's error and exit 1.
	write("bin/dpkg", "#!"+filepath.Join(bin, "bash")+`
[ "$1" = -s ] || exit 2
if grep -qx "$2" `+filepath.Join(dir, "installed")+`; then
  printf 'Package: %s\nStatus: install ok installed\n' "$2"
else
  echo "dpkg-query: package '$2' is not installed" >&2; exit 1
fi
`, 0o755)
	if apt {
		// apt-get: logs its arguments; install fails while aptfails has lines, then marks
		// its packages installed.
		write("bin/apt-get", "#!"+filepath.Join(bin, "bash")+`
d=`+dir+`
echo "$*" >> $d/apt.log
[ "$1" = update ] && exit 0
if [ -s $d/aptfails ]; then tail -n +2 $d/aptfails > $d/aptfails.new; cat $d/aptfails.new > $d/aptfails; echo "E: Unable to locate package"; exit 100; fi
for a in "$@"; do case $a in -*|install) ;; *) echo "$a" >> $d/installed ;; esac; done
`, 0o755)
	}
	return &stubSystem{dir: dir}
}

// run runs setup.sh target on the stub; it returns the exit code and the combined output.
func (s *stubSystem) run(t *testing.T, target string) (int, string) {
	t.Helper()
	return s.script(t, nil, "setup.sh", target)
}

// script runs a script of this directory on the stub with env added; it returns the exit
// code and the combined output.
func (s *stubSystem) script(t *testing.T, env []string, name string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.dir, "bin", "bash"), append([]string{name}, args...)...)
	cmd.Env = append([]string{"PATH=" + filepath.Join(s.dir, "bin")}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String()
}

func (s *stubSystem) aptCalls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "apt.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "_"))
}

// TestSetupDecisions: present packages are left alone in silence; missing ones are
// installed by root with apt-get, announced in one line; anyone else is stopped with one
// line naming the exact command.
func TestSetupDecisions(t *testing.T) {
	cases := []struct {
		name      string
		target    string
		uid       string
		installed []string
		apt       bool
		aptFails  int
		wantCode  int
		wantOut   string   // the one line of output ("" = none)
		wantApt   []string // apt-get calls, spaces as _
	}{
		{name: "present", target: "minimal", uid: "1000", installed: []string{"bash-static", "busybox-static"}, apt: true},
		{name: "present without apt", target: "minimal", uid: "0", installed: []string{"bash-static", "busybox-static"}},
		{name: "missing, root with apt", target: "minimal", uid: "0", installed: []string{"bash-static"}, apt: true,
			wantOut: "setup: installing busybox-static (needed for the minimal agent image): apt-get install -y busybox-static",
			wantApt: []string{"install_-y_-q_busybox-static"}},
		{name: "missing, root with apt, no package lists yet", target: "minimal", uid: "0", apt: true, aptFails: 1,
			wantOut: "setup: installing bash-static busybox-static (needed for the minimal agent image): apt-get install -y bash-static busybox-static",
			wantApt: []string{"install_-y_-q_bash-static_busybox-static", "update_-q", "install_-y_-q_bash-static_busybox-static"}},
		{name: "missing, not root", target: "minimal", uid: "1000", installed: []string{"busybox-static"}, apt: true, wantCode: 1,
			wantOut: "setup: bash-static needed for the minimal agent image; install with: sudo apt-get install -y bash-static"},
		{name: "missing, root without apt", target: "minimal", uid: "0", wantCode: 1,
			wantOut: "setup: bash-static busybox-static needed for the minimal agent image; install with: sudo apt-get install -y bash-static busybox-static"},
		{name: "missing, neither root nor apt", target: "minimal", uid: "1000", wantCode: 1,
			wantOut: "setup: bash-static busybox-static needed for the minimal agent image; install with: sudo apt-get install -y bash-static busybox-static"},
		{name: "full as root needs no uidmap", target: "full", uid: "0", installed: []string{"debian-archive-keyring"}, apt: true,
			wantOut: "setup: installing mmdebstrap (needed for the full agent image's root filesystem): apt-get install -y mmdebstrap",
			wantApt: []string{"install_-y_-q_mmdebstrap"}},
		{name: "full as a user needs uidmap", target: "full", uid: "1000", installed: []string{"mmdebstrap", "debian-archive-keyring"}, apt: true, wantCode: 1,
			wantOut: "setup: uidmap needed for the full agent image's root filesystem; install with: sudo apt-get install -y uidmap"},
		{name: "full present", target: "full", uid: "1000", installed: []string{"mmdebstrap", "debian-archive-keyring", "uidmap"}},
		{name: "unknown target", target: "huge", uid: "0", apt: true, wantCode: 2, wantOut: "setup: usage: setup.sh minimal|full"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStub(t, c.uid, c.installed, c.apt, c.aptFails)
			code, out := s.run(t, c.target)
			if code != c.wantCode {
				t.Errorf("exit %d, want %d; output:\n%s", code, c.wantCode, out)
			}
			if got := strings.TrimSuffix(out, "\n"); got != c.wantOut {
				t.Errorf("output:\n%q\nwant the one line:\n%q", got, c.wantOut)
			}
			if got := s.aptCalls(t); strings.Join(got, " ") != strings.Join(c.wantApt, " ") {
				t.Errorf("apt-get calls %q, want %q", got, c.wantApt)
			}
		})
	}
}

// TestSetupAptFails: when apt-get cannot install even after an update, the script stops
// with the command that failed and apt's last lines.
func TestSetupAptFails(t *testing.T) {
	s := newStub(t, "0", nil, true, -1)
	code, out := s.run(t, "minimal")
	if code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
	for _, want := range []string{"setup: apt-get install -y bash-static busybox-static failed", "E: Unable to locate package"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
