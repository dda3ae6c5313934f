package whatsapp

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"go.mau.fi/whatsmeow"
	wastore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// Directory is what the channel asks WhatsApp about people: who is in a group and what the
// account's store calls them. Outbound "@Name" becomes a real mention with it, and a quoted
// message names its sender rather than a number. Options.Directory may be nil: the channel
// then knows only the names it saw on messages since it started.
type Directory interface {
	// Participants lists a group's members.
	Participants(ctx context.Context, group types.JID) ([]types.GroupParticipant, error)
	// Contact returns what the store knows about a user (push name, saved name); ok is
	// false when it knows nothing.
	Contact(ctx context.Context, jid types.JID) (types.ContactInfo, bool)
}

// ClientDirectory answers Directory from a whatsmeow client (group info, a network request)
// and its device store (contacts, where whatsmeow keeps every push name it sees).
type ClientDirectory struct {
	Client *whatsmeow.Client
	Device *wastore.Device
}

// Participants asks WhatsApp for the group's members.
func (d ClientDirectory) Participants(ctx context.Context, group types.JID) ([]types.GroupParticipant, error) {
	info, err := d.Client.GetGroupInfo(ctx, group)
	if err != nil {
		return nil, err
	}
	return info.Participants, nil
}

// Contact reads the device store's contact entry.
func (d ClientDirectory) Contact(ctx context.Context, jid types.JID) (types.ContactInfo, bool) {
	if d.Device == nil || d.Device.Contacts == nil {
		return types.ContactInfo{}, false
	}
	ci, err := d.Device.Contacts.GetContact(ctx, jid)
	return ci, err == nil && ci.Found
}

const (
	// participantsTTL is how long a group's member list is reused before it is asked again.
	participantsTTL = 10 * time.Minute
	// lookupTimeout bounds a member list request made while sending.
	lookupTimeout = 10 * time.Second
	// maxPeoplePerChat and maxPeopleChats bound the names remembered from messages.
	maxPeoplePerChat = 512
	maxPeopleChats   = 1024
)

// person is someone seen in a chat: the address their messages came from, their other
// address when known, and their push name.
type person struct {
	jid, alt types.JID
	name     string
}

// people remembers who wrote in which chat and caches group member lists. It has its own
// lock: it is used from whatsmeow's event goroutine and the sender goroutine.
type people struct {
	dir Directory // may be nil

	mu      sync.Mutex
	seen    map[string]map[types.JID]person // chat -> sender address -> person
	members map[types.JID]membersEntry
}

type membersEntry struct {
	at    time.Time
	parts []types.GroupParticipant
}

func newPeople(dir Directory) *people {
	return &people{dir: dir, seen: map[string]map[types.JID]person{}, members: map[types.JID]membersEntry{}}
}

// saw records that jid (alt: its other address) wrote in chat under name.
func (p *people) saw(chat string, jid, alt types.JID, name string) {
	jid, alt = jid.ToNonAD(), alt.ToNonAD()
	if jid.IsEmpty() || strings.TrimSpace(name) == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.seen[chat]
	if m == nil {
		if len(p.seen) >= maxPeopleChats {
			clear(p.seen)
		}
		m = map[types.JID]person{}
		p.seen[chat] = m
	}
	if _, ok := m[jid]; !ok && len(m) >= maxPeoplePerChat {
		clear(m)
	}
	m[jid] = person{jid: jid, alt: alt, name: name}
}

// seenIn returns the people seen in chat.
func (p *people) seenIn(chat string) []person {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]person, 0, len(p.seen[chat]))
	for _, v := range p.seen[chat] {
		out = append(out, v)
	}
	return out
}

// seenName is the push name jid (either address) wrote under in chat, or "".
func (p *people) seenName(chat string, jids ...types.JID) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range p.seen[chat] {
		for _, j := range jids {
			if !j.IsEmpty() && (v.jid == j || v.alt == j) {
				return v.name
			}
		}
	}
	return ""
}

// nameOf is what to call a user: the push name they wrote under in chat, else the store's
// push name, full name, first name or business name (tried under each address given), else
// "".
func (p *people) nameOf(ctx context.Context, chat string, jids ...types.JID) string {
	if n := p.seenName(chat, jids...); n != "" {
		return n
	}
	for _, ci := range p.contacts(ctx, jids...) {
		for _, n := range []string{ci.PushName, ci.FullName, ci.FirstName, ci.BusinessName} {
			if strings.TrimSpace(n) != "" {
				return n
			}
		}
	}
	return ""
}

// contacts looks each non-empty address up in the directory's store.
func (p *people) contacts(ctx context.Context, jids ...types.JID) []types.ContactInfo {
	if p.dir == nil {
		return nil
	}
	var out []types.ContactInfo
	for _, j := range jids {
		if j.IsEmpty() {
			continue
		}
		if ci, ok := p.dir.Contact(ctx, j.ToNonAD()); ok {
			out = append(out, ci)
		}
	}
	return out
}

// participants returns a group's members, cached for participantsTTL; nil when unknown.
func (p *people) participants(ctx context.Context, group types.JID, now time.Time) []types.GroupParticipant {
	if p.dir == nil || group.Server != types.GroupServer {
		return nil
	}
	p.mu.Lock()
	e, ok := p.members[group]
	p.mu.Unlock()
	if ok && now.Sub(e.at) < participantsTTL {
		return e.parts
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	parts, err := p.dir.Participants(ctx, group)
	if err != nil {
		return e.parts // the last list we had, if any
	}
	p.mu.Lock()
	if len(p.members) >= maxPeopleChats {
		clear(p.members)
	}
	p.members[group] = membersEntry{at: now, parts: parts}
	p.mu.Unlock()
	return parts
}

// candidate is someone a mention may name: the address to mention and every name they go by.
type candidate struct {
	jid   types.JID
	other types.JID // the other address (phone number or LID), for "@<number>"
	names []string
}

// candidates are the people of chat: its members when the directory lists them (named
// from what was seen and the store), and everyone seen writing there. own is left out.
func (p *people) candidates(ctx context.Context, chat types.JID, now time.Time, own func(types.JID) bool) []candidate {
	key := chat.String()
	seen := p.seenIn(key)
	var out []candidate
	covered := map[types.JID]bool{}
	for _, m := range p.participants(ctx, chat, now) {
		jid := m.JID.ToNonAD()
		if jid.IsEmpty() || own(jid) || own(m.PhoneNumber) || own(m.LID) {
			continue
		}
		c := candidate{jid: jid}
		for _, a := range []types.JID{m.PhoneNumber.ToNonAD(), m.LID.ToNonAD()} {
			if !a.IsEmpty() && a != jid {
				c.other = a
			}
		}
		covered[jid], covered[c.other] = true, true
		for _, s := range seen {
			if s.jid == jid || s.jid == c.other || (!s.alt.IsEmpty() && (s.alt == jid || s.alt == c.other)) {
				c.names = append(c.names, s.name)
				covered[s.jid] = true
			}
		}
		c.names = append(c.names, contactNames(p.contacts(ctx, jid, c.other))...)
		out = append(out, c)
	}
	for _, s := range seen {
		if covered[s.jid] || own(s.jid) {
			continue
		}
		c := candidate{jid: s.jid, other: s.alt, names: []string{s.name}}
		c.names = append(c.names, contactNames(p.contacts(ctx, s.jid, s.alt))...)
		out = append(out, c)
	}
	return out
}

// contactNames lists a contact's non-empty names.
func contactNames(cis []types.ContactInfo) []string {
	var out []string
	for _, ci := range cis {
		for _, n := range []string{ci.PushName, ci.FullName, ci.FirstName, ci.BusinessName} {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, n)
			}
		}
	}
	return out
}

// resolveMentions turns "@Name" and "@<number>" of the chat's people into WhatsApp
// mentions: the text says "@<number of the mentioned address>" (which phones show as the
// person's name) and the JIDs are returned for ContextInfo.MentionedJID. A name matches
// case-insensitively and must end at a word boundary; the longest name wins, and a name
// two people share mentions nobody. A first name alone counts when only one person has
// it. Text inside code (`...`, ``` blocks) is left alone.
func resolveMentions(text string, cands []candidate) (string, []string) {
	if len(cands) == 0 || !strings.Contains(text, "@") {
		return text, nil
	}
	var b strings.Builder
	var mentioned []string
	code := codeRanges(text)
	last := 0
	for i := 0; i < len(text); i++ {
		if text[i] != '@' || isWordRune(runeBefore(text, i)) || inRanges(code, i) {
			continue
		}
		c, n, ok := matchMention(text[i+1:], cands)
		if !ok {
			continue
		}
		b.WriteString(text[last:i])
		b.WriteString("@" + c.jid.User)
		last = i + 1 + n
		if s := c.jid.String(); !slices.Contains(mentioned, s) {
			mentioned = append(mentioned, s)
		}
		i = last - 1
	}
	if mentioned == nil {
		return text, nil
	}
	b.WriteString(text[last:])
	return b.String(), mentioned
}

// matchMention finds who rest (the text after an "@") names, and how many bytes it used.
func matchMention(rest string, cands []candidate) (candidate, int, bool) {
	// "@<number>": a member's phone number or LID.
	if d := digitsPrefix(rest); d > 0 {
		for _, c := range cands {
			if rest[:d] == c.jid.User || rest[:d] == c.other.User {
				return c, d, true
			}
		}
		return candidate{}, 0, false
	}
	best, bestLen, tie := candidate{}, 0, false
	firstName, firstLen, firstTie, haveFirst := candidate{}, 0, false, false
	for _, c := range cands {
		for _, name := range c.names {
			if n, ok := prefixFold(rest, name); ok {
				switch {
				case n > bestLen:
					best, bestLen, tie = c, n, false
				case n == bestLen && best.jid != c.jid:
					tie = true
				}
			}
			if f, _, cut := strings.Cut(strings.TrimSpace(name), " "); cut && f != "" {
				if n, ok := prefixFold(rest, f); ok {
					switch {
					case !haveFirst || n > firstLen:
						firstName, firstLen, firstTie, haveFirst = c, n, false, true
					case n == firstLen && firstName.jid != c.jid:
						firstTie = true
					}
				}
			}
		}
	}
	switch {
	case bestLen > 0 && !tie:
		return best, bestLen, true
	case bestLen > 0:
		return candidate{}, 0, false
	case haveFirst && !firstTie:
		return firstName, firstLen, true
	}
	return candidate{}, 0, false
}

// prefixFold reports whether s starts with name (case-insensitively) followed by a word
// boundary, and the length of that prefix in s.
func prefixFold(s, name string) (int, bool) {
	name = strings.TrimSpace(name)
	if name == "" {
		return 0, false
	}
	i, j := 0, 0
	for j < len(name) {
		if i >= len(s) {
			return 0, false
		}
		r1, n1 := utf8.DecodeRuneInString(s[i:])
		r2, n2 := utf8.DecodeRuneInString(name[j:])
		if r1 != r2 && unicode.ToLower(r1) != unicode.ToLower(r2) {
			return 0, false
		}
		i, j = i+n1, j+n2
	}
	if isWordRune(runeAfter(s, i)) {
		return 0, false
	}
	return i, true
}

// digitsPrefix is the length of the run of ASCII digits at the start of s, or 0 when it is
// followed by a letter or digit of another kind.
func digitsPrefix(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 || isWordRune(runeAfter(s, n)) {
		return 0
	}
	return n
}

// codeRanges lists the byte ranges of code in text: fenced blocks and code spans.
func codeRanges(text string) [][2]int {
	var out [][2]int
	var open *fence
	start, off := 0, 0
	for _, line := range strings.SplitAfter(text, "\n") {
		l := strings.TrimSuffix(line, "\n")
		switch {
		case open != nil:
			if closesFence(l, *open) {
				out = append(out, [2]int{start, off + len(line)})
				open = nil
			}
		default:
			if fc, ok := opensFence(l); ok {
				open, start = &fc, off
				break
			}
			for i := 0; i < len(l); i++ {
				if l[i] == '`' {
					if e := codeSpanEnd(l, i); e > 0 {
						out = append(out, [2]int{off + i, off + e})
						i = e - 1
					} else {
						i += run(l, i, '`') - 1
					}
				}
			}
		}
		off += len(line)
	}
	if open != nil {
		out = append(out, [2]int{start, len(text)})
	}
	return out
}

func inRanges(rs [][2]int, i int) bool {
	for _, r := range rs {
		if i >= r[0] && i < r[1] {
			return true
		}
	}
	return false
}
