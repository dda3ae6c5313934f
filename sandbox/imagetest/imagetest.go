// Package imagetest builds the agent images for tests exactly as make does: the minimal one
// as `make image-minimal` (the static runner, sandbox/image/stage.sh, FROM scratch) and the
// full one as `make image` (sandbox/image/full.sh on the cached Debian base), with no
// registry: the engine here cannot pull.
package imagetest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moby/moby/client"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
)

// Kind names one of the two agent images.
type Kind string

// The agent images: Minimal (FROM scratch, bash and busybox; the zero Kind) and Full
// (Debian bookworm with git, python3, ripgrep, jq, sqlite3, curl).
const (
	Minimal Kind = "minimal"
	Full    Kind = "full"
)

// Kinds lists both images, the minimal first.
var Kinds = []Kind{Minimal, Full}

// ErrNoBase: the full image's Debian base has not been built on this machine, and this run
// is not asked to build it (NANOCLAW_REQUIRE_DOCKER=1 or NANOCLAW_BUILD_FULL_IMAGE=1 are).
// Tests skip on it: building the base takes a minute and Debian's mirror.
var ErrNoBase = errors.New("the full agent image's base is not built: run `make image` once (or set NANOCLAW_BUILD_FULL_IMAGE=1)")

// Builder builds the image of its Kind once per process, whichever test asks first.
type Builder struct {
	Kind Kind // "" is Minimal
	once sync.Once
	tag  string
	err  error
}

// Build builds the agent image in repository repo with the engine behind c and returns its
// tag: repo:<hash of the runner>. The tag names the runner's code, so test processes of
// different checkouts sharing one engine never run each other's runner.
func (b *Builder) Build(ctx context.Context, c *client.Client, repo string) (string, error) {
	b.once.Do(func() {
		if b.Kind == Full {
			b.tag, b.err = buildFull(ctx, repo)
			return
		}
		b.tag, b.err = build(ctx, c, repo)
	})
	return b.tag, b.err
}

// Tag is the tag Build returned ("" before a Build has returned on this goroutine's path).
func (b *Builder) Tag() string {
	b.once.Do(func() { b.err = fmt.Errorf("imagetest: Tag before Build") })
	return b.tag
}

// buildRunner builds the static agent runner into tmp and returns its path and a short hash
// of the binary, which names the images made from it.
func buildRunner(ctx context.Context, root, tmp string) (string, string, error) {
	runner := filepath.Join(tmp, "agent-runner")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", runner, "./cmd/agent-runner")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("build runner: %w\n%s", err, out)
	}
	bin, err := os.ReadFile(runner)
	if err != nil {
		return "", "", fmt.Errorf("read runner: %w", err)
	}
	sum := sha256.Sum256(bin)
	return runner, hex.EncodeToString(sum[:6]), nil
}

// buildFull builds the full image with sandbox/image/full.sh, as `make image` does. The
// base is reused when built; otherwise it is built only when the run asks for it.
func buildFull(ctx context.Context, repo string) (string, error) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		return "", err
	}
	base, err := exec.CommandContext(ctx, filepath.Join(root, "sandbox/image/base.sh"), "--cached").Output()
	if err != nil {
		if os.Getenv("NANOCLAW_REQUIRE_DOCKER") != "1" && os.Getenv("NANOCLAW_BUILD_FULL_IMAGE") != "1" {
			return "", ErrNoBase
		}
		cmd := exec.CommandContext(ctx, filepath.Join(root, "sandbox/image/base.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if base, err = cmd.Output(); err != nil {
			return "", fmt.Errorf("build the full image's base: %w\n%s", err, stderr.Bytes())
		}
	}
	tmp, err := os.MkdirTemp("", "agent-image")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	runner, sum, err := buildRunner(ctx, root, tmp)
	if err != nil {
		return "", err
	}
	// The tag names the runner and the base (its tag ends in a hash of its recipe).
	baseTag := strings.TrimSpace(string(base))
	tag := repo + ":full-" + sum + "-" + baseTag[strings.LastIndexByte(baseTag, ':')+1:]
	if out, err := exec.CommandContext(ctx, filepath.Join(root, "sandbox/image/full.sh"), tag, runner).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the full agent image: %w\n%s", err, out)
	}
	return tag, nil
}

func build(ctx context.Context, c *client.Client, repo string) (string, error) {
	root, err := plugintest.ModuleRoot()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "agent-image")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	runner, sum, err := buildRunner(ctx, root, tmp)
	if err != nil {
		return "", err
	}
	tag := repo + ":" + sum
	ctxDir := filepath.Join(tmp, "ctx")
	if out, err := exec.CommandContext(ctx, filepath.Join(root, "sandbox/image/stage.sh"), ctxDir, runner).CombinedOutput(); err != nil {
		return "", fmt.Errorf("stage image (needs bash-static and busybox-static): %w\n%s", err, out)
	}
	var buf bytes.Buffer
	if err := tarDir(&buf, ctxDir); err != nil {
		return "", err
	}
	res, err := c.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return "", fmt.Errorf("build agent image: %w", err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if bytes.Contains(out, []byte(`"error"`)) {
		return "", fmt.Errorf("build agent image: %s", out)
	}
	return tag, nil
}

// tarDir writes dir as a build context, keeping symlinks (busybox applets) as links.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
