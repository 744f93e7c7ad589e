package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/internal/wafake"
)

const (
	childWagate = "child-wagate"
	childBare   = "child-bare"
	// contacts is how many fake contacts the sessions write to.
	contacts = 10
)

// result is one run's figures.
type result struct {
	Kind      string        `json:"kind"`
	N         int           `json:"n"`
	Base      procStats     `json:"base"`
	Connected procStats     `json:"connected"`
	Link      time.Duration `json:"link"`
	Latencies []time.Duration
	// Throughput is sends per second with many in flight.
	Throughput float64
}

func (r result) perSession() (rss, heap, goroutines float64) {
	n := float64(r.N)
	return (float64(r.Connected.RSS) - float64(r.Base.RSS)) / n,
		(float64(r.Connected.Heap) - float64(r.Base.Heap)) / n,
		float64(r.Connected.Goroutines-r.Base.Goroutines) / n
}

func (r result) summary() string {
	rss, heap, g := r.perSession()
	l := sortedDurations(r.Latencies)
	return fmt.Sprintf("%.2f MB RSS, %.2f MB heap, %.1f goroutines per session; linked in %s; send p50 %s p99 %s (%d sends); %.0f sends/s",
		rss/1e6, heap/1e6, g, r.Link.Round(time.Millisecond), percentile(l, 50).Round(10*time.Microsecond),
		percentile(l, 99).Round(10*time.Microsecond), len(l), r.Throughput)
}

// fakeHost is the fake WhatsApp network of one run, with the control
// endpoint a bare-clients child uses to have a phone scan a QR code.
type fakeHost struct {
	n        *wafake.Network
	contacts []*wafake.Contact
	srv      *http.Server
	url      string
}

func startFake(cfg runConfig) (*fakeHost, error) {
	n, err := wafake.Start(wafake.Config{ShortPreKeyUpload: cfg.shortPreKeys})
	if err != nil {
		return nil, err
	}
	h := &fakeHost{n: n}
	for i := range contacts {
		h.contacts = append(h.contacts, n.NewContact(fmt.Sprintf("+1999000%04d", i)))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /scan", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Phone, Code string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		jid, err := h.scan(r.Context(), req.Phone, req.Code)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"jid": jid.String()})
	})
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	h.url = "http://" + ln.Addr().String()
	go func() { _ = h.srv.Serve(ln) }()
	// Drain what contacts receive, so their queues do not grow.
	for _, c := range h.contacts {
		go func() {
			for {
				if _, err := c.WaitMessage(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	return h, nil
}

func (h *fakeHost) scan(ctx context.Context, phone, code string) (types.JID, error) {
	return h.n.NewPhone(phone).ScanQR(ctx, code)
}

func (h *fakeHost) close() {
	_ = h.srv.Close()
	h.n.Close()
}

func (h *fakeHost) contactPhones() []string {
	out := make([]string, len(h.contacts))
	for i, c := range h.contacts {
		out[i] = "+" + c.JID().User
	}
	return out
}

// run measures one kind of process with n sessions.
func run(kind string, n int, cfg runConfig) (result, error) {
	fake, err := startFake(cfg)
	if err != nil {
		return result{}, fmt.Errorf("fake network: %w", err)
	}
	defer fake.close()
	dbURL, drop, err := scratchDatabase(cfg.adminURL)
	if err != nil {
		return result{}, err
	}
	defer drop()
	root := hex.EncodeToString(whatsmeow.WACertPubKey[:])
	var res result
	if kind == "bare" {
		res, err = runBare(fake, dbURL, root, n, cfg)
	} else {
		res, err = runWagate(fake, dbURL, root, n, cfg)
	}
	if problems := fake.n.Unhandled(); len(problems) > 0 && err == nil {
		err = fmt.Errorf("the fake network met %d problems, first: %s", len(problems), problems[0])
	}
	return res, err
}

// startChild re-runs this program as a child; its stderr goes to the child
// log (if any) and to onLine, line by line.
func startChild(cfg runConfig, args []string, stdout io.Writer, onLine func(string)) (*exec.Cmd, <-chan error, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout = stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	var logFile io.Writer = io.Discard
	if cfg.childLog != "" {
		f, err := os.OpenFile(cfg.childLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, err
		}
		logFile = f
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	var lines sync.WaitGroup
	lines.Add(1)
	go func() {
		defer lines.Done()
		sc := bufio.NewScanner(io.TeeReader(pr, logFile))
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			if onLine != nil {
				onLine(sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, pr) // an over-long line: keep the child unblocked
	}()
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		_ = pw.Close()
		lines.Wait()
		done <- err
	}()
	return cmd, done, nil
}

// stopChild asks a child to stop (SIGTERM) and waits for it.
func stopChild(cmd *exec.Cmd, done <-chan error) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		return errors.New("child did not stop within 2 minutes; killed")
	}
}

// scratchDatabase creates an empty database on the admin server and returns
// its URL and a function dropping it.
func scratchDatabase(adminURL string) (string, func(), error) {
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "wagate_bench_sessions_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create scratch database on %s: %w", adminURL, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "drop %s: %v\n", name, err)
		}
		admin.Close()
	}, nil
}

// freeAddr returns a free loopback address.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// printTable prints the results, wagate beside bare whatsmeow for each N.
func printTable(w io.Writer, results []result, cfg runConfig) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tprocess\tRSS/session\theap/session\tgoroutines/session\tRSS total\tlink+connect all\tsend p50\tp90\tp99\tsends/s\t")
	for _, r := range results {
		rss, heap, g := r.perSession()
		l := sortedDurations(r.Latencies)
		fmt.Fprintf(tw, "%d\t%s\t%.2f MB\t%.2f MB\t%.1f\t%.0f MB\t%s\t%s\t%s\t%s\t%.0f\t\n",
			r.N, label(r.Kind), rss/1e6, heap/1e6, g, float64(r.Connected.RSS)/1e6,
			r.Link.Round(10*time.Millisecond), fmtLatency(percentile(l, 50)), fmtLatency(percentile(l, 90)), fmtLatency(percentile(l, 99)), r.Throughput)
	}
	_ = tw.Flush()
	prekeys := "812 (as WhatsApp)"
	if cfg.shortPreKeys {
		prekeys = "50 (wafake ShortPreKeyUpload)"
	}
	fmt.Fprintf(w, "\nlinked %d at a time; prekeys uploaded after pairing: %s; one untimed send per session, then latency over %d sends (%d in flight),\nthen throughput over %d sends (%d in flight).\n",
		cfg.parallel, prekeys, cfg.sends, cfg.sendParallel, cfg.burst, cfg.burstParallel)
	if cfg.latency > 0 {
		fmt.Fprintf(w, "every write of the clients delayed by %s (simulated round trip).\n", cfg.latency)
	}
	fmt.Fprintln(w, "bare: send = Client.SendMessage until the server's ack; wagate: POST /sessions/{id}/messages until message.sent on the WebSocket.")
}

func label(kind string) string {
	if kind == "bare" {
		return "bare whatsmeow"
	}
	return "wagate serve"
}

func fmtLatency(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}
