package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/config"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
)

const deadLettersUsage = "usage: wagate dead-letters list | replay ID | replay --all"

// DeadLetters runs the `wagate dead-letters` operations command:
//
//	list          every dead letter not replayed yet (DLQ stream and table)
//	replay ID     re-deliver one to its original subscriber
//	replay --all  re-deliver all of them
//
// A replay is picked up by a running consumer of the subscriber within a
// couple of seconds; if it fails again it is dead-lettered again.
func DeadLetters(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(deadLettersUsage)
	}
	switch {
	case args[0] == "list" && len(args) == 1:
	case args[0] == "replay" && len(args) == 2 && args[1] != "":
	default:
		return errors.New(deadLettersUsage)
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var rdb *redis.Client
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("WAGATE_REDIS_URL: %w", err)
		}
		rdb = redis.NewClient(opts)
		defer rdb.Close()
	}
	dls := eventlog.NewDeadLetters(db, rdb, cfg.RedisPrefix)

	if args[0] == "list" {
		list, err := dls.List(ctx)
		if err != nil {
			return err
		}
		return printDeadLetters(out, list)
	}
	if args[1] == "--all" {
		n, err := dls.ReplayAll(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "replay requested for %d dead letters\n", n)
		return nil
	}
	if err := dls.Replay(ctx, args[1]); err != nil {
		return err
	}
	fmt.Fprintf(out, "replay requested for %s\n", args[1])
	return nil
}

func printDeadLetters(out io.Writer, list []eventlog.DeadLetter) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(out, "no dead letters")
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSOURCE\tSUBSCRIBER\tEVENT\tEVENT ID\tATTEMPTS\tFAILED AT\tSTATE\tERROR")
	for _, dl := range list {
		state := "dead"
		if dl.ReplayRequested {
			state = "replay-requested"
		}
		reason := strings.ReplaceAll(dl.Error, "\n", " ")
		if len(reason) > 200 {
			reason = reason[:200] + "…"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", dl.ID, dl.Source, dl.Subscriber, dl.Envelope.Type,
			dl.Envelope.ID, dl.Attempts, dl.FailedAt.Format(time.RFC3339), state, reason)
	}
	return w.Flush()
}
