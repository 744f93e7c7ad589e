package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/wagate/wagate/internal/observe"
)

func TestNewLoggerWritesJSONByDefault(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := observe.NewLogger(&buf, slog.LevelInfo, "json")
	logger.Info("hello", "n", 3)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON object per line: %q", buf.String())
	}
	if rec["msg"] != "hello" || rec["level"] != "INFO" || rec["n"] != float64(3) || rec["time"] == nil {
		t.Errorf("record %v", rec)
	}
}

func TestNewLoggerTextFormat(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	observe.NewLogger(&buf, slog.LevelInfo, "text").Info("hello", "n", 3)
	if out := buf.String(); !strings.Contains(out, "msg=hello") || !strings.Contains(out, "n=3") || strings.HasPrefix(out, "{") {
		t.Errorf("text output %q", out)
	}
}

func TestNewLoggerHonoursTheLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := observe.NewLogger(&buf, slog.LevelWarn, "json")
	logger.Info("quiet")
	logger.Debug("quieter")
	logger.Warn("loud")
	if out := buf.String(); strings.Contains(out, "quiet") || !strings.Contains(out, "loud") {
		t.Errorf("level warn let through: %q", out)
	}
}

func TestLogRecordsCarryTheRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := observe.NewLogger(&buf, slog.LevelInfo, "json")
	ctx := observe.WithRequestID(context.Background(), "req-1")
	if observe.RequestID(ctx) != "req-1" || observe.RequestID(context.Background()) != "" {
		t.Fatal("RequestID does not read back")
	}
	// Derived loggers (With, WithGroup) keep adding it.
	logger.With("role", "api").WithGroup("g").InfoContext(ctx, "inside a request", "k", "v")
	logger.Info("outside a request")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", buf.String())
	}
	if !strings.Contains(lines[0], `"requestId":"req-1"`) || !strings.Contains(lines[0], `"role":"api"`) {
		t.Errorf("request line %s", lines[0])
	}
	if strings.Contains(lines[1], "requestId") {
		t.Errorf("a line outside a request has a request id: %s", lines[1])
	}
}
