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

// UnmarshalJSON decodes a request. Request aliases data.
func (r *IPCRequest) UnmarshalJSON(data []byte) error {
	v, err := parseObject(data, "ipc request")
	if err != nil {
		return err
	}
	*r = IPCRequest{}
	f := fields{what: "ipc request"}
	v.EachField(func(k []byte, val wire.Value) bool {
		switch string(k) {
		case "group":
			f.str(val, "group", &r.Group)
		case "isMain":
			f.boolean(val, "isMain", &r.IsMain)
		case "dir":
			f.str(val, "dir", &r.Dir)
		case "taskGroup":
			f.str(val, "taskGroup", &r.TaskGroup)
		case "request":
			r.Request = val.Raw
		}
		return f.err == nil
	})
	return f.err
}

// AppendJSON appends the verdict's JSON encoding to dst.
func (v *IPCVerdict) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.Bool("allow", v.Allow)
	w.String("reason", v.Reason)
	return w.End()
}

// UnmarshalJSON decodes a verdict; "allow" must be present.
func (v *IPCVerdict) UnmarshalJSON(data []byte) error {
	obj, err := parseObject(data, "ipc verdict")
	if err != nil {
		return err
	}
	*v = IPCVerdict{}
	f := fields{what: "ipc verdict"}
	seenAllow := false
	obj.EachField(func(k []byte, val wire.Value) bool {
		switch string(k) {
		case "allow":
			seenAllow = true
			f.boolean(val, "allow", &v.Allow)
		case "reason":
			f.str(val, "reason", &v.Reason)
		}
		return f.err == nil
	})
	if f.err == nil && !seenAllow {
		f.err = malformed("ipc verdict: missing \"allow\"")
	}
	if f.err != nil {
		*v = IPCVerdict{}
	}
	return f.err
}
