package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DelivererConfig tunes the delivery loop; zero fields get the documented
// defaults.
type DelivererConfig struct {
	// Workers is how many attempts run at once. Default 8.
	Workers int
	// PollInterval is how often due deliveries are looked for when nothing
	// woke the loop (retries coming due, deliveries enqueued by another
	// process). Default 1s.
	PollInterval time.Duration
	// Timeout bounds one attempt: connect, send, response headers and the
	// (capped) body. Default 10s.
	Timeout time.Duration
	// BaseBackoff is the wait before the first retry; each retry doubles
	// it (±20% jitter) up to MaxBackoff. Defaults 1s and 1h.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// RetryFor is how long after its event a delivery is still retried.
	// Default 24h.
	RetryFor time.Duration
	// DisableAfter disables an endpoint whose every attempt has failed for
	// this long. Default 24h.
	DisableAfter time.Duration
	// MaxResponseBytes is how much of a response body is read. Default 4 KiB.
	MaxResponseBytes int64
	// Retention is how long finished deliveries stay listable. Default 7 days.
	Retention time.Duration
	// Guard refuses connections to internal addresses.
	Guard Guard
}

func (c *DelivererConfig) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	def(&c.PollInterval, time.Second)
	def(&c.Timeout, 10*time.Second)
	def(&c.BaseBackoff, time.Second)
	def(&c.MaxBackoff, time.Hour)
	def(&c.RetryFor, 24*time.Hour)
	def(&c.DisableAfter, 24*time.Hour)
	def(&c.Retention, 7*24*time.Hour)
	if c.MaxBackoff < c.BaseBackoff {
		c.MaxBackoff = c.BaseBackoff
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 4 << 10
	}
}

// Deliverer POSTs due deliveries, records every outcome in the database and
// schedules retries there, so a restart loses nothing. Several deliverers
// may run against one PostgreSQL database.
type Deliverer struct {
	cfg     DelivererConfig
	store   *Store
	client  *http.Client
	logger  *slog.Logger
	wake    chan struct{}
	now     func() time.Time
	results *prometheus.CounterVec
	disable prometheus.Counter
}

// NewDeliverer builds the loop and registers its metrics on reg.
func NewDeliverer(cfg DelivererConfig, st *Store, logger *slog.Logger, reg prometheus.Registerer) (*Deliverer, error) {
	cfg.setDefaults()
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second, Control: cfg.Guard.control}
	transport := &http.Transport{
		// No proxy: a proxy would connect on our behalf, past the guard.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	d := &Deliverer{
		cfg:   cfg,
		store: st,
		client: &http.Client{
			Transport: transport,
			// A redirect is answered as a failure: following it could lead
			// anywhere, and receivers should register their final URL.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		logger: logger,
		wake:   make(chan struct{}, 1),
		now:    time.Now,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wagate_webhook_attempts_total",
			Help: "Webhook delivery attempts by result: succeeded, retry (will be tried again) or failed (given up).",
		}, []string{"result"}),
		disable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wagate_webhook_endpoints_disabled_total",
			Help: "Webhook endpoints disabled after failing for DisableAfter.",
		}),
	}
	for _, c := range []prometheus.Collector{d.results, d.disable} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Notify wakes the loop: deliveries were just enqueued.
func (d *Deliverer) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for attempts in flight; those cut
// short are handed back so the next run retries them at once.
func (d *Deliverer) Run(ctx context.Context) error {
	slots := make(chan struct{}, d.cfg.Workers)
	freed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	poll := time.NewTicker(d.cfg.PollInterval)
	defer poll.Stop()
	var lastPrune time.Time

	for {
		if free := cap(slots) - len(slots); free > 0 {
			now := d.now()
			batch, err := d.store.claim(ctx, now, free, now.Add(d.cfg.Timeout+30*time.Second))
			if err != nil && ctx.Err() == nil {
				d.logger.Warn("webhook: claim due deliveries failed", "error", err.Error())
			}
			for _, c := range batch {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() {
						<-slots
						select {
						case freed <- struct{}{}:
						default:
						}
					}()
					d.attempt(ctx, c)
				})
			}
		}
		if now := d.now(); now.Sub(lastPrune) > time.Hour {
			lastPrune = now
			if n, err := d.store.prune(ctx, now.Add(-d.cfg.Retention), 5000); err != nil && ctx.Err() == nil {
				d.logger.Warn("webhook: prune deliveries failed", "error", err.Error())
			} else if n > 0 {
				d.logger.Info("webhook: pruned finished deliveries", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.wake:
		case <-freed:
		case <-poll.C:
		}
	}
}

// attempt makes one POST and records its outcome.
func (d *Deliverer) attempt(ctx context.Context, c claimed) {
	log := d.logger.With("deliveryId", c.id, "endpointId", c.endpointID, "eventId", c.eventID,
		"eventType", c.eventType, "attempt", c.attempts+1)
	code, retryAfter, err := d.post(ctx, c)
	now := d.now()
	// Recording must outlive a shutdown that cut the attempt short.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ctx.Err() != nil {
		if rerr := d.store.release(rctx, c, now); rerr != nil {
			log.Warn("webhook: release delivery failed; it is retried when its claim expires", "error", rerr.Error())
		}
		return
	}
	if err == nil && code >= 200 && code < 300 {
		if err := d.store.succeed(rctx, c, code, now); err != nil {
			log.Error("webhook: record delivery failed; it will be sent again", "error", err.Error())
			return
		}
		d.results.WithLabelValues("succeeded").Inc()
		log.Debug("webhook delivered", "status", code)
		return
	}
	f := failure{code: code, message: describe(code, err)}
	if retryable(code, err) {
		f.next = d.nextAttempt(c, now, retryAfter)
	}
	disabled, rerr := d.store.fail(rctx, c, f, now, d.cfg.DisableAfter)
	if rerr != nil {
		log.Error("webhook: record failed attempt failed; it will be retried when its claim expires", "error", rerr.Error())
		return
	}
	result := "retry"
	if f.next.IsZero() {
		result = "failed"
	}
	d.results.WithLabelValues(result).Inc()
	log.Info("webhook attempt failed", "status", code, "error", f.message, "result", result, "nextAttemptAt", f.next)
	if disabled {
		d.disable.Inc()
		log.Warn("webhook endpoint disabled after failing for too long", "disableAfter", d.cfg.DisableAfter.String())
	}
}

// post sends the delivery. It returns the response status (0 without a
// response) and the Retry-After the receiver asked for.
func (d *Deliverer) post(ctx context.Context, c claimed) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(c.payload))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %v", errBadURL, err)
	}
	signHeaders(req.Header, c.secret, c.eventID, c.eventType, d.now(), c.payload)
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may carry credentials
		}
		return 0, 0, err
	}
	defer resp.Body.Close()
	// Read a little so the connection can be reused; never more.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, d.cfg.MaxResponseBytes))
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After")), nil
}

var errBadURL = errors.New("invalid webhook url")

// retryable reports whether a failed attempt is worth repeating: server
// errors, rate limits, timeouts and connection failures are; other client
// errors, redirects and refused internal addresses are not.
func retryable(code int, err error) bool {
	if err != nil {
		return !errors.Is(err, errForbiddenAddress) && !errors.Is(err, errBadURL)
	}
	return code >= 500 || code == http.StatusTooManyRequests
}

// describe is the last_error of a failed attempt, safe to show the tenant.
func describe(code int, err error) string {
	switch {
	case err == nil && code >= 300 && code < 400:
		return fmt.Sprintf("HTTP %d: redirects are not followed; register the final URL", code)
	case err == nil:
		return fmt.Sprintf("HTTP %d", code)
	case errors.Is(err, errForbiddenAddress):
		return "refused: the URL resolves to an internal address"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timed out"
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return strings.ToValidUTF8(msg, "?")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// nextAttempt schedules a retry: exponential from BaseBackoff with ±20%
// jitter, at least what Retry-After asked (within MaxBackoff), and never
// past RetryFor after the delivery was created — the last attempt lands on
// that deadline. Zero means the delivery is given up.
func (d *Deliverer) nextAttempt(c claimed, now time.Time, retryAfter time.Duration) time.Time {
	deadline := c.createdAt.Add(d.cfg.RetryFor)
	if !now.Before(deadline) {
		return time.Time{}
	}
	wait := d.cfg.BaseBackoff
	for i := 0; i < c.attempts && wait < d.cfg.MaxBackoff; i++ {
		wait *= 2
	}
	wait = min(wait, d.cfg.MaxBackoff)
	wait = time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
	if retryAfter > wait {
		wait = min(retryAfter, d.cfg.MaxBackoff)
	}
	next := now.Add(wait)
	if next.After(deadline) {
		next = deadline
	}
	return next
}

// retryAfter parses a Retry-After given in seconds (dates are ignored).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, 86400)) * time.Second
}
