package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"text/template"

	"github.com/spf13/cobra"
)

//go:embed service/nanoclaw.service
var unitTemplate string

// unitParams fill the systemd unit template.
type unitParams struct {
	Root, Binary, Home, Target string
}

// renderUnit fills the unit template.
func renderUnit(p unitParams) (string, error) {
	t, err := template.New("unit").Parse(unitTemplate)
	if err != nil {
		return "", fmt.Errorf("unit template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return "", fmt.Errorf("unit template: %w", err)
	}
	return b.String(), nil
}

// cmdService installs the host as a systemd service: a user unit normally, a system unit
// when run as root. --print shows the unit without installing it.
func cmdService(e env) *cobra.Command {
	install := &cobra.Command{
		Use:   "install",
		Short: "Install the host as a service that starts at login (systemd)",
		Long: `Install the host as a service for this project directory: a systemd user unit, or a
system unit when run as root. --print shows it without installing.`,
		Example: "  nanoclaw service install\n  nanoclaw service install --print",
		Args:    cobra.NoArgs,
	}
	printOnly := install.Flags().Bool("print", false, "print the unit instead of installing it")
	noStart := install.Flags().Bool("no-start", false, "install and enable, but do not start")
	install.RunE = body(func(ctx context.Context, _ *cobra.Command, _ []string) int {
		return runServiceInstall(ctx, e, *printOnly, *noStart)
	})
	return parent(&cobra.Command{
		Use:     "service",
		Short:   "Run the host as a service of this machine",
		Example: "  nanoclaw service install --print",
	}, install)
}

// runServiceInstall is the body of `service install`.
func runServiceInstall(ctx context.Context, e env, printOnly, noStart bool) int {
	bin, err := os.Executable()
	if err == nil {
		bin, err = filepath.EvalSymlinks(bin)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw: locate the binary:", err)
		return 2
	}
	root, _ := filepath.Abs(e.workdir)
	home, _ := os.UserHomeDir()
	system := os.Geteuid() == 0
	p := unitParams{Root: root, Binary: bin, Home: home, Target: "default.target"}
	unitDir := filepath.Join(home, ".config", "systemd", "user")
	ctl := []string{"systemctl", "--user"}
	if system {
		p.Target, unitDir, ctl = "multi-user.target", "/etc/systemd/system", []string{"systemctl"}
	}
	unit, err := renderUnit(p)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	if printOnly {
		fmt.Fprint(e.stdout, unit)
		return 0
	}
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 1
	}
	path := filepath.Join(unitDir, "nanoclaw.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 1
	}
	fmt.Fprintln(e.stdout, "wrote", path)
	steps := [][]string{append(ctl, "daemon-reload"), append(ctl, "enable", "nanoclaw.service")}
	if !noStart {
		steps = append(steps, append(ctl, "restart", "nanoclaw.service"))
	}
	for _, s := range steps {
		out, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(e.stderr, "nanoclaw: %v: %v\n%s", s, err, out)
			return 1
		}
	}
	if !system {
		fmt.Fprintln(e.stdout, "tip: `loginctl enable-linger` keeps the user service running after you log out")
	}
	return 0
}
