package messaging

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/wa"
)

// ProviderFailure is implemented by provider errors that know their
// message.failed reason: the cloud provider maps Graph API error codes to
// reengagement_window, rate_limited, invalid_recipient, auth_failed, ….
type ProviderFailure interface {
	error
	// FailReason is the stable message.failed reason code.
	FailReason() string
	// Retryable reports whether the send may succeed later (a rate limit):
	// the message is then retried until its send timeout and only fails,
	// with this reason, once it has passed.
	Retryable() bool
}

// asProviderFailure returns the ProviderFailure inside err, if any.
func asProviderFailure(err error) (ProviderFailure, bool) {
	var pf ProviderFailure
	if errors.As(err, &pf) && pf.FailReason() != "" {
		return pf, true
	}
	return nil, false
}

// failed marks outgoing messages failed that the provider had accepted but
// could not deliver after all (a Cloud API "failed" status), appending
// message.failed for each message that changes in the same transaction. A
// redelivered receipt changes nothing; a message already read never fails.
func (i *Ingester) failed(ctx context.Context, env eventlog.Envelope, ev wa.MessageStatusUpdated) error {
	reason := ev.Reason
	if reason == "" {
		reason = string(ReasonProviderError)
	}
	detail := ev.Error
	if len(detail) > 500 {
		detail = detail[:500]
	}
	ids := append([]string(nil), ev.MessageIDs...)
	sort.Strings(ids)
	now := i.store.nowMs()
	err := i.store.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if id == "" || len(id) > maxMessageRef {
				continue
			}
			if err := i.store.lockMessage(ctx, tx, env.TenantID, env.SessionID, id); err != nil {
				return err
			}
			if err := failDelivered(ctx, tx, env, id, reason, detail, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("persist failed status %s: %w", env.ID, err)
	}
	return nil
}

func failDelivered(ctx context.Context, tx *sql.Tx, env eventlog.Envelope, messageID, reason, detail string, now int64) error {
	rows, err := tx.QueryContext(ctx, `UPDATE session_messages SET status = 'failed', status_rank = 0,
			error = $4, updated_at = $5
		WHERE tenant_id = $1 AND session_id = $2 AND message_id = $3
			AND direction = 'out' AND status <> 'failed' AND status_rank < 3
		RETURNING id, chat_jid`, env.TenantID, env.SessionID, messageID, reason, now)
	if err != nil {
		return fmt.Errorf("fail message %s: %w", messageID, err)
	}
	type failedRow struct{ id, chat string }
	var changed []failedRow
	for rows.Next() {
		var r failedRow
		if err := rows.Scan(&r.id, &r.chat); err != nil {
			rows.Close()
			return fmt.Errorf("fail message %s: %w", messageID, err)
		}
		changed = append(changed, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("fail message %s: %w", messageID, err)
	}
	for _, r := range changed {
		out, err := eventlog.NewEnvelope(ctx, env.TenantID, env.SessionID, wa.MessageFailed{
			ID: r.id, ChatJID: r.chat, Reason: reason, Error: detail})
		if err != nil {
			return err
		}
		if err := eventlog.Append(ctx, tx, eventlog.DomainEvents, out); err != nil {
			return err
		}
	}
	return nil
}

func isProviderFailure(err error) bool {
	_, ok := asProviderFailure(err)
	return ok
}
