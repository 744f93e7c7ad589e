package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/realtime"
	"github.com/wagate/wagate/internal/testenv"
)

func TestTenantsSeeOnlyTheirOwnEvents(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			b := start(t, db, setup{})
			byHeader := dial(t, b.url, "", bearer("tok-a"))
			byQuery := dial(t, b.url, "access_token=tok-b", nil)
			byAPIKey := dial(t, b.url, "", http.Header{"X-Api-Key": {"key-b"}})
			byQueryAPIKey := dial(t, b.url, "access_token=key-b", nil)
			b.waitClients(t, 4)

			var envs []eventlog.Envelope
			for i := range 20 {
				tenant := "tenant-a"
				if i%2 == 1 {
					tenant = "tenant-b"
				}
				envs = append(envs, envelope(tenant, "s1", "message.received", i))
			}
			appendEvents(t, db, envs...)

			for _, c := range []struct {
				name   string
				conn   *websocket.Conn
				tenant string
			}{
				{"BearerHeader", byHeader, "tenant-a"},
				{"AccessTokenQuery", byQuery, "tenant-b"},
				{"APIKeyHeader", byAPIKey, "tenant-b"},
				{"APIKeyInQuery", byQueryAPIKey, "tenant-b"},
			} {
				got := readN(t, c.conn, 10)
				var want []string
				for _, e := range envs {
					if e.TenantID == c.tenant {
						want = append(want, e.ID)
					}
				}
				for i, f := range got {
					if f.TenantID != c.tenant || f.ID != want[i] {
						t.Fatalf("%s: frame %d is %s of %s, want %s of %s", c.name, i, f.ID, f.TenantID, want[i], c.tenant)
					}
					if f.Type != "message.received" || f.SessionID != "s1" || f.OccurredAt.IsZero() || len(f.Data) == 0 {
						t.Fatalf("%s: frame %d is not a full envelope: %+v", c.name, i, f)
					}
				}
			}
			// A marker for tenant a proves nothing else of tenant b's was queued.
			appendEvents(t, db, envelope("tenant-b", "s1", "marker", 99))
			for _, c := range []*websocket.Conn{byQuery, byAPIKey} {
				if f := readN(t, c, 1)[0]; f.Type != "marker" {
					t.Fatalf("got %s after the last event, want the marker", f.Type)
				}
			}
			expectNothingMore(t, byHeader)
		})
	}
}

func TestCredentialsAreCheckedBeforeTheUpgrade(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, "sqlite")
	b := start(t, db, setup{})
	for _, c := range []struct {
		name   string
		query  string
		header http.Header
	}{
		{"NoCredentials", "", nil},
		{"UnknownBearer", "", bearer("nope")},
		{"UnknownAccessToken", "access_token=nope", nil},
		{"BadHeaderWinsOverGoodQuery", "access_token=tok-a", bearer("nope")},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := b.httpURL + "/ws/sessions"
			if c.query != "" {
				u += "?" + c.query
			}
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			for k, v := range c.header {
				req.Header[k] = v
			}
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var p struct {
				Type   string `json:"type"`
				Status int    `json:"status"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&p)
			if resp.StatusCode != http.StatusUnauthorized || p.Status != 401 ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("got %d %s %+v, want a 401 problem", resp.StatusCode, resp.Header.Get("Content-Type"), p)
			}
		})
	}
	if n := b.hub.Clients(); n != 0 {
		t.Fatalf("refused requests left %d clients in the hub", n)
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, "sqlite")
	b := start(t, db, setup{})
	bySession := dial(t, b.url, "sessionId=s2", bearer("tok-a"))
	byTypes := dial(t, b.url, "types=session.*,message.received", bearer("tok-a"))
	byBoth := dial(t, b.url, "sessionId=s1&types=session.*", bearer("tok-a"))
	b.waitClients(t, 3)

	appendEvents(t, db,
		envelope("tenant-a", "s1", "session.status.connected", 1),
		envelope("tenant-a", "s2", "message.received", 2),
		envelope("tenant-a", "s1", "message.sent", 3),
		envelope("tenant-a", "s2", "session.qr.updated", 4),
		envelope("tenant-b", "s2", "message.received", 5),
		envelope("tenant-a", "s1", "session.history.sync", 6),
		envelope("tenant-a", "s2", "message.status.updated", 7),
	)
	check := func(name string, c *websocket.Conn, want ...int) {
		t.Helper()
		got := readN(t, c, len(want))
		for i, f := range got {
			if f.n() != want[i] {
				t.Fatalf("%s: frame %d is event %d (%s), want %d", name, i, f.n(), f.Type, want[i])
			}
		}
	}
	check("sessionId", bySession, 2, 4, 7)
	check("types", byTypes, 1, 2, 4, 6)
	check("both", byBoth, 1, 6)

	t.Run("InvalidTypesAreRefused", func(t *testing.T) {
		t.Parallel()
		_, err := dialErr(b.url, "types="+url.QueryEscape("message.*.x"), bearer("tok-a"), nil)
		if err == nil || !strings.Contains(err.Error(), "400") {
			t.Fatalf("got %v, want a 400", err)
		}
	})
	t.Run("InvalidSinceIsRefused", func(t *testing.T) {
		t.Parallel()
		_, err := dialErr(b.url, "since=abc", bearer("tok-a"), nil)
		if err == nil || !strings.Contains(err.Error(), "400") {
			t.Fatalf("got %v, want a 400", err)
		}
	})
}

func TestPerTenantConnectionLimit(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, "sqlite")
	b := start(t, db, setup{hub: realtime.HubConfig{MaxConnsPerTenant: 2}})
	first := dial(t, b.url, "", bearer("tok-a"))
	dial(t, b.url, "", bearer("tok-a"))
	_, err := dialErr(b.url, "", bearer("tok-a"), nil)
	if err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("third connection: got %v, want a 429", err)
	}
	dial(t, b.url, "", bearer("tok-b")) // other tenants are not affected
	if g := b.connectedGauge(t); g != 3 {
		t.Fatalf("connected gauge is %v, want 3", g)
	}
	first.Close(websocket.StatusNormalClosure, "")
	b.waitClients(t, 2)
	dial(t, b.url, "", bearer("tok-a")) // a freed slot can be taken again
}

func TestDeadPeerIsDropped(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, "sqlite")
	b := start(t, db, setup{handler: realtime.HandlerConfig{PingInterval: 50 * time.Millisecond, PongTimeout: time.Second}})
	alive := dial(t, b.url, "", bearer("tok-a"))
	dead, err := dialErr(b.url, "", bearer("tok-a"), &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool { return false }, // never pongs
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.CloseNow()
	go func() { // keep reading so pings arrive (and are not answered)
		for {
			if _, _, err := dead.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	// The live client answers pings while it reads.
	readDone := make(chan error, 1)
	go func() {
		_, err := read(alive, 5*time.Second)
		readDone <- err
	}()
	eventually(t, 5*time.Second, func() bool { return b.dropped("dead") == 1 }, "the silent peer to be dropped")
	b.waitClients(t, 1)
	appendEvents(t, db, envelope("tenant-a", "", "after.pings", 1))
	if err := <-readDone; err != nil {
		t.Fatalf("the answering client was dropped too: %v", err)
	}
}

func TestSinceOutsideTheWindowGetsACloseReason(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			b := start(t, db, setup{handler: realtime.HandlerConfig{ReplayWindow: time.Hour}})
			old := envelope("tenant-a", "", "message.received", 1)
			old.OccurredAt = time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Millisecond)
			other := envelope("tenant-b", "", "message.received", 2)
			appendEvents(t, db, old, other)
			for name, since := range map[string]string{
				"Unknown":         eventlog.NewID(),
				"OlderThanWindow": old.ID,
				"OtherTenants":    other.ID,
			} {
				c := dial(t, b.url, "since="+since, bearer("tok-a"))
				_, err := read(c, 5*time.Second)
				var ce websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != realtime.StatusSinceTooOld || !strings.Contains(ce.Reason, "since") {
					t.Fatalf("%s: got %v, want close %d with a reason about since", name, err, realtime.StatusSinceTooOld)
				}
			}
		})
	}
}

// TestResumeHasNoGapAndNoRepeat reconnects several times with ?since=
// while events keep being appended; the frames received over all
// connections must be every event exactly once, in order.
func TestResumeHasNoGapAndNoRepeat(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			b := start(t, db, setup{})
			resumeAcross(t, b, func(envs ...eventlog.Envelope) { appendEvents(t, db, envs...) })
		})
	}
}

func resumeAcross(t *testing.T, b *bundle, publish func(...eventlog.Envelope)) {
	const total = 1000
	envs := make([]eventlog.Envelope, total)
	for i := range envs {
		envs[i] = envelope("tenant-a", "s1", "message.received", i)
	}

	c := dial(t, b.url, "", bearer("tok-a"))
	b.waitClients(t, 1)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; i < total; i += 4 { // a few events per transaction keeps the test quick
			publish(envs[i:min(i+4, total)]...)
			if i%100 == 0 {
				publish(envelope("tenant-b", "s1", "message.received", -1)) // another tenant's, never seen
			}
		}
	}()

	var got []frame
	for reconnects := 0; len(got) < total; {
		f, err := read(c, 10*time.Second)
		if err == nil {
			got = append(got, f)
			// Drop the connection every 150 frames, resuming from the last one.
			if len(got)%150 != 0 || len(got) == total {
				continue
			}
		} else if len(got) == 0 || reconnects > 20 {
			t.Fatalf("after %d frames and %d reconnects: %v", len(got), reconnects, err)
		} else {
			t.Logf("connection ended after %d frames: %v", len(got), err)
		}
		c.CloseNow()
		reconnects++
		c = dial(t, b.url, "since="+got[len(got)-1].ID, bearer("tok-a"))
	}
	<-produced
	seen := map[string]bool{}
	for i, f := range got {
		if seen[f.ID] {
			t.Fatalf("frame %d repeats event %d", i, f.n())
		}
		seen[f.ID] = true
		if f.ID != envs[i].ID {
			t.Fatalf("frame %d is event %d, want %d (a gap or reordering)", i, f.n(), i)
		}
	}
	publish(envelope("tenant-a", "", "marker", total))
	if f := readN(t, c, 1)[0]; f.Type != "marker" {
		t.Fatalf("after the last event got %s (%d), want the marker", f.Type, f.n())
	}
}

// chanSource is a hub source the test drives directly.
type chanSource chan eventlog.Envelope

func (s chanSource) Run(ctx context.Context, emit func(eventlog.Envelope)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-s:
			emit(e)
		}
	}
}

func TestStalledReaderIsClosedWhileAFastOneKeepsUp(t *testing.T) {
	t.Parallel()
	src := make(chanSource)
	b := start(t, nil, setup{
		source:   src,
		hub:      realtime.HubConfig{BufferSize: 16},
		handler:  realtime.HandlerConfig{WriteTimeout: time.Minute}, // slowness, not a timeout, must drop it
		listener: smallBuffers,
	})
	fast := dial(t, b.url, "", bearer("tok-a"))
	stalled, err := dialErr(b.url, "", bearer("tok-a"), &websocket.DialOptions{HTTPClient: smallBufferClient()})
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.CloseNow()
	b.waitClients(t, 2)

	const total = 600
	pad := strings.Repeat("x", 2048)
	var (
		mu       sync.Mutex
		received int
		fastErr  error
	)
	fastDone := make(chan struct{})
	go func() {
		defer close(fastDone)
		for i := range total {
			f, err := read(fast, 10*time.Second)
			if err == nil && f.n() != i {
				err = fmt.Errorf("frame %d is event %d", i, f.n())
			}
			mu.Lock()
			received, fastErr = i+1, err
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	for i := range total {
		// Stay a few events ahead of the fast reader, never a buffer ahead.
		eventually(t, 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return fastErr != nil || received >= i-4
		}, "the fast client to keep up")
		src <- eventlog.MustEnvelope(context.Background(), "tenant-a", "", testEvent{N: i, Type: "message.received", Pad: pad})
	}
	<-fastDone
	if fastErr != nil {
		t.Fatalf("fast client: %v", fastErr)
	}
	if n := b.dropped("slow"); n != 1 {
		t.Fatalf("dropped slow clients = %v, want 1", n)
	}
	b.waitClients(t, 1)
	// The stalled client finds its connection closed once it reads again.
	n := 0
	for {
		_, err := read(stalled, 10*time.Second)
		if err != nil {
			if code := websocket.CloseStatus(err); code != -1 && code != websocket.StatusTryAgainLater {
				t.Fatalf("stalled client closed with %v, want 1013 or a cut connection", code)
			}
			break
		}
		n++
	}
	if n >= total {
		t.Fatalf("the stalled client got all %d events: it was never dropped", n)
	}
}
