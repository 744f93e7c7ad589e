package messaging

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/wa"
)

func TestSendRequestValidation(t *testing.T) {
	t.Parallel()
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG fake image"))
	good := []struct {
		name string
		req  SendRequest
		typ  wa.MessageType
		// check inspects the draft beyond its type.
		check func(d draft) bool
	}{
		{"Text", SendRequest{To: "+1 (555) 000-1111", Text: "hi"}, wa.TypeText,
			func(d draft) bool { return d.chatJID == alice && d.content.Text == "hi" }},
		{"GroupJID", SendRequest{To: "120363025246125888@g.us", Text: "hi all"}, wa.TypeText,
			func(d draft) bool { return d.chatJID == "120363025246125888@g.us" }},
		{"ImageBase64WithDataPrefix", SendRequest{To: alice, Image: &MediaInput{Base64: "data:image/png;base64," + png, Mimetype: "image/png"}}, wa.TypeImage,
			func(d draft) bool {
				return string(d.inline) == "\x89PNG fake image" && d.content.Size == int64(len(d.inline))
			}},
		{"VoiceNote", SendRequest{To: alice, Audio: &MediaInput{URL: "https://cdn.example/v.ogg", Mimetype: "audio/ogg; codecs=opus", VoiceNote: true}}, wa.TypeAudio,
			func(d draft) bool {
				return d.content.VoiceNote && d.inline == nil && d.content.URL == "https://cdn.example/v.ogg"
			}},
		{"DocumentAnyMimetype", SendRequest{To: alice, Document: &MediaInput{URL: "https://x.example/a.pdf", Mimetype: "application/pdf", Filename: "a.pdf"}}, wa.TypeDocument,
			func(d draft) bool { return d.content.Filename == "a.pdf" }},
		{"Location", SendRequest{To: alice, Location: &LocationInput{Latitude: -33.9, Longitude: 151.2, Name: "Sydney"}}, wa.TypeLocation,
			func(d draft) bool { return *d.content.Latitude == -33.9 && *d.content.Longitude == 151.2 }},
		{"ContactGetsAVCard", SendRequest{To: alice, Contact: &ContactInput{Name: "Bob", Phone: "+15550002222"}}, wa.TypeContact,
			func(d draft) bool {
				return d.content.ContactPhone == "+15550002222" && strings.Contains(d.content.VCard, "waid=15550002222")
			}},
		{"ReactionRemoval", SendRequest{To: alice, Reaction: &ReactionInput{MessageID: "3EB0ABC", Emoji: ""}}, wa.TypeReaction,
			func(d draft) bool { return d.content.ReactionTo == "3EB0ABC" && d.content.Emoji == "" }},
		{"Reply", SendRequest{To: alice, Text: "yes", ReplyTo: "3EB0X"}, wa.TypeText,
			func(d draft) bool { return d.content.ReplyTo == "3EB0X" }},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := tc.req.validate("", 1<<20)
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			if d.typ != tc.typ || !tc.check(d) {
				t.Fatalf("draft = %+v", d)
			}
		})
	}

	bad := []struct {
		name string
		req  SendRequest
		kind apperr.Kind
	}{
		{"NoRecipient", SendRequest{Text: "x"}, apperr.KindInvalid},
		{"LeadingZero", SendRequest{To: "0555000111", Text: "x"}, apperr.KindInvalid},
		{"NothingToSend", SendRequest{To: alice}, apperr.KindInvalid},
		{"TwoKinds", SendRequest{To: alice, Text: "x", Location: &LocationInput{}}, apperr.KindInvalid},
		{"MediaWithoutSource", SendRequest{To: alice, Image: &MediaInput{Mimetype: "image/png"}}, apperr.KindInvalid},
		{"MediaWithTwoSources", SendRequest{To: alice, Image: &MediaInput{URL: "https://a/b", Base64: png, Mimetype: "image/png"}}, apperr.KindInvalid},
		{"WrongMediaFamily", SendRequest{To: alice, Audio: &MediaInput{URL: "https://a/b", Mimetype: "video/mp4"}}, apperr.KindInvalid},
		{"BadMimetype", SendRequest{To: alice, Document: &MediaInput{URL: "https://a/b", Mimetype: "pdf"}}, apperr.KindInvalid},
		{"VoiceNoteOnImage", SendRequest{To: alice, Image: &MediaInput{URL: "https://a/b", Mimetype: "image/png", VoiceNote: true}}, apperr.KindInvalid},
		{"FilenameWithPath", SendRequest{To: alice, Document: &MediaInput{URL: "https://a/b", Mimetype: "text/plain", Filename: "../etc/passwd"}}, apperr.KindInvalid},
		{"NotBase64", SendRequest{To: alice, Image: &MediaInput{Base64: "%%%", Mimetype: "image/png"}}, apperr.KindInvalid},
		{"TooLarge", SendRequest{To: alice, Image: &MediaInput{Base64: base64.StdEncoding.EncodeToString(make([]byte, 2<<20)), Mimetype: "image/png"}}, apperr.KindTooLarge},
		{"LatitudeOutOfRange", SendRequest{To: alice, Location: &LocationInput{Latitude: 91}}, apperr.KindInvalid},
		{"ContactWithoutPhoneOrVCard", SendRequest{To: alice, Contact: &ContactInput{Name: "Bob"}}, apperr.KindInvalid},
		{"ContactWithBadVCard", SendRequest{To: alice, Contact: &ContactInput{Name: "Bob", VCard: "hello"}}, apperr.KindInvalid},
		{"ReactionQuoting", SendRequest{To: alice, Reaction: &ReactionInput{MessageID: "x", Emoji: "👍"}, ReplyTo: "y"}, apperr.KindInvalid},
		{"InvalidUTF8", SendRequest{To: alice, Text: "\xff"}, apperr.KindInvalid},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.req.validate("", 1<<20)
			if apperr.KindOf(err) != tc.kind {
				t.Fatalf("err = %v (kind %v), want kind %v", err, apperr.KindOf(err), tc.kind)
			}
		})
	}

	t.Run("RouteChatMustMatchTo", func(t *testing.T) {
		t.Parallel()
		if d, err := (SendRequest{Text: "x"}).validate(bob, 1); err != nil || d.chatJID != bob {
			t.Fatalf("chat route without to: %+v %v", d, err)
		}
		if _, err := (SendRequest{To: "+15550002222", Text: "x"}).validate(bob, 1); err != nil {
			t.Fatalf("to naming the route's chat: %v", err)
		}
		if _, err := (SendRequest{To: alice, Text: "x"}).validate(bob, 1); !errors.Is(err, ErrRecipientMismatch) {
			t.Fatalf("to naming another chat: %v", err)
		}
	})

	t.Run("HashIgnoresFormattingButNotValues", func(t *testing.T) {
		t.Parallel()
		a := requestHash(sessionA, "", SendRequest{To: alice, Text: "x"})
		if a != requestHash(sessionA, "", SendRequest{Text: "x", To: alice}) {
			t.Fatal("same values hash differently")
		}
		for _, other := range []string{
			requestHash(sessionB, "", SendRequest{To: alice, Text: "x"}),
			requestHash(sessionA, alice, SendRequest{To: alice, Text: "x"}),
			requestHash(sessionA, "", SendRequest{To: alice, Text: "y"}),
		} {
			if other == a {
				t.Fatal("different requests hash alike")
			}
		}
	})
}

func TestStatusRank(t *testing.T) {
	t.Parallel()
	order := []Status{StatusPending, StatusSent, StatusDelivered, StatusRead}
	for i, s := range order {
		for j, next := range order {
			got := s.Advance(next)
			if want := order[max(i, j)]; got != want {
				t.Errorf("%s advanced by %s = %s, want %s", s, next, got, want)
			}
		}
	}
	if StatusRead.Advance(StatusFailed) != StatusRead || StatusSent.Advance(StatusReceived) != StatusSent {
		t.Error("failed or received moved a sent message")
	}
}
