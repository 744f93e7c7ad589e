package eventlog

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// outboxChannel is the NOTIFY channel the outbox trigger (migration 011)
// signals on every insert; notifications are delivered at commit.
const outboxChannel = "wagate_outbox"

// listen calls onNotify for every notification on channel until ctx ends,
// over a dedicated connection (LISTEN needs one outside the pool). It
// reconnects after failures and calls onNotify after each (re)connection,
// since notifications sent while disconnected are lost.
func listen(ctx context.Context, url, channel string, logger *slog.Logger, onNotify func()) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := listenOnce(ctx, url, channel, onNotify)
		if ctx.Err() != nil {
			return
		}
		logger.Warn("LISTEN connection lost, polling until it is back", "channel", channel, "error", err, "retryIn", wait.String())
		if sleep(ctx, wait) != nil {
			return
		}
		wait = min(2*wait, 10*time.Second)
	}
}

func listenOnce(ctx context.Context, url, channel string, onNotify func()) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	onNotify()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		onNotify()
	}
}
