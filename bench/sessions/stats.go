package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
)

// procStats is a process's footprint after a full GC with memory returned
// to the OS.
type procStats struct {
	RSS        uint64 `json:"rss"`  // resident set size, bytes
	Heap       uint64 `json:"heap"` // live heap, bytes
	Goroutines int    `json:"goroutines"`
}

// measure collects garbage, returns freed memory to the OS and reads the
// process's footprint.
func measure() procStats {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return procStats{RSS: residentBytes(), Heap: ms.HeapAlloc, Goroutines: runtime.NumGoroutine()}
}

// residentBytes is VmRSS from /proc/self/status (0 where there is none).
func residentBytes() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted samples,
// nearest-rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func sortedDurations(ds []time.Duration) []time.Duration {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}

// fakeClient returns the configurer a child applies to every whatsmeow
// client: one shared HTTP client whose connections all dial the fake
// network on loopback, and the fake's certificate root for the Noise
// handshake. TLS to the fake is not verified (it is loopback, and the
// Noise handshake authenticates the server with the root); the Noise
// certificate chain still is.
//
// latency, if positive, delays every write of the clients, like a network
// round trip to WhatsApp: a send is acknowledged about that much later.
func fakeClient(addr, rootHex string, latency time.Duration) func(*whatsmeow.Client) {
	root, err := hex.DecodeString(rootHex)
	if err != nil || len(root) != 32 {
		log.Fatalf("-root: want 32 bytes in hex: %v", err)
	}
	whatsmeow.WACertPubKey = [32]byte(root)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", addr)
		},
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			raw, err := dialer.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			if latency > 0 {
				raw = slowConn{Conn: raw, delay: latency}
			}
			conn := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // loopback fake, see above
			if err := conn.HandshakeContext(ctx); err != nil {
				_ = raw.Close()
				return nil, err
			}
			return conn, nil
		},
	}}
	return func(c *whatsmeow.Client) {
		c.SetPreLoginHTTPClient(hc)
		c.SetWebsocketHTTPClient(hc)
		c.SetMediaHTTPClient(hc)
	}
}

// machine reports the CPU count and total memory.
func machine() (int, string) {
	mem := "?"
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				mem = fmt.Sprintf("%.0f GiB", kb/(1<<20))
			}
		}
	}
	return runtime.NumCPU(), mem
}

func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return runtime.GOARCH
}

// slowConn delays every write.
type slowConn struct {
	net.Conn
	delay time.Duration
}

func (c slowConn) Write(b []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Conn.Write(b)
}
