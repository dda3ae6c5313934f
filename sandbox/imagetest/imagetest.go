// Package imagetest builds the minimal agent image for tests, exactly as `make image` does
// (the static runner, sandbox/image/stage.sh, FROM scratch), with no registry: the engine
// here cannot pull.
package imagetest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/moby/moby/client"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
)

// Builder builds the image once per process, whichever test asks first.
type Builder struct {
	once sync.Once
	tag  string
	err  error
}

// Build builds the agent image in repository repo with the engine behind c and returns its
// tag: repo:<hash of the runner>. The tag names the runner's code, so test processes of
// different checkouts sharing one engine never run each other's runner.
func (b *Builder) Build(ctx context.Context, c *client.Client, repo string) (string, error) {
	b.once.Do(func() { b.tag, b.err = build(ctx, c, repo) })
	return b.tag, b.err
}

// Tag is the tag Build returned ("" before a Build has returned on this goroutine's path).
func (b *Builder) Tag() string {
	b.once.Do(func() { b.err = fmt.Errorf("imagetest: Tag before Build") })
	return b.tag
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
	runner := filepath.Join(tmp, "agent-runner")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", runner, "./cmd/agent-runner")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build runner: %w\n%s", err, out)
	}
	bin, err := os.ReadFile(runner)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(bin)
	tag := repo + ":" + hex.EncodeToString(sum[:6])
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
