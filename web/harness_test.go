package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-smtp"

	"github.com/wagate/wagate/internal/app"
	"github.com/wagate/wagate/internal/config"
	"github.com/wagate/wagate/internal/testenv"
)

var screenshots = flag.Bool("screenshots", false, "write screenshots of the main screens to docs/img")

// chromiumPath finds Debian's chromium; without it the browser tests skip
// locally and fail under CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WAGATE_TEST_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Unavailable(t, "chromium (apt-get install chromium)", err)
	}
	return p
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if chrome.cancel != nil {
		chrome.cancel()
	}
	os.Exit(code)
}

// chrome is one headless Chromium shared by the package's tests, started on
// first use; each test gets its own tab in its own browser context (an
// incognito-like profile), so storage never leaks between tests.
var chrome struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

func startChrome(path string) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
		// No D-Bus in containers: without this Chromium waits for it.
		chromedp.Env("DBUS_SESSION_BUS_ADDRESS=disabled:"),
	}
	dir, err := os.MkdirTemp("", "wagate-chromium-")
	if err != nil {
		chrome.err = err
		return
	}
	opts = append(opts, chromedp.UserDataDir(dir))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	chrome.ctx = ctx
	chrome.cancel = func() {
		cancel()
		cancelAlloc()
		_ = os.RemoveAll(dir)
	}
	// The first Run starts the browser; its context must not time out.
	chrome.err = chromedp.Do(ctx)
}

// browser is one tab.
type browser struct {
	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// newTab opens a tab with a viewport of the given size. Uncaught page
// exceptions fail the test at cleanup.
func newTab(t *testing.T, width, height int) *browser {
	t.Helper()
	path := chromiumPath(t)
	chrome.once.Do(func() { startChrome(path) })
	if chrome.err != nil {
		testenv.Unavailable(t, "a working chromium", chrome.err)
	}
	ctx, cancel := chromedp.NewContext(chrome.ctx, chromedp.WithNewBrowserContext())
	b := &browser{ctx: ctx}
	messages := chromedp.Console(ctx)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		cancel()
		t.Fatalf("open a tab: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.console {
			if m.IsException() {
				t.Errorf("page exception: %s (%s:%d)", m.Text, m.URL, m.Line)
			} else if t.Failed() {
				t.Logf("console %s", m)
			}
		}
	})
	return b
}

// run runs browser actions with a deadline, failing the test with step's
// name on error.
func (b *browser) run(t *testing.T, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v\n%s", step, err, b.dump())
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v\n%s", expr, err, b.dump())
	}
	return v
}

// waitFor polls a JavaScript predicate until it is truthy.
func (b *browser) waitFor(t *testing.T, what, predicate string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s (%s): %v\n%s", what, predicate, err, b.dump())
	}
}

// dump is the visible text of the page, for failure messages.
func (b *browser) dump() string {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + (document.body ? document.body.innerText : "")`))
	if err != nil {
		return "(page text unavailable: " + err.Error() + ")"
	}
	return "page:\n" + text
}

// screenshot writes docs/img/<name>.png when -screenshots is set.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	if !*screenshots {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	// Toasts are transient; keep them out of the documentation.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("toasts").replaceChildren() === undefined`)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "img", name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// startWagate runs a real `wagate serve` (SQLite in a temp dir, simulator
// on) and returns its base URL and its log. env adds or overrides WAGATE_* variables;
// the process environment is not read, so a developer's settings cannot
// leak in.
func startWagate(t *testing.T, env map[string]string) (string, *syncBuffer) {
	t.Helper()
	addr := freeAddr(t)
	dir := t.TempDir()
	vars := map[string]string{
		"WAGATE_HTTP_ADDR":             addr,
		"WAGATE_PUBLIC_URL":            "http://" + addr,
		"WAGATE_DATABASE_URL":          filepath.Join(dir, "wagate.db"),
		"WAGATE_MEDIA_DIR":             filepath.Join(dir, "media"),
		"WAGATE_SIMULATOR":             "true",
		"WAGATE_WEBHOOK_ALLOW_PRIVATE": "true",
		"WAGATE_SHUTDOWN_TIMEOUT":      "5s",
		"WAGATE_LOG_LEVEL":             "info",
		"WAGATE_STREAM_MAXLEN":         "10000",
		"WAGATE_SEND_TIMEOUT":          "30s",
		"WAGATE_MAIL_FROM":             "wagate <no-reply@wagate.test>",
		"WAGATE_LOG_FORMAT":            "text",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.RoleServe, cfg, logger)
	if err != nil {
		cancel()
		t.Fatalf("start wagate: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("wagate stopped with %v", err)
		}
		if t.Failed() {
			t.Logf("wagate log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base, logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("wagate did not answer /healthz: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// mailbox is a real SMTP server (go-smtp) that keeps what it receives.
type mailbox struct {
	URL  string
	msgs chan []byte
}

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{msgs: make(chan []byte, 16)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{box: mb}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	mb.URL = "smtp://" + ln.Addr().String()
	return mb
}

type mailSession struct{ box *mailbox }

func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.box.msgs <- b
	return nil
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+token=[^\s"<>]+`)

// link waits for a mail to `to` and returns the first link in it that
// carries a token.
func (mb *mailbox) link(t *testing.T, to string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case raw := <-mb.msgs:
			m, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("bad mail: %v", err)
			}
			if !strings.Contains(m.Header.Get("To"), to) {
				continue
			}
			text, err := mailText(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
			if err != nil {
				t.Fatalf("read mail: %v", err)
			}
			if l := linkRE.FindString(text); l != "" {
				return strings.ReplaceAll(l, "&amp;", "&")
			}
			t.Fatalf("mail to %s has no token link:\n%s", to, text)
		case <-timeout:
			t.Fatalf("no mail to %s within 20s", to)
		}
	}
}

// mailText decodes a (possibly multipart) body into its text parts.
func mailText(contentType, encoding string, body io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		var all strings.Builder
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return all.String(), nil
			}
			if err != nil {
				return "", err
			}
			s, err := mailText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			if err != nil {
				return "", err
			}
			all.WriteString(s + "\n")
		}
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	return string(b), err
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
