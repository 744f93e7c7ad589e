// Command sessions measures what a connected WhatsApp session costs in
// wagate's session worker, beside the same figures for bare whatsmeow
// clients measured in the same run: N real whatsmeow clients are linked by
// QR and connected to wafake, a fake WhatsApp server on loopback, then
// messages are sent.
//
// For each N it reports resident memory and goroutines per connected
// session (the growth over the process's own baseline, after a GC, divided
// by N), the time to link and connect all N (QR shown → phone scans →
// logged in, linkers in parallel), send latency p50/p90/p99 (one send in
// flight) and send throughput (many in flight): for wagate,
// POST /sessions/{id}/messages until message.sent arrives on the
// WebSocket; for bare clients, Client.SendMessage until the server's ack.
//
// The measured code runs in a child process of its own — `wagate serve`
// (app.NewWithOptions, role serve, PostgreSQL with the embedded event log)
// or a process holding the bare clients — so the fake network, its fake
// phones and contacts (run by this parent process) are not counted.
// Both children store devices in a scratch PostgreSQL database of their
// own, dropped afterwards.
//
//	cd bench && go run ./sessions -n 10,100,500
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case childWagate:
			runWagateChild(os.Args[2:])
			return
		case childBare:
			runBareChild(os.Args[2:])
			return
		}
	}
	sizes := flag.String("n", "10,100,500", "comma-separated session counts")
	parallel := flag.Int("parallel", 16, "sessions linked at once")
	sends := flag.Int("sends", 200, "timed sends per run for latency (after one untimed send per session)")
	sendParallel := flag.Int("send-parallel", 1, "sends in flight at once while measuring latency")
	burst := flag.Int("burst", 500, "sends per run for throughput")
	burstParallel := flag.Int("burst-parallel", 32, "sends in flight at once while measuring throughput")
	shortPreKeys := flag.Bool("short-prekeys", true, "let clients upload 50 prekeys after pairing instead of 812 (wafake.Config.ShortPreKeyUpload)")
	latency := flag.Duration("latency", 0, "delay every write of the clients by this much, like a round trip to WhatsApp")
	only := flag.String("only", "", "run only \"wagate\" or \"bare\"")
	childLog := flag.String("child-log", "", "append the children's logs to this file")
	flag.Parse()

	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("-n: %q is not a positive number", s)
		}
		ns = append(ns, n)
	}
	cfg := runConfig{
		parallel:      *parallel,
		sends:         *sends,
		sendParallel:  *sendParallel,
		burst:         *burst,
		burstParallel: *burstParallel,
		latency:       *latency,
		shortPreKeys:  *shortPreKeys,
		childLog:      *childLog,
		adminURL:      getenv("WAGATE_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
	}
	printMachine()
	var results []result
	for _, n := range ns {
		for _, kind := range []string{"bare", "wagate"} {
			if *only != "" && *only != kind {
				continue
			}
			log.Printf("running %s with %d sessions…", kind, n)
			res, err := run(kind, n, cfg)
			if err != nil {
				log.Fatalf("%s, %d sessions: %v", kind, n, err)
			}
			log.Printf("  %s", res.summary())
			results = append(results, res)
		}
	}
	printTable(os.Stdout, results, cfg)
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// runConfig is what every run of the parent shares.
type runConfig struct {
	parallel, sends, sendParallel int
	burst, burstParallel          int
	latency                       time.Duration
	shortPreKeys                  bool
	childLog                      string
	adminURL                      string
}

func printMachine() {
	cpus, mem := machine()
	fmt.Printf("machine: %s, %d CPUs, %s RAM\n\n", cpuModel(), cpus, mem)
}
