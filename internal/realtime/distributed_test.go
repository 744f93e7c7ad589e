package realtime_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/realtime"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

// distributed is PostgreSQL plus Redis with the real outbox dispatcher
// publishing to the domain-events stream, as the outbox-dispatcher role does.
func distributed(t *testing.T) (*store.DB, *redis.Client, string) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	db := testenv.OpenDB(t, store.Postgres)
	d, err := eventlog.NewDispatcher(db, rdb, eventlog.Config{Prefix: prefix, PollInterval: 20 * time.Millisecond},
		slog.New(slog.NewTextHandler(io.Discard, nil)), observe.NewMetrics())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return db, rdb, prefix
}

// TestEveryAPIProcessSeesEveryEvent runs two hubs on one stream: each is a
// separate reader (not a consumer group sharing entries), so a client gets
// its events whichever process it is connected to.
func TestEveryAPIProcessSeesEveryEvent(t *testing.T) {
	t.Parallel()
	db, rdb, prefix := distributed(t)
	one := start(t, db, setup{redis: rdb, prefix: prefix})
	two := start(t, db, setup{redis: rdb, prefix: prefix})
	onOne := dial(t, one.url, "", bearer("tok-a"))
	onTwo := dial(t, two.url, "types=message.*", bearer("tok-a"))
	otherTenant := dial(t, two.url, "", bearer("tok-b"))
	one.waitClients(t, 1)
	two.waitClients(t, 2)

	var envs []eventlog.Envelope
	for i := range 30 {
		envs = append(envs, envelope("tenant-a", "s1", "message.received", i))
	}
	appendEvents(t, db, envs[:10]...)
	appendEvents(t, db, envs[10:]...)
	for _, c := range []*struct {
		name string
		got  []frame
	}{{name: "process one", got: readN(t, onOne, 30)}, {name: "process two", got: readN(t, onTwo, 30)}} {
		for i, f := range c.got {
			if f.ID != envs[i].ID {
				t.Fatalf("%s: frame %d is event %d, want %d", c.name, i, f.n(), i)
			}
		}
	}
	appendEvents(t, db, envelope("tenant-b", "", "marker", 0))
	if f := readN(t, otherTenant, 1)[0]; f.Type != "marker" {
		t.Fatalf("tenant b got %s (%s) first, want only its own marker", f.Type, f.TenantID)
	}
}

func TestResumeHasNoGapAndNoRepeatInDistributedMode(t *testing.T) {
	t.Parallel()
	db, rdb, prefix := distributed(t)
	b := start(t, db, setup{redis: rdb, prefix: prefix})
	resumeAcross(t, b, func(envs ...eventlog.Envelope) { appendEvents(t, db, envs...) })
}

func TestSinceOutsideTheWindowInDistributedMode(t *testing.T) {
	t.Parallel()
	db, rdb, prefix := distributed(t)
	b := start(t, db, setup{redis: rdb, prefix: prefix, handler: realtime.HandlerConfig{ReplayWindow: time.Hour}})
	mine := envelope("tenant-a", "", "message.received", 1)
	other := envelope("tenant-b", "", "message.received", 2)
	appendEvents(t, db, mine, other)
	c := dial(t, b.url, "", bearer("tok-a"))
	readN(t, c, 1) // published: both are in the stream now

	old := uuid.Must(uuid.NewV7())
	binary.BigEndian.PutUint64(old[:8], uint64(time.Now().Add(-2*time.Hour).UnixMilli())<<16|binary.BigEndian.Uint64(old[:8])&0xffff)
	for name, since := range map[string]string{
		"Unknown":         eventlog.NewID(),
		"OlderThanWindow": old.String(),
		"OtherTenants":    other.ID,
		"NotAUUIDv7":      uuid.NewString(),
	} {
		c := dial(t, b.url, "since="+since, bearer("tok-a"))
		_, err := read(c, 10*time.Second)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != realtime.StatusSinceTooOld {
			t.Fatalf("%s: got %v, want close %d", name, err, realtime.StatusSinceTooOld)
		}
	}
	// A known since of the tenant resumes.
	c = dial(t, b.url, "since="+mine.ID, bearer("tok-a"))
	appendEvents(t, db, envelope("tenant-a", "", "marker", 3))
	if f := readN(t, c, 1)[0]; f.Type != "marker" {
		t.Fatalf("resumed connection got %s first, want the marker", f.Type)
	}
}
