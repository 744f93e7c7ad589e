package messaging

import (
	"context"
	"errors"
	"fmt"

	"github.com/wagate/wagate/internal/wa"
)

// pendingResult is a provider acknowledgement not yet recorded.
type pendingResult struct {
	job sendJob
	res wa.SendResult
}

// send hands one claimed message to the provider and records the outcome.
// parked is true when the message waits for another attempt (its session
// is not connected, or the provider failed transiently); the caller then
// stops draining so the session's messages keep their order.
//
// The claim that precedes this call committed "handed to the provider"
// (send_state sending, handed_at). If the process dies before the outcome
// is recorded, the claim lapses and a worker hands the same message again
// with the same wagate id, from which the provider derives the same
// WhatsApp id — see docs/messaging.md for the exact guarantee.
func (w *Worker) send(ctx context.Context, j sendJob) (parked bool, err error) {
	out := wa.OutgoingMessage{ID: j.id, ChatJID: j.chatJID, Type: j.typ, Content: j.content}
	if isMedia(j.typ) {
		media, reason, err := w.mediaFor(ctx, j)
		if err != nil {
			return false, err
		}
		if reason != "" {
			return false, w.fail(ctx, j, reason, "")
		}
		out.Media = media
		out.Content.Size = int64(len(media))
	}

	callCtx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	res, err := w.sender.Send(callCtx, j.tenantID, j.sessionID, out)
	cancel()
	switch {
	case err == nil:
		if res.MessageID == "" {
			return false, w.fail(ctx, j, ReasonProviderError, "provider returned no message id")
		}
		return false, w.recordSent(ctx, j.id, pendingResult{job: j, res: res})
	case ctx.Err() != nil:
		// Shutting down mid-call: the claim lapses and a worker retries.
		return true, ctx.Err()
	case errors.Is(err, wa.ErrInvalidRecipient):
		return false, w.fail(ctx, j, ReasonInvalidRecipient, err.Error())
	case errors.Is(err, ErrSessionNotConnected):
		return w.retryOrFail(ctx, j, ReasonNotConnected, err)
	case isProviderFailure(err):
		pf, _ := asProviderFailure(err)
		if pf.Retryable() {
			return w.retryOrFail(ctx, j, FailReason(pf.FailReason()), err)
		}
		return false, w.fail(ctx, j, FailReason(pf.FailReason()), err.Error())
	case isPermanent(err):
		return false, w.fail(ctx, j, ReasonProviderError, err.Error())
	default:
		w.logger.WarnContext(ctx, "provider send failed; will retry", "messageId", j.id, "sessionId", j.sessionID, "error", err)
		return w.retryOrFail(ctx, j, ReasonProviderError, err)
	}
}

// retryOrFail parks a message for another attempt, or fails it when its
// send timeout (counted from acceptance) has passed.
func (w *Worker) retryOrFail(ctx context.Context, j sendJob, reason FailReason, cause error) (bool, error) {
	now := w.cfg.Now()
	if !now.Before(j.createdAt.Add(w.cfg.SendTimeout)) {
		return false, w.fail(ctx, j, reason, cause.Error())
	}
	return true, w.store.park(ctx, j, now.Add(retryDelay(j.attempts)), reason)
}

func (w *Worker) fail(ctx context.Context, j sendJob, reason FailReason, detail string) error {
	done, err := w.store.recordFailed(ctx, j.tenantID, j.id, reason, detail, sendSending)
	if err != nil {
		return err
	}
	if done {
		w.metrics.sent(string(reason))
		w.logger.InfoContext(ctx, "message failed", "messageId", j.id, "sessionId", j.sessionID, "reason", string(reason))
	}
	return nil
}

// recordSent records a provider acknowledgement; until it succeeds the
// result is kept in memory so a retry records it instead of sending again.
func (w *Worker) recordSent(ctx context.Context, id string, p pendingResult) error {
	w.unrecorded.Store(id, p)
	if err := w.store.recordSent(ctx, p.job, p.res); err != nil {
		return fmt.Errorf("record message %s sent: %w", id, err)
	}
	w.unrecorded.Delete(id)
	w.metrics.sent("sent")
	return nil
}

// mediaFor returns the bytes of an outgoing media message: stored at accept
// time (base64), or fetched from its URL now and stored, so a retry does not
// fetch again. A non-empty reason means the message cannot be sent.
func (w *Worker) mediaFor(ctx context.Context, j sendJob) ([]byte, FailReason, error) {
	rec, ok, err := w.store.media(ctx, j.tenantID, j.id, true)
	if err != nil {
		return nil, "", err
	}
	if ok && rec.state == mediaReady {
		return rec.data, "", nil
	}
	if j.content.URL == "" {
		return nil, ReasonMediaUnavailable, nil
	}
	fetchCtx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	b, err := w.fetcher.fetch(fetchCtx, j.content.URL)
	cancel()
	switch {
	case errors.Is(err, errFetchTooLarge):
		return nil, ReasonMediaTooLarge, nil
	case err != nil:
		w.logger.InfoContext(ctx, "outgoing media fetch failed", "messageId", j.id, "error", err)
		return nil, ReasonMediaUnavailable, nil
	}
	if err := w.store.storeMedia(ctx, j.tenantID, j.id, j.content.Mimetype, b); err != nil {
		return nil, "", err
	}
	c := j.content
	c.Size = int64(len(b))
	if err := w.store.updateContent(ctx, j.tenantID, j.id, c); err != nil {
		return nil, "", err
	}
	return b, "", nil
}
