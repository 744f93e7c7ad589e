package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/wagate/wagate/internal/app"
	"github.com/wagate/wagate/internal/config"
)

// runWagateChild runs `wagate serve` pointed at the fake network, plus
// GET /bench/stats (this process's footprint after a GC), until SIGTERM.
func runWagateChild(args []string) {
	fs := flag.NewFlagSet(childWagate, flag.ExitOnError)
	dbURL := fs.String("db", "", "PostgreSQL database")
	addr := fs.String("addr", "127.0.0.1:8080", "HTTP address")
	fakeAddr := fs.String("fake", "", "fake network address")
	root := fs.String("root", "", "fake certificate root, hex")
	latency := fs.Duration("latency", 0, "delay of every client write")
	_ = fs.Parse(args)
	vars := map[string]string{
		"WAGATE_HTTP_ADDR":    *addr,
		"WAGATE_DATABASE_URL": *dbURL,
		"WAGATE_PUBLIC_URL":   "http://" + *addr,
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		log.Fatal(err)
	}
	// Mail is logged (no SMTP server): the parent follows the verification
	// link from this log, as a newcomer would.
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	a, err := app.NewWithOptions(ctx, app.RoleServe, cfg, logger, app.Options{WhatsmeowClient: fakeClient(*fakeAddr, *root, *latency)})
	if err != nil {
		log.Fatal(err)
	}
	a.HTTP.Mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(measure())
	})
	if err := a.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// wagateAPI drives the child's HTTP API with an API key.
type wagateAPI struct {
	base, key string
	hc        *http.Client
}

func (w *wagateAPI) call(ctx context.Context, method, path string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if w.key != "" {
		req.Header.Set("X-Api-Key", w.key)
	}
	res, err := w.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// runWagate starts the wagate child, signs up through its API, links n
// sessions and sends, measuring the child from outside.
func runWagate(fake *fakeHost, dbURL, root string, n int, cfg runConfig) (result, error) {
	addr, err := freeAddr()
	if err != nil {
		return result{}, err
	}
	tokens := make(chan string, 4)
	cmd, done, err := startChild(cfg, []string{childWagate, "-db", dbURL, "-addr", addr, "-fake", fake.n.Addr(), "-root", root, "-latency", cfg.latency.String()},
		io.Discard, func(line string) {
			var entry struct{ Link string }
			if json.Unmarshal([]byte(line), &entry) == nil && strings.Contains(entry.Link, "token=") {
				if u, err := url.Parse(entry.Link); err == nil {
					tokens <- u.Query().Get("token")
				}
			}
		})
	if err != nil {
		return result{}, err
	}
	res, runErr := driveWagate(fake, "http://"+addr, tokens, n, cfg, done)
	if err := stopChild(cmd, done); err != nil && runErr == nil {
		runErr = fmt.Errorf("wagate child: %w", err)
	}
	return res, runErr
}

func driveWagate(fake *fakeHost, base string, tokens <-chan string, n int, cfg runConfig, done <-chan error) (result, error) {
	ctx := context.Background()
	api := &wagateAPI{base: base, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	if err := waitHealthy(ctx, api, done); err != nil {
		return result{}, err
	}
	key, err := signUp(ctx, api, tokens)
	if err != nil {
		return result{}, fmt.Errorf("sign up: %w", err)
	}
	api.key = key
	ev, err := follow(ctx, base, key)
	if err != nil {
		return result{}, err
	}
	defer ev.close()

	res := result{Kind: "wagate", N: n}
	// Idle keep-alive connections of this client hold goroutines in the
	// child: close them before each measurement.
	api.hc.CloseIdleConnections()
	if err := api.call(ctx, http.MethodGet, "/bench/stats", nil, &res.Base, http.StatusOK); err != nil {
		return res, err
	}
	ids := make([]string, n)
	start := time.Now()
	err = forEach(n, cfg.parallel, func(i int) error {
		var created struct {
			SessionID string `json:"sessionId"`
		}
		if err := api.call(ctx, http.MethodPost, "/sessions", map[string]string{"provider": "whatsmeow"}, &created, http.StatusCreated); err != nil {
			return err
		}
		ids[i] = created.SessionID
		qr, err := ev.waitQR(created.SessionID)
		if err != nil {
			return err
		}
		if _, err := fake.scan(ctx, fmt.Sprintf("+1555%07d", i), qr); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		return ev.waitConnected(created.SessionID)
	})
	if err != nil {
		return res, fmt.Errorf("link: %w", err)
	}
	res.Link = time.Since(start)
	api.hc.CloseIdleConnections()
	if err := api.call(ctx, http.MethodGet, "/bench/stats", nil, &res.Connected, http.StatusOK); err != nil {
		return res, err
	}

	phones := fake.contactPhones()
	send := func(i int) (time.Duration, error) {
		t0 := time.Now()
		var msg struct {
			ID string `json:"id"`
		}
		body := map[string]string{"to": phones[i%len(phones)], "text": fmt.Sprintf("benchmark message %d", i)}
		if err := api.call(ctx, http.MethodPost, "/sessions/"+ids[i%n]+"/messages", body, &msg, http.StatusAccepted); err != nil {
			return 0, err
		}
		if err := ev.waitSent(msg.ID); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	if err := forEach(n, cfg.parallel, func(i int) error { _, err := send(i); return err }); err != nil {
		return res, fmt.Errorf("warm-up send: %w", err)
	}
	var mu sync.Mutex
	err = forEach(cfg.sends, cfg.sendParallel, func(i int) error {
		d, err := send(i)
		mu.Lock()
		res.Latencies = append(res.Latencies, d)
		mu.Unlock()
		return err
	})
	if err != nil {
		return res, err
	}
	start = time.Now()
	if err := forEach(cfg.burst, cfg.burstParallel, func(i int) error { _, err := send(i); return err }); err != nil {
		return res, fmt.Errorf("burst send: %w", err)
	}
	res.Throughput = float64(cfg.burst) / time.Since(start).Seconds()
	return res, nil
}

func waitHealthy(ctx context.Context, api *wagateAPI, done <-chan error) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if api.call(ctx, http.MethodGet, "/healthz", nil, nil, http.StatusOK) == nil {
			return nil
		}
		select {
		case err := <-done:
			return fmt.Errorf("wagate child exited: %v (see -child-log)", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("wagate child did not answer /healthz")
}

// signUp registers a user, follows the verification link wagate logged,
// logs in and creates an API key.
func signUp(ctx context.Context, api *wagateAPI, tokens <-chan string) (string, error) {
	creds := map[string]string{"email": "bench@example.com", "password": "benchmark password 1"}
	if err := api.call(ctx, http.MethodPost, "/auth/register", creds, nil, http.StatusCreated); err != nil {
		return "", err
	}
	var token string
	select {
	case token = <-tokens:
	case <-time.After(time.Minute):
		return "", errors.New("no verification link in wagate's log")
	}
	if err := api.call(ctx, http.MethodPost, "/auth/verify", map[string]string{"token": token}, nil, http.StatusOK); err != nil {
		return "", err
	}
	var login struct {
		AccessToken string `json:"accessToken"`
	}
	if err := api.call(ctx, http.MethodPost, "/auth/login", creds, &login, http.StatusOK); err != nil {
		return "", err
	}
	bearer := &wagateAPI{base: api.base, hc: api.hc}
	var key struct {
		Key string `json:"key"`
	}
	req := func() error {
		b, _ := json.Marshal(map[string]string{"name": "bench"})
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, api.base+"/api-keys", bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+login.AccessToken)
		res, err := bearer.hc.Do(r)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusCreated {
			return fmt.Errorf("POST /api-keys: %d %s", res.StatusCode, raw)
		}
		return json.Unmarshal(raw, &key)
	}
	return key.Key, req()
}

// feed follows the user's WebSocket: QR codes, connections and sent
// messages, by session and message id.
type feed struct {
	mu        sync.Mutex
	qr        map[string]string
	connected map[string]bool
	sent      map[string]bool
	changed   chan struct{}
	err       error
	cancel    context.CancelFunc
}

func follow(ctx context.Context, base, key string) (*feed, error) {
	ctx, cancel := context.WithCancel(ctx)
	q := url.Values{"access_token": {key}, "types": {"session.qr.updated,session.status.*,message.sent"}}
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/sessions?"+q.Encode(), nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open /ws/sessions: %w", err)
	}
	conn.SetReadLimit(1 << 20)
	e := &feed{qr: map[string]string{}, connected: map[string]bool{}, sent: map[string]bool{}, changed: make(chan struct{}), cancel: cancel}
	go func() {
		defer conn.CloseNow()
		for {
			_, data, err := conn.Read(ctx)
			var ev struct {
				Type      string `json:"type"`
				SessionID string `json:"sessionId"`
				Data      struct {
					QR     string `json:"qr"`
					ID     string `json:"id"`
					Reason string `json:"reason"`
				} `json:"data"`
			}
			if err == nil {
				err = json.Unmarshal(data, &ev)
			}
			e.mu.Lock()
			switch {
			case err != nil:
				e.err = fmt.Errorf("WebSocket: %w", err)
			case ev.Type == "session.qr.updated":
				e.qr[ev.SessionID] = ev.Data.QR
			case ev.Type == "session.status.connected":
				e.connected[ev.SessionID] = true
			case ev.Type == "session.status.disconnected":
				e.connected[ev.SessionID] = false
			case ev.Type == "message.sent":
				e.sent[ev.Data.ID] = true
			}
			close(e.changed)
			e.changed = make(chan struct{})
			e.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return e, nil
}

func (e *feed) wait(what string, ok func() bool) error {
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	for {
		e.mu.Lock()
		done, changed, err := ok(), e.changed, e.err
		e.mu.Unlock()
		if done {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("timed out waiting for %s", what)
		}
	}
}

func (e *feed) waitQR(id string) (string, error) {
	var qr string
	err := e.wait("a QR code of session "+id, func() bool { qr = e.qr[id]; return qr != "" })
	return qr, err
}

func (e *feed) waitConnected(id string) error {
	return e.wait("session "+id+" to connect", func() bool { return e.connected[id] })
}

func (e *feed) waitSent(id string) error {
	return e.wait("message.sent for "+id, func() bool { return e.sent[id] })
}

func (e *feed) close() { e.cancel() }
