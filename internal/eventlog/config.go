package eventlog

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Config tunes both event-log backends. The zero value is usable: every
// field left zero gets the default documented on it (StreamMaxLen excepted).
type Config struct {
	// Prefix is prepended to every Redis key (streams, DLQ).
	Prefix string
	// MaxAttempts is how many times a handler is tried before the entry is
	// dead-lettered. Default 8.
	MaxAttempts int
	// BaseBackoff is the wait before the first retry; each further retry
	// doubles it, up to MaxBackoff, with full jitter. Default 100ms.
	BaseBackoff time.Duration
	// MaxBackoff caps the wait between two attempts. Default 10s.
	MaxBackoff time.Duration
	// BatchSize is how many entries one read takes (XREADGROUP COUNT, rows
	// per cursor read, outbox rows per dispatch). Default 100.
	BatchSize int
	// StreamMaxLen trims streams approximately (XADD MAXLEN ~) to this
	// length when the dispatcher publishes; 0 disables trimming.
	StreamMaxLen int64
	// PollInterval is the fallback poll when no wake-up arrives (LISTEN/NOTIFY,
	// in-process commits), and the XREADGROUP BLOCK time. Default 500ms.
	PollInterval time.Duration
	// ConsumerName identifies this process inside consumer groups and as
	// the holder of embedded cursor leases. Default hostname-pid.
	ConsumerName string
	// ClaimIdle is how long an entry (Redis) or a cursor lease (embedded)
	// may go without a heartbeat before another consumer takes it over.
	// Consumers heartbeat every ClaimIdle/3, so it only has to exceed a
	// network hiccup, not the slowest handler. Default 30s.
	ClaimIdle time.Duration
	// ReplayInterval is how often consumers look for dead letters an
	// operator asked to replay. Default 2s.
	ReplayInterval time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 8
	}
	if c.BaseBackoff == 0 {
		c.BaseBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.BatchSize == 0 {
		c.BatchSize = 100
	}
	if c.PollInterval == 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.ConsumerName == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "wagate"
		}
		c.ConsumerName = host + "-" + strconv.Itoa(os.Getpid())
	}
	if c.ClaimIdle == 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.ReplayInterval == 0 {
		c.ReplayInterval = 2 * time.Second
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.MaxAttempts < 1:
		return fmt.Errorf("eventlog: MaxAttempts %d must be at least 1", c.MaxAttempts)
	case c.BaseBackoff < 0 || c.MaxBackoff < c.BaseBackoff:
		return fmt.Errorf("eventlog: backoff %s..%s is not a valid range", c.BaseBackoff, c.MaxBackoff)
	case c.BatchSize < 1:
		return fmt.Errorf("eventlog: BatchSize %d must be at least 1", c.BatchSize)
	case c.StreamMaxLen < 0:
		return fmt.Errorf("eventlog: StreamMaxLen %d must not be negative", c.StreamMaxLen)
	case c.PollInterval <= 0 || c.ClaimIdle <= 0 || c.ReplayInterval <= 0:
		return errors.New("eventlog: PollInterval, ClaimIdle and ReplayInterval must be positive")
	case c.ConsumerName == "":
		return errors.New("eventlog: ConsumerName must not be empty")
	}
	return nil
}
