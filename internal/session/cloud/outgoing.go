package cloud

import (
	"bufio"
	"strings"

	"github.com/wagate/wagate/internal/wa"
)

// The message object of POST /{phone-number-id}/messages, as the Cloud API
// documents it. One of the content fields is set, named by Type.
type outgoing struct {
	MessagingProduct string          `json:"messaging_product"`
	RecipientType    string          `json:"recipient_type"`
	To               string          `json:"to"`
	Type             string          `json:"type"`
	Context          *replyContext   `json:"context,omitempty"`
	Text             *textObject     `json:"text,omitempty"`
	Image            *mediaRef       `json:"image,omitempty"`
	Video            *mediaRef       `json:"video,omitempty"`
	Audio            *mediaRef       `json:"audio,omitempty"`
	Document         *mediaRef       `json:"document,omitempty"`
	Sticker          *mediaRef       `json:"sticker,omitempty"`
	Location         *locationObject `json:"location,omitempty"`
	Contacts         []contactObject `json:"contacts,omitempty"`
	Reaction         *reactionObject `json:"reaction,omitempty"`
}

type replyContext struct {
	MessageID string `json:"message_id"`
}

type textObject struct {
	Body       string `json:"body"`
	PreviewURL bool   `json:"preview_url"`
}

// mediaRef sends media by link (Meta fetches it) or by the id of an upload.
type mediaRef struct {
	ID       string `json:"id,omitempty"`
	Link     string `json:"link,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

type locationObject struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

type contactObject struct {
	Name   contactName    `json:"name"`
	Phones []contactPhone `json:"phones,omitempty"`
}

type contactName struct {
	FormattedName string `json:"formatted_name"`
	FirstName     string `json:"first_name"`
}

type contactPhone struct {
	Phone string `json:"phone"`
	Type  string `json:"type,omitempty"`
	WaID  string `json:"wa_id,omitempty"`
}

type reactionObject struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"`
}

// errGroupRecipient: the Cloud API sends to phone numbers only.
var errGroupRecipient = &sendFailure{reason: ReasonInvalidRecipient,
	msg: "the cloud provider sends to phone numbers only (no groups or LIDs)"}

// recipient returns the Cloud API "to" of a chat JID: the number's digits.
func recipient(chatJID string) (string, error) {
	jid, err := wa.NormalizeJID(chatJID)
	if err != nil {
		return "", &sendFailure{reason: ReasonInvalidRecipient, msg: err.Error()}
	}
	phone := wa.PhoneOf(jid)
	if phone == "" {
		return "", errGroupRecipient
	}
	return strings.TrimPrefix(phone, "+"), nil
}

// buildMessage turns a wagate message into the Cloud API message object.
// mediaID is the id of the uploaded bytes of a media message sent without a
// URL ("" otherwise).
func buildMessage(msg wa.OutgoingMessage, mediaID string) (outgoing, error) {
	to, err := recipient(msg.ChatJID)
	if err != nil {
		return outgoing{}, err
	}
	out := outgoing{MessagingProduct: "whatsapp", RecipientType: "individual", To: to, Type: string(msg.Type)}
	c := msg.Content
	media := &mediaRef{ID: mediaID}
	if mediaID == "" {
		media.Link = c.URL
	}
	switch msg.Type {
	case wa.TypeText:
		out.Text = &textObject{Body: c.Text,
			PreviewURL: strings.Contains(c.Text, "https://") || strings.Contains(c.Text, "http://")}
	case wa.TypeImage:
		media.Caption = c.Caption
		out.Image = media
	case wa.TypeVideo:
		media.Caption = c.Caption
		out.Video = media
	case wa.TypeAudio:
		out.Audio = media
	case wa.TypeDocument:
		media.Caption, media.Filename = c.Caption, c.Filename
		out.Document = media
	case wa.TypeSticker:
		out.Sticker = media
	case wa.TypeLocation:
		if c.Latitude == nil || c.Longitude == nil {
			return outgoing{}, &sendFailure{reason: ReasonProviderError, msg: "location without coordinates"}
		}
		out.Location = &locationObject{Latitude: *c.Latitude, Longitude: *c.Longitude, Name: c.Name, Address: c.Address}
	case wa.TypeContact:
		out.Type = "contacts"
		out.Contacts = []contactObject{contactOf(c)}
	case wa.TypeReaction:
		out.Reaction = &reactionObject{MessageID: c.ReactionTo, Emoji: c.Emoji}
	default:
		return outgoing{}, &sendFailure{reason: ReasonProviderError,
			msg: "the cloud provider cannot send messages of type " + string(msg.Type)}
	}
	if c.ReplyTo != "" && msg.Type != wa.TypeReaction {
		out.Context = &replyContext{MessageID: c.ReplyTo}
	}
	return out, nil
}

// contactOf builds the contacts entry: the given phone, else the TEL lines
// of the vCard (the Cloud API takes structured contacts, not vCards).
func contactOf(c wa.Content) contactObject {
	o := contactObject{Name: contactName{FormattedName: c.ContactName, FirstName: c.ContactName}}
	phones := []string{}
	if c.ContactPhone != "" {
		phones = append(phones, c.ContactPhone)
	} else {
		phones = vcardPhones(c.VCard)
	}
	for _, p := range phones {
		cp := contactPhone{Phone: p, Type: "CELL"}
		if jid, err := wa.NormalizeJID(p); err == nil && wa.PhoneOf(jid) != "" {
			cp.WaID = strings.TrimPrefix(wa.PhoneOf(jid), "+")
		}
		o.Phones = append(o.Phones, cp)
	}
	return o
}

// vcardPhones returns the numbers of a vCard's TEL lines.
func vcardPhones(card string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(card))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(strings.ToUpper(line), "TEL") {
			continue
		}
		if i := strings.LastIndexByte(line, ':'); i >= 0 && i < len(line)-1 {
			out = append(out, strings.TrimSpace(line[i+1:]))
		}
	}
	return out
}
