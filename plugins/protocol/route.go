package protocol

import "github.com/nanoclaw/nanoclaw-go/plugins/wire"

// Message is an inbound chat message as a routing plugin sees it.
type Message struct {
	ID           string
	ChatJID      string
	Sender       string // sender id (phone JID or channel-specific id)
	SenderName   string
	Content      string
	Timestamp    string // RFC 3339
	IsFromMe     bool   // sent from the account the assistant runs on
	IsBotMessage bool   // written by the assistant itself
}

// Group is a registered group as plugins see it.
type Group struct {
	JID             string
	Folder          string
	Name            string
	Trigger         string // e.g. "@Andy"; empty means "@" + the assistant's name
	RequiresTrigger bool
	IsMain          bool
}

// RouteRequest asks what to do with one inbound message. Group is nil when the chat is not
// registered.
type RouteRequest struct {
	Message       Message
	Group         *Group
	AssistantName string
}

// Route actions.
const (
	ActionNone    = ""        // no decision: the next plugin in the chain decides
	ActionIgnore  = "ignore"  // drop: not stored, not delivered
	ActionStore   = "store"   // store as context, do not start an agent
	ActionDeliver = "deliver" // store and hand to Group's queue
)

// RouteVerdict is a route plugin's answer.
type RouteVerdict struct {
	Action string // one of the Action constants
	Group  string // folder to deliver to (deliver only)
	Reason string
}

// AppendJSON appends g's JSON encoding to dst.
func (g *Group) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.String("jid", g.JID)
	w.String("folder", g.Folder)
	w.String("name", g.Name)
	w.String("trigger", g.Trigger)
	w.Bool("requiresTrigger", g.RequiresTrigger)
	w.Bool("isMain", g.IsMain)
	return w.End()
}

// UnmarshalJSON decodes a group.
func (g *Group) UnmarshalJSON(data []byte) error {
	v, err := parseObject(data, "group")
	if err != nil {
		return err
	}
	return g.decode(v)
}

func (g *Group) decode(v wire.Value) error {
	*g = Group{}
	f := fields{what: "group"}
	v.EachField(func(k []byte, val wire.Value) bool {
		switch string(k) {
		case "jid":
			f.str(val, "jid", &g.JID)
		case "folder":
			f.str(val, "folder", &g.Folder)
		case "name":
			f.str(val, "name", &g.Name)
		case "trigger":
			f.str(val, "trigger", &g.Trigger)
		case "requiresTrigger":
			f.boolean(val, "requiresTrigger", &g.RequiresTrigger)
		case "isMain":
			f.boolean(val, "isMain", &g.IsMain)
		}
		return f.err == nil
	})
	return f.err
}

// AppendJSON appends the request's JSON encoding to dst.
func (r *RouteRequest) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.Object("message", &r.Message)
	if r.Group == nil {
		w.Raw("group", nil)
	} else {
		w.Object("group", r.Group)
	}
	w.String("assistantName", r.AssistantName)
	return w.End()
}

// AppendJSON appends the message's JSON encoding to dst.
func (m *Message) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.String("id", m.ID)
	w.String("chatJid", m.ChatJID)
	w.String("sender", m.Sender)
	w.String("senderName", m.SenderName)
	w.String("content", m.Content)
	w.String("timestamp", m.Timestamp)
	w.Bool("isFromMe", m.IsFromMe)
	w.Bool("isBotMessage", m.IsBotMessage)
	return w.End()
}

// UnmarshalJSON decodes a request.
func (r *RouteRequest) UnmarshalJSON(data []byte) error {
	v, err := parseObject(data, "route request")
	if err != nil {
		return err
	}
	*r = RouteRequest{}
	f := fields{what: "route request"}
	v.EachField(func(k []byte, val wire.Value) bool {
		switch string(k) {
		case "message":
			if val.Kind != wire.Object {
				f.err = malformed("route request: \"message\" must be an object, got %s", val.Kind)
				break
			}
			f.err = r.Message.decode(val)
		case "group":
			switch val.Kind {
			case wire.Null:
			case wire.Object:
				r.Group = new(Group)
				f.err = r.Group.decode(val)
			default:
				f.err = malformed("route request: \"group\" must be an object or null, got %s", val.Kind)
			}
		case "assistantName":
			f.str(val, "assistantName", &r.AssistantName)
		}
		return f.err == nil
	})
	return f.err
}

func (m *Message) decode(v wire.Value) error {
	*m = Message{}
	f := fields{what: "message"}
	v.EachField(func(k []byte, val wire.Value) bool {
		switch string(k) {
		case "id":
			f.str(val, "id", &m.ID)
		case "chatJid":
			f.str(val, "chatJid", &m.ChatJID)
		case "sender":
			f.str(val, "sender", &m.Sender)
		case "senderName":
			f.str(val, "senderName", &m.SenderName)
		case "content":
			f.str(val, "content", &m.Content)
		case "timestamp":
			f.str(val, "timestamp", &m.Timestamp)
		case "isFromMe":
			f.boolean(val, "isFromMe", &m.IsFromMe)
		case "isBotMessage":
			f.boolean(val, "isBotMessage", &m.IsBotMessage)
		}
		return f.err == nil
	})
	return f.err
}

// AppendJSON appends the verdict's JSON encoding to dst.
func (v *RouteVerdict) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.String("action", v.Action)
	w.String("group", v.Group)
	w.String("reason", v.Reason)
	return w.End()
}

// UnmarshalJSON decodes a verdict. An unknown action, or deliver without a group, is
// malformed, which the host treats as no decision.
func (v *RouteVerdict) UnmarshalJSON(data []byte) error {
	obj, err := parseObject(data, "route verdict")
	if err != nil {
		return err
	}
	*v = RouteVerdict{}
	f := fields{what: "route verdict"}
	obj.EachField(func(k []byte, val wire.Value) bool {
		switch string(k) {
		case "action":
			f.str(val, "action", &v.Action)
		case "group":
			f.str(val, "group", &v.Group)
		case "reason":
			f.str(val, "reason", &v.Reason)
		}
		return f.err == nil
	})
	if f.err == nil {
		switch v.Action {
		case ActionNone, ActionIgnore, ActionStore:
		case ActionDeliver:
			if v.Group == "" {
				f.err = malformed("route verdict: deliver needs a group")
			}
		default:
			f.err = malformed("route verdict: unknown action %q", v.Action)
		}
	}
	if f.err != nil {
		*v = RouteVerdict{}
	}
	return f.err
}
