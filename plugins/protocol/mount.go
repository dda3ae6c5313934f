package protocol

import "github.com/nanoclaw/nanoclaw-go/plugins/wire"

// MountRequest asks whether a group may have one additional host directory mounted into its
// agent container. HostPath and ContainerPath are exactly what the group's configuration says;
// the plugin must not trust either.
type MountRequest struct {
	Group         string // the requesting group's folder
	IsMain        bool   // whether that group is the main (trusted) group
	HostPath      string // as configured, possibly with ~ or symlinks
	ContainerPath string // relative name under /workspace/extra; empty means basename(HostPath)
	ReadOnly      bool   // what the configuration asked for (NanoClaw's default: true)
}

// MountVerdict is a mount plugin's answer. On allow, HostPath is the resolved real path the
// host binds, and nothing re-resolves it between the decision and the bind.
type MountVerdict struct {
	Allow         bool
	ReadOnly      bool
	HostPath      string // resolved real path
	ContainerPath string // absolute, under /workspace/extra
	Reason        string
}

// AppendJSON appends the request's JSON encoding to dst.
func (r *MountRequest) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.String("group", r.Group)
	w.Bool("isMain", r.IsMain)
	w.String("hostPath", r.HostPath)
	w.String("containerPath", r.ContainerPath)
	w.Bool("readonly", r.ReadOnly)
	return w.End()
}

// UnmarshalJSON decodes a request; a missing readonly means true, as in NanoClaw.
func (r *MountRequest) UnmarshalJSON(data []byte) error {
	v, err := parseObject(data, "mount request")
	if err != nil {
		return err
	}
	*r = MountRequest{ReadOnly: true}
	f := fields{what: "mount request"}
	v.EachField(func(k []byte, val wire.Value) bool {
		switch string(k) {
		case "group":
			f.str(val, "group", &r.Group)
		case "isMain":
			f.boolean(val, "isMain", &r.IsMain)
		case "hostPath":
			f.str(val, "hostPath", &r.HostPath)
		case "containerPath":
			f.str(val, "containerPath", &r.ContainerPath)
		case "readonly":
			f.boolean(val, "readonly", &r.ReadOnly)
		}
		return f.err == nil
	})
	return f.err
}

// AppendJSON appends the verdict's JSON encoding to dst.
func (v *MountVerdict) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.Bool("allow", v.Allow)
	w.Bool("readonly", v.ReadOnly)
	w.String("hostPath", v.HostPath)
	w.String("containerPath", v.ContainerPath)
	w.String("reason", v.Reason)
	return w.End()
}

// UnmarshalJSON decodes a verdict. "allow" must be present: a verdict that does not say
// allow explicitly is malformed, and malformed means deny.
func (v *MountVerdict) UnmarshalJSON(data []byte) error {
	obj, err := parseObject(data, "mount verdict")
	if err != nil {
		return err
	}
	*v = MountVerdict{ReadOnly: true}
	f := fields{what: "mount verdict"}
	seenAllow := false
	obj.EachField(func(k []byte, val wire.Value) bool {
		switch string(k) {
		case "allow":
			seenAllow = true
			f.boolean(val, "allow", &v.Allow)
		case "readonly":
			f.boolean(val, "readonly", &v.ReadOnly)
		case "hostPath":
			f.str(val, "hostPath", &v.HostPath)
		case "containerPath":
			f.str(val, "containerPath", &v.ContainerPath)
		case "reason":
			f.str(val, "reason", &v.Reason)
		}
		return f.err == nil
	})
	if f.err == nil && !seenAllow {
		f.err = malformed("mount verdict: missing \"allow\"")
	}
	if f.err == nil && v.Allow && (v.HostPath == "" || v.ContainerPath == "") {
		f.err = malformed("mount verdict: an allow must carry hostPath and containerPath")
	}
	if f.err != nil {
		*v = MountVerdict{ReadOnly: true}
	}
	return f.err
}
