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

	group Group // storage Group points to after decoding, so decoding allocates nothing
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

// UnmarshalJSON decodes a group, copying its strings.
func (g *Group) UnmarshalJSON(data []byte) error {
	dc := newDecoder(data, false)
	g.decode(&dc)
	return finish(&dc, "group")
}

// DecodeAliased decodes a group whose strings alias data.
func (g *Group) DecodeAliased(data []byte) error {
	dc := newDecoder(data, true)
	g.decode(&dc)
	return finish(&dc, "group")
}

func (g *Group) decode(dc *wire.Decoder) {
	*g = Group{}
	fields(dc, func(k []byte) {
		switch string(k) {
		case "jid":
			g.JID = dc.String()
		case "folder":
			g.Folder = dc.String()
		case "name":
			g.Name = dc.String()
		case "trigger":
			g.Trigger = dc.String()
		case "requiresTrigger":
			g.RequiresTrigger = dc.Bool()
		case "isMain":
			g.IsMain = dc.Bool()
		default:
			dc.Skip()
		}
	})
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

func (m *Message) decode(dc *wire.Decoder) {
	*m = Message{}
	fields(dc, func(k []byte) {
		switch string(k) {
		case "id":
			m.ID = dc.String()
		case "chatJid":
			m.ChatJID = dc.String()
		case "sender":
			m.Sender = dc.String()
		case "senderName":
			m.SenderName = dc.String()
		case "content":
			m.Content = dc.String()
		case "timestamp":
			m.Timestamp = dc.String()
		case "isFromMe":
			m.IsFromMe = dc.Bool()
		case "isBotMessage":
			m.IsBotMessage = dc.Bool()
		default:
			dc.Skip()
		}
	})
}

// UnmarshalJSON decodes a request, copying its strings.
func (r *RouteRequest) UnmarshalJSON(data []byte) error {
	dc := newDecoder(data, false)
	r.decode(&dc)
	return finish(&dc, "route request")
}

// DecodeAliased decodes a request whose strings alias data.
func (r *RouteRequest) DecodeAliased(data []byte) error {
	dc := newDecoder(data, true)
	r.decode(&dc)
	return finish(&dc, "route request")
}

func (r *RouteRequest) decode(dc *wire.Decoder) {
	*r = RouteRequest{}
	fields(dc, func(k []byte) {
		switch string(k) {
		case "message":
			r.Message.decode(dc)
		case "group":
			if dc.Peek() == wire.Null {
				dc.Skip()
				return
			}
			r.Group = &r.group
			r.Group.decode(dc)
		case "assistantName":
			r.AssistantName = dc.String()
		default:
			dc.Skip()
		}
	})
}

// AppendJSON appends the verdict's JSON encoding to dst.
func (v *RouteVerdict) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.String("action", v.Action)
	w.String("group", v.Group)
	w.String("reason", v.Reason)
	return w.End()
}

// UnmarshalJSON decodes a verdict. An unknown action, deliver without a group, or a repeated
// key is malformed, which the host treats as no decision. Unknown fields are ignored.
func (v *RouteVerdict) UnmarshalJSON(data []byte) error { return v.decodeVerdict(data, false) }

// DecodeAliased decodes a verdict whose strings alias data.
func (v *RouteVerdict) DecodeAliased(data []byte) error { return v.decodeVerdict(data, true) }

func (v *RouteVerdict) decodeVerdict(data []byte, alias bool) error {
	var bad error
	dc := newDecoder(data, alias)
	*v = RouteVerdict{}
	// Unknown fields are skipped (not strict): a route verdict's meaning is its action and
	// group, a refused one only means "no decision", and delivery to another group needs
	// the plugin's manifest grant whatever the verdict carries. A repeated key is refused.
	verdictFields(&dc, "route verdict", routeVerdictKey, false, &bad, func(i int) {
		switch i {
		case 0:
			v.Action = dc.String()
		case 1:
			v.Group = dc.String()
		case 2:
			v.Reason = dc.String()
		}
	})
	err := finish(&dc, "route verdict")
	if err == nil && bad != nil {
		err = bad
	}
	if err == nil {
		switch v.Action {
		case ActionNone, ActionIgnore, ActionStore:
		case ActionDeliver:
			if v.Group == "" {
				err = malformed("route verdict: deliver needs a group")
			}
		default:
			err = malformed("route verdict: unknown action %q", v.Action)
		}
	}
	if err != nil {
		*v = RouteVerdict{}
	}
	return err
}

// routeVerdictKey numbers the route verdict's fields; other keys are skipped.
func routeVerdictKey(k []byte) int {
	switch string(k) {
	case "action":
		return 0
	case "group":
		return 1
	case "reason":
		return 2
	}
	return -1
}
