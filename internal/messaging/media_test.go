package messaging

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/wa"
)

func TestOutgoingMedia(t *testing.T) {
	t.Parallel()
	image := bytes.Repeat([]byte("png!"), 1000)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cat.png":
			w.Write(image)
		case "/huge.bin":
			w.Write(make([]byte, 1<<20+1))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(files.Close)

	eachDialect(t, func(t *testing.T, f *fixture) {
		t.Run("Base64IsStoredOutsideTheCommandAndSent", func(t *testing.T) {
			m, _, err := f.svc.Send(f.ctx, SendInput{TenantID: tenantA, SessionID: sessionA, Request: SendRequest{To: alice,
				Image: &MediaInput{Base64: base64.StdEncoding.EncodeToString(image), Mimetype: "image/png", Caption: "cat"}}})
			if err != nil {
				t.Fatal(err)
			}
			if m.Content.Size != int64(len(image)) || m.Content.Caption != "cat" || m.Type != wa.TypeImage {
				t.Fatalf("accepted %+v", m)
			}
			cmds := f.runCommands()
			if len(cmds) != 1 || len(cmds[0].Data) > 200 {
				t.Fatalf("command carries %d bytes; media must stay out of the outbox", len(cmds[0].Data))
			}
			f.phone.mu.Lock()
			sent := f.phone.calls[len(f.phone.calls)-1]
			f.phone.mu.Unlock()
			if !bytes.Equal(sent.Media, image) || sent.Content.Mimetype != "image/png" || sent.Type != wa.TypeImage {
				t.Fatalf("phone got %d bytes of %s", len(sent.Media), sent.Content.Mimetype)
			}
			file, err := f.svc.Media(f.ctx, tenantA, sessionA, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(file.Path); !bytes.Equal(b, image) || file.Mimetype != "image/png" {
				t.Fatalf("media file has %d bytes of %s", len(b), file.Mimetype)
			}
		})

		t.Run("URLIsFetchedByTheWorker", func(t *testing.T) {
			m, _, err := f.svc.Send(f.ctx, SendInput{TenantID: tenantA, SessionID: sessionA, Request: SendRequest{To: alice,
				Document: &MediaInput{URL: files.URL + "/cat.png", Mimetype: "application/octet-stream", Filename: "cat.bin"}}})
			if err != nil {
				t.Fatal(err)
			}
			f.runCommands()
			got := f.message(sessionA, m.ID)
			if got.Status != StatusSent || got.Content.Size != int64(len(image)) || got.Content.URL != files.URL+"/cat.png" {
				t.Fatalf("after send: %+v", got)
			}
		})

		t.Run("UnreachableOrHugeURLFails", func(t *testing.T) {
			for path, reason := range map[string]FailReason{"/missing": ReasonMediaUnavailable, "/huge.bin": ReasonMediaTooLarge} {
				m, _, err := f.svc.Send(f.ctx, SendInput{TenantID: tenantA, SessionID: sessionA, Request: SendRequest{To: alice,
					Video: &MediaInput{URL: files.URL + path, Mimetype: "video/mp4"}}})
				if err != nil {
					t.Fatal(err)
				}
				f.runCommands()
				if got := f.message(sessionA, m.ID); got.Status != StatusFailed || got.Error != string(reason) {
					t.Fatalf("%s: %+v", path, got)
				}
			}
		})
	})

	t.Run("PrivateAddressesAreRefusedByDefault", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, "sqlite")
		w, err := NewWorker(WorkerConfig{Now: f.clock.Now}, f.store, f.phone, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		if err != nil {
			t.Fatal(err)
		}
		f.worker = w
		m, _, err := f.svc.Send(f.ctx, SendInput{TenantID: tenantA, SessionID: sessionA, Request: SendRequest{To: alice,
			Image: &MediaInput{URL: files.URL + "/cat.png", Mimetype: "image/png"}}})
		if err != nil {
			t.Fatal(err)
		}
		f.runCommands()
		if got := f.message(sessionA, m.ID); got.Status != StatusFailed || got.Error != string(ReasonMediaUnavailable) {
			t.Fatalf("fetch from loopback: %+v", got)
		}
	})
}

// inboundImage is a message.received envelope for an image, with the
// provider's download data as the worker puts it in the event.
func inboundImage(t *testing.T, id string) eventlog.Envelope {
	t.Helper()
	msg := map[string]any{"message": map[string]any{
		"messageId": id, "chatJid": alice, "senderJid": alice, "fromMe": false, "type": "image",
		"timestamp": time.Now().UTC(),
		"content":   map[string]any{"mimetype": "image/jpeg", "caption": "look", "size": 5, "mediaKey": `{"directPath":"/v/x"}`},
	}}
	data, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return eventlog.Envelope{ID: eventlog.NewID(), Type: wa.EventMessageReceived, TenantID: tenantA, SessionID: sessionA,
		OccurredAt: time.Now().UTC(), Data: data}
}

// keyRecordingPhone remembers the media key it was asked to download with.
type keyRecordingPhone struct {
	*fakePhone
	keys chan string
}

func (p keyRecordingPhone) DownloadMedia(ctx context.Context, tenantID, sessionID string, m wa.Message) ([]byte, error) {
	p.keys <- m.Content.MediaKey
	return p.fakePhone.DownloadMedia(ctx, tenantID, sessionID, m)
}

func TestInboundMedia(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, f *fixture) {
		phone := keyRecordingPhone{fakePhone: f.phone, keys: make(chan string, 4)}
		w, err := NewWorker(WorkerConfig{Now: f.clock.Now}, f.store, phone, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		if err != nil {
			t.Fatal(err)
		}
		f.worker = w
		if err := f.ingester.Handle(f.ctx, inboundImage(t, "IMG1")); err != nil {
			t.Fatal(err)
		}
		msg := f.message(sessionA, "IMG1")
		if msg.Content.Mimetype != "image/jpeg" || msg.Content.Caption != "look" || msg.Content.Size != 5 {
			t.Fatalf("stored metadata %+v", msg.Content)
		}
		if raw, _ := json.Marshal(msg); bytes.Contains(raw, []byte("directPath")) {
			t.Fatalf("the provider's media key leaks into the API: %s", raw)
		}
		f.phone.media["IMG1"] = []byte("jpeg!")

		// The API asks the worker (through a command) and waits for it.
		type result struct {
			file MediaFile
			err  error
		}
		got := make(chan result, 1)
		go func() {
			file, err := f.svc.Media(f.ctx, tenantA, sessionA, msg.ID)
			got <- result{file, err}
		}()
		waitFor(t, "download command", func() bool {
			return len(ofType(f.runCommands(), CommandDownloadMedia)) == 1
		})
		r := <-got
		if r.err != nil {
			t.Fatal(r.err)
		}
		if b, _ := os.ReadFile(r.file.Path); string(b) != "jpeg!" || r.file.Mimetype != "image/jpeg" {
			t.Fatalf("file %q (%s)", b, r.file.Mimetype)
		}
		if key := <-phone.keys; key != `{"directPath":"/v/x"}` {
			t.Fatalf("downloaded with media key %q", key)
		}
		// Cached: a second request downloads nothing.
		if _, err := f.svc.Media(f.ctx, tenantA, sessionA, "IMG1"); err != nil {
			t.Fatal(err)
		}
		if f.phone.downloads != 1 {
			t.Fatalf("%d downloads", f.phone.downloads)
		}

		// With the session offline the request fails clearly.
		if err := f.ingester.Handle(f.ctx, inboundImage(t, "IMG2")); err != nil {
			t.Fatal(err)
		}
		f.phone.setOnline(sessionA, false)
		go func() {
			_, err := f.svc.Media(f.ctx, tenantA, sessionA, "IMG2")
			got <- result{err: err}
		}()
		waitFor(t, "download command", func() bool {
			return len(ofType(f.runCommands(), CommandDownloadMedia)) == 1
		})
		if r := <-got; !errors.Is(r.err, ErrMediaUnavailable) {
			t.Fatalf("offline download: %v", r.err)
		}
		if _, err := f.svc.Media(f.ctx, tenantA, sessionA, f.sendText(sessionA, alice, "text", "").ID); !errors.Is(err, ErrNoMedia) {
			t.Fatalf("text message media: %v", err)
		}
	})
}
