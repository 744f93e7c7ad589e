package eventlog

import (
	"context"
	"database/sql"
	"fmt"
)

// Append writes envelopes to the outbox inside the caller's transaction, so
// they are delivered if and only if the transaction commits. stream is
// DomainEvents or SessionCommands.
func Append(ctx context.Context, tx *sql.Tx, stream string, envs ...Envelope) error {
	for _, e := range envs {
		if e.ID == "" || e.Type == "" {
			return fmt.Errorf("append to outbox: envelope without id or type")
		}
		data := string(e.Data)
		if data == "" {
			data = "{}"
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox
			(id, stream, type, tenant_id, session_id, occurred_at, data, trace_parent)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			e.ID, stream, e.Type, e.TenantID, e.SessionID, e.OccurredAt.UnixMilli(), data, e.TraceParent); err != nil {
			return fmt.Errorf("append %s %s to outbox: %w", e.Type, e.ID, err)
		}
	}
	return nil
}
