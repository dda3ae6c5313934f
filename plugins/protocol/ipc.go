package protocol

import "github.com/nanoclaw/nanoclaw-go/plugins/wire"

// IPCRequest asks whether a group's agent may have one IPC request performed. Group and
// IsMain come from the directory the file arrived in, never from the file; Request is the
// file's content exactly as the agent wrote it, for the plugin to validate.
type IPCRequest struct {
	Group  string // folder of the IPC directory the request arrived in
	IsMain bool   // whether that folder belongs to the main group
	Dir    string // "messages" or "tasks": the subdirectory it arrived in
	// TaskGroup is the folder owning the task the request names (pause, resume, cancel,
	// update), looked up by the host; empty when the task does not exist or none is named.
	TaskGroup string
	Request   []byte // the raw JSON the agent wrote
}

// IPCVerdict is an ipc plugin's answer.
type IPCVerdict struct {
	Allow  bool
	Reason string
}

// AppendJSON appends the request's JSON encoding to dst. Request must already be valid JSON
// (the host parses the agent's file before asking); an empty one is sent as null.
func (r *IPCRequest) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.String("group", r.Group)
	w.Bool("isMain", r.IsMain)
	w.String("dir", r.Dir)
	w.String("taskGroup", r.TaskGroup)
	w.Raw("request", r.Request)
	return w.End()
}

// UnmarshalJSON decodes a request, copying what it keeps.
func (r *IPCRequest) UnmarshalJSON(data []byte) error {
	dc := newDecoder(data, false)
	r.decode(&dc)
	if err := finish(&dc, "ipc request"); err != nil {
		return err
	}
	r.Request = append([]byte(nil), r.Request...)
	return nil
}

// DecodeAliased decodes a request whose strings and Request alias data.
func (r *IPCRequest) DecodeAliased(data []byte) error {
	dc := newDecoder(data, true)
	r.decode(&dc)
	return finish(&dc, "ipc request")
}

func (r *IPCRequest) decode(dc *wire.Decoder) {
	*r = IPCRequest{}
	fields(dc, func(k []byte) {
		switch string(k) {
		case "group":
			r.Group = dc.String()
		case "isMain":
			r.IsMain = dc.Bool()
		case "dir":
			r.Dir = dc.String()
		case "taskGroup":
			r.TaskGroup = dc.String()
		case "request":
			r.Request = dc.Skip()
		default:
			dc.Skip()
		}
	})
}

// AppendJSON appends the verdict's JSON encoding to dst.
func (v *IPCVerdict) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.Bool("allow", v.Allow)
	w.String("reason", v.Reason)
	return w.End()
}

// UnmarshalJSON decodes a verdict; "allow" must be present, no key may repeat and no other
// field may appear.
func (v *IPCVerdict) UnmarshalJSON(data []byte) error { return v.decodeVerdict(data, false) }

// DecodeAliased decodes a verdict whose strings alias data.
func (v *IPCVerdict) DecodeAliased(data []byte) error { return v.decodeVerdict(data, true) }

func (v *IPCVerdict) decodeVerdict(data []byte, alias bool) error {
	var seen bool
	var bad error
	dc := newDecoder(data, alias)
	*v = IPCVerdict{}
	verdictFields(&dc, "ipc verdict", ipcVerdictKey, true, &bad, func(i int) {
		switch i {
		case 0:
			seen = true
			v.Allow = dc.Bool()
		case 1:
			v.Reason = dc.String()
		}
	})
	err := finish(&dc, "ipc verdict")
	switch {
	case err != nil:
	case bad != nil:
		err = bad
	case !seen:
		err = malformed("ipc verdict: missing \"allow\"")
	}
	if err != nil {
		*v = IPCVerdict{}
	}
	return err
}

// ipcVerdictKey numbers the IPC verdict's fields; any other key is refused.
func ipcVerdictKey(k []byte) int {
	switch string(k) {
	case "allow":
		return 0
	case "reason":
		return 1
	}
	return -1
}
