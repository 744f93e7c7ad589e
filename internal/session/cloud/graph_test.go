package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/wa"
)

func quietLogger() *slog.Logger {
	if os.Getenv("CLOUD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// recordingSink is an EventSink that keeps what it was told.
type recordingSink struct {
	mu           sync.Mutex
	connected    []string
	disconnected []session.DisconnectReason
	messages     []wa.Message
	receipts     []wa.Receipt
}

func (s *recordingSink) QR(string, time.Time) {}
func (s *recordingSink) Connected(phone string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connected = append(s.connected, phone)
}
func (s *recordingSink) Disconnected(r session.DisconnectReason, _ bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disconnected = append(s.disconnected, r)
}
func (s *recordingSink) Messages(m []wa.Message, _ bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m...)
}
func (s *recordingSink) Receipt(r wa.Receipt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.receipts = append(s.receipts, r)
}
func (s *recordingSink) HistorySync([]wa.HistoryChat, bool) {}

func (s *recordingSink) disconnects() []session.DisconnectReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]session.DisconnectReason(nil), s.disconnected...)
}

// onlineClient is a client already connected to the fake Graph API, for
// tests of what it sends.
func onlineClient(t *testing.T, f *fakeGraph, sink session.EventSink) *client {
	t.Helper()
	p := New(Config{BaseURL: f.URL()}, nil, quietLogger())
	c := newClient(p, session.Ref{TenantID: "t1", SessionID: "s1"}, sink)
	c.state, c.creds = online, credentials{PhoneNumberID: f.phoneNumberID, AccessToken: f.token}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad expectation %s: %v", s, err)
	}
	return m
}

func ptr[T any](v T) *T { return &v }

func TestSendMessageShapes(t *testing.T) {
	t.Parallel()
	const to = "15550001111@s.whatsapp.net"
	cases := []struct {
		name string
		msg  wa.OutgoingMessage
		want string // the JSON body Meta documents for it
	}{
		{"Text", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeText, Content: wa.Content{Text: "hello"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"text","text":{"body":"hello","preview_url":false}}`},
		{"TextWithLinkPreviewsIt", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeText, Content: wa.Content{Text: "see https://wagate.dev"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"text","text":{"body":"see https://wagate.dev","preview_url":true}}`},
		{"ReplyCarriesContext", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeText, Content: wa.Content{Text: "yes", ReplyTo: "wamid.QUOTED"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"text","text":{"body":"yes","preview_url":false},"context":{"message_id":"wamid.QUOTED"}}`},
		{"ImageByLink", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeImage, Media: []byte("jpeg"),
			Content: wa.Content{URL: "https://example.com/cat.jpg", Mimetype: "image/jpeg", Caption: "a cat"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"image","image":{"link":"https://example.com/cat.jpg","caption":"a cat"}}`},
		{"VideoByLink", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeVideo, Media: []byte("mp4"),
			Content: wa.Content{URL: "https://example.com/v.mp4", Mimetype: "video/mp4", Caption: "clip"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"video","video":{"link":"https://example.com/v.mp4","caption":"clip"}}`},
		{"AudioByLinkHasNoCaption", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeAudio, Media: []byte("ogg"),
			Content: wa.Content{URL: "https://example.com/a.ogg", Mimetype: "audio/ogg"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"audio","audio":{"link":"https://example.com/a.ogg"}}`},
		{"DocumentByLink", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeDocument, Media: []byte("%PDF"),
			Content: wa.Content{URL: "https://example.com/r.pdf", Mimetype: "application/pdf", Filename: "report.pdf", Caption: "Q3"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"document","document":{"link":"https://example.com/r.pdf","caption":"Q3","filename":"report.pdf"}}`},
		{"Location", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeLocation,
			Content: wa.Content{Latitude: ptr(37.4847), Longitude: ptr(-122.1473), Name: "Philz Coffee", Address: "101 Forest Ave, Palo Alto"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"location","location":{"latitude":37.4847,"longitude":-122.1473,"name":"Philz Coffee","address":"101 Forest Ave, Palo Alto"}}`},
		{"ContactWithPhone", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeContact,
			Content: wa.Content{ContactName: "Ann Lee", ContactPhone: "+15559990000", VCard: "BEGIN:VCARD\nEND:VCARD"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"contacts","contacts":[{"name":{"formatted_name":"Ann Lee","first_name":"Ann Lee"},"phones":[{"phone":"+15559990000","type":"CELL","wa_id":"15559990000"}]}]}`},
		{"ContactFromVCard", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeContact,
			Content: wa.Content{ContactName: "Bo", VCard: "BEGIN:VCARD\nVERSION:3.0\nFN:Bo\nTEL;type=CELL;waid=15551234567:+1 555 123 4567\nEND:VCARD"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"contacts","contacts":[{"name":{"formatted_name":"Bo","first_name":"Bo"},"phones":[{"phone":"+1 555 123 4567","type":"CELL","wa_id":"15551234567"}]}]}`},
		{"Reaction", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeReaction, Content: wa.Content{ReactionTo: "wamid.HBgL", Emoji: "👍"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"reaction","reaction":{"message_id":"wamid.HBgL","emoji":"👍"}}`},
		{"ReactionRemoval", wa.OutgoingMessage{ChatJID: to, Type: wa.TypeReaction, Content: wa.Content{ReactionTo: "wamid.HBgL"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550001111","type":"reaction","reaction":{"message_id":"wamid.HBgL","emoji":""}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGraph(t)
			c := onlineClient(t, f, &recordingSink{})
			res, err := c.Send(context.Background(), tc.msg)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res.MessageID == "" || res.Timestamp.IsZero() {
				t.Fatalf("result %+v", res)
			}
			sends := f.sends()
			if len(sends) != 1 {
				t.Fatalf("graph got %d sends, want 1: %+v", len(sends), f.calls())
			}
			if want := decodeJSON(t, tc.want); !reflect.DeepEqual(sends[0], want) {
				got, _ := json.Marshal(sends[0])
				t.Fatalf("body\n got %s\nwant %s", got, tc.want)
			}
			if call := f.calls()[0]; call.Path != "/v21.0/"+testPhoneNumberID+"/messages" {
				t.Fatalf("path %s", call.Path)
			}
		})
	}
}

func TestSendUploadsInlineMediaFirst(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	c := onlineClient(t, f, &recordingSink{})
	pdf := []byte("%PDF-1.7 tiny")
	_, err := c.Send(context.Background(), wa.OutgoingMessage{ChatJID: "+15550001111", Type: wa.TypeDocument, Media: pdf,
		Content: wa.Content{Mimetype: "application/pdf", Filename: "invoice.pdf", Caption: "your invoice"}})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	calls := f.calls()
	if len(calls) != 2 || calls[0].Path != "/v21.0/"+testPhoneNumberID+"/media" {
		t.Fatalf("calls %+v, want upload then send", calls)
	}
	form := calls[0].Form
	if form["messaging_product"] != "whatsapp" || form["type"] != "application/pdf" || form["filename"] != "invoice.pdf" || form["partType"] != "application/pdf" {
		t.Fatalf("upload form %v", form)
	}
	doc := calls[1].JSON["document"].(map[string]any)
	up, ok := f.upload(doc["id"].(string))
	if !ok || string(up.data) != string(pdf) {
		t.Fatalf("document %v does not send the uploaded bytes", doc)
	}
	if doc["link"] != nil || doc["filename"] != "invoice.pdf" || doc["caption"] != "your invoice" {
		t.Fatalf("document object %v", doc)
	}
}

func TestSendRefusals(t *testing.T) {
	t.Parallel()
	t.Run("GroupRecipientIsInvalid", func(t *testing.T) {
		t.Parallel()
		f := newFakeGraph(t)
		c := onlineClient(t, f, &recordingSink{})
		_, err := c.Send(context.Background(), wa.OutgoingMessage{ChatJID: "120363025@g.us", Type: wa.TypeText, Content: wa.Content{Text: "hi"}})
		var pf interface{ FailReason() string }
		if !errors.As(err, &pf) || pf.FailReason() != ReasonInvalidRecipient || len(f.calls()) != 0 {
			t.Fatalf("err %v, calls %d", err, len(f.calls()))
		}
	})
	t.Run("NotConnectedIsSessionNotConnected", func(t *testing.T) {
		t.Parallel()
		f := newFakeGraph(t)
		c := onlineClient(t, f, &recordingSink{})
		c.Disconnect()
		_, err := c.Send(context.Background(), wa.OutgoingMessage{ChatJID: "+15550001111", Type: wa.TypeText, Content: wa.Content{Text: "hi"}})
		if !errors.Is(err, session.ErrNotConnected) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestGraphErrorsMapToFailReasons(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		answer    graphAnswer
		reason    string
		retryable bool
	}{
		{"ReengagementWindow", errReengagement, ReasonReengagementWindow, false},
		{"ThroughputRateLimit", errRateLimit, ReasonRateLimited, true},
		{"PairRateLimit", errPairRateLimit, ReasonRateLimited, true},
		{"NotInAllowedList", errNotAllowed, ReasonInvalidRecipient, false},
		{"Undeliverable", errUndeliverable, ReasonInvalidRecipient, false},
		{"ExpiredToken", errExpiredToken, ReasonAuthFailed, false},
		{"InvalidParameter", errInvalidParameter, ReasonProviderError, false},
		{"ServiceUnavailable", errServiceUnavailable, ReasonProviderError, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGraph(t)
			sink := &recordingSink{}
			c := onlineClient(t, f, sink)
			f.failSendsTo("15550001111", tc.answer)
			_, err := c.Send(context.Background(), wa.OutgoingMessage{ChatJID: "+15550001111", Type: wa.TypeText, Content: wa.Content{Text: "hi"}})
			var ge *GraphError
			if !errors.As(err, &ge) {
				t.Fatalf("err %v is not a GraphError", err)
			}
			if ge.FailReason() != tc.reason || ge.Retryable() != tc.retryable || ge.Code != tc.answer.code || ge.TraceID == "" {
				t.Fatalf("%+v: reason %s retryable %v, want %s %v", ge, ge.FailReason(), ge.Retryable(), tc.reason, tc.retryable)
			}
			authLost := tc.reason == ReasonAuthFailed
			if authLost == c.IsConnected() {
				t.Fatalf("connected after %s = %v", tc.name, c.IsConnected())
			}
		})
	}
	t.Run("UnparsableAnswerIsAProviderError", func(t *testing.T) {
		t.Parallel()
		e := &GraphError{HTTPStatus: http.StatusBadGateway}
		if e.FailReason() != ReasonProviderError || !e.Retryable() {
			t.Fatalf("%v: %s %v", e, e.FailReason(), e.Retryable())
		}
	})
}

func TestExpiredTokenDuringSendEndsTheSession(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	sink := &recordingSink{}
	c := onlineClient(t, f, sink)
	c.creds.AccessToken = "revoked"
	if _, err := c.Send(context.Background(), wa.OutgoingMessage{ChatJID: "+15550001111", Type: wa.TypeText, Content: wa.Content{Text: "hi"}}); err == nil {
		t.Fatal("send with a revoked token succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.disconnects()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if d := sink.disconnects(); len(d) != 1 || d[0] != session.ReasonLoggedOut {
		t.Fatalf("disconnects %v, want [logged_out]", d)
	}
}

func TestMarkReadAndDownload(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	c := onlineClient(t, f, &recordingSink{})
	if err := c.MarkRead(context.Background(), "15550001111@s.whatsapp.net", []string{"wamid.A", "wamid.B"}); err != nil {
		t.Fatal(err)
	}
	var marked []string
	for _, call := range f.calls() {
		if call.JSON["status"] == "read" {
			marked = append(marked, call.JSON["message_id"].(string))
		}
	}
	if !reflect.DeepEqual(marked, []string{"wamid.A", "wamid.B"}) {
		t.Fatalf("marked %v", marked)
	}

	f.setInboundMedia("1234567890", []byte("\xff\xd8jpeg bytes"))
	b, err := c.DownloadMedia(context.Background(), wa.Message{MessageID: "wamid.IMG", Content: wa.Content{MediaKey: "1234567890"}})
	if err != nil || string(b) != "\xff\xd8jpeg bytes" {
		t.Fatalf("download %q, %v", b, err)
	}
	c.p.cfg.MaxMediaBytes = 4
	if _, err := c.DownloadMedia(context.Background(), wa.Message{Content: wa.Content{MediaKey: "1234567890"}}); err == nil {
		t.Fatal("download over the limit succeeded")
	}
	if _, err := c.DownloadMedia(context.Background(), wa.Message{Content: wa.Content{MediaKey: "404"}}); err == nil {
		t.Fatal("download of an unknown media id succeeded")
	}
}

func TestGraphErrorFromNonJSON(t *testing.T) {
	t.Parallel()
	res := &http.Response{StatusCode: 502, Body: io.NopCloser(strings.NewReader("<html>bad gateway</html>"))}
	e := graphErrorFrom(res)
	if e.Parsed || e.HTTPStatus != 502 || e.Error() == "" {
		t.Fatalf("%+v", e)
	}
}
