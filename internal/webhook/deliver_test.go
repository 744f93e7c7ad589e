package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/webhook"
)

// verify checks both signatures of a delivery the way a receiver would,
// with nothing from the webhook package.
func verify(t *testing.T, secret string, r received) {
	t.Helper()
	ts := r.header.Get("X-Wagate-Timestamp")
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		t.Fatalf("X-Wagate-Timestamp %q is not unix seconds", ts)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(r.body)))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); r.header.Get("X-Wagate-Signature") != want {
		t.Fatalf("X-Wagate-Signature %q, want %q", r.header.Get("X-Wagate-Signature"), want)
	}
	mac = hmac.New(sha256.New, []byte(secret))
	mac.Write(r.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); r.header.Get("X-Hub-Signature-256") != want {
		t.Fatalf("X-Hub-Signature-256 %q, want %q", r.header.Get("X-Hub-Signature-256"), want)
	}
	if !webhook.Verify(secret, r.header, r.body, 5*time.Minute, time.Now()) {
		t.Fatal("webhook.Verify refused a genuine delivery")
	}
	if webhook.Verify("another-secret-123456", r.header, r.body, 5*time.Minute, time.Now()) {
		t.Fatal("webhook.Verify accepted the wrong secret")
	}
}

func TestSignatureVector(t *testing.T) {
	t.Parallel()
	// The same vector is in docs/webhooks.md.
	body := []byte(`{"id":"evt_1"}`)
	if got := webhook.Signature("whsec_test_secret_0123", 1700000000, body); got != "sha256=73f168c8f95cae26bf3b3104a1307c3040d4d7a17c3c699c8af06025c9c6bd14" {
		t.Fatalf("Signature = %s", got)
	}
	if got := webhook.HubSignature("whsec_test_secret_0123", body); got != "sha256=dcf38aa84746ce3f615f414feeebac6aa10a52605d076c6a0ca74e2727e1bd0f" {
		t.Fatalf("HubSignature = %s", got)
	}
	h := http.Header{"X-Wagate-Timestamp": {"1700000000"}, "X-Wagate-Signature": {webhook.Signature("whsec_test_secret_0123", 1700000000, body)}}
	if webhook.Verify("whsec_test_secret_0123", h, body, 5*time.Minute, time.Unix(1700000000, 0).Add(10*time.Minute)) {
		t.Fatal("Verify accepted a delivery older than the tolerance")
	}
}

func TestRetriesCarryTheSameEventAndValidSignatures(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			st := webhook.NewStore(db)
			rcv := newReceiver(t, func(n int) int {
				if n <= 2 {
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			})
			ep := addEndpoint(t, st, "tenant-a", rcv.URL+"/hook", "", "message.received")
			dl, _ := runDeliverer(t, st, fastRetries())
			env := event("tenant-a", "message.received", 1)
			if err := webhook.NewFanout(st, dl.Notify).Handle(context.Background(), env); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, func() bool { return len(rcv.requests()) >= 3 }, "three attempts")
			eventually(t, 5*time.Second, func() bool {
				ds := deliveries(t, st, "tenant-a", ep.ID())
				return len(ds) == 1 && ds[0].Status == webhook.StatusSucceeded
			}, "the delivery to be recorded as succeeded")

			reqs := rcv.requests()
			if len(reqs) != 3 {
				t.Fatalf("receiver got %d requests, want 3", len(reqs))
			}
			for i, r := range reqs {
				if got := r.header.Get("X-Wagate-Event-Id"); got != env.ID {
					t.Fatalf("attempt %d carries event id %q, want %q", i+1, got, env.ID)
				}
				if r.header.Get("X-Wagate-Event") != "message.received" || r.header.Get("Content-Type") != "application/json" {
					t.Fatalf("attempt %d headers: %v", i+1, r.header)
				}
				if string(r.body) != string(reqs[0].body) {
					t.Fatalf("attempt %d body differs from the first", i+1)
				}
				verify(t, ep.Secret(), r)
			}
			var got eventlog.Envelope
			if err := json.Unmarshal(reqs[0].body, &got); err != nil || got.ID != env.ID || got.TenantID != "tenant-a" ||
				got.Type != env.Type || !got.OccurredAt.Equal(env.OccurredAt) || string(got.Data) != string(env.Data) {
				t.Fatalf("body is not the envelope: %v %s", err, reqs[0].body)
			}
			ds := deliveries(t, st, "tenant-a", ep.ID())
			if ds[0].Attempts != 3 || ds[0].LastStatusCode != 200 || !ds[0].CompletedAt.After(ds[0].CreatedAt.Add(-time.Millisecond)) {
				t.Fatalf("delivery record: %+v", ds[0])
			}
		})
	}
}

func TestDeliveriesAreListedWithTheirState(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, store.SQLite)
	st := webhook.NewStore(db)
	base := apiServer(t, st, webhook.Guard{AllowPrivate: true})
	failing := newReceiver(t, always(http.StatusBadGateway))
	ep := addEndpoint(t, st, "tenant-a", failing.URL, "", "*")
	cfg := fastRetries()
	cfg.BaseBackoff, cfg.MaxBackoff = time.Hour, time.Hour // one attempt, then a far retry
	dl, _ := runDeliverer(t, st, cfg)
	f := webhook.NewFanout(st, dl.Notify)
	for i := range 3 {
		if err := f.Handle(context.Background(), event("tenant-a", "session.created", i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() bool { return len(failing.requests()) == 3 }, "three first attempts")

	type deliveryJSON struct {
		EventID          string     `json:"eventId"`
		EventType        string     `json:"eventType"`
		Status           string     `json:"status"`
		Attempts         int        `json:"attempts"`
		LastResponseCode int        `json:"lastResponseCode"`
		LastError        string     `json:"lastError"`
		NextAttemptAt    *time.Time `json:"nextAttemptAt"`
	}
	var page listJSON[deliveryJSON]
	url := base + "/webhook-endpoints/" + ep.ID() + "/deliveries"
	eventually(t, 5*time.Second, func() bool {
		page = listJSON[deliveryJSON]{}
		call(t, "GET", url+"?limit=2", "tok-a", nil, &page)
		return len(page.Items) == 2 && page.Items[0].Attempts == 1 && page.Items[1].Attempts == 1
	}, "attempts to be recorded")
	it := page.Items[0]
	if it.Status != "pending" || it.LastResponseCode != 502 || it.LastError != "HTTP 502" ||
		it.NextAttemptAt == nil || time.Until(*it.NextAttemptAt) < 30*time.Minute || it.EventType != "session.created" {
		t.Fatalf("delivery: %+v", it)
	}
	var rest listJSON[deliveryJSON]
	call(t, "GET", url+"?limit=2&cursor="+page.NextCursor, "tok-a", nil, &rest)
	if len(rest.Items) != 1 || rest.NextCursor != "" {
		t.Fatalf("second page: %+v", rest)
	}
	if code := call(t, "GET", url, "tok-b", nil, nil); code != 404 {
		t.Fatalf("another tenant's deliveries: %d, want 404", code)
	}
}

func TestClientErrorsAreNotRetriedButRateLimitsAre(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			st := webhook.NewStore(db)
			gone := newReceiver(t, always(http.StatusGone))
			limited := newReceiver(t, func(n int) int {
				if n == 1 {
					return http.StatusTooManyRequests
				}
				return http.StatusNoContent
			})
			epGone := addEndpoint(t, st, "tenant-a", gone.URL, "", "*")
			epLimited := addEndpoint(t, st, "tenant-a", limited.URL, "", "*")
			dl, _ := runDeliverer(t, st, fastRetries())
			if err := webhook.NewFanout(st, dl.Notify).Handle(context.Background(), event("tenant-a", "message.sent", 1)); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, func() bool {
				g := deliveries(t, st, "tenant-a", epGone.ID())
				l := deliveries(t, st, "tenant-a", epLimited.ID())
				return g[0].Status == webhook.StatusFailed && l[0].Status == webhook.StatusSucceeded
			}, "the 410 to fail and the 429 to succeed on retry")
			g := deliveries(t, st, "tenant-a", epGone.ID())[0]
			if g.Attempts != 1 || g.LastStatusCode != 410 || len(gone.requests()) != 1 {
				t.Fatalf("a 410 was retried: %+v, %d requests", g, len(gone.requests()))
			}
			if l := deliveries(t, st, "tenant-a", epLimited.ID())[0]; l.Attempts != 2 || l.LastStatusCode != 204 {
				t.Fatalf("429 delivery: %+v", l)
			}
		})
	}
}

func TestTimeoutsAreRetried(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, store.SQLite)
	st := webhook.NewStore(db)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	ep := addEndpoint(t, st, "tenant-a", slow.URL, "", "*")
	cfg := fastRetries()
	cfg.Timeout = 50 * time.Millisecond
	dl, _ := runDeliverer(t, st, cfg)
	if err := webhook.NewFanout(st, dl.Notify).Handle(context.Background(), event("tenant-a", "message.sent", 1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool {
		ds := deliveries(t, st, "tenant-a", ep.ID())
		return ds[0].Attempts >= 2
	}, "a timed-out attempt to be retried")
	d := deliveries(t, st, "tenant-a", ep.ID())[0]
	if d.Status != webhook.StatusPending || d.LastError != "timed out" || d.LastStatusCode != 0 {
		t.Fatalf("timed-out delivery: %+v", d)
	}
}

// TestReceiverDownAcrossARestart: deliveries fail while the receiver is
// down, the delivery loop is stopped and a new one started (a wagate
// restart), and when the receiver comes back every event arrives.
func TestReceiverDownAcrossARestart(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			st := webhook.NewStore(db)
			// Reserve an address, then leave nothing listening on it.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			ep := addEndpoint(t, st, "tenant-a", "http://"+addr+"/hook", "", "message.*")

			cfg := fastRetries()
			cfg.MaxBackoff = 200 * time.Millisecond // fewer pointless attempts while it is down
			first, stopFirst := runDeliverer(t, st, cfg)
			fan := webhook.NewFanout(st, first.Notify)
			const total = 20
			want := map[string]bool{}
			for i := range total {
				env := event("tenant-a", "message.received", i)
				want[env.ID] = true
				if err := fan.Handle(context.Background(), env); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, 10*time.Second, func() bool {
				for _, d := range deliveries(t, st, "tenant-a", ep.ID()) {
					if d.Attempts < 2 || d.LastError == "" {
						return false
					}
				}
				return true
			}, "every delivery to fail twice while the receiver is down")
			stopFirst()

			// The receiver comes back on the same address; a new loop starts.
			rcv := &receiver{respond: always(http.StatusOK)}
			var ln2 net.Listener
			eventually(t, 5*time.Second, func() bool {
				ln2, err = net.Listen("tcp", addr)
				return err == nil
			}, "the address to be free again")
			rcv.Server = httptest.NewUnstartedServer(http.HandlerFunc(rcv.serve))
			rcv.Listener.Close()
			rcv.Listener = ln2
			rcv.Start()
			t.Cleanup(rcv.Close)
			runDeliverer(t, st, cfg)

			eventually(t, 10*time.Second, func() bool {
				got := map[string]bool{}
				for _, r := range rcv.requests() {
					got[r.header.Get("X-Wagate-Event-Id")] = true
				}
				for id := range want {
					if !got[id] {
						return false
					}
				}
				return true
			}, "every event to reach the receiver")
			eventually(t, 5*time.Second, func() bool {
				for _, d := range deliveries(t, st, "tenant-a", ep.ID()) {
					if d.Status != webhook.StatusSucceeded {
						return false
					}
				}
				return true
			}, "every delivery to be recorded as succeeded")
			for _, r := range rcv.requests() {
				verify(t, ep.Secret(), r)
			}
		})
	}
}

func TestConcurrentDeliverersSendEachDeliveryOnce(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			st := webhook.NewStore(db)
			rcv := newReceiver(t, always(http.StatusOK))
			addEndpoint(t, st, "tenant-a", rcv.URL, "", "*")
			a, _ := runDeliverer(t, st, fastRetries())
			b, _ := runDeliverer(t, st, fastRetries())
			fan := webhook.NewFanout(st, func() { a.Notify(); b.Notify() })
			const total = 60
			for i := range total {
				if err := fan.Handle(context.Background(), event("tenant-a", "message.received", i)); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, 10*time.Second, func() bool { return len(rcv.requests()) >= total }, "every delivery")
			time.Sleep(50 * time.Millisecond) // room for a duplicate to show up
			seen := map[string]int{}
			for _, r := range rcv.requests() {
				seen[r.header.Get("X-Wagate-Event-Id")]++
			}
			if len(seen) != total || len(rcv.requests()) != total {
				t.Fatalf("%d requests for %d distinct events, want %d each once", len(rcv.requests()), len(seen), total)
			}
		})
	}
}

func TestConnectTimeGuardRefusesInternalAddresses(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, store.SQLite)
	st := webhook.NewStore(db)
	rcv := newReceiver(t, always(http.StatusOK))
	// Registered while allowed (or while its name resolved elsewhere)…
	ep := addEndpoint(t, st, "tenant-a", rcv.URL, "", "*")
	cfg := fastRetries()
	cfg.Guard = webhook.Guard{} // …but delivered without the opt-in.
	dl, _ := runDeliverer(t, st, cfg)
	if err := webhook.NewFanout(st, dl.Notify).Handle(context.Background(), event("tenant-a", "message.sent", 1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool {
		return deliveries(t, st, "tenant-a", ep.ID())[0].Status == webhook.StatusFailed
	}, "the delivery to be refused")
	d := deliveries(t, st, "tenant-a", ep.ID())[0]
	if d.Attempts != 1 || !strings.Contains(d.LastError, "internal address") || len(rcv.requests()) != 0 {
		t.Fatalf("delivery %+v, %d requests reached the receiver", d, len(rcv.requests()))
	}
}

func TestFanoutMatchesTenantAndTypesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			st := webhook.NewStore(db)
			messages := addEndpoint(t, st, "tenant-a", "http://127.0.0.1:9/m", "", "message.received")
			sessions := addEndpoint(t, st, "tenant-a", "http://127.0.0.1:9/s", "", "session.*")
			paused := addEndpoint(t, st, "tenant-a", "http://127.0.0.1:9/p", "", "*")
			other := addEndpoint(t, st, "tenant-b", "http://127.0.0.1:9/o", "", "*")
			off := false
			if _, err := st.UpdateEndpoint(context.Background(), "tenant-a", paused.ID(), func(e *webhook.Endpoint) error {
				return e.Apply(webhook.EndpointChanges{Enabled: &off}, time.Now())
			}); err != nil {
				t.Fatal(err)
			}
			notified := 0
			fan := webhook.NewFanout(st, func() { notified++ })
			received := event("tenant-a", "message.received", 1)
			for range 3 { // redelivered by the event log
				if err := fan.Handle(context.Background(), received); err != nil {
					t.Fatal(err)
				}
			}
			for _, env := range []eventlog.Envelope{
				event("tenant-a", "session.status.connected", 2),
				event("tenant-a", "message.sent", 3),
			} {
				if err := fan.Handle(context.Background(), env); err != nil {
					t.Fatal(err)
				}
			}
			count := func(ep *webhook.Endpoint, tenant string) []string {
				var types []string
				for _, d := range deliveries(t, st, tenant, ep.ID()) {
					types = append(types, d.EventType)
				}
				return types
			}
			if got := count(messages, "tenant-a"); len(got) != 1 || got[0] != "message.received" {
				t.Fatalf("message.received endpoint got %v", got)
			}
			if got := count(sessions, "tenant-a"); len(got) != 1 || got[0] != "session.status.connected" {
				t.Fatalf("session.* endpoint got %v", got)
			}
			if got := count(paused, "tenant-a"); len(got) != 0 {
				t.Fatalf("disabled endpoint got %v", got)
			}
			if got := count(other, "tenant-b"); len(got) != 0 {
				t.Fatalf("another tenant's endpoint got %v", got)
			}
			if notified != 2 {
				t.Fatalf("deliverer woken %d times, want 2 (redeliveries add nothing)", notified)
			}
		})
	}
}

func TestEndpointFailingTooLongIsDisabled(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			st := webhook.NewStore(db)
			down := newReceiver(t, always(http.StatusInternalServerError))
			ep := addEndpoint(t, st, "tenant-a", down.URL, "", "message.*")
			cfg := fastRetries()
			cfg.DisableAfter = 150 * time.Millisecond // "a day", for the test
			dl, _ := runDeliverer(t, st, cfg)
			fan := webhook.NewFanout(st, dl.Notify)
			for i := range 3 {
				if err := fan.Handle(context.Background(), event("tenant-a", "message.received", i)); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, 10*time.Second, func() bool {
				e, err := st.Endpoint(context.Background(), "tenant-a", ep.ID())
				return err == nil && !e.Enabled()
			}, "the endpoint to be disabled")
			e, _ := st.Endpoint(context.Background(), "tenant-a", ep.ID())
			if !strings.Contains(e.DisabledReason(), "failed") {
				t.Fatalf("disabled reason %q", e.DisabledReason())
			}
			for _, d := range deliveries(t, st, "tenant-a", ep.ID()) {
				if d.Status != webhook.StatusFailed {
					t.Fatalf("delivery of a disabled endpoint is %s, want failed", d.Status)
				}
			}
			types := outboxTypes(t, db, "tenant-a")
			if len(types) != 1 || types[0] != webhook.EndpointDisabledType {
				t.Fatalf("outbox of tenant-a holds %v, want one %s", types, webhook.EndpointDisabledType)
			}
			var payload webhook.EndpointDisabled
			if err := db.SQL.QueryRow(`SELECT data FROM outbox WHERE tenant_id = $1`, "tenant-a").Scan(new(string)); err != nil {
				t.Fatal(err)
			}
			var raw string
			_ = db.SQL.QueryRow(`SELECT data FROM outbox WHERE tenant_id = $1`, "tenant-a").Scan(&raw)
			if err := json.Unmarshal([]byte(raw), &payload); err != nil || payload.EndpointID != ep.ID() || payload.URL != ep.URL() {
				t.Fatalf("event payload %s: %v", raw, err)
			}
			// Nothing more is sent to it; re-enabling starts afresh.
			n := len(down.requests())
			if err := fan.Handle(context.Background(), event("tenant-a", "message.received", 9)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			if len(down.requests()) != n {
				t.Fatal("a disabled endpoint still receives deliveries")
			}
		})
	}
}
