package cloud

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wagate/wagate/internal/wa"
)

// The shapes of Meta's webhook deliveries ("messages" field of the
// whatsapp_business_account object). Only what wagate uses is decoded;
// messages and statuses stay raw in the stored payload, so nothing Meta
// sent is lost between the API and the worker.

// objectWABA is the only object the Cloud API delivers.
const objectWABA = "whatsapp_business_account"

// fieldMessages is the webhook field carrying messages and statuses.
const fieldMessages = "messages"

type webhookPayload struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string          `json:"field"`
			Value json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// changeValue is entry[].changes[].value of a "messages" change.
type changeValue struct {
	MessagingProduct string            `json:"messaging_product,omitempty"`
	Metadata         metadata          `json:"metadata"`
	Contacts         []contact         `json:"contacts,omitempty"`
	Messages         []json.RawMessage `json:"messages,omitempty"`
	Statuses         []json.RawMessage `json:"statuses,omitempty"`
	Errors           []graphErrorItem  `json:"errors,omitempty"`
}

type metadata struct {
	DisplayPhoneNumber string `json:"display_phone_number"`
	PhoneNumberID      string `json:"phone_number_id"`
}

type contact struct {
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
	WaID string `json:"wa_id"`
}

// graphErrorItem is an error as webhooks report it (statuses[].errors,
// messages[].errors, value.errors).
type graphErrorItem struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

func (e graphErrorItem) text() string {
	s := e.Title
	if s == "" {
		s = e.Message
	}
	if e.ErrorData.Details != "" {
		s += ": " + e.ErrorData.Details
	}
	return fmt.Sprintf("(#%d) %s", e.Code, s)
}

type mediaObject struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
	Voice    bool   `json:"voice"`
}

// inboundMessage is one entry of value.messages.
type inboundMessage struct {
	From      string `json:"from"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	Context   *struct {
		From string `json:"from"`
		ID   string `json:"id"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *mediaObject `json:"image"`
	Video    *mediaObject `json:"video"`
	Audio    *mediaObject `json:"audio"`
	Document *mediaObject `json:"document"`
	Sticker  *mediaObject `json:"sticker"`
	Location *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name"`
		Address   string  `json:"address"`
	} `json:"location"`
	Contacts []struct {
		Name struct {
			FormattedName string `json:"formatted_name"`
			FirstName     string `json:"first_name"`
		} `json:"name"`
		Phones []struct {
			Phone string `json:"phone"`
			WaID  string `json:"wa_id"`
		} `json:"phones"`
	} `json:"contacts"`
	Reaction *struct {
		MessageID string `json:"message_id"`
		Emoji     string `json:"emoji"`
	} `json:"reaction"`
	Button *struct {
		Text string `json:"text"`
	} `json:"button"`
	Interactive *struct {
		ButtonReply *struct {
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			Title string `json:"title"`
		} `json:"list_reply"`
	} `json:"interactive"`
}

// statusUpdate is one entry of value.statuses.
type statusUpdate struct {
	ID          string           `json:"id"`
	Status      string           `json:"status"`
	Timestamp   string           `json:"timestamp"`
	RecipientID string           `json:"recipient_id"`
	Errors      []graphErrorItem `json:"errors"`
}

// messageKey returns the dedupe key of a raw message ("m:<wamid>"), ""
// when it has no id.
func messageKey(raw json.RawMessage) string {
	var m struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &m) != nil || m.ID == "" || len(m.ID) > 256 {
		return ""
	}
	return "m:" + m.ID
}

// statusKey returns the dedupe key of a raw status ("s:<wamid>:<status>"):
// each status of a message counts once. "" when it has no id or status.
func statusKey(raw json.RawMessage) string {
	var s struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if json.Unmarshal(raw, &s) != nil || s.ID == "" || s.Status == "" || len(s.ID)+len(s.Status) > 256 {
		return ""
	}
	return "s:" + s.ID + ":" + s.Status
}

// unixSeconds parses Meta's timestamps (unix seconds as a string).
func unixSeconds(s string) time.Time {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// userJID turns a Cloud API wa_id ("16315551234") into a chat JID.
func userJID(waID string) (string, error) {
	return wa.NormalizeJID(waID)
}

// translated is what one stored webhook value means for the session.
type translated struct {
	messages []wa.Message
	// mediaIDs maps inbound media messages to their Cloud API media id.
	mediaIDs map[string]string
	receipts []wa.Receipt
	// skipped counts items wagate cannot represent (logged by the caller).
	skipped int
}

// translate turns a stored change value into messages and receipts.
func translate(v changeValue) translated {
	names := map[string]string{}
	for _, c := range v.Contacts {
		names[c.WaID] = c.Profile.Name
	}
	out := translated{mediaIDs: map[string]string{}}
	for _, raw := range v.Messages {
		var in inboundMessage
		if err := json.Unmarshal(raw, &in); err != nil {
			out.skipped++
			continue
		}
		m, mediaID, ok := translateMessage(in, names[in.From])
		if !ok {
			out.skipped++
			continue
		}
		if mediaID != "" {
			out.mediaIDs[m.MessageID] = mediaID
		}
		out.messages = append(out.messages, m)
	}
	for _, raw := range v.Statuses {
		var st statusUpdate
		if err := json.Unmarshal(raw, &st); err != nil {
			out.skipped++
			continue
		}
		r, ok := translateStatus(st)
		if !ok {
			continue // "sent" and statuses wagate does not track
		}
		out.receipts = append(out.receipts, r)
	}
	return out
}

// translateMessage turns one inbound message into a wa.Message and the
// media id of its bytes (if any). ok is false for what is not a message a
// person wrote (system notices, malformed entries).
func translateMessage(in inboundMessage, pushName string) (wa.Message, string, bool) {
	chat, err := userJID(in.From)
	if err != nil || in.ID == "" {
		return wa.Message{}, "", false
	}
	m := wa.Message{
		MessageID: in.ID,
		ChatJID:   chat,
		SenderJID: chat,
		PushName:  pushName,
		Timestamp: unixSeconds(in.Timestamp),
	}
	var mediaID string
	media := func(t wa.MessageType, o *mediaObject) {
		m.Type = t
		m.Content = wa.Content{Mimetype: o.MimeType, Caption: o.Caption, Filename: o.Filename,
			VoiceNote: o.Voice, MediaKey: o.ID}
		mediaID = o.ID
	}
	switch {
	case in.Type == "text" && in.Text != nil:
		m.Type, m.Content = wa.TypeText, wa.Content{Text: in.Text.Body}
	case in.Type == "image" && in.Image != nil:
		media(wa.TypeImage, in.Image)
	case in.Type == "video" && in.Video != nil:
		media(wa.TypeVideo, in.Video)
	case in.Type == "audio" && in.Audio != nil:
		media(wa.TypeAudio, in.Audio)
	case in.Type == "document" && in.Document != nil:
		media(wa.TypeDocument, in.Document)
	case in.Type == "sticker" && in.Sticker != nil:
		media(wa.TypeSticker, in.Sticker)
	case in.Type == "location" && in.Location != nil:
		lat, lng := in.Location.Latitude, in.Location.Longitude
		m.Type = wa.TypeLocation
		m.Content = wa.Content{Latitude: &lat, Longitude: &lng, Name: in.Location.Name, Address: in.Location.Address}
	case in.Type == "contacts" && len(in.Contacts) > 0:
		c := in.Contacts[0]
		name := c.Name.FormattedName
		if name == "" {
			name = c.Name.FirstName
		}
		m.Type = wa.TypeContact
		m.Content = wa.Content{ContactName: name}
		if len(c.Phones) > 0 {
			phone := c.Phones[0].WaID
			if phone == "" {
				phone = c.Phones[0].Phone
			}
			if jid, err := wa.NormalizeJID(phone); err == nil {
				m.Content.ContactPhone = wa.PhoneOf(jid)
			}
		}
		m.Content.VCard = vcard(name, m.Content.ContactPhone)
	case in.Type == "reaction" && in.Reaction != nil:
		m.Type = wa.TypeReaction
		m.Content = wa.Content{ReactionTo: in.Reaction.MessageID, Emoji: in.Reaction.Emoji}
	case in.Type == "button" && in.Button != nil:
		m.Type, m.Content = wa.TypeText, wa.Content{Text: in.Button.Text}
	case in.Type == "interactive" && in.Interactive != nil && in.Interactive.ButtonReply != nil:
		m.Type, m.Content = wa.TypeText, wa.Content{Text: in.Interactive.ButtonReply.Title}
	case in.Type == "interactive" && in.Interactive != nil && in.Interactive.ListReply != nil:
		m.Type, m.Content = wa.TypeText, wa.Content{Text: in.Interactive.ListReply.Title}
	case in.Type == "system" || in.Type == "request_welcome" || in.Type == "ephemeral":
		return wa.Message{}, "", false
	default:
		// unsupported, order, … : kept so the chat shows something arrived.
		m.Type = wa.TypeUnknown
	}
	if in.Context != nil && in.Context.ID != "" && m.Type != wa.TypeReaction {
		m.Content.ReplyTo = in.Context.ID
	}
	return m, mediaID, true
}

// vcard renders a minimal vCard for a shared contact, as WhatsApp shows it.
func vcard(name, phone string) string {
	if name == "" && phone == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("BEGIN:VCARD\nVERSION:3.0\nFN:" + name + "\n")
	if phone != "" {
		fmt.Fprintf(&b, "TEL;type=CELL;waid=%s:%s\n", strings.TrimPrefix(phone, "+"), phone)
	}
	b.WriteString("END:VCARD")
	return b.String()
}

// translateStatus turns a status update into a receipt; ok is false for
// statuses without a receipt ("sent" is already known from the send call).
func translateStatus(st statusUpdate) (wa.Receipt, bool) {
	if st.ID == "" {
		return wa.Receipt{}, false
	}
	r := wa.Receipt{MessageIDs: []string{st.ID}, Timestamp: unixSeconds(st.Timestamp)}
	if jid, err := userJID(st.RecipientID); err == nil {
		r.ChatJID = jid
	}
	switch st.Status {
	case "delivered":
		r.Type = wa.ReceiptDelivered
	case "read":
		r.Type = wa.ReceiptRead
	case "failed":
		r.Type = wa.ReceiptFailed
		r.Reason = ReasonProviderError
		if len(st.Errors) > 0 {
			r.Reason = reasonFor(st.Errors[0].Code, 0, true)
			r.Error = st.Errors[0].text()
		}
	default:
		return wa.Receipt{}, false
	}
	return r, true
}
