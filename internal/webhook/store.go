package webhook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
)

// ErrInvalidCursor is a cursor this list did not hand out.
var ErrInvalidCursor = apperr.Invalid("invalid-cursor", "cursor is not one this list returned")

// Page selects one page of a list: Cursor is the previous page's
// nextCursor, empty for the first.
type Page struct {
	Limit  int
	Cursor string
}

// Store keeps endpoints and deliveries in SQLite or PostgreSQL. Every query
// an API caller can reach is scoped by tenant.
type Store struct {
	db *store.DB
}

// NewStore returns the webhook store over db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

const endpointColumns = `id, tenant_id, url, events, secret, enabled, disabled_reason, failing_since, created_at, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanEndpoint(r rowScanner) (*Endpoint, error) {
	var (
		id, tenantID, rawURL, events, secret, reason string
		enabled                                      int
		failingSince                                 sql.NullInt64
		createdAt, updatedAt                         int64
	)
	if err := r.Scan(&id, &tenantID, &rawURL, &events, &secret, &enabled, &reason, &failingSince, &createdAt, &updatedAt); err != nil {
		return nil, err
	}
	var patterns []string
	if err := json.Unmarshal([]byte(events), &patterns); err != nil {
		return nil, fmt.Errorf("decode events of endpoint %s: %w", id, err)
	}
	return LoadEndpoint(id, tenantID, rawURL, patterns, secret, enabled == 1, reason,
		store.FromMillis(failingSince.Int64), store.FromMillis(createdAt), store.FromMillis(updatedAt)), nil
}

func endpointArgs(e *Endpoint) []any {
	events, _ := json.Marshal(e.events) // a []string cannot fail
	var failing any
	if !e.failingSince.IsZero() {
		failing = store.Millis(e.failingSince)
	}
	return []any{e.id, e.tenantID, e.url, string(events), e.secret, boolInt(e.enabled), e.disabledReason,
		failing, store.Millis(e.createdAt), store.Millis(e.updatedAt)}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CreateEndpoint stores a new endpoint, refusing it when the tenant already
// has maxPerTenant.
func (s *Store) CreateEndpoint(ctx context.Context, e *Endpoint, maxPerTenant int) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_endpoints WHERE tenant_id = $1`, e.tenantID).Scan(&n); err != nil {
			return fmt.Errorf("count webhook endpoints: %w", err)
		}
		if n >= maxPerTenant {
			return ErrTooManyEndpoints.WithMessage("an account may have at most %d webhook endpoints", maxPerTenant)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+endpointColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, endpointArgs(e)...); err != nil {
			return fmt.Errorf("insert webhook endpoint %s: %w", e.id, err)
		}
		return nil
	})
}

// Endpoint returns one of the tenant's endpoints.
func (s *Store) Endpoint(ctx context.Context, tenantID, id string) (*Endpoint, error) {
	e, err := scanEndpoint(s.db.SQL.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrEndpointNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load webhook endpoint %s: %w", id, err)
	}
	return e, nil
}

// Endpoints lists the tenant's endpoints, newest first.
func (s *Store) Endpoints(ctx context.Context, tenantID string, p Page) ([]*Endpoint, string, error) {
	args := []any{tenantID}
	q := `SELECT ` + endpointColumns + ` FROM webhook_endpoints WHERE tenant_id = $1`
	if p.Cursor != "" {
		if _, err := uuid.Parse(p.Cursor); err != nil {
			return nil, "", ErrInvalidCursor
		}
		args = append(args, p.Cursor)
		q += ` AND id < $2`
	}
	args = append(args, p.Limit+1)
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	rows, err := s.db.SQL.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []*Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list webhook endpoints: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list webhook endpoints: %w", err)
	}
	next := ""
	if len(out) > p.Limit {
		out = out[:p.Limit]
		next = out[len(out)-1].id
	}
	return out, next, nil
}

// UpdateEndpoint loads the endpoint, lets fn change it and saves it, all in
// one transaction.
func (s *Store) UpdateEndpoint(ctx context.Context, tenantID, id string, fn func(*Endpoint) error) (*Endpoint, error) {
	var out *Endpoint
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		q := `SELECT ` + endpointColumns + ` FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`
		if s.db.Dialect == store.Postgres {
			q += ` FOR UPDATE`
		}
		e, err := scanEndpoint(tx.QueryRowContext(ctx, q, tenantID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrEndpointNotFound
		}
		if err != nil {
			return fmt.Errorf("load webhook endpoint %s: %w", id, err)
		}
		if err := fn(e); err != nil {
			return err
		}
		a := endpointArgs(e) // id, tenant_id, url, events, secret, enabled, reason, failing_since, created_at, updated_at
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET url = $3, events = $4, secret = $5,
			enabled = $6, disabled_reason = $7, failing_since = $8, updated_at = $9
			WHERE id = $1 AND tenant_id = $2`, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[9]); err != nil {
			return fmt.Errorf("update webhook endpoint %s: %w", id, err)
		}
		out = e
		return nil
	})
	return out, err
}

// DeleteEndpoint removes the endpoint and its deliveries.
func (s *Store) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		// Deliveries first: not every SQLite connection enforces ON DELETE CASCADE.
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2`, tenantID, id); err != nil {
			return fmt.Errorf("delete deliveries of webhook endpoint %s: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`, tenantID, id)
		if err != nil {
			return fmt.Errorf("delete webhook endpoint %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("delete webhook endpoint %s: %w", id, err)
		} else if n == 0 {
			return ErrEndpointNotFound
		}
		return nil
	})
}

const deliveryColumns = `id, endpoint_id, event_id, event_type, status, attempts, last_status_code, last_error,
	next_attempt_at, created_at, updated_at, completed_at`

// Deliveries lists an endpoint's deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, tenantID, endpointID string, p Page) ([]Delivery, string, error) {
	if _, err := s.Endpoint(ctx, tenantID, endpointID); err != nil {
		return nil, "", err
	}
	args := []any{tenantID, endpointID}
	q := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2`
	if p.Cursor != "" {
		if _, err := uuid.Parse(p.Cursor); err != nil {
			return nil, "", ErrInvalidCursor
		}
		args = append(args, p.Cursor)
		q += ` AND id < $3`
	}
	args = append(args, p.Limit+1)
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	rows, err := s.db.SQL.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries of webhook endpoint %s: %w", endpointID, err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var (
			d                    Delivery
			status               string
			next, completed      sql.NullInt64
			createdAt, updatedAt int64
		)
		if err := rows.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &status, &d.Attempts, &d.LastStatusCode,
			&d.LastError, &next, &createdAt, &updatedAt, &completed); err != nil {
			return nil, "", fmt.Errorf("scan delivery: %w", err)
		}
		d.Status = DeliveryStatus(status)
		d.NextAttemptAt = store.FromMillis(next.Int64)
		d.CreatedAt, d.UpdatedAt = store.FromMillis(createdAt), store.FromMillis(updatedAt)
		d.CompletedAt = store.FromMillis(completed.Int64)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list deliveries of webhook endpoint %s: %w", endpointID, err)
	}
	nextCursor := ""
	if len(out) > p.Limit {
		out = out[:p.Limit]
		nextCursor = out[len(out)-1].ID
	}
	return out, nextCursor, nil
}

// enabledEndpoints returns the tenant's enabled endpoints (fan-out).
func (s *Store) enabledEndpoints(ctx context.Context, tenantID string) ([]*Endpoint, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE tenant_id = $1 AND enabled = 1`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("load webhook endpoints of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []*Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("load webhook endpoints of %s: %w", tenantID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// enqueue stores one pending delivery of env per endpoint. A delivery that
// already exists (the event was redelivered) is left alone, and an
// endpoint deleted or disabled meanwhile gets none. It returns how many
// deliveries it created.
func (s *Store) enqueue(ctx context.Context, env eventlog.Envelope, payload []byte, endpointIDs []string, now time.Time) (int, error) {
	created := 0
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		created = 0
		for _, epID := range endpointIDs {
			res, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries
				(id, tenant_id, endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
				SELECT CAST($1 AS TEXT), tenant_id, id, CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), 'pending', 0, CAST($5 AS BIGINT), CAST($5 AS BIGINT), CAST($5 AS BIGINT)
				FROM webhook_endpoints
				WHERE id = $6 AND tenant_id = $7 AND enabled = 1
				ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
				eventlog.NewID(), env.ID, env.Type, string(payload), store.Millis(now), epID, env.TenantID)
			if err != nil {
				return fmt.Errorf("enqueue delivery of %s to %s: %w", env.ID, epID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("enqueue delivery of %s to %s: %w", env.ID, epID, err)
			}
			created += int(n)
		}
		return nil
	})
	return created, err
}

// claimed is a delivery taken for one attempt, with what the attempt needs.
type claimed struct {
	id         string
	tenantID   string
	endpointID string
	eventID    string
	eventType  string
	payload    []byte
	attempts   int // attempts made before this one
	createdAt  time.Time
	url        string
	secret     string
}

// claim takes up to limit due deliveries of enabled endpoints and pushes
// their next_attempt_at to leaseUntil, so no other worker takes them while
// the attempt runs; if this worker dies, they come due again then.
// PostgreSQL workers skip rows another worker is claiming (SKIP LOCKED);
// SQLite has a single writer.
func (s *Store) claim(ctx context.Context, now time.Time, limit int, leaseUntil time.Time) ([]claimed, error) {
	// A plain read first: polling must not take SQLite's write lock (or
	// PostgreSQL row locks) when nothing is due, which is most of the time.
	var due int
	err := s.db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM webhook_deliveries
		WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1) AS d`, store.Millis(now)).Scan(&due)
	if err != nil {
		return nil, fmt.Errorf("look for due deliveries: %w", err)
	}
	if due == 0 {
		return nil, nil
	}
	lock := ""
	if s.db.Dialect == store.Postgres {
		lock = ` FOR UPDATE OF d SKIP LOCKED`
	}
	var out []claimed
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `WITH due AS (
				SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
				WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND e.enabled = 1
				ORDER BY d.next_attempt_at LIMIT $2`+lock+`)
			UPDATE webhook_deliveries SET next_attempt_at = $3, updated_at = $1
			WHERE id IN (SELECT id FROM due)
			RETURNING id, tenant_id, endpoint_id, event_id, event_type, payload, attempts, created_at`,
			store.Millis(now), limit, store.Millis(leaseUntil))
		if err != nil {
			return fmt.Errorf("claim due deliveries: %w", err)
		}
		for rows.Next() {
			var (
				c         claimed
				payload   string
				createdAt int64
			)
			if err := rows.Scan(&c.id, &c.tenantID, &c.endpointID, &c.eventID, &c.eventType, &payload, &c.attempts, &createdAt); err != nil {
				rows.Close()
				return fmt.Errorf("claim due deliveries: %w", err)
			}
			c.payload, c.createdAt = []byte(payload), store.FromMillis(createdAt)
			out = append(out, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim due deliveries: %w", err)
		}
		for i := range out {
			if err := tx.QueryRowContext(ctx, `SELECT url, secret FROM webhook_endpoints WHERE id = $1`,
				out[i].endpointID).Scan(&out[i].url, &out[i].secret); err != nil {
				return fmt.Errorf("load endpoint %s of delivery %s: %w", out[i].endpointID, out[i].id, err)
			}
		}
		return nil
	})
	return out, err
}

// succeed records a 2xx answer and ends the endpoint's failure run.
func (s *Store) succeed(ctx context.Context, c claimed, code int, now time.Time) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'succeeded', attempts = attempts + 1,
			last_status_code = $2, last_error = '', next_attempt_at = NULL, completed_at = $3, updated_at = $3
			WHERE id = $1 AND status = 'pending'`, c.id, code, store.Millis(now)); err != nil {
			return fmt.Errorf("record delivery %s: %w", c.id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failing_since = NULL
			WHERE id = $1 AND failing_since IS NOT NULL`, c.endpointID); err != nil {
			return fmt.Errorf("record success of endpoint %s: %w", c.endpointID, err)
		}
		return nil
	})
}

// failure is the outcome of an attempt that did not succeed.
type failure struct {
	code    int
	message string
	// next is when to try again; zero gives the delivery up.
	next time.Time
}

// fail records a failed attempt. An endpoint whose failure run has lasted
// disableAfter is disabled in the same transaction: its pending deliveries
// are given up and webhook.endpoint.disabled goes to the outbox. It reports
// whether it disabled the endpoint.
func (s *Store) fail(ctx context.Context, c claimed, f failure, now time.Time, disableAfter time.Duration) (bool, error) {
	disabled := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		disabled = false
		status, next, completed := string(StatusPending), any(store.Millis(f.next)), any(nil)
		if f.next.IsZero() {
			status, next, completed = string(StatusFailed), nil, store.Millis(now)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1,
			last_status_code = $3, last_error = $4, next_attempt_at = $5, completed_at = $6, updated_at = $7
			WHERE id = $1 AND status = 'pending'`,
			c.id, status, f.code, f.message, next, completed, store.Millis(now)); err != nil {
			return fmt.Errorf("record delivery %s: %w", c.id, err)
		}
		var (
			failingSince int64
			enabled      int
			tenantID     string
			rawURL       string
		)
		err := tx.QueryRowContext(ctx, `UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2)
			WHERE id = $1 RETURNING failing_since, enabled, tenant_id, url`, c.endpointID, store.Millis(now)).
			Scan(&failingSince, &enabled, &tenantID, &rawURL)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("record failure of endpoint %s: %w", c.endpointID, err)
		}
		since := store.FromMillis(failingSince)
		if enabled != 1 || now.Sub(since) < disableAfter {
			return nil
		}
		reason := fmt.Sprintf("every delivery failed since %s", since.Format(time.RFC3339))
		res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $2, updated_at = $3
			WHERE id = $1 AND enabled = 1`, c.endpointID, reason, store.Millis(now))
		if err != nil {
			return fmt.Errorf("disable endpoint %s: %w", c.endpointID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL,
			last_error = CASE WHEN id = $2 THEN last_error ELSE 'endpoint disabled' END, completed_at = $3, updated_at = $3
			WHERE endpoint_id = $1 AND status = 'pending'`, c.endpointID, c.id, store.Millis(now)); err != nil {
			return fmt.Errorf("give up deliveries of endpoint %s: %w", c.endpointID, err)
		}
		env, err := eventlog.NewEnvelope(ctx, tenantID, "", EndpointDisabled{
			EndpointID: c.endpointID, URL: rawURL, Reason: reason, FailingSince: since,
		})
		if err != nil {
			return err
		}
		if err := eventlog.Append(ctx, tx, eventlog.DomainEvents, env); err != nil {
			return err
		}
		disabled = true
		return nil
	})
	return disabled, err
}

// release hands a claimed delivery back at once (the worker is stopping
// before the attempt finished).
func (s *Store) release(ctx context.Context, c claimed, now time.Time) error {
	_, err := s.db.SQL.ExecContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $2
		WHERE id = $1 AND status = 'pending'`, c.id, store.Millis(now))
	if err != nil {
		return fmt.Errorf("release delivery %s: %w", c.id, err)
	}
	return nil
}

// prune deletes up to limit deliveries completed before cutoff.
func (s *Store) prune(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	res, err := s.db.SQL.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
		SELECT id FROM webhook_deliveries WHERE completed_at IS NOT NULL AND completed_at < $1 LIMIT $2)`,
		store.Millis(cutoff), limit)
	if err != nil {
		return 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	return res.RowsAffected()
}
