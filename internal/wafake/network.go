package wafake

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/socket"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// Config configures a fake network. The zero value is usable.
type Config struct {
	// Logger receives the fake's own logs. Nil means no logging.
	Logger waLog.Logger
	// OnUnhandled, if set, is called (from a server goroutine) each time the fake meets a node it
	// cannot answer or a protocol failure; the same text is kept for Network.Unhandled.
	OnUnhandled func(problem string)
	// OnReceive, if set, is called (from a server goroutine) with every node a client sends after
	// the handshake, with the sending device's JID (empty before login). Do not modify node.
	OnReceive func(from types.JID, node *waBinary.Node)
	// OnSend, if set, is called (from a server goroutine) with every node just before it is
	// written to a client, with the receiving device's JID (empty before login).
	OnSend func(to types.JID, node *waBinary.Node)
	// ShortPreKeyUpload makes the fake claim a few prekeys on the server for a device that never
	// uploaded any, so whatsmeow uploads a regular batch of 50 prekeys after pairing instead of
	// its initial 812. Generating and storing 812 prekeys dominates pairing time with SQLite
	// under the race detector; enable it in tests that pair many clients. Only the first count
	// reply is affected.
	ShortPreKeyUpload bool
	// CloseAfterError, if positive, makes the server close the socket that long after a fatal
	// stream error (device removed, stream replaced) or a failed login, like the real server.
	// Zero leaves the socket open until the client closes it: whatsmeow has data races between
	// handling a remote close and a concurrent local Disconnect, so tests that call Disconnect
	// stay deterministic only if the server does not close first. A delay is needed either way,
	// since an immediate close races the client's handling of the error node.
	CloseAfterError time.Duration
}

// Network is a fake WhatsApp server listening on loopback, with its fake users. It is safe for
// concurrent use.
type Network struct {
	cfg       Config
	log       waLog.Logger
	srv       *httptest.Server
	addr      string
	tlsConfig *tls.Config
	static    *keys.KeyPair
	certChain []byte
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	ids       atomic.Uint64

	mu          sync.Mutex
	accounts    map[string]*account // by phone number user
	lidAccounts map[string]*account // by LID user
	refs        map[string]*serverConn
	conns       map[*serverConn]struct{}
	unhandled   []string
	closed      bool
}

// Start starts a fake network on a loopback port. On first use in a process it also replaces
// whatsmeow.WACertPubKey with the public key of a generated test root (see package doc).
func Start(cfg Config) (*Network, error) {
	if cfg.Logger == nil {
		cfg.Logger = waLog.Noop
	}
	root := installRoot()
	n := &Network{
		cfg:         cfg,
		log:         cfg.Logger,
		static:      keys.NewKeyPair(),
		accounts:    make(map[string]*account),
		lidAccounts: make(map[string]*account),
		refs:        make(map[string]*serverConn),
		conns:       make(map[*serverConn]struct{}),
	}
	var err error
	if n.certChain, err = newCertChain(root, *n.static.Pub); err != nil {
		return nil, fmt.Errorf("wafake: build certificate chain: %w", err)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.srv = httptest.NewUnstartedServer(http.HandlerFunc(n.serveHTTP))
	n.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	n.srv.StartTLS()
	n.addr = n.srv.Listener.Addr().String()
	pool := x509.NewCertPool()
	pool.AddCert(n.srv.Certificate())
	// httptest's certificate is issued for example.com; the URL keeps web.whatsapp.com, so the
	// client verifies the certificate against that name instead.
	n.tlsConfig = &tls.Config{RootCAs: pool, ServerName: "example.com", MinVersion: tls.VersionTLS12}
	return n, nil
}

// Addr returns the loopback address (host:port) the fake listens on.
func (n *Network) Addr() string { return n.addr }

// HTTPClient returns a new HTTP client whose connections all reach the fake, whatever the URL
// host, over TLS that trusts the fake's certificate.
func (n *Network) HTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, "tcp", n.addr)
	}
	return &http.Client{Transport: &http.Transport{
		DialContext: dial,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			raw, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			conn := tls.Client(raw, n.tlsConfig.Clone())
			if err = conn.HandshakeContext(ctx); err != nil {
				_ = raw.Close()
				return nil, fmt.Errorf("wafake: tls handshake: %w", err)
			}
			return conn, nil
		},
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 4,
	}}
}

// Configure points a whatsmeow client at this network using only public hooks: its pre-login,
// websocket and media HTTP clients dial the fake. The websocket URL is left unchanged.
func (n *Network) Configure(cli *whatsmeow.Client) {
	cli.SetPreLoginHTTPClient(n.HTTPClient())
	cli.SetWebsocketHTTPClient(n.HTTPClient())
	cli.SetMediaHTTPClient(n.HTTPClient())
}

// Close disconnects every client and stops the server. Clients that still have auto-reconnect
// enabled will keep failing to reconnect, so disconnect them first.
func (n *Network) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	conns := make([]*serverConn, 0, len(n.conns))
	for c := range n.conns {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	n.cancel()
	for _, c := range conns {
		c.closeNow()
	}
	n.srv.Close()
	n.wg.Wait()
}

// Unhandled returns every problem recorded so far: nodes and IQs the fake could not answer,
// nacks and retry receipts from clients, and messages a fake contact failed to decrypt.
func (n *Network) Unhandled() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.unhandled...)
}

// TB is the subset of testing.TB used by RequireNoUnhandled.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// RequireNoUnhandled fails the test with every problem in Unhandled, if any.
func (n *Network) RequireNoUnhandled(t TB) {
	t.Helper()
	for _, p := range n.Unhandled() {
		t.Errorf("wafake: %s", p)
	}
}

// recordUnhandled remembers a problem and reports it to the log and Config.OnUnhandled.
func (n *Network) recordUnhandled(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	n.log.Errorf("%s", msg)
	n.mu.Lock()
	n.unhandled = append(n.unhandled, msg)
	n.mu.Unlock()
	if n.cfg.OnUnhandled != nil {
		n.cfg.OnUnhandled(msg)
	}
}

func (n *Network) nextID() string {
	return "wafake-" + strconv.FormatUint(n.ids.Add(1), 10)
}

func (n *Network) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ws/chat" {
		n.recordUnhandled("HTTP %s %s%s: no fake handler", r.Method, r.Host, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{"web.whatsapp.com"}})
	if err != nil {
		n.log.Warnf("websocket accept failed: %v", err)
		return
	}
	ws.SetReadLimit(2 * socket.FrameMaxSize)
	c := newServerConn(n, ws)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		_ = ws.CloseNow()
		return
	}
	n.conns[c] = struct{}{}
	n.wg.Add(1)
	n.mu.Unlock()
	defer n.wg.Done()
	c.serve()
}

// newLIDUserLocked returns an unused random LID user. The caller holds Network.mu.
func (n *Network) newLIDUserLocked() string {
	for {
		user := strconv.FormatUint(100000000000000+rand.Uint64N(900000000000000), 10)
		if _, taken := n.lidAccounts[user]; !taken {
			return user
		}
	}
}

// newAccount returns the account for a phone number, creating it and its primary device.
func (n *Network) newAccount(number string) *account {
	user := normalizePhone(number)
	n.mu.Lock()
	defer n.mu.Unlock()
	if acct, ok := n.accounts[user]; ok {
		return acct
	}
	acct := &account{
		pn:         types.NewJID(user, types.DefaultUserServer),
		lid:        types.NewJID(n.newLIDUserLocked(), types.HiddenUserServer),
		companions: make(map[uint16]*device),
		nextDevice: 1,
		privacy:    defaultPrivacy(),
	}
	acct.primary = newContact(n, acct)
	n.accounts[user] = acct
	n.lidAccounts[acct.lid.User] = acct
	return acct
}

// NewPhone returns the fake phone (primary device) of a phone number such as "+15550001111",
// creating the account if needed. It panics if number is not a phone number.
func (n *Network) NewPhone(number string) *Phone {
	return &Phone{Contact: n.newAccount(number).primary}
}

// NewContact returns the fake primary device of a phone number, creating the account if needed.
// It panics if number is not a phone number.
func (n *Network) NewContact(number string) *Contact {
	return n.newAccount(number).primary
}
