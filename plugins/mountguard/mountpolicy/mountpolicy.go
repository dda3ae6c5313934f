// Package mountpolicy decides whether a group may have a host directory mounted into its agent
// container: NanoClaw's mount validation, kept compatible with its allowlist file and
// hardened. It is pure Go: the same code runs natively (tests, benchmarks, the differential
// fuzzer) and inside the mountguard wasm plugin, which is what the host runs.
//
// Order of checks: the container path's rules; the host path's form; symlink resolution by
// the host (the requested string is never trusted); blocked patterns against every component
// of the resolved path; protected paths neither equal to, inside nor containing it;
// containment in a resolved allowed root; the read-only decision. The verdict carries the
// resolved real path, which is what the host binds.
//
// Protected paths are the host's own state, named by the host in every config document
// (config.Paths.Protected): the project root, the data directory, store/, the plugin
// directory and its compile cache, the config directory, groups/ and each group's folder.
// They are refused under every allowlist and for main too, so an allowed root of ~ or of a
// parent of the project cannot reach them; a refusal names the protected path concerned.
// (Main's read-only view of the project is made by the host's sandbox, not by this policy.)
//
// The most specific allowed root decides: under a read-write ~/a and a read-only ~/a/b, a
// mount of ~/a/b/c is read-only, whatever order the file lists them in.
//
// An allow is not the end: the host checks the verdict's shape itself, pins the approved
// directory (opened without following symlinks) and, once the container has started and
// before it is given any work, checks that the directory bound is the one pinned
// (sandbox.VerifyMounts). A path swapped for a symlink between this decision and the bind is
// caught there, not here.
//
// Case: blocked patterns and protected paths match case-insensitively. On a case-insensitive
// filesystem (macOS by default, or a mounted FAT/NTFS/SMB share) ".SSH" is ".ssh"; on Linux
// this refuses a few more names than strictly needed, which is the safe direction. Allowed
// roots are compared exactly (byte for byte after resolution): a root must be named as it is.
package mountpolicy

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// Facts is what the policy asks its host.
type Facts interface {
	// Resolve expands a leading ~, makes p absolute and resolves every symlink. A path that
	// does not exist reports an error wrapping fs.ErrNotExist.
	Resolve(p string) (string, error)
	// Config returns the "mount-allowlist" document; ok is false when the host has none.
	Config() (doc protocol.ConfigDoc, version int64, ok bool)
	// Log reports a problem the operator must fix (an invalid allowlist), once per version.
	Log(msg string)
}

// Reporter is implemented by Facts that can tell the host about the allowlist file (the
// plugin's, through config_problem): Problem says the file is unusable and why, or with ""
// that it is fine (or absent, which is no problem). Called once per config version.
type Reporter interface {
	Problem(msg string)
}

// ContainerRoot is where additional mounts appear inside the container.
const ContainerRoot = "/workspace/extra"

// Limits on the strings a request may carry.
const (
	MaxContainerPath = 255
	MaxHostPath      = 4096
)

// Guard holds the parsed allowlist between decisions; it re-parses only when the host's
// config version changes.
type Guard struct {
	facts   Facts
	version int64
	loaded  bool
	doc     protocol.ConfigDoc
	list    *Allowlist
	listErr error
}

// New makes a Guard over f.
func New(f Facts) *Guard { return &Guard{facts: f} }

func deny(reason string) protocol.MountVerdict {
	return protocol.MountVerdict{Allow: false, ReadOnly: true, Reason: protocol.CapReason(reason)}
}

// Decide answers one mount request.
func (g *Guard) Decide(req *protocol.MountRequest) protocol.MountVerdict {
	cpath, reason := containerPath(req)
	if reason != "" {
		return deny(reason)
	}
	if reason := checkHostPath(req.HostPath); reason != "" {
		return deny(reason)
	}
	list, reason := g.allowlist()
	if reason != "" {
		return deny(reason)
	}
	real, err := g.facts.Resolve(req.HostPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return deny("host path does not exist: " + req.HostPath)
		}
		return deny("cannot resolve host path " + req.HostPath + ": " + err.Error())
	}
	if !path.IsAbs(real) || path.Clean(real) != real {
		return deny("host resolved the path to a non-canonical form: " + real)
	}
	// The resolved path is what gets bound; the requested one is checked too, so a symlink
	// named like a secret is refused even when it leads somewhere harmless.
	for _, candidate := range [2]string{real, req.HostPath} {
		if p := blockedPattern(candidate, list.BlockedPatterns); p != "" {
			return deny("path matches blocked pattern \"" + p + "\": " + candidate)
		}
	}
	if reason := g.protected(real); reason != "" {
		return deny(reason)
	}
	root, ok := g.allowedRoot(real, list)
	if !ok {
		return deny("path is not under any allowed root: " + real + " (allowed: " + rootList(list) + ")")
	}
	v := protocol.MountVerdict{Allow: true, ReadOnly: true, HostPath: real, ContainerPath: ContainerRoot + "/" + cpath}
	switch {
	case req.ReadOnly:
		v.Reason = "allowed read-only under " + root.Path
	case !req.IsMain && list.NonMainReadOnly:
		v.Reason = "allowed read-only under " + root.Path + " (nonMainReadOnly forces read-only for non-main groups)"
	case !root.AllowReadWrite:
		v.Reason = "allowed read-only under " + root.Path + " (the root does not allow read-write)"
	default:
		v.ReadOnly = false
		v.Reason = "allowed read-write under " + root.Path
	}
	return v
}

// containerPath applies the container path rules and returns the relative path to use.
func containerPath(req *protocol.MountRequest) (string, string) {
	c := req.ContainerPath
	if c == "" {
		c = path.Base(strings.TrimRight(req.HostPath, "/"))
	}
	switch {
	case strings.TrimSpace(c) == "" || c == "." || c == "/":
		return "", "container path is empty"
	case len(c) > MaxContainerPath:
		return "", "container path is longer than 255 bytes"
	case !utf8.ValidString(c):
		return "", "container path is not valid UTF-8"
	case strings.HasPrefix(c, "/"):
		return "", "container path must be relative (it is placed under " + ContainerRoot + "): " + c
	case strings.ContainsRune(c, ':'):
		return "", "container path must not contain ':': " + c
	case strings.ContainsRune(c, '\\'):
		return "", "container path must not contain '\\': " + c
	}
	for _, r := range c {
		if !unicode.IsPrint(r) && r != ' ' {
			return "", "container path contains a control or non-printing character"
		}
	}
	for _, seg := range strings.Split(c, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return "", "container path must not contain '.', '..' or empty segments: " + c
		}
	}
	return c, ""
}

func checkHostPath(p string) string {
	switch {
	case p == "":
		return "host path is empty"
	case len(p) > MaxHostPath:
		return "host path is longer than 4096 bytes"
	case !utf8.ValidString(p):
		return "host path is not valid UTF-8"
	case !(strings.HasPrefix(p, "/") || p == "~" || strings.HasPrefix(p, "~/")):
		return "host path must be absolute or start with ~/: " + p
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "host path contains a control character"
		}
	}
	return ""
}

// allowlist returns the current allowlist or the reason every mount is refused.
func (g *Guard) allowlist() (*Allowlist, string) {
	doc, version, ok := g.facts.Config()
	if !g.loaded || version != g.version {
		g.loaded, g.version, g.doc = true, version, doc
		g.list, g.listErr = nil, nil
		problem := ""
		switch {
		case !ok:
			g.listErr = errors.New("no mount allowlist is configured, so no additional mounts are allowed")
		case doc.Error != "":
			g.listErr = errors.New("mount allowlist " + doc.Path + " cannot be read (" + doc.Error + "); every additional mount is refused")
			problem = g.listErr.Error()
		case !doc.Exists:
			g.listErr = errors.New("no mount allowlist at " + doc.Path + ", so no additional mounts are allowed")
		default:
			g.list, g.listErr = ParseAllowlist(doc.Content)
			if g.listErr != nil {
				g.listErr = errors.New(doc.Path + ": " + g.listErr.Error() + "; every additional mount is refused")
				g.facts.Log(g.listErr.Error())
				problem = g.listErr.Error()
			}
		}
		if rp, ok := g.facts.(Reporter); ok {
			rp.Problem(problem)
		}
	}
	if g.listErr != nil {
		return nil, g.listErr.Error()
	}
	return g.list, ""
}

// blockedPattern returns the first pattern that a component of p equals or contains, or that
// p as a whole contains, compared case-insensitively.
func blockedPattern(p string, patterns []string) string {
	lower := strings.ToLower(p)
	for _, pat := range patterns {
		lp := strings.ToLower(pat)
		if strings.Contains(lower, lp) {
			return pat
		}
	}
	return ""
}

// within reports whether p is root or lies under it, case-insensitively (used for protected
// paths, where refusing too much is the safe side).
func within(p, root string) bool {
	p, root = strings.ToLower(p), strings.ToLower(root)
	return p == root || strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/")
}

// protected returns why real may not be mounted because of the host's own state, or "". A
// path inside a protected path names the most specific one it is in (data/ipc/x names
// data/, not the project root); a path containing protected paths names the first listed.
func (g *Guard) protected(real string) string {
	var inside, contains string
	insideLen, equal := -1, false
	for _, prot := range g.doc.ProtectedPaths {
		resolved, err := g.facts.Resolve(prot)
		if err != nil {
			resolved = path.Clean(prot)
		}
		switch {
		case within(real, resolved):
			if len(resolved) > insideLen {
				inside, insideLen, equal = prot, len(resolved), strings.EqualFold(real, resolved)
			}
		case contains == "" && within(resolved, real):
			contains = prot
		}
	}
	switch {
	case equal:
		return "path is a protected nanoclaw path (" + inside + "): " + real
	case inside != "":
		return "path is inside a protected nanoclaw path (" + inside + "): " + real
	case contains != "":
		return "path contains a protected nanoclaw path (" + contains + "): " + real
	}
	return ""
}

// allowedRoot returns the most specific allowed root containing real: with a read-write /a
// and a read-only /a/b, /a/b/c is decided by /a/b. Of two roots resolving to the same
// directory, a read-only one wins. File order does not matter.
func (g *Guard) allowedRoot(real string, list *Allowlist) (Root, bool) {
	var best Root
	bestLen := -1
	for _, r := range list.Roots {
		resolved, err := g.facts.Resolve(r.Path)
		if err != nil || !path.IsAbs(resolved) {
			continue // a root that does not exist allows nothing
		}
		if real != resolved && !strings.HasPrefix(real, strings.TrimSuffix(resolved, "/")+"/") {
			continue
		}
		if len(resolved) > bestLen || (len(resolved) == bestLen && best.AllowReadWrite && !r.AllowReadWrite) {
			best, bestLen = r, len(resolved)
		}
	}
	return best, bestLen >= 0
}

func rootList(list *Allowlist) string {
	if len(list.Roots) == 0 {
		return "none"
	}
	names := make([]string, len(list.Roots))
	for i, r := range list.Roots {
		names[i] = r.Path
	}
	return strings.Join(names, ", ")
}
