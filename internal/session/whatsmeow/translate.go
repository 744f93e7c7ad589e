package whatsmeow

import (
	"encoding/json"
	"regexp"
	"strings"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/wa"
)

// The translation functions are pure: they turn whatsmeow values into
// wagate's, so every case is unit-tested on constructed events.

// messageKind says what a translated message event means.
type messageKind int

const (
	// skipMessage: nothing a user would see (protocol messages, key
	// distribution, …).
	skipMessage messageKind = iota
	// newMessage: a live message; inbound ones become message.received.
	newMessage
	// updatedMessage: an edit of an earlier message; upsert only.
	updatedMessage
)

// translateMessage turns a message event into a wa.Message.
func translateMessage(evt *events.Message) (wa.Message, messageKind) {
	if evt == nil || evt.Message == nil {
		return wa.Message{}, skipMessage
	}
	typ, content, ok := translateContent(evt.Message)
	if !ok {
		return wa.Message{}, skipMessage
	}
	m := wa.Message{
		MessageID: evt.Info.ID,
		ChatJID:   jidString(evt.Info.Chat),
		SenderJID: jidString(evt.Info.Sender),
		PushName:  evt.Info.PushName,
		FromMe:    evt.Info.IsFromMe,
		Type:      typ,
		Content:   content,
		Timestamp: evt.Info.Timestamp.UTC(),
	}
	if evt.IsEdit {
		return m, updatedMessage
	}
	return m, newMessage
}

// jidString renders a JID without its device part, the way chats are keyed.
func jidString(j types.JID) string {
	if j.IsEmpty() {
		return ""
	}
	return j.ToNonAD().String()
}

// mediaRef is what DownloadMedia needs to fetch and decrypt inbound media
// later; it travels JSON-encoded in wa.Content.MediaKey.
type mediaRef struct {
	Kind          string `json:"kind"` // image, video, audio, document, sticker
	DirectPath    string `json:"directPath"`
	MediaKey      []byte `json:"mediaKey"`
	FileEncSHA256 []byte `json:"fileEncSha256"`
	FileSHA256    []byte `json:"fileSha256"`
	FileLength    uint64 `json:"fileLength"`
}

func encodeMediaRef(r mediaRef) string {
	if r.DirectPath == "" && len(r.MediaKey) == 0 {
		return ""
	}
	b, _ := json.Marshal(r)
	return string(b)
}

// translateContent maps a message's payload; ok=false for payloads wagate
// does not surface.
func translateContent(msg *waE2E.Message) (wa.MessageType, wa.Content, bool) {
	switch {
	case msg.GetConversation() != "":
		return wa.TypeText, wa.Content{Text: msg.GetConversation()}, true
	case msg.GetExtendedTextMessage() != nil:
		x := msg.GetExtendedTextMessage()
		return wa.TypeText, wa.Content{Text: x.GetText(), ReplyTo: x.GetContextInfo().GetStanzaID()}, true
	case msg.GetImageMessage() != nil:
		x := msg.GetImageMessage()
		return wa.TypeImage, wa.Content{
			Caption: x.GetCaption(), Mimetype: x.GetMimetype(), Size: int64(x.GetFileLength()),
			ReplyTo:  x.GetContextInfo().GetStanzaID(),
			MediaKey: encodeMediaRef(mediaRef{"image", x.GetDirectPath(), x.GetMediaKey(), x.GetFileEncSHA256(), x.GetFileSHA256(), x.GetFileLength()}),
		}, true
	case msg.GetVideoMessage() != nil:
		x := msg.GetVideoMessage()
		return wa.TypeVideo, wa.Content{
			Caption: x.GetCaption(), Mimetype: x.GetMimetype(), Size: int64(x.GetFileLength()),
			ReplyTo:  x.GetContextInfo().GetStanzaID(),
			MediaKey: encodeMediaRef(mediaRef{"video", x.GetDirectPath(), x.GetMediaKey(), x.GetFileEncSHA256(), x.GetFileSHA256(), x.GetFileLength()}),
		}, true
	case msg.GetAudioMessage() != nil:
		x := msg.GetAudioMessage()
		return wa.TypeAudio, wa.Content{
			Mimetype: x.GetMimetype(), Size: int64(x.GetFileLength()), VoiceNote: x.GetPTT(),
			ReplyTo:  x.GetContextInfo().GetStanzaID(),
			MediaKey: encodeMediaRef(mediaRef{"audio", x.GetDirectPath(), x.GetMediaKey(), x.GetFileEncSHA256(), x.GetFileSHA256(), x.GetFileLength()}),
		}, true
	case msg.GetDocumentMessage() != nil:
		x := msg.GetDocumentMessage()
		name := x.GetFileName()
		if name == "" {
			name = x.GetTitle()
		}
		return wa.TypeDocument, wa.Content{
			Caption: x.GetCaption(), Mimetype: x.GetMimetype(), Filename: name, Size: int64(x.GetFileLength()),
			ReplyTo:  x.GetContextInfo().GetStanzaID(),
			MediaKey: encodeMediaRef(mediaRef{"document", x.GetDirectPath(), x.GetMediaKey(), x.GetFileEncSHA256(), x.GetFileSHA256(), x.GetFileLength()}),
		}, true
	case msg.GetStickerMessage() != nil:
		x := msg.GetStickerMessage()
		return wa.TypeSticker, wa.Content{
			Mimetype: x.GetMimetype(), Size: int64(x.GetFileLength()),
			MediaKey: encodeMediaRef(mediaRef{"sticker", x.GetDirectPath(), x.GetMediaKey(), x.GetFileEncSHA256(), x.GetFileSHA256(), x.GetFileLength()}),
		}, true
	case msg.GetLocationMessage() != nil:
		x := msg.GetLocationMessage()
		lat, lng := x.GetDegreesLatitude(), x.GetDegreesLongitude()
		return wa.TypeLocation, wa.Content{Latitude: &lat, Longitude: &lng, Name: x.GetName(), Address: x.GetAddress()}, true
	case msg.GetLiveLocationMessage() != nil:
		x := msg.GetLiveLocationMessage()
		lat, lng := x.GetDegreesLatitude(), x.GetDegreesLongitude()
		return wa.TypeLocation, wa.Content{Latitude: &lat, Longitude: &lng, Caption: x.GetCaption()}, true
	case msg.GetContactMessage() != nil:
		x := msg.GetContactMessage()
		return wa.TypeContact, wa.Content{ContactName: x.GetDisplayName(), ContactPhone: phoneFromVCard(x.GetVcard()), VCard: x.GetVcard()}, true
	case msg.GetReactionMessage() != nil:
		x := msg.GetReactionMessage()
		return wa.TypeReaction, wa.Content{ReactionTo: x.GetKey().GetID(), Emoji: x.GetText()}, true
	}
	return "", wa.Content{}, false
}

var (
	waidRe = regexp.MustCompile(`waid=(\d{6,15})`)
	telRe  = regexp.MustCompile(`(?m)^TEL[^:]*:\s*(\+?[\d\s\-()]{6,24})\s*$`)
)

// phoneFromVCard finds the contact's number: the waid parameter WhatsApp
// adds, else the first TEL line. It returns E.164 or "".
func phoneFromVCard(vcard string) string {
	if m := waidRe.FindStringSubmatch(vcard); m != nil {
		return "+" + m[1]
	}
	if m := telRe.FindStringSubmatch(strings.ReplaceAll(vcard, "\r\n", "\n")); m != nil {
		if jid, err := wa.NormalizeJID(strings.TrimSpace(m[1])); err == nil {
			return wa.PhoneOf(jid)
		}
	}
	return ""
}

// translateReceipt maps delivery and read receipts of messages this device
// sent; receipts from the account's own other devices are skipped.
func translateReceipt(evt *events.Receipt) (wa.Receipt, bool) {
	if evt == nil || evt.IsFromMe || len(evt.MessageIDs) == 0 {
		return wa.Receipt{}, false
	}
	var typ wa.ReceiptType
	switch evt.Type {
	case types.ReceiptTypeDelivered:
		typ = wa.ReceiptDelivered
	case types.ReceiptTypeRead, types.ReceiptTypePlayed:
		typ = wa.ReceiptRead
	default:
		return wa.Receipt{}, false
	}
	return wa.Receipt{
		ChatJID:    jidString(evt.Chat),
		MessageIDs: append([]string(nil), evt.MessageIDs...),
		Type:       typ,
		Timestamp:  evt.Timestamp.UTC(),
	}, true
}

// webMessageParser turns a stored web message into a message event; the
// client's ParseWebMessage (it needs the device's own JID for from-me
// messages).
type webMessageParser func(chat types.JID, msg *waWeb.WebMessageInfo) (*events.Message, error)

// translateHistory maps a history sync's conversations. Unparseable
// messages and chats are skipped: history is best effort.
func translateHistory(data *waHistorySync.HistorySync, parse webMessageParser) []wa.HistoryChat {
	var out []wa.HistoryChat
	for _, conv := range data.GetConversations() {
		chat, err := types.ParseJID(conv.GetID())
		if err != nil || chat.IsEmpty() {
			continue
		}
		hc := wa.HistoryChat{ChatJID: jidString(chat), Name: conv.GetName(), UnreadCount: int(conv.GetUnreadCount())}
		if hc.Name == "" {
			hc.Name = conv.GetDisplayName()
		}
		msgs := conv.GetMessages()
		// WhatsApp lists a conversation's history newest first.
		for i := len(msgs) - 1; i >= 0; i-- {
			evt, err := parse(chat, msgs[i].GetMessage())
			if err != nil {
				continue
			}
			if m, kind := translateMessage(evt); kind != skipMessage {
				hc.Messages = append(hc.Messages, m)
			}
		}
		out = append(out, hc)
	}
	return out
}

// connectionChange maps whatsmeow's connection events to a disconnect
// reason. willReconnect is true when whatsmeow itself keeps the connection
// going (keep-alive trouble); ok is false for other events.
func connectionChange(evt any) (reason session.DisconnectReason, willReconnect, ok bool) {
	switch v := evt.(type) {
	case *events.Disconnected:
		return session.ReasonConnectionLost, false, true
	case *events.LoggedOut:
		switch v.Reason {
		case events.ConnectFailureTempBanned, events.ConnectFailureUnknownLogout:
			return session.ReasonBanned, false, true
		case events.ConnectFailureClientOutdated:
			return session.ReasonClientOutdated, false, true
		}
		return session.ReasonLoggedOut, false, true
	case *events.StreamReplaced:
		return session.ReasonReplaced, false, true
	case *events.TemporaryBan:
		return session.ReasonBanned, false, true
	case *events.ClientOutdated:
		return session.ReasonClientOutdated, false, true
	case *events.KeepAliveTimeout:
		return session.ReasonKeepAliveTimeout, true, true
	case *events.PairError:
		return session.ReasonPairFailed, false, true
	case *events.ConnectFailure:
		switch {
		case v.Reason == events.ConnectFailureClientOutdated:
			return session.ReasonClientOutdated, false, true
		case v.Reason == events.ConnectFailureTempBanned:
			return session.ReasonBanned, false, true
		case v.Reason.IsLoggedOut():
			return session.ReasonLoggedOut, false, true
		}
		return session.ReasonError, false, true
	case *events.StreamError, *events.CATRefreshError:
		return session.ReasonError, false, true
	}
	return session.ReasonNone, false, false
}
