package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
)

var (
	//go:embed service/nanoclaw.service
	unitTemplate string
	//go:embed service/com.nanoclaw.plist
	plistTemplate string
)

// launchdLabel is the launchd agent's label, NanoClaw's, so that an existing NanoClaw agent
// is replaced rather than run beside this one.
const launchdLabel = "com.nanoclaw"

// serviceParams describe the installation: this project and binary, and the user.
type serviceParams struct {
	Root, Binary, Home string
	// UID is the user whose launchd domain (gui/UID) loads the agent; 0 on Linux means a
	// system unit.
	UID int
	// DockerHost, when the installing shell has one, is passed on: a service does not read
	// the user's shell profile.
	DockerHost string
}

// serviceStep is one command that loads or starts the service; mayFail marks one whose
// failure is expected (unloading an agent that is not loaded).
type serviceStep struct {
	args    []string
	mayFail bool
}

// serviceSpec is what installing the host as a service means on one OS.
type serviceSpec struct {
	Path    string // where the file goes
	Content string
	Steps   []serviceStep // run in order after the file is written
	Dirs    []string
	Hint    string // printed after a successful install
}

// unitValues fill both templates.
type unitValues struct {
	serviceParams
	Label, Target, Path string
}

// serviceFor decides the service for goos (runtime.GOOS in use; a parameter so tests cover
// every OS): a systemd unit on Linux (user unit, or system unit for root), a launchd agent
// on macOS.
func serviceFor(goos string, p serviceParams, noStart bool) (serviceSpec, error) {
	switch goos {
	case "linux":
		v := unitValues{serviceParams: p, Target: "default.target", Path: "/usr/local/bin:/usr/bin:/bin"}
		dir, ctl := filepath.Join(p.Home, ".config", "systemd", "user"), []string{"systemctl", "--user"}
		hint := "tip: `loginctl enable-linger` keeps the user service running after you log out"
		if p.UID == 0 {
			v.Target, dir, ctl, hint = "multi-user.target", "/etc/systemd/system", []string{"systemctl"}, ""
		}
		unit, err := render("systemd unit", unitTemplate, v)
		if err != nil {
			return serviceSpec{}, err
		}
		systemctl := func(a ...string) serviceStep { return serviceStep{args: append(slices.Clone(ctl), a...)} }
		steps := []serviceStep{systemctl("daemon-reload"), systemctl("enable", "nanoclaw.service")}
		if !noStart {
			steps = append(steps, systemctl("restart", "nanoclaw.service"))
		}
		return serviceSpec{Path: filepath.Join(dir, "nanoclaw.service"), Content: unit, Steps: steps, Hint: hint}, nil
	case "darwin":
		// Homebrew (Apple silicon, then Intel) and Docker Desktop put their tools here.
		v := unitValues{serviceParams: p, Label: launchdLabel, Path: "/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
		plist, err := render("launchd agent", plistTemplate, v)
		if err != nil {
			return serviceSpec{}, err
		}
		path := filepath.Join(p.Home, "Library", "LaunchAgents", launchdLabel+".plist")
		domain := fmt.Sprintf("gui/%d", p.UID)
		// bootout replaces an agent already loaded (this one, or NanoClaw's); RunAtLoad starts
		// the new one as bootstrap loads it.
		steps := []serviceStep{{args: []string{"launchctl", "bootout", domain + "/" + launchdLabel}, mayFail: true}}
		hint := "logs: " + filepath.Join(p.Root, "logs", "nanoclaw.log") + " (and nanoclaw.error.log)"
		if noStart {
			hint = "start it with: launchctl bootstrap " + domain + " " + path
		} else {
			steps = append(steps, serviceStep{args: []string{"launchctl", "bootstrap", domain, path}})
		}
		return serviceSpec{Path: path, Content: plist, Steps: steps, Dirs: []string{filepath.Join(p.Root, "logs")}, Hint: hint}, nil
	}
	return serviceSpec{}, fmt.Errorf("service install knows Linux (systemd) and macOS (launchd), not %s: run `nanoclaw run` under your system's service manager", goos)
}

// render fills a service template; values are XML-escaped where the template says `xml`.
func render(what, text string, v unitValues) (string, error) {
	t, err := template.New(what).Funcs(template.FuncMap{"xml": func(s string) (string, error) {
		var b strings.Builder
		err := xml.EscapeText(&b, []byte(s))
		return b.String(), err
	}}).Parse(text)
	if err != nil {
		return "", fmt.Errorf("%s template: %w", what, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return "", fmt.Errorf("%s template: %w", what, err)
	}
	return b.String(), nil
}

// cmdService installs the host as a service: a systemd unit on Linux (a user unit, or a
// system unit as root), a launchd agent on macOS. --print shows it without installing.
func cmdService(e env) *cobra.Command {
	install := &cobra.Command{
		Use:   "install",
		Short: "Install the host as a service that starts at login and restarts if it stops",
		Long: `Install the host as a service for this project directory. Linux: a systemd user unit
(~/.config/systemd/user/nanoclaw.service), or a system unit when run as root. macOS: a
launchd agent (~/Library/LaunchAgents/com.nanoclaw.plist) that logs to logs/nanoclaw.log.
--print shows the file without installing anything.`,
		Example: "  nanoclaw service install\n  nanoclaw service install --print\n  nanoclaw service install --no-start",
		Args:    cobra.NoArgs,
	}
	printOnly := install.Flags().Bool("print", false, "print the unit (Linux) or plist (macOS) instead of installing it")
	noStart := install.Flags().Bool("no-start", false, "install (and enable), but do not start")
	install.RunE = body(func(ctx context.Context, _ *cobra.Command, _ []string) int {
		return runServiceInstall(ctx, e, runtime.GOOS, *printOnly, *noStart)
	})
	return parent(&cobra.Command{
		Use:     "service",
		Short:   "Run the host as a service of this machine (systemd or launchd)",
		Example: "  nanoclaw service install --print",
	}, install)
}

// runServiceInstall is the body of `service install` on goos.
func runServiceInstall(ctx context.Context, e env, goos string, printOnly, noStart bool) int {
	bin, err := os.Executable()
	if err == nil {
		bin, err = filepath.EvalSymlinks(bin)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw: locate the binary:", err)
		return 2
	}
	root, err := filepath.Abs(e.workdir)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	home, err := os.UserHomeDir()
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw: the service needs a home directory:", err)
		return 2
	}
	spec, err := serviceFor(goos, serviceParams{Root: root, Binary: bin, Home: home, UID: os.Geteuid(), DockerHost: e.getenv("DOCKER_HOST")}, noStart)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 1
	}
	if printOnly {
		fmt.Fprint(e.stdout, spec.Content)
		return 0
	}
	for _, d := range append(spec.Dirs, filepath.Dir(spec.Path)) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw:", err)
			return 1
		}
	}
	if err := os.WriteFile(spec.Path, []byte(spec.Content), 0o644); err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 1
	}
	fmt.Fprintln(e.stdout, "wrote", spec.Path)
	for _, s := range spec.Steps {
		out, err := exec.CommandContext(ctx, s.args[0], s.args[1:]...).CombinedOutput()
		if err != nil && !s.mayFail {
			var notFound *exec.Error
			if errors.As(err, &notFound) {
				fmt.Fprintf(e.stderr, "nanoclaw: %s is not on this machine's PATH; the file is written, load it with: %s\n", s.args[0], strings.Join(s.args, " "))
				return 1
			}
			fmt.Fprintf(e.stderr, "nanoclaw: %s: %v\n%s", strings.Join(s.args, " "), err, out)
			return 1
		}
	}
	if spec.Hint != "" {
		fmt.Fprintln(e.stdout, spec.Hint)
	}
	return 0
}
