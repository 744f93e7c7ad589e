package whatsmeow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/wa"
)

// uploader uploads media bytes (the client's Upload).
type uploader func(ctx context.Context, data []byte, mt wm.MediaType) (wm.UploadResponse, error)

// Errors of outgoing message building.
var (
	errEmptyText   = apperr.Invalid("empty-message", "a text message needs text")
	errNoMediaData = apperr.Invalid("media-required", "a media message needs its bytes")
	errUnsupported = apperr.Unprocessable("unsupported-message-type", "this message type cannot be sent")
)

// messageIDFor derives the WhatsApp message id from wagate's message id, so
// a send retried after a crash reuses the id and the recipient's phone
// recognises the duplicate. The format matches whatsmeow's own ids.
func messageIDFor(id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("wagate:" + id))
	return "3EB0" + strings.ToUpper(hex.EncodeToString(sum[:9]))
}

// buildMessage turns an outgoing message into whatsmeow's protobuf,
// uploading media first.
func buildMessage(ctx context.Context, msg wa.OutgoingMessage, upload uploader) (*waE2E.Message, error) {
	c := msg.Content
	var ctxInfo *waE2E.ContextInfo
	if c.ReplyTo != "" {
		ctxInfo = &waE2E.ContextInfo{StanzaID: proto.String(c.ReplyTo)}
	}
	switch msg.Type {
	case wa.TypeText, "":
		if strings.TrimSpace(c.Text) == "" {
			return nil, errEmptyText
		}
		if ctxInfo == nil {
			return &waE2E.Message{Conversation: proto.String(c.Text)}, nil
		}
		return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String(c.Text), ContextInfo: ctxInfo}}, nil
	case wa.TypeLocation:
		if c.Latitude == nil || c.Longitude == nil {
			return nil, apperr.Invalid("invalid-location", "a location needs latitude and longitude")
		}
		return &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
			DegreesLatitude: c.Latitude, DegreesLongitude: c.Longitude,
			Name: optional(c.Name), Address: optional(c.Address), ContextInfo: ctxInfo,
		}}, nil
	case wa.TypeContact:
		vcard := c.VCard
		if vcard == "" {
			if c.ContactName == "" || c.ContactPhone == "" {
				return nil, apperr.Invalid("invalid-contact", "a contact needs a vcard, or a name and a phone")
			}
			vcard = makeVCard(c.ContactName, c.ContactPhone)
		}
		name := c.ContactName
		if name == "" {
			name = c.ContactPhone
		}
		return &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
			DisplayName: proto.String(name), Vcard: proto.String(vcard), ContextInfo: ctxInfo,
		}}, nil
	case wa.TypeReaction:
		if c.ReactionTo == "" {
			return nil, apperr.Invalid("invalid-reaction", "a reaction needs the id of the message it reacts to")
		}
		// FromMe is not known here; WhatsApp matches reactions by chat and id.
		return &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key:               &waCommon.MessageKey{RemoteJID: proto.String(msg.ChatJID), FromMe: proto.Bool(false), ID: proto.String(c.ReactionTo)},
			Text:              proto.String(c.Emoji),
			SenderTimestampMS: proto.Int64(time.Now().UnixMilli()),
		}}, nil
	case wa.TypeImage, wa.TypeVideo, wa.TypeAudio, wa.TypeDocument, wa.TypeSticker:
		return buildMedia(ctx, msg, ctxInfo, upload)
	}
	return nil, errUnsupported
}

func buildMedia(ctx context.Context, msg wa.OutgoingMessage, ctxInfo *waE2E.ContextInfo, upload uploader) (*waE2E.Message, error) {
	if len(msg.Media) == 0 {
		return nil, errNoMediaData
	}
	c := msg.Content
	mt := map[wa.MessageType]wm.MediaType{
		wa.TypeImage: wm.MediaImage, wa.TypeVideo: wm.MediaVideo, wa.TypeAudio: wm.MediaAudio,
		wa.TypeDocument: wm.MediaDocument, wa.TypeSticker: wm.MediaImage,
	}[msg.Type]
	up, err := upload(ctx, msg.Media, mt)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", msg.Type, err)
	}
	mime := c.Mimetype
	if mime == "" {
		mime = map[wa.MessageType]string{
			wa.TypeImage: "image/jpeg", wa.TypeVideo: "video/mp4", wa.TypeAudio: "audio/ogg; codecs=opus",
			wa.TypeDocument: "application/octet-stream", wa.TypeSticker: "image/webp",
		}[msg.Type]
	}
	length := proto.Uint64(up.FileLength)
	switch msg.Type {
	case wa.TypeImage:
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: length, Mimetype: &mime, Caption: optional(c.Caption), ContextInfo: ctxInfo,
		}}, nil
	case wa.TypeVideo:
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: length, Mimetype: &mime, Caption: optional(c.Caption), ContextInfo: ctxInfo,
		}}, nil
	case wa.TypeAudio:
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: length, Mimetype: &mime, PTT: proto.Bool(c.VoiceNote), ContextInfo: ctxInfo,
		}}, nil
	case wa.TypeSticker:
		return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: length, Mimetype: &mime, ContextInfo: ctxInfo,
		}}, nil
	default:
		name := c.Filename
		if name == "" {
			name = "file"
		}
		return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: length, Mimetype: &mime, FileName: &name, Title: &name,
			Caption: optional(c.Caption), ContextInfo: ctxInfo,
		}}, nil
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// makeVCard writes a minimal vCard with the waid parameter WhatsApp uses to
// offer "Message" on the contact card.
func makeVCard(name, phone string) string {
	digits := strings.TrimPrefix(phone, "+")
	if jid, err := wa.NormalizeJID(phone); err == nil {
		digits = strings.TrimPrefix(wa.PhoneOf(jid), "+")
	}
	return fmt.Sprintf("BEGIN:VCARD\nVERSION:3.0\nFN:%s\nTEL;type=CELL;waid=%s:+%s\nEND:VCARD", name, digits, digits)
}
