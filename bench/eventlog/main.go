// Command eventlog benchmarks wagate's event log and prints its figures next
// to raw baselines and Watermill, all measured in the same run on the same
// servers. It is a program, not a test: figures are printed, never asserted.
//
//	cd bench && go run ./eventlog [-events 100000] [-duration 5s]
//
// It needs PostgreSQL (WAGATE_BENCH_DATABASE_URL, default the local test
// server) and Redis (WAGATE_BENCH_REDIS_URL); it creates and drops its own
// databases and keys.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	events := flag.Int("events", 100_000, "backlog size for the drain and throughput runs")
	duration := flag.Duration("duration", 5*time.Second, "length of each fixed-rate latency run")
	only := flag.String("only", "", "run only the systems whose name contains this")
	flag.Parse()

	env := newEnv()
	defer env.close()
	ctx := context.Background()

	fmt.Printf("wagate event-log benchmark — %s, %d CPUs (GOMAXPROCS %d), %s/%s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("PostgreSQL %s, Redis %s\n\n", env.pgVersion(ctx), env.redisVersion(ctx))

	systems := []system{
		newWagate(env, modeEmbeddedSQLite),
		newWagate(env, modeEmbeddedPostgres),
		newWagate(env, modeDistributed),
		newWatermill(env),
	}
	systems = slices.DeleteFunc(systems, func(s system) bool { return !strings.Contains(s.name(), *only) })

	fmt.Println("## commit → handler latency at a fixed rate (one event per transaction)")
	fmt.Printf("%-44s %8s %10s %10s %10s %12s\n", "system", "rate/s", "p50", "p99", "max", "delivered")
	for _, rate := range []int{500, 2000} {
		for _, s := range systems {
			r := runLatency(ctx, s, rate, *duration)
			fmt.Printf("%-44s %8d %10s %10s %10s %12s\n", s.name(), rate, ms(r.p50), ms(r.p99), ms(r.max),
				fmt.Sprintf("%d/%d", r.delivered, r.sent))
		}
	}

	fmt.Printf("\n## backlog drain: %d events committed first, then the consumers start\n", *events)
	fmt.Printf("%-44s %14s %12s\n", "system", "events/s", "time")
	for _, s := range systems {
		r := runDrain(ctx, s, *events)
		fmt.Printf("%-44s %14s %12s\n", s.name(), rate(r.n, r.elapsed), r.elapsed.Round(time.Millisecond))
	}

	fmt.Printf("\n## consumer throughput: a new subscriber group reads %d stored entries\n", *events)
	fmt.Printf("%-44s %14s %12s\n", "system", "events/s", "time")
	for _, s := range systems {
		c, ok := s.(consumerBench)
		if !ok {
			continue
		}
		r := c.runConsume(ctx, *events)
		fmt.Printf("%-44s %14s %12s\n", s.name(), rate(r.n, r.elapsed), r.elapsed.Round(time.Millisecond))
	}

	fmt.Println("\n## raw baselines")
	fmt.Printf("%-58s %14s %12s\n", "operation", "ops/s", "time")
	for _, b := range rawBaselines(env, *events) {
		r := b.run(ctx)
		fmt.Printf("%-58s %14s %12s\n", b.name, rate(r.n, r.elapsed), r.elapsed.Round(time.Millisecond))
	}
}

type throughput struct {
	n       int
	elapsed time.Duration
}

func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds())
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}
