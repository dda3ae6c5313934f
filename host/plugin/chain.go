package plugin

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/wire"
)

// chain is an immutable, ordered snapshot of one kind's plugins. Registry swaps whole
// chains, so a decision always runs against one consistent set.
type chain struct {
	plugins []*Plugin
	// names joins the plugins' names with commas: who decided an allow of an all-must-allow
	// chain (every plugin did), computed once so a decision does not allocate it.
	names string
}

func newChain(ps []*Plugin) *chain {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name()
	}
	return &chain{plugins: ps, names: strings.Join(names, ",")}
}

// buffers recycles the request/verdict byte slices of decisions, so a decision allocates no
// buffers once the pool is warm.
type buffers struct{ pool sync.Pool }

type decisionBufs struct{ req, out []byte }

func (b *buffers) get() *decisionBufs {
	if v, ok := b.pool.Get().(*decisionBufs); ok {
		return v
	}
	return &decisionBufs{req: make([]byte, 0, 1024), out: make([]byte, 0, 1024)}
}

func (b *buffers) put(d *decisionBufs) {
	if cap(d.req) <= 256<<10 && cap(d.out) <= 256<<10 {
		b.pool.Put(d)
	}
}

// maxRetiredRetries bounds how often a decision restarts because a reload swapped a plugin
// out from under it; each retry sees a newer snapshot, so this is never reached in practice.
const maxRetiredRetries = 8

// MountDecision is the mount chain's answer and which plugin made it.
type MountDecision struct {
	protocol.MountVerdict
	// DecidedBy is the plugin that denied, or on an allow every plugin that allowed, in
	// chain order and comma-separated ("mountguard", "a,b"); "host" when no plugin could.
	DecidedBy string
}

// IPCDecision is the IPC chain's answer and which plugin made it.
type IPCDecision struct {
	protocol.IPCVerdict
	DecidedBy string // as MountDecision's
}

// RouteDecision is the route chain's answer and which plugin made it.
type RouteDecision struct {
	protocol.RouteVerdict
	DecidedBy string // "" when no plugin decided
}

// DecideMount runs the mount chain: every plugin must allow; the first deny, fault or
// malformed verdict wins. With no mount plugin loaded the answer is deny.
func (r *Registry) DecideMount(ctx context.Context, req *protocol.MountRequest) MountDecision {
	return decide(r, ctx, req, r.mountOnce,
		MountDecision{MountVerdict: deniedMount("plugins were reloaded repeatedly during the decision"), DecidedBy: "host"})
}

// decide encodes req into a recycled buffer and runs one pass of a chain, again on a fresh
// snapshot when a reload retired a plugin mid-pass; exhausted is the answer if that keeps
// happening.
func decide[D any](r *Registry, ctx context.Context, req wire.Appender, once func(context.Context, *decisionBufs) (D, bool), exhausted D) D {
	b := r.bufs.get()
	defer r.bufs.put(b)
	b.req = req.AppendJSON(b.req[:0])
	for range maxRetiredRetries {
		if d, retry := once(ctx, b); !retry {
			return d
		}
	}
	return exhausted
}

func deniedMount(reason string) protocol.MountVerdict {
	return protocol.MountVerdict{Allow: false, ReadOnly: true, Reason: reason}
}

func (r *Registry) mountOnce(ctx context.Context, b *decisionBufs) (MountDecision, bool) {
	c := r.chain(protocol.KindMount)
	if len(c.plugins) == 0 {
		return MountDecision{MountVerdict: deniedMount("no mount policy plugin is loaded"), DecidedBy: "host"}, false
	}
	var agreed protocol.MountVerdict
	for i, p := range c.plugins {
		var err error
		b.out, err = p.Call(ctx, b.req, b.out[:0])
		if errors.Is(err, errRetired) {
			return MountDecision{}, true
		}
		if err != nil {
			return MountDecision{MountVerdict: deniedMount(err.Error()), DecidedBy: p.Name()}, false
		}
		var v protocol.MountVerdict
		if err := v.DecodeAliased(b.out); err != nil {
			p.fault(FaultMalformed, err)
			return MountDecision{MountVerdict: deniedMount("plugin " + p.Name() + ": " + err.Error()), DecidedBy: p.Name()}, false
		}
		v.Reason = r.strs.get(v.Reason)
		if !v.Allow {
			v.ReadOnly = true
			v.HostPath, v.ContainerPath = "", ""
			return MountDecision{MountVerdict: v, DecidedBy: p.Name()}, false
		}
		v.HostPath, v.ContainerPath = r.strs.get(v.HostPath), r.strs.get(v.ContainerPath)
		if i == 0 {
			agreed = v
			continue
		}
		if v.HostPath != agreed.HostPath || v.ContainerPath != agreed.ContainerPath {
			return MountDecision{MountVerdict: deniedMount("mount plugins disagree on the paths to bind"), DecidedBy: p.Name()}, false
		}
		agreed.ReadOnly = agreed.ReadOnly || v.ReadOnly
	}
	return MountDecision{MountVerdict: agreed, DecidedBy: c.names}, false
}

// DecideIPC runs the IPC chain: every plugin must allow; the first deny or fault wins. With
// no IPC plugin loaded the answer is deny.
func (r *Registry) DecideIPC(ctx context.Context, req *protocol.IPCRequest) IPCDecision {
	// The request is embedded raw in the envelope: it must be a strict JSON object (valid
	// UTF-8 included) or the envelope itself would be malformed. Refusing it here means an
	// agent's garbage never reaches the plugins (nor counts toward their breakers).
	// Nor may it repeat a key: JSON readers disagree on which copy counts, so the plugin
	// could authorize one value while the host performs the other.
	if v, err := wire.Parse(req.Request); err != nil || v.Kind != wire.Object {
		reason := "request is not a JSON object"
		if err != nil {
			reason = "request is not valid JSON: " + err.Error()
		}
		return IPCDecision{IPCVerdict: protocol.IPCVerdict{Reason: reason}, DecidedBy: "host"}
	} else if k, dup := v.DuplicateKey(); dup {
		return IPCDecision{IPCVerdict: protocol.IPCVerdict{Reason: "request repeats the key " + strconv.Quote(k)}, DecidedBy: "host"}
	}
	return decide(r, ctx, req, r.ipcOnce,
		IPCDecision{IPCVerdict: protocol.IPCVerdict{Reason: "plugins were reloaded repeatedly during the decision"}, DecidedBy: "host"})
}

func (r *Registry) ipcOnce(ctx context.Context, b *decisionBufs) (IPCDecision, bool) {
	c := r.chain(protocol.KindIPC)
	if len(c.plugins) == 0 {
		return IPCDecision{IPCVerdict: protocol.IPCVerdict{Reason: "no ipc policy plugin is loaded"}, DecidedBy: "host"}, false
	}
	var last protocol.IPCVerdict
	for _, p := range c.plugins {
		var err error
		b.out, err = p.Call(ctx, b.req, b.out[:0])
		if errors.Is(err, errRetired) {
			return IPCDecision{}, true
		}
		if err != nil {
			return IPCDecision{IPCVerdict: protocol.IPCVerdict{Reason: err.Error()}, DecidedBy: p.Name()}, false
		}
		var v protocol.IPCVerdict
		if err := v.DecodeAliased(b.out); err != nil {
			p.fault(FaultMalformed, err)
			return IPCDecision{IPCVerdict: protocol.IPCVerdict{Reason: "plugin " + p.Name() + ": " + err.Error()}, DecidedBy: p.Name()}, false
		}
		v.Reason = r.strs.get(v.Reason)
		if !v.Allow {
			return IPCDecision{IPCVerdict: v, DecidedBy: p.Name()}, false
		}
		last = v
	}
	return IPCDecision{IPCVerdict: last, DecidedBy: c.names}, false
}

// DecideRoute runs the route chain in order; the first plugin that decides wins. A fault or
// malformed verdict counts as no decision and the next plugin is asked, and so does a
// delivery to another group than the chat's own that the plugin's manifest does not grant
// (Manifest.MayDeliver).
func (r *Registry) DecideRoute(ctx context.Context, req *protocol.RouteRequest) RouteDecision {
	own := ""
	if req.Group != nil {
		own = req.Group.Folder
	}
	return decide(r, ctx, req, func(ctx context.Context, b *decisionBufs) (RouteDecision, bool) {
		return r.routeOnce(ctx, b, own)
	}, RouteDecision{})
}

func (r *Registry) routeOnce(ctx context.Context, b *decisionBufs, own string) (RouteDecision, bool) {
	c := r.chain(protocol.KindRoute)
	for _, p := range c.plugins {
		var err error
		b.out, err = p.Call(ctx, b.req, b.out[:0])
		if errors.Is(err, errRetired) {
			return RouteDecision{}, true
		}
		if err != nil {
			continue
		}
		var v protocol.RouteVerdict
		if err := v.DecodeAliased(b.out); err != nil {
			p.fault(FaultMalformed, err)
			continue
		}
		if v.Action == protocol.ActionDeliver && !r.mayDeliver(p, own, v.Group) {
			p.log.Warn("route verdict refused: delivering to a group other than the chat's own needs that group in the manifest's deliverTo (\"*\" covers every group but main, which must be named); the next router decides",
				"chat_group", own, "target", string(v.Group), "deliverTo", p.Manifest.DeliverTo)
			continue
		}
		if v.Action != protocol.ActionNone {
			v.Action, v.Group, v.Reason = action(v.Action), r.strs.get(v.Group), r.strs.get(v.Reason)
			return RouteDecision{RouteVerdict: v, DecidedBy: p.Name()}, false
		}
	}
	return RouteDecision{}, false
}

// mayDeliver applies p's delivery grant to a verdict delivering to target.
func (r *Registry) mayDeliver(p *Plugin, own, target string) bool {
	if own != "" && target == own {
		return true // the common case: no directory lookup
	}
	return p.Manifest.MayDeliver(own, target, isMainFolder(r.loader.services.Groups, target))
}
