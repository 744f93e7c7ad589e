package app

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/wagate/wagate/internal/config"
)

// DeadLetters runs the `wagate dead-letters` operations command.
func DeadLetters(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string, out io.Writer) error {
	return errors.New("dead-letters: not available yet")
}
