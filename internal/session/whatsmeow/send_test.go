package whatsmeow

import (
	"context"
	"errors"
	"testing"

	wm "go.mau.fi/whatsmeow"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/wa"
)

func fakeUpload(calls *[]wm.MediaType) uploader {
	return func(ctx context.Context, data []byte, mt wm.MediaType) (wm.UploadResponse, error) {
		*calls = append(*calls, mt)
		return wm.UploadResponse{URL: "https://mmg/x", DirectPath: "/v/x", MediaKey: []byte("k"),
			FileEncSHA256: []byte("e"), FileSHA256: []byte("s"), FileLength: uint64(len(data))}, nil
	}
}

func TestBuildMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	chat := "15559990000@s.whatsapp.net"
	var uploads []wm.MediaType
	up := fakeUpload(&uploads)

	t.Run("Text", func(t *testing.T) {
		t.Parallel()
		m, err := buildMessage(ctx, wa.OutgoingMessage{ChatJID: chat, Type: wa.TypeText, Content: wa.Content{Text: "hi"}}, nil)
		if err != nil || m.GetConversation() != "hi" {
			t.Fatalf("%v %v", m, err)
		}
	})
	t.Run("Reply", func(t *testing.T) {
		t.Parallel()
		m, err := buildMessage(ctx, wa.OutgoingMessage{ChatJID: chat, Content: wa.Content{Text: "yes", ReplyTo: "Q1"}}, nil)
		if err != nil || m.GetExtendedTextMessage().GetText() != "yes" || m.GetExtendedTextMessage().GetContextInfo().GetStanzaID() != "Q1" {
			t.Fatalf("%v %v", m, err)
		}
	})
	t.Run("Location", func(t *testing.T) {
		t.Parallel()
		lat, lng := 1.5, -2.5
		m, err := buildMessage(ctx, wa.OutgoingMessage{ChatJID: chat, Type: wa.TypeLocation, Content: wa.Content{Latitude: &lat, Longitude: &lng, Name: "Here"}}, nil)
		if err != nil || m.GetLocationMessage().GetDegreesLatitude() != 1.5 || m.GetLocationMessage().GetName() != "Here" {
			t.Fatalf("%v %v", m, err)
		}
	})
	t.Run("ContactWithoutVCard", func(t *testing.T) {
		t.Parallel()
		m, err := buildMessage(ctx, wa.OutgoingMessage{ChatJID: chat, Type: wa.TypeContact, Content: wa.Content{ContactName: "Bob", ContactPhone: "+15551234567"}}, nil)
		if err != nil || m.GetContactMessage().GetDisplayName() != "Bob" || phoneFromVCard(m.GetContactMessage().GetVcard()) != "+15551234567" {
			t.Fatalf("%v %v", m, err)
		}
	})
	t.Run("Reaction", func(t *testing.T) {
		t.Parallel()
		m, err := buildMessage(ctx, wa.OutgoingMessage{ChatJID: chat, Type: wa.TypeReaction, Content: wa.Content{ReactionTo: "T1", Emoji: "❤️"}}, nil)
		if err != nil || m.GetReactionMessage().GetKey().GetID() != "T1" || m.GetReactionMessage().GetKey().GetRemoteJID() != chat || m.GetReactionMessage().GetText() != "❤️" {
			t.Fatalf("%v %v", m, err)
		}
	})
	t.Run("MediaIsUploaded", func(t *testing.T) {
		var calls []wm.MediaType
		up := fakeUpload(&calls)
		img, err := buildMessage(ctx, wa.OutgoingMessage{ChatJID: chat, Type: wa.TypeImage, Content: wa.Content{Caption: "c"}, Media: []byte("png!")}, up)
		if err != nil || img.GetImageMessage().GetDirectPath() != "/v/x" || img.GetImageMessage().GetFileLength() != 4 ||
			img.GetImageMessage().GetMimetype() != "image/jpeg" || img.GetImageMessage().GetCaption() != "c" {
			t.Fatalf("image: %v %v", img, err)
		}
		doc, err := buildMessage(ctx, wa.OutgoingMessage{ChatJID: chat, Type: wa.TypeDocument, Content: wa.Content{Filename: "a.pdf", Mimetype: "application/pdf"}, Media: []byte("%PDF")}, up)
		if err != nil || doc.GetDocumentMessage().GetFileName() != "a.pdf" || doc.GetDocumentMessage().GetMimetype() != "application/pdf" {
			t.Fatalf("document: %v %v", doc, err)
		}
		voice, err := buildMessage(ctx, wa.OutgoingMessage{ChatJID: chat, Type: wa.TypeAudio, Content: wa.Content{VoiceNote: true}, Media: []byte("ogg")}, up)
		if err != nil || !voice.GetAudioMessage().GetPTT() {
			t.Fatalf("voice: %v %v", voice, err)
		}
		if len(calls) != 3 || calls[0] != wm.MediaImage || calls[1] != wm.MediaDocument || calls[2] != wm.MediaAudio {
			t.Fatalf("uploads = %v", calls)
		}
	})
	t.Run("BadInputIsAClientError", func(t *testing.T) {
		t.Parallel()
		for name, msg := range map[string]wa.OutgoingMessage{
			"EmptyText":        {ChatJID: chat, Type: wa.TypeText},
			"MediaWithoutData": {ChatJID: chat, Type: wa.TypeImage},
			"LocationNoCoords": {ChatJID: chat, Type: wa.TypeLocation},
			"ReactionNoTarget": {ChatJID: chat, Type: wa.TypeReaction},
			"UnknownType":      {ChatJID: chat, Type: "hologram"},
		} {
			_, err := buildMessage(ctx, msg, up)
			if k := apperr.KindOf(err); k != apperr.KindInvalid && k != apperr.KindUnprocessable {
				t.Errorf("%s: %v (kind %v)", name, err, k)
			}
		}
	})
	t.Run("UploadFailureIsReported", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("upload refused")
		_, err := buildMessage(ctx, wa.OutgoingMessage{ChatJID: chat, Type: wa.TypeVideo, Media: []byte("x")},
			func(context.Context, []byte, wm.MediaType) (wm.UploadResponse, error) {
				return wm.UploadResponse{}, boom
			})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestMessageIDForIsStable(t *testing.T) {
	t.Parallel()
	a, b := messageIDFor("0192-abc"), messageIDFor("0192-abc")
	if a != b || len(a) != 22 || a[:4] != "3EB0" {
		t.Fatalf("ids %q %q", a, b)
	}
	if messageIDFor("0192-abd") == a {
		t.Fatal("different messages need different ids")
	}
	if messageIDFor("") != "" {
		t.Fatal("no wagate id: let whatsmeow choose")
	}
}
