package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// Runtime is the container engine as the host needs it: any Docker-compatible engine (a
// remote one through DOCKER_HOST, Podman's compatible socket) plugs in behind it.
type Runtime interface {
	// Ping checks that the engine answers.
	Ping(ctx context.Context) error
	// Start creates and starts a container for spec, attached to its stdio.
	Start(ctx context.Context, spec Spec) (*Process, error)
	// RemoveManaged force-removes every container labelled as the given host instance's
	// (orphans of a crash; see Instance), returning how many it removed.
	RemoveManaged(ctx context.Context, instance string) (int, error)
}

// Process is a running container. Stdout and Stderr must be read to EOF; Wait then reports
// the exit code.
type Process struct {
	ID     string
	Stdin  io.WriteCloser
	Stdout io.Reader
	Stderr io.Reader
	// PID is the container's first process as the host sees it, which VerifyMounts looks
	// through; 0 when unknown (fake runtimes; Docker reports it for specs with mounts to
	// verify). A spec with such mounts and no PID is refused.
	PID int

	wait func() (int64, error)
	kill func(ctx context.Context) error
}

// NewProcess assembles a Process for a Runtime other than Docker (or a test's fake): wait
// blocks until the container exits and reports its exit code; kill stops it.
func NewProcess(id string, stdin io.WriteCloser, stdout, stderr io.Reader, wait func() (int64, error), kill func(ctx context.Context) error) *Process {
	return &Process{ID: id, Stdin: stdin, Stdout: stdout, Stderr: stderr, wait: wait, kill: kill}
}

// Wait blocks until the container exits and its output has been delivered.
func (p *Process) Wait() (int64, error) { return p.wait() }

// Kill stops the container at once (SIGKILL); auto-remove then deletes it.
func (p *Process) Kill(ctx context.Context) error { return p.kill(ctx) }

// needsVerify reports whether s has mounts VerifyMounts must check.
func needsVerify(s Spec) bool {
	for _, m := range s.Mounts {
		if m.Verify != nil {
			return true
		}
	}
	return false
}

// Docker is Runtime over the engine API (github.com/moby/moby/client).
type Docker struct {
	cli *client.Client
}

// NewDocker connects as the docker CLI would: DOCKER_HOST, DOCKER_API_VERSION,
// DOCKER_CERT_PATH, DOCKER_TLS_VERIFY (the client negotiates the API version itself).
func NewDocker() (*Docker, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Docker{cli: cli}, nil
}

// Close releases the client.
func (d *Docker) Close() error { return d.cli.Close() }

// ErrEngine means the container engine cannot be reached; its message says how to fix it.
var ErrEngine = errors.New("the container engine is not reachable")

// Ping implements Runtime.
func (d *Docker) Ping(ctx context.Context) error {
	if _, err := d.cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("%w (%v). Start Docker (`sudo systemctl start docker`, or `dockerd &`), "+
			"or point DOCKER_HOST at a Docker-compatible engine such as Podman's socket", ErrEngine, err)
	}
	return nil
}

// createOptions is the one place a Spec becomes engine settings.
func createOptions(s Spec) client.ContainerCreateOptions {
	cfg := &container.Config{
		Image:        s.Image,
		User:         s.User,
		Env:          s.Env,
		Labels:       s.Labels,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		OpenStdin:    true,
		StdinOnce:    true,
	}
	if len(s.Entrypoint) > 0 {
		cfg.Entrypoint = s.Entrypoint
	}
	pids := s.Limits.Pids
	host := &container.HostConfig{
		AutoRemove:     true,
		NetworkMode:    "none",
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges:true"},
		Tmpfs:          map[string]string{},
		Resources: container.Resources{
			Memory:     s.Limits.MemoryBytes,
			MemorySwap: s.Limits.MemoryBytes, // no swap beyond the memory limit
			NanoCPUs:   s.Limits.NanoCPUs,
			PidsLimit:  &pids,
		},
	}
	for _, t := range s.Tmpfs {
		host.Tmpfs[t.Target] = t.Options
	}
	for _, m := range s.Mounts {
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	return client.ContainerCreateOptions{Config: cfg, HostConfig: host, Name: s.Name}
}

// Start implements Runtime. The order — create, attach, wait, start — matters: with
// auto-remove a container that exits fast could be gone before a later wait registered.
func (d *Docker) Start(ctx context.Context, s Spec) (*Process, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	created, err := d.cli.ContainerCreate(ctx, createOptions(s))
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("create container %s: %w: %s. Build it with `make image` (or set CONTAINER_IMAGE to an image you have)", s.Name, ErrNoImage, s.Image)
	}
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", s.Name, err)
	}
	id := created.ID
	remove := func() {
		_, _ = d.cli.ContainerRemove(context.WithoutCancel(ctx), id, client.ContainerRemoveOptions{Force: true})
	}
	att, err := d.cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		remove()
		return nil, fmt.Errorf("attach container %s: %w", s.Name, err)
	}
	waited := d.cli.ContainerWait(context.WithoutCancel(ctx), id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := d.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		att.Close()
		remove()
		return nil, fmt.Errorf("start container %s: %w", s.Name, err)
	}
	pid := 0
	if needsVerify(s) {
		info, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err == nil && info.Container.State == nil {
			err = errors.New("the engine reported no state")
		}
		if err != nil {
			att.Close()
			remove()
			return nil, fmt.Errorf("inspect container %s for its process: %w", s.Name, err)
		}
		pid = info.Container.State.Pid
	}
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(outW, errW, att.Reader)
		outW.CloseWithError(err)
		errW.CloseWithError(err)
		copied <- err
	}()
	var once sync.Once
	var code int64
	var werr error
	p := &Process{
		ID:     id,
		Stdin:  stdinCloser{att: &att.HijackedResponse},
		Stdout: outR,
		Stderr: errR,
		PID:    pid,
		kill: func(ctx context.Context) error {
			_, err := d.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGKILL"})
			return err
		},
	}
	p.wait = func() (int64, error) {
		once.Do(func() {
			select {
			case r := <-waited.Result:
				code = r.StatusCode
				if r.Error != nil && r.Error.Message != "" {
					werr = errors.New(r.Error.Message)
				}
			case err := <-waited.Error:
				werr = fmt.Errorf("wait for container %s: %w", s.Name, err)
			}
			<-copied
			att.Close()
		})
		return code, werr
	}
	return p, nil
}

// stdinCloser closes only the write half, so output keeps flowing after stdin ends.
type stdinCloser struct{ att *client.HijackedResponse }

func (s stdinCloser) Write(b []byte) (int, error) { return s.att.Conn.Write(b) }
func (s stdinCloser) Close() error                { return s.att.CloseWrite() }

// RemoveManaged implements Runtime.
func (d *Docker) RemoveManaged(ctx context.Context, instance string) (int, error) {
	filters := make(client.Filters).Add("label", LabelManaged+"=true", LabelInstance+"="+instance)
	list, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return 0, fmt.Errorf("list managed containers: %w", err)
	}
	n := 0
	var errs []error
	for _, c := range list.Items {
		if _, err := d.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// ErrNoImage means the agent image is not in the engine; its message says how to build it.
var ErrNoImage = errors.New("the agent image is not in the container engine")

// CheckImage reports whether image is in the engine, with a how-to-fix message when it is
// not: every agent run needs it, and no registry is assumed to be reachable.
func (d *Docker) CheckImage(ctx context.Context, image string) error {
	_, err := d.cli.ImageInspect(ctx, image)
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: %s. Build it with `make image` (or set CONTAINER_IMAGE to an image you have)", ErrNoImage, image)
	default:
		return fmt.Errorf("inspect image %s: %w", image, err)
	}
}

// Inspect returns the engine's view of a container (tests assert mounts and security
// settings on it).
func (d *Docker) Inspect(ctx context.Context, id string) (container.InspectResponse, error) {
	r, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	return r.Container, err
}

// Client exposes the engine client for image builds and tests.
func (d *Docker) Client() *client.Client { return d.cli }
