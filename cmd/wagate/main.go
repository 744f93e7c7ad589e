// Command wagate is the WhatsApp gateway: one binary whose subcommands are
// the process roles (serve runs them all in one process).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wagate/wagate/internal/app"
	"github.com/wagate/wagate/internal/config"
	"github.com/wagate/wagate/internal/observe"
)

const usage = `wagate — self-hosted WhatsApp gateway

Usage: wagate <command>

Commands:
  serve               every role in one process (embedded mode by default)
  api                 HTTP API, OpenAPI docs and WebSocket hub
  session-worker      owns WhatsApp connections, consumes session commands
  event-consumer      runs subscribers: chats/messages, webhooks, mail
  outbox-dispatcher   moves outbox rows to Redis Streams
  migrate             applies database migrations
  dead-letters        list | replay ID | replay --all
  version             prints the version

Configuration comes from WAGATE_* environment variables (see README).
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Print(usage)
		return 0
	}
	cmd := args[0]
	if cmd == "version" {
		fmt.Println("wagate", app.Version)
		return 0
	}
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wagate: configuration:", err)
		return 2
	}
	logger := observe.NewLogger(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal starts a graceful shutdown, restore the
		// default handling so a second Ctrl-C stops the process at once.
		<-ctx.Done()
		stop()
	}()

	switch cmd {
	case "migrate":
		if err := app.Migrate(ctx, cfg, logger); err != nil {
			logger.Error("migrate failed", "error", err)
			return 1
		}
		return 0
	case "dead-letters":
		if err := app.DeadLetters(ctx, cfg, logger, args[1:], os.Stdout); err != nil {
			logger.Error("dead-letters failed", "error", err)
			return 1
		}
		return 0
	}

	role := app.Role(cmd)
	known := false
	for _, r := range app.Roles {
		known = known || r == role
	}
	if !known {
		fmt.Fprintf(os.Stderr, "wagate: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	shutdownTracing, err := observe.SetupTracing(ctx, string(role), app.Version)
	if err != nil {
		logger.Error("tracing setup failed", "error", err)
		return 1
	}
	defer shutdownTracing(context.Background())

	a, err := app.New(ctx, role, cfg, logger)
	if err != nil {
		logger.Error("start failed", "error", err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		logger.Error("stopped with error", "error", err)
		return 1
	}
	return 0
}
