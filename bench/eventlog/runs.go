package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// system is one event log under test; each run gets a fresh instance on
// fresh storage.
type system interface {
	name() string
	newInstance(ctx context.Context) instance
}

// instance is one system on its own database (and Redis prefix).
type instance interface {
	// publish commits one transaction holding n events whose payload
	// carries the time taken just before the insert.
	publish(ctx context.Context, n int) error
	// store makes n events durable where a new consumer group reads them
	// (the outbox, or the Redis stream after dispatching), untimed.
	store(ctx context.Context, n int)
	// consume starts a consumer group calling onEvent with each event's
	// send time; stop ends it.
	consume(ctx context.Context, group string, onEvent func(sent int64)) (stop func())
}

type latency struct {
	p50, p99, max   time.Duration
	sent, delivered int
}

// runLatency publishes rate events per second for d, one per transaction
// from 8 producer goroutines, and measures commit → handler latency. The
// schedule is open-loop, but latency is measured from the moment a
// producer actually builds the event (a producer that falls behind delays
// the send time, not the figure).
func runLatency(ctx context.Context, s system, rate int, d time.Duration) latency {
	inst := s.newInstance(ctx)
	var mu sync.Mutex
	var lat []time.Duration
	var delivered atomic.Int64
	stop := inst.consume(ctx, "bench.latency", func(sent int64) {
		l := time.Duration(time.Now().UnixNano() - sent)
		mu.Lock()
		lat = append(lat, l)
		mu.Unlock()
		delivered.Add(1)
	})
	defer stop()
	// Warm up: the consumer group exists and has handled one event.
	if err := inst.publish(ctx, 1); err != nil {
		fatal("%s: publish: %v", s.name(), err)
	}
	waitCount(&delivered, 1, 30*time.Second)
	mu.Lock()
	lat = lat[:0]
	mu.Unlock()
	delivered.Store(0)

	total := int(float64(rate) * d.Seconds())
	jobs := make(chan struct{}, total)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range jobs {
				if err := inst.publish(ctx, 1); err != nil {
					fatal("%s: publish: %v", s.name(), err)
				}
			}
		})
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range total {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	waitCount(&delivered, int64(total), 30*time.Second)

	mu.Lock()
	defer mu.Unlock()
	r := latency{sent: total, delivered: int(delivered.Load())}
	if len(lat) == 0 {
		return r
	}
	slices.Sort(lat)
	r.p50 = lat[len(lat)/2]
	r.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	r.max = lat[len(lat)-1]
	return r
}

// runDrain commits a backlog of n events with no consumer running, then
// times the consumers (and the dispatcher, in distributed mode) until every
// event was handled.
func runDrain(ctx context.Context, s system, n int) throughput {
	inst := s.newInstance(ctx)
	publishBacklog(ctx, s, inst, n)
	return timeConsume(ctx, inst, "bench.drain", n)
}

// consumerBench is implemented by every system: a new group reading
// entries already stored where consumers read them.
type consumerBench interface {
	runConsume(ctx context.Context, n int) throughput
}

func runConsumeOnly(ctx context.Context, s system, n int) throughput {
	inst := s.newInstance(ctx)
	inst.store(ctx, n)
	return timeConsume(ctx, inst, "bench.consume", n)
}

func publishBacklog(ctx context.Context, s system, inst instance, n int) {
	for left := n; left > 0; left -= 1000 {
		if err := inst.publish(ctx, min(left, 1000)); err != nil {
			fatal("%s: publish backlog: %v", s.name(), err)
		}
	}
}

func timeConsume(ctx context.Context, inst instance, group string, n int) throughput {
	var count atomic.Int64
	start := time.Now()
	stop := inst.consume(ctx, group, func(int64) { count.Add(1) })
	waitCount(&count, int64(n), 5*time.Minute)
	elapsed := time.Since(start)
	stop()
	return throughput{n: int(count.Load()), elapsed: elapsed}
}

func waitCount(c *atomic.Int64, n int64, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for c.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}
