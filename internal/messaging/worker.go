package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
)

// Subscription names of the session worker's messaging groups.
const (
	CommandsSubscription  = "messaging.commands"
	ReconnectSubscription = "messaging.reconnect"
)

// EventSessionConnected is the session context's event that wakes parked
// sends (wire name from the architecture brief).
const EventSessionConnected = "session.status.connected"

// WorkerConfig configures the session worker's messaging part.
type WorkerConfig struct {
	// SendTimeout is how long an accepted message may wait for its session
	// to connect before it fails with session_not_connected
	// (WAGATE_SEND_TIMEOUT, default 5m).
	SendTimeout time.Duration
	// MaxMediaBytes bounds media fetched from URLs and downloaded from
	// WhatsApp (WAGATE_MAX_MEDIA_BYTES).
	MaxMediaBytes int64
	// AllowPrivateMediaURLs lets outgoing media URLs point at loopback and
	// private addresses (tests, trusted networks).
	AllowPrivateMediaURLs bool
	// CallTimeout bounds one provider call and one URL fetch (default 60s).
	CallTimeout time.Duration
	// ScanInterval is how often parked and orphaned sends are looked for
	// (default 1s).
	ScanInterval time.Duration
	// Concurrency bounds the sessions the periodic scan drains at once
	// (default 8).
	Concurrency int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *WorkerConfig) setDefaults() {
	if c.SendTimeout <= 0 {
		c.SendTimeout = 5 * time.Minute
	}
	if c.MaxMediaBytes <= 0 {
		c.MaxMediaBytes = 16 << 20
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 60 * time.Second
	}
	if c.ScanInterval <= 0 {
		c.ScanInterval = time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// lease is how long a claim protects a message being sent: a media fetch
// plus a provider call, with room to record the result.
func (c WorkerConfig) lease() time.Duration { return 2*c.CallTimeout + 30*time.Second }

// Worker executes messaging commands in the session-worker role: it sends
// messages through the Sender, parks those whose session is not connected,
// sends read receipts and downloads media. Run drives the periodic scan.
type Worker struct {
	cfg     WorkerConfig
	store   *Store
	sender  Sender
	fetcher *mediaFetcher
	logger  *slog.Logger
	metrics *Metrics

	// locks serialises drains of one session inside this process, so its
	// messages go out in order.
	locks sync.Map // "tenant|session" → *sync.Mutex
	// unrecorded keeps results the provider returned but the database did
	// not take yet, so a retry records them instead of sending again.
	unrecorded sync.Map // message id → wa.SendResult
	kicks      chan sessionRef
}

// NewWorker returns a Worker; metrics may be nil.
func NewWorker(cfg WorkerConfig, s *Store, sender Sender, logger *slog.Logger, metrics *Metrics) (*Worker, error) {
	cfg.setDefaults()
	if s == nil || sender == nil || logger == nil {
		return nil, errors.New("messaging worker needs a store, a sender and a logger")
	}
	return &Worker{
		cfg:     cfg,
		store:   s,
		sender:  sender,
		fetcher: newMediaFetcher(cfg.AllowPrivateMediaURLs, cfg.CallTimeout, cfg.MaxMediaBytes),
		logger:  logger,
		metrics: metrics,
		kicks:   make(chan sessionRef, 256),
	}, nil
}

// Subscriptions are the worker's groups: its commands on session-commands,
// and session.status.connected on domain-events to wake parked sends.
func (w *Worker) Subscriptions() []eventlog.Subscription {
	return []eventlog.Subscription{
		{
			Name:    CommandsSubscription,
			Stream:  eventlog.SessionCommands,
			Types:   []string{CommandSendMessage, CommandMarkRead, CommandDownloadMedia},
			Handler: w.HandleCommand,
		},
		{
			Name:    ReconnectSubscription,
			Stream:  eventlog.DomainEvents,
			Types:   []string{EventSessionConnected},
			Handler: w.HandleConnected,
		},
	}
}

// HandleCommand executes one messaging command. It returns an error only
// when the command must be retried (database trouble).
func (w *Worker) HandleCommand(ctx context.Context, env eventlog.Envelope) error {
	ctx = env.Context(ctx)
	switch env.Type {
	case CommandSendMessage:
		var cmd SendMessageCommand
		if err := env.Decode(&cmd); err != nil {
			return err
		}
		return w.Drain(ctx, env.TenantID, env.SessionID)
	case CommandMarkRead:
		var cmd MarkReadCommand
		if err := env.Decode(&cmd); err != nil {
			return err
		}
		return w.markRead(ctx, env, cmd)
	case CommandDownloadMedia:
		var cmd DownloadMediaCommand
		if err := env.Decode(&cmd); err != nil {
			return err
		}
		return w.download(ctx, env.TenantID, env.SessionID, cmd.ID)
	}
	return nil
}

// HandleConnected wakes the parked sends of a session that just connected.
// It never blocks: the periodic scan catches anything a full queue drops.
func (w *Worker) HandleConnected(_ context.Context, env eventlog.Envelope) error {
	if env.TenantID == "" || env.SessionID == "" {
		return nil
	}
	select {
	case w.kicks <- sessionRef{tenantID: env.TenantID, sessionID: env.SessionID}:
	default:
	}
	return nil
}

// Run expires sends that waited too long and drains sessions with parked
// or orphaned sends, every ScanInterval and whenever a session connects,
// until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	ticker := time.NewTicker(w.cfg.ScanInterval)
	defer ticker.Stop()
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	drainAsync := func(ref sessionRef) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := w.tryDrain(ctx, ref.tenantID, ref.sessionID); err != nil && ctx.Err() == nil {
				w.logger.WarnContext(ctx, "drain session sends", "sessionId", ref.sessionID, "error", err)
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ref := <-w.kicks:
			drainAsync(ref)
		case <-ticker.C:
			refs, err := w.Scan(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				w.logger.WarnContext(ctx, "scan unsent messages", "error", err)
				continue
			}
			for _, ref := range refs {
				drainAsync(ref)
			}
		}
	}
}

// Scan fails messages whose send timeout passed while waiting and returns
// the sessions with sends due (parked past their retry time, or claimed by
// a worker whose lease lapsed) that this worker runs. Run calls it; tests
// call it directly with a controlled clock.
func (w *Worker) Scan(ctx context.Context) ([]sessionRef, error) {
	expired, err := w.store.expiredWaiting(ctx, w.cfg.Now().Add(-w.cfg.SendTimeout), 100)
	if err != nil {
		return nil, err
	}
	for _, e := range expired {
		done, err := w.store.recordFailed(ctx, e.tenantID, e.id, e.reason, "send timeout passed", sendWaiting)
		if err != nil {
			return nil, err
		}
		if done {
			w.metrics.sent(string(e.reason))
		}
	}
	refs, err := w.store.dueSessions(ctx, 1000)
	if err != nil {
		return nil, err
	}
	if local, ok := w.sender.(localSessions); ok {
		running := map[string]bool{}
		for _, id := range local.Running() {
			running[id] = true
		}
		mine := refs[:0]
		for _, r := range refs {
			if running[r.sessionID] {
				mine = append(mine, r)
			}
		}
		refs = mine
	}
	return refs, nil
}

func (w *Worker) sessionLock(tenantID, sessionID string) *sync.Mutex {
	l, _ := w.locks.LoadOrStore(tenantID+"|"+sessionID, &sync.Mutex{})
	return l.(*sync.Mutex)
}

// tryDrain drains unless this process is already draining the session.
func (w *Worker) tryDrain(ctx context.Context, tenantID, sessionID string) error {
	l := w.sessionLock(tenantID, sessionID)
	if !l.TryLock() {
		return nil
	}
	defer l.Unlock()
	return w.drainLocked(ctx, tenantID, sessionID)
}

// Drain sends a session's unsent messages oldest first, until none is left,
// the session turns out not connected (they are parked), or another worker
// holds the oldest one.
func (w *Worker) Drain(ctx context.Context, tenantID, sessionID string) error {
	l := w.sessionLock(tenantID, sessionID)
	l.Lock()
	defer l.Unlock()
	return w.drainLocked(ctx, tenantID, sessionID)
}

func (w *Worker) drainLocked(ctx context.Context, tenantID, sessionID string) error {
	// Each pass finishes or parks one message, or returns; the bound only
	// guards against a bug turning this into a busy loop.
	for range 10_000 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		id, state, claimUntil, ok, err := w.store.nextUnsent(ctx, tenantID, sessionID)
		if err != nil || !ok {
			return err
		}
		if v, ok := w.unrecorded.Load(id); ok {
			if err := w.recordSent(ctx, id, v.(pendingResult)); err != nil {
				return err
			}
			continue
		}
		if state == sendSending && claimUntil >= w.cfg.Now().UnixMilli() {
			return nil // another worker is sending it; it carries on after
		}
		job, ok, err := w.store.claim(ctx, tenantID, id, w.cfg.Now().Add(w.cfg.lease()))
		if err != nil {
			return err
		}
		if !ok {
			continue // raced with another worker; look again
		}
		parked, err := w.send(ctx, job)
		if err != nil || parked {
			return err
		}
	}
	return fmt.Errorf("drain session %s: too many messages in one pass", sessionID)
}

// isPermanent reports whether a provider error will not go away by
// retrying: the provider classified it as a bad request.
func isPermanent(err error) bool {
	switch apperr.KindOf(err) {
	case apperr.KindInvalid, apperr.KindNotFound, apperr.KindUnprocessable, apperr.KindForbidden, apperr.KindTooLarge:
		return true
	}
	return false
}

// retryDelay spaces attempts of a session that is down or erring: quick at
// first (the session may be reconnecting right now), at most 5 seconds so a
// reconnect seen by another worker is noticed soon.
func retryDelay(attempts int) time.Duration {
	d := 500 * time.Millisecond << min(max(attempts-1, 0), 4)
	return min(d, 5*time.Second)
}
