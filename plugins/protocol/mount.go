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
	dc := newDecoder(data, false)
	r.decode(&dc)
	return finish(&dc, "mount request")
}

// DecodeAliased decodes a request whose strings alias data.
func (r *MountRequest) DecodeAliased(data []byte) error {
	dc := newDecoder(data, true)
	r.decode(&dc)
	return finish(&dc, "mount request")
}

func (r *MountRequest) decode(dc *wire.Decoder) {
	*r = MountRequest{ReadOnly: true}
	fields(dc, func(k []byte) {
		switch string(k) {
		case "group":
			r.Group = dc.String()
		case "isMain":
			r.IsMain = dc.Bool()
		case "hostPath":
			r.HostPath = dc.String()
		case "containerPath":
			r.ContainerPath = dc.String()
		case "readonly":
			optBool(dc, &r.ReadOnly)
		default:
			dc.Skip()
		}
	})
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

// UnmarshalJSON decodes a verdict. "allow" must be present, and an allow must carry both
// paths: a verdict that does not say allow explicitly is malformed, and malformed means deny.
// So is a verdict that repeats a key or carries a field this package does not know.
func (v *MountVerdict) UnmarshalJSON(data []byte) error { return v.decodeVerdict(data, false) }

// DecodeAliased decodes a verdict whose strings alias data.
func (v *MountVerdict) DecodeAliased(data []byte) error { return v.decodeVerdict(data, true) }

func (v *MountVerdict) decodeVerdict(data []byte, alias bool) error {
	var seen bool
	var bad error
	dc := newDecoder(data, alias)
	*v = MountVerdict{ReadOnly: true}
	verdictFields(&dc, "mount verdict", mountVerdictKey, true, &bad, func(i int) {
		switch i {
		case 0:
			seen = true
			v.Allow = dc.Bool()
		case 1:
			optBool(&dc, &v.ReadOnly)
		case 2:
			v.HostPath = dc.String()
		case 3:
			v.ContainerPath = dc.String()
		case 4:
			v.Reason = dc.String()
		}
	})
	err := finish(&dc, "mount verdict")
	switch {
	case err != nil:
	case bad != nil:
		err = bad
	case !seen:
		err = malformed("mount verdict: missing \"allow\"")
	case v.Allow && (v.HostPath == "" || v.ContainerPath == ""):
		err = malformed("mount verdict: an allow must carry hostPath and containerPath")
	}
	if err != nil {
		*v = MountVerdict{ReadOnly: true}
	}
	return err
}

// mountVerdictKey numbers the mount verdict's fields; any other key is refused.
func mountVerdictKey(k []byte) int {
	switch string(k) {
	case "allow":
		return 0
	case "readonly":
		return 1
	case "hostPath":
		return 2
	case "containerPath":
		return 3
	case "reason":
		return 4
	}
	return -1
}

// optBool reads a boolean into dst, keeping dst's default when the value is null.
func optBool(dc *wire.Decoder, dst *bool) {
	if dc.Peek() == wire.Null {
		dc.Skip()
		return
	}
	*dst = dc.Bool()
}
