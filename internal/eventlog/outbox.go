package eventlog

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// appendChunk bounds the rows of one INSERT (8 parameters each, far below
// both databases' parameter limits).
const appendChunk = 100

// Append writes envelopes to the outbox inside the caller's transaction, so
// they are delivered if and only if the transaction commits. stream is
// DomainEvents or SessionCommands. Several envelopes are written with one
// multi-row INSERT per 100.
func Append(ctx context.Context, tx *sql.Tx, stream string, envs ...Envelope) error {
	for len(envs) > 0 {
		n := min(len(envs), appendChunk)
		if err := appendRows(ctx, tx, stream, envs[:n]); err != nil {
			return err
		}
		envs = envs[n:]
	}
	return nil
}

func appendRows(ctx context.Context, tx *sql.Tx, stream string, envs []Envelope) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO outbox
		(id, stream, type, tenant_id, session_id, occurred_at, data, trace_parent) VALUES `)
	args := make([]any, 0, 8*len(envs))
	for i, e := range envs {
		if e.ID == "" || e.Type == "" {
			return fmt.Errorf("append to outbox: envelope without id or type")
		}
		data := string(e.Data)
		if data == "" {
			data = "{}"
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for j := 1; j <= 8; j++ {
			if j > 1 {
				q.WriteString(", ")
			}
			q.WriteByte('$')
			q.WriteString(strconv.Itoa(8*i + j))
		}
		q.WriteByte(')')
		args = append(args, e.ID, stream, e.Type, e.TenantID, e.SessionID, e.OccurredAt.UnixMilli(), data, e.TraceParent)
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		if len(envs) == 1 {
			return fmt.Errorf("append %s %s to outbox: %w", envs[0].Type, envs[0].ID, err)
		}
		return fmt.Errorf("append %d events (%s %s, …) to outbox: %w", len(envs), envs[0].Type, envs[0].ID, err)
	}
	return nil
}
