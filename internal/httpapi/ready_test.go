package httpapi_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

// tcpProxy forwards a local port to a server. Closing it drops the listener
// and every connection, exactly what the application sees when its
// database host goes away; reopening listens on the same port again.
type tcpProxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.open(t)
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) open(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy listen on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go p.accept(ln)
}

func (p *tcpProxy) accept(ln net.Listener) {
	for {
		client, err := ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln { // closed meanwhile
			p.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go pipe(client, server)
		go pipe(server, client)
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (p *tcpProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

// TestReadyzFollowsTheDatabase wires a real PostgreSQL store behind a proxy
// the way the app does (AddCheck("database", db.Ping)): the probe is 200,
// turns 503 naming the database when it goes away, and 200 again when it
// returns — without restarting anything.
func TestReadyzFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	direct, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, direct.Host)
	viaProxy := *direct
	viaProxy.Host = proxy.addr
	q := viaProxy.Query()
	q.Set("connect_timeout", "2")
	viaProxy.RawQuery = q.Encode()

	db, err := store.Open(context.Background(), viaProxy.String())
	if err != nil {
		t.Fatalf("open through proxy: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	s := newServer(t, httpapi.Config{}, func(s *httpapi.Server) { s.AddCheck("database", db.Ping) })

	status := func() int { return get(t, s.URL+"/readyz").Status }
	if got := status(); got != http.StatusOK {
		t.Fatalf("readyz with the database up: %d", got)
	}

	proxy.close()
	eventually(t, "readyz to report the database gone", func() bool { return status() == http.StatusServiceUnavailable })
	p := assertProblem(t, get(t, s.URL+"/readyz"), http.StatusServiceUnavailable, "not-ready")
	if checks := p["checks"].(map[string]any); checks["database"] != "unavailable" {
		t.Errorf("checks %v", checks)
	}
	if r := get(t, s.URL+"/healthz"); r.Status != http.StatusOK {
		t.Errorf("liveness must not depend on the database: %d", r.Status)
	}

	proxy.open(t)
	eventually(t, "readyz to recover", func() bool { return status() == http.StatusOK })
	// The pool reconnected: real queries work again too.
	var one int
	if err := db.SQL.QueryRowContext(context.Background(), `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Errorf("query after recovery: %v", err)
	}
}
