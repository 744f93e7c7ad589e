package whatsmeow

import (
	"fmt"
	"log/slog"

	waLog "go.mau.fi/whatsmeow/util/log"
)

// slogLogger adapts slog to whatsmeow's logger. whatsmeow's debug output is
// very chatty (every frame), so it is logged at slog's debug level.
type slogLogger struct {
	l *slog.Logger
}

var _ waLog.Logger = slogLogger{}

func (s slogLogger) Warnf(msg string, args ...any)  { s.l.Warn(fmt.Sprintf(msg, args...)) }
func (s slogLogger) Errorf(msg string, args ...any) { s.l.Error(fmt.Sprintf(msg, args...)) }
func (s slogLogger) Infof(msg string, args ...any)  { s.l.Info(fmt.Sprintf(msg, args...)) }
func (s slogLogger) Debugf(msg string, args ...any) { s.l.Debug(fmt.Sprintf(msg, args...)) }
func (s slogLogger) Sub(module string) waLog.Logger {
	return slogLogger{l: s.l.With("module", module)}
}
