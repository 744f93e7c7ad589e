package app

import (
	"context"
	"log/slog"

	wm "go.mau.fi/whatsmeow"

	"github.com/wagate/wagate/internal/config"
)

// Options are settings only code can set — never the environment, so a
// user cannot switch them on by accident. They are hooks for tests and
// benchmarks; a production process uses New, which leaves them all off.
type Options struct {
	// WhatsmeowClient, if set, is applied to every whatsmeow client the
	// session worker creates, before it connects. Tests and benchmarks
	// point the clients at a fake WhatsApp network with it
	// (wafake.Network.Configure). It changes nothing in other roles.
	WhatsmeowClient func(*wm.Client)
}

// NewWithOptions is New with test and benchmark hooks (see Options).
func NewWithOptions(ctx context.Context, role Role, cfg config.Config, logger *slog.Logger, opts Options) (*App, error) {
	return newApp(ctx, role, cfg, logger, opts)
}
