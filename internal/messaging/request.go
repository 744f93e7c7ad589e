package messaging

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/wagate/wagate/internal/wa"
)

// Input limits. WhatsApp itself caps text at 65,536 characters.
const (
	maxTextLen     = 65536
	maxCaptionLen  = 4096
	maxFilenameLen = 255
	maxNameLen     = 1024
	maxEmojiBytes  = 64
	maxMessageRef  = 128
)

// SendRequest is the body of POST /sessions/{id}/messages and
// POST /chats/{jid}/messages: a recipient and exactly one kind of content.
type SendRequest struct {
	To       string         `json:"to,omitempty" maxLength:"128" doc:"E.164 phone number (+15550001111) or WhatsApp JID; optional when the chat is in the URL" example:"+15550001111"`
	Text     string         `json:"text,omitempty" maxLength:"65536" doc:"a text message"`
	Image    *MediaInput    `json:"image,omitempty"`
	Video    *MediaInput    `json:"video,omitempty"`
	Audio    *MediaInput    `json:"audio,omitempty" doc:"audio; set voiceNote for a push-to-talk voice note"`
	Document *MediaInput    `json:"document,omitempty"`
	Location *LocationInput `json:"location,omitempty"`
	Contact  *ContactInput  `json:"contact,omitempty"`
	Reaction *ReactionInput `json:"reaction,omitempty"`
	ReplyTo  string         `json:"replyTo,omitempty" maxLength:"128" doc:"id or WhatsApp messageId of the message this one quotes"`
}

// MediaInput is an image, video, audio or document to send: its bytes by
// URL (fetched by the session worker) or inline as base64.
type MediaInput struct {
	URL       string `json:"url,omitempty" maxLength:"4096" doc:"http(s) URL the worker downloads the file from"`
	Base64    string `json:"base64,omitempty" doc:"the file itself, base64 (a data: URI prefix is accepted)"`
	Mimetype  string `json:"mimetype" maxLength:"255" example:"image/jpeg"`
	Filename  string `json:"filename,omitempty" maxLength:"255"`
	Caption   string `json:"caption,omitempty" maxLength:"4096"`
	VoiceNote bool   `json:"voiceNote,omitempty" doc:"audio only: send as a voice note"`
}

// LocationInput is a location pin.
type LocationInput struct {
	Latitude  float64 `json:"latitude" minimum:"-90" maximum:"90"`
	Longitude float64 `json:"longitude" minimum:"-180" maximum:"180"`
	Name      string  `json:"name,omitempty" maxLength:"1024"`
	Address   string  `json:"address,omitempty" maxLength:"1024"`
}

// ContactInput is a contact card: a name and a phone number, or a vCard.
type ContactInput struct {
	Name  string `json:"name" minLength:"1" maxLength:"1024"`
	Phone string `json:"phone,omitempty" maxLength:"32" example:"+15550001111"`
	VCard string `json:"vcard,omitempty" maxLength:"65536"`
}

// ReactionInput reacts to a message of the chat; an empty emoji removes the
// reaction.
type ReactionInput struct {
	MessageID string `json:"messageId" minLength:"1" maxLength:"128" doc:"id or WhatsApp messageId of the message reacted to"`
	Emoji     string `json:"emoji" maxLength:"64" example:"👍"`
}

// draft is a validated send request: what to send and to whom. Message ids
// in ReplyTo / ReactionTo may still be wagate ids; Service resolves them.
type draft struct {
	chatJID string
	typ     wa.MessageType
	content wa.Content
	// inline holds decoded base64 media; nil for URL media.
	inline []byte
}

// validate checks a send request and turns it into a draft. routeJID is the
// chat named in the URL ("" for /sessions/{id}/messages). maxMedia bounds
// inline media.
func (r SendRequest) validate(routeJID string, maxMedia int64) (draft, error) {
	var d draft
	to := strings.TrimSpace(r.To)
	switch {
	case routeJID != "" && to == "":
		d.chatJID = routeJID
	case routeJID != "":
		jid, err := wa.NormalizeJID(to)
		if err != nil {
			return d, err
		}
		if jid != routeJID {
			return d, ErrRecipientMismatch
		}
		d.chatJID = jid
	default:
		jid, err := wa.NormalizeJID(to)
		if err != nil {
			return d, err
		}
		d.chatJID = jid
	}

	kinds := 0
	for _, set := range []bool{r.Text != "", r.Image != nil, r.Video != nil, r.Audio != nil,
		r.Document != nil, r.Location != nil, r.Contact != nil, r.Reaction != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return d, ErrInvalidContent
	}
	replyTo := strings.TrimSpace(r.ReplyTo)
	if len(replyTo) > maxMessageRef {
		return d, ErrInvalidContent.WithMessage("replyTo is too long")
	}

	var err error
	switch {
	case r.Text != "":
		if utf8.RuneCountInString(r.Text) > maxTextLen || !utf8.ValidString(r.Text) {
			return d, ErrInvalidContent.WithMessage("text must be valid UTF-8 of at most %d characters", maxTextLen)
		}
		d.typ, d.content = wa.TypeText, wa.Content{Text: r.Text}
	case r.Image != nil:
		d, err = r.Image.draft(d, wa.TypeImage, maxMedia)
	case r.Video != nil:
		d, err = r.Video.draft(d, wa.TypeVideo, maxMedia)
	case r.Audio != nil:
		d, err = r.Audio.draft(d, wa.TypeAudio, maxMedia)
	case r.Document != nil:
		d, err = r.Document.draft(d, wa.TypeDocument, maxMedia)
	case r.Location != nil:
		d, err = r.Location.draft(d)
	case r.Contact != nil:
		d, err = r.Contact.draft(d)
	case r.Reaction != nil:
		if replyTo != "" {
			return d, ErrInvalidContent.WithMessage("a reaction cannot quote a message")
		}
		d, err = r.Reaction.draft(d)
	}
	if err != nil {
		return d, err
	}
	d.content.ReplyTo = replyTo
	return d, nil
}

func (m *MediaInput) draft(d draft, typ wa.MessageType, maxMedia int64) (draft, error) {
	if (m.URL == "") == (m.Base64 == "") {
		return d, ErrInvalidMedia.WithMessage("%s needs exactly one of url or base64", typ)
	}
	mt, _, err := mime.ParseMediaType(m.Mimetype)
	if err != nil || !strings.Contains(mt, "/") {
		return d, ErrInvalidMedia.WithMessage("%s.mimetype %q is not a media type such as image/jpeg", typ, m.Mimetype)
	}
	if family := string(typ) + "/"; typ != wa.TypeDocument && !strings.HasPrefix(mt, family) {
		return d, ErrInvalidMedia.WithMessage("%s.mimetype must be %s*", typ, family)
	}
	if m.VoiceNote && typ != wa.TypeAudio {
		return d, ErrInvalidMedia.WithMessage("voiceNote applies to audio only")
	}
	if utf8.RuneCountInString(m.Caption) > maxCaptionLen || len(m.Filename) > maxFilenameLen ||
		strings.ContainsAny(m.Filename, "/\\\x00") {
		return d, ErrInvalidMedia.WithMessage("%s: caption or filename too long, or filename contains a path", typ)
	}
	if typ == wa.TypeAudio && m.Caption != "" {
		return d, ErrInvalidMedia.WithMessage("audio cannot have a caption")
	}
	d.typ = typ
	d.content = wa.Content{Mimetype: m.Mimetype, Filename: m.Filename, Caption: m.Caption, VoiceNote: m.VoiceNote}
	if m.URL != "" {
		u, err := url.Parse(m.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return d, ErrInvalidMedia.WithMessage("%s.url must be an http(s) URL", typ)
		}
		d.content.URL = u.String()
		return d, nil
	}
	b, err := decodeBase64(m.Base64, maxMedia)
	if err != nil {
		return d, err
	}
	d.inline = b
	d.content.Size = int64(len(b))
	return d, nil
}

// decodeBase64 decodes inline media (standard or URL alphabet, padded or
// not, optionally a data: URI), refusing more than max bytes.
func decodeBase64(s string, max int64) ([]byte, error) {
	if strings.HasPrefix(s, "data:") {
		if _, rest, ok := strings.Cut(s, ","); ok {
			s = rest
		}
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimRight(s, "=")
	if int64(base64.RawStdEncoding.DecodedLen(len(s))) > max {
		return nil, ErrMediaTooLarge.WithMessage("media exceeds the limit of %d bytes", max)
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, ErrInvalidMedia.WithMessage("base64 is not valid base64 data")
	}
	return b, nil
}

func (l *LocationInput) draft(d draft) (draft, error) {
	if math.IsNaN(l.Latitude) || math.IsNaN(l.Longitude) || math.Abs(l.Latitude) > 90 || math.Abs(l.Longitude) > 180 {
		return d, ErrInvalidContent.WithMessage("location needs latitude in [-90, 90] and longitude in [-180, 180]")
	}
	if len(l.Name) > maxNameLen || len(l.Address) > maxNameLen {
		return d, ErrInvalidContent.WithMessage("location name and address are at most %d bytes", maxNameLen)
	}
	lat, lng := l.Latitude, l.Longitude
	d.typ = wa.TypeLocation
	d.content = wa.Content{Latitude: &lat, Longitude: &lng, Name: l.Name, Address: l.Address}
	return d, nil
}

func (c *ContactInput) draft(d draft) (draft, error) {
	name := strings.TrimSpace(c.Name)
	if name == "" || len(name) > maxNameLen || strings.ContainsAny(name, "\r\n") {
		return d, ErrInvalidContent.WithMessage("contact.name is required (one line, at most %d bytes)", maxNameLen)
	}
	var phone string
	if c.Phone != "" {
		jid, err := wa.NormalizeJID(c.Phone)
		if err != nil || wa.PhoneOf(jid) == "" {
			return d, ErrInvalidContent.WithMessage("contact.phone must be an E.164 number such as +15550001111")
		}
		phone = wa.PhoneOf(jid)
	}
	vcard := c.VCard
	switch {
	case vcard == "" && phone == "":
		return d, ErrInvalidContent.WithMessage("contact needs a phone or a vcard")
	case vcard == "":
		// A minimal vCard WhatsApp renders with a "Message" button (waid).
		vcard = fmt.Sprintf("BEGIN:VCARD\nVERSION:3.0\nFN:%s\nTEL;type=CELL;waid=%s:%s\nEND:VCARD",
			name, strings.TrimPrefix(phone, "+"), phone)
	case !strings.HasPrefix(strings.TrimSpace(strings.ToUpper(vcard)), "BEGIN:VCARD"):
		return d, ErrInvalidContent.WithMessage("contact.vcard must be a vCard (BEGIN:VCARD …)")
	}
	d.typ = wa.TypeContact
	d.content = wa.Content{ContactName: name, ContactPhone: phone, VCard: vcard}
	return d, nil
}

func (r *ReactionInput) draft(d draft) (draft, error) {
	id := strings.TrimSpace(r.MessageID)
	if id == "" || len(id) > maxMessageRef {
		return d, ErrInvalidContent.WithMessage("reaction.messageId is required")
	}
	if len(r.Emoji) > maxEmojiBytes || !utf8.ValidString(r.Emoji) {
		return d, ErrInvalidContent.WithMessage("reaction.emoji must be one emoji (empty removes the reaction)")
	}
	d.typ = wa.TypeReaction
	d.content = wa.Content{ReactionTo: id, Emoji: r.Emoji}
	return d, nil
}

// requestHash identifies a send request for Idempotency-Key comparison: the
// session, the chat of the URL and the body re-encoded, so formatting and
// key order do not matter but every value does.
func requestHash(sessionID, routeJID string, r SendRequest) string {
	b, err := json.Marshal(struct {
		SessionID string      `json:"s"`
		Route     string      `json:"r"`
		Body      SendRequest `json:"b"`
	}{sessionID, routeJID, r})
	if err != nil {
		// SendRequest holds only strings, numbers and bools.
		panic(fmt.Sprintf("encode send request: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkIdempotencyKey validates an Idempotency-Key header value.
func checkIdempotencyKey(k string) error {
	if k == "" || len(k) > 255 {
		return ErrInvalidIdempotencyKey
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return ErrInvalidIdempotencyKey
		}
	}
	return nil
}
