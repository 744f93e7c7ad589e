package eventlog

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Runner runs subscriptions: the embedded log (EmbeddedLog) or Redis
// consumer groups (RedisLog). Run blocks until ctx ends and returns nil then;
// it returns an error at once only when it cannot start (an invalid
// subscription). Storage failures while running are logged and retried.
type Runner interface {
	Run(ctx context.Context, subs ...Subscription) error
}

var (
	_ Runner = (*EmbeddedLog)(nil)
	_ Runner = (*RedisLog)(nil)
)

// validateSubscriptions rejects subscriptions a runner could not run: a
// missing name, stream or handler, or two groups with the same name (they
// would share one cursor or consumer group and each see half the events).
func validateSubscriptions(subs []Subscription) error {
	seen := make(map[string]bool, len(subs))
	for _, s := range subs {
		switch {
		case s.Name == "":
			return fmt.Errorf("eventlog: subscription without a name")
		case s.Stream == "":
			return fmt.Errorf("eventlog: subscription %s has no stream", s.Name)
		case s.Handler == nil:
			return fmt.Errorf("eventlog: subscription %s has no handler", s.Name)
		case seen[s.Name]:
			return fmt.Errorf("eventlog: subscription %s registered twice", s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

// backoff is the wait after the given failed attempt (1-based): exponential
// from base, capped at max, with "equal jitter" (a random point in the upper
// half) so consumers that failed together do not retry together.
func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waker fans one "something changed" signal out to every waiting consumer.
// Each consumer has a channel with room for one token, so signals that arrive
// while it is busy collapse into one read afterwards and none is lost.
type waker struct {
	mu    sync.Mutex
	chans map[chan struct{}]struct{}
}

func newWaker() *waker { return &waker{chans: make(map[chan struct{}]struct{})} }

func (w *waker) subscribe() (ch chan struct{}, cancel func()) {
	ch = make(chan struct{}, 1)
	w.mu.Lock()
	w.chans[ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.chans, ch)
		w.mu.Unlock()
	}
}

func (w *waker) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.chans {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// runAll runs fn for every subscription in its own goroutine and waits.
func runAll(ctx context.Context, subs []Subscription, fn func(ctx context.Context, sub Subscription)) {
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() { fn(ctx, s) })
	}
	wg.Wait()
}

func entryLogger(l *slog.Logger, sub Subscription, env Envelope) *slog.Logger {
	return l.With("subscriber", sub.Name, "eventId", env.ID, "eventType", env.Type)
}
