package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
)

// FanoutSubscriber is the name of the fan-out's subscriber group.
const FanoutSubscriber = "webhook.fanout"

// Fanout turns each domain event into one stored delivery per endpoint of
// its tenant that wants it. It runs as an event-log subscriber; storing is
// idempotent by (endpoint, event), so redelivered events add nothing.
type Fanout struct {
	store    *Store
	enqueued func()
	now      func() time.Time
}

// NewFanout builds the subscriber; enqueued (may be nil) is called after
// deliveries were stored, to wake a Deliverer in this process.
func NewFanout(st *Store, enqueued func()) *Fanout {
	if enqueued == nil {
		enqueued = func() {}
	}
	return &Fanout{store: st, enqueued: enqueued, now: time.Now}
}

// Subscription is the fan-out as an event-log subscription on every domain
// event.
func (f *Fanout) Subscription() eventlog.Subscription {
	return eventlog.Subscription{Name: FanoutSubscriber, Stream: eventlog.DomainEvents, Handler: f.Handle}
}

// Handle stores the deliveries of one event.
func (f *Fanout) Handle(ctx context.Context, env eventlog.Envelope) error {
	if env.TenantID == "" {
		return nil
	}
	endpoints, err := f.store.enabledEndpoints(ctx, env.TenantID)
	if err != nil {
		return err
	}
	var ids []string
	for _, e := range endpoints {
		if e.Wants(env.Type) {
			ids = append(ids, e.ID())
		}
	}
	if len(ids) == 0 {
		return nil
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode event %s for webhooks: %w", env.ID, err)
	}
	n, err := f.store.enqueue(ctx, env, payload, ids, f.now())
	if err != nil {
		return err
	}
	if n > 0 {
		f.enqueued()
	}
	return nil
}
