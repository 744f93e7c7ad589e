package messaging

import (
	"context"
	"errors"
	"fmt"

	"github.com/wagate/wagate/internal/eventlog"
)

// markRead sends read receipts. While the session is not connected the
// command is retried (the runner's backoff) until WAGATE_SEND_TIMEOUT after
// it was issued; then it is dropped: the chat is already read in wagate.
func (w *Worker) markRead(ctx context.Context, env eventlog.Envelope, cmd MarkReadCommand) error {
	if len(cmd.MessageIDs) == 0 {
		return nil
	}
	callCtx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	err := w.sender.MarkRead(callCtx, env.TenantID, env.SessionID, cmd.ChatJID, cmd.MessageIDs)
	cancel()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrSessionNotConnected) && w.cfg.Now().Sub(env.OccurredAt) < w.cfg.SendTimeout:
		return fmt.Errorf("mark read in %s: %w", cmd.ChatJID, err)
	case errors.Is(err, ErrSessionNotConnected), isPermanent(err):
		w.logger.InfoContext(ctx, "read receipts dropped", "sessionId", env.SessionID, "chat", cmd.ChatJID, "error", err)
		return nil
	}
	return fmt.Errorf("mark read in %s: %w", cmd.ChatJID, err)
}

// download fetches an inbound message's media through the provider into
// message_media, where the API (possibly another process) reads it.
// Failures are recorded for the waiting request instead of retried: the
// next request asks again.
func (w *Worker) download(ctx context.Context, tenantID, sessionID, id string) error {
	rec, ok, err := w.store.media(ctx, tenantID, id, false)
	if err != nil {
		return err
	}
	if ok && rec.state == mediaReady {
		return nil
	}
	m, mediaKey, err := w.store.providerMessage(ctx, tenantID, sessionID, id)
	if errors.Is(err, ErrMessageNotFound) {
		return w.store.mediaFailedWith(ctx, tenantID, id, "message not found")
	}
	if err != nil {
		return err
	}
	m.Content.MediaKey = mediaKey
	callCtx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	b, err := w.sender.DownloadMedia(callCtx, tenantID, sessionID, m)
	cancel()
	switch {
	case errors.Is(err, ErrSessionNotConnected):
		return w.store.mediaFailedWith(ctx, tenantID, id, string(ReasonNotConnected))
	case err != nil:
		w.logger.InfoContext(ctx, "media download failed", "messageId", id, "error", err)
		return w.store.mediaFailedWith(ctx, tenantID, id, string(ReasonMediaUnavailable))
	case int64(len(b)) > w.cfg.MaxMediaBytes:
		return w.store.mediaFailedWith(ctx, tenantID, id, string(ReasonMediaTooLarge))
	case len(b) == 0:
		return w.store.mediaFailedWith(ctx, tenantID, id, string(ReasonMediaUnavailable))
	}
	mimetype := m.Content.Mimetype
	if mimetype == "" {
		mimetype = "application/octet-stream"
	}
	return w.store.storeMedia(ctx, tenantID, id, mimetype, b)
}
