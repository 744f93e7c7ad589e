package realtime

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
)

// position is a place in the log the hub follows, comparable with the
// positions of replayed events. In the outbox, SQLite commits rows in seq
// order (one writer), so seq alone orders them and txID stays 0; PostgreSQL
// assigns seq before commit, so a late commit may carry a smaller seq than
// rows already visible, and the order is (tx_id, seq), read only past every
// transaction still in flight. In the Redis stream it is the entry id
// (milliseconds, sequence).
type position struct {
	txID int64
	seq  int64
}

// after reports whether p comes after o in log order.
func (p position) after(o position) bool {
	return p.txID > o.txID || (p.txID == o.txID && p.seq > o.seq)
}

const outboxColumns = `seq, id, type, tenant_id, session_id, occurred_at, data, trace_parent`

// row is one event of the log with its position.
type row struct {
	env eventlog.Envelope
	pos position
}

// scanOutbox reads rows selected as (tx_id, outboxColumns...).
func scanOutbox(rows *sql.Rows) ([]row, error) {
	defer rows.Close()
	var out []row
	for rows.Next() {
		var (
			r          row
			occurredAt int64
			data       string
		)
		e := &r.env
		if err := rows.Scan(&r.pos.txID, &r.pos.seq, &e.ID, &e.Type, &e.TenantID, &e.SessionID,
			&occurredAt, &data, &e.TraceParent); err != nil {
			return nil, fmt.Errorf("scan outbox row: %w", err)
		}
		e.OccurredAt = store.FromMillis(occurredAt)
		e.Data = json.RawMessage(data)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox rows: %w", err)
	}
	return out, nil
}

// txIDExpr is how each dialect selects the transaction id as a number.
func txIDExpr(d store.Dialect) string {
	if d == store.Postgres {
		return `tx_id::text::bigint`
	}
	return `0`
}

// pgHorizon is the transaction id below which every transaction that can
// write this database's outbox has finished. It is the statement snapshot's
// oldest in-progress transaction, ignoring those known to run in another
// database: pg_snapshot_xmin alone is cluster-wide, so a long transaction
// elsewhere on the server would stall delivery here. A transaction whose
// database cannot be told still holds the horizon back (safe side).
const pgHorizon = `(SELECT COALESCE(min(x.xid), pg_snapshot_xmax(pg_current_snapshot()))
	FROM pg_snapshot_xip(pg_current_snapshot()) AS x(xid)
	WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
		WHERE a.backend_xid IS NOT NULL AND a.datname IS DISTINCT FROM current_database()
		AND a.backend_xid::text::bigint = x.xid::text::bigint % 4294967296))`

// afterClause selects rows strictly after p in log order, (tx_id, seq) when
// byTx, else seq. It appends its arguments to args (numbering placeholders
// after the ones already there) and returns the ORDER BY that goes with it.
func afterClause(byTx bool, p position, args []any) (where, order string, _ []any) {
	if byTx {
		n := len(args) + 1
		// Only rows no in-flight transaction can precede: a late commit may
		// carry a smaller (tx_id, seq) than rows visible now.
		return fmt.Sprintf(`(tx_id, seq) > ($%d::bigint::text::xid8, $%d)`, n, n+1) + ` AND tx_id < ` + pgHorizon,
			`ORDER BY tx_id, seq`,
			append(args, p.txID, p.seq)
	}
	return fmt.Sprintf(`seq > $%d`, len(args)+1), `ORDER BY seq`, append(args, p.seq)
}

// OutboxLog answers resume requests from the outbox table: the event log of
// embedded mode, read exactly as OutboxSource follows it.
type OutboxLog struct {
	db *store.DB
	// now is replaceable in tests.
	now func() time.Time
}

var _ Replayer = (*OutboxLog)(nil)

// NewOutboxLog reads resume positions and missed events from db's outbox.
func NewOutboxLog(db *store.DB) *OutboxLog {
	return &OutboxLog{db: db, now: time.Now}
}

// errSinceTooOld is a since that cannot be honoured: unknown, of another
// tenant, or older than the replay window.
var errSinceTooOld = apperr.Gone("since-too-old",
	"since is unknown or older than the replay window; reconnect without since")

// locate returns the position of eventID, one of tenantID's domain events
// that occurred within window.
func (l *OutboxLog) locate(ctx context.Context, tenantID, eventID string, window time.Duration) (position, error) {
	var (
		p          position
		occurredAt int64
	)
	err := l.db.SQL.QueryRowContext(ctx, `SELECT `+txIDExpr(l.db.Dialect)+`, seq, occurred_at FROM outbox
		WHERE id = $1 AND tenant_id = $2 AND stream = $3`,
		eventID, tenantID, eventlog.DomainEvents).Scan(&p.txID, &p.seq, &occurredAt)
	if errors.Is(err, sql.ErrNoRows) {
		return position{}, errSinceTooOld
	}
	if err != nil {
		return position{}, fmt.Errorf("locate event %s: %w", eventID, err)
	}
	if store.FromMillis(occurredAt).Before(l.now().Add(-window)) {
		return position{}, errSinceTooOld
	}
	return p, nil
}

// after returns the tenant's domain events after from, in log order,
// narrowed to f's session, reading up to limit rows; more reports whether
// rows may remain. Type filtering is left to the caller.
func (l *OutboxLog) after(ctx context.Context, f Filter, from position, limit int) ([]row, position, bool, error) {
	where, order, args := afterClause(l.db.Dialect == store.Postgres, from, []any{eventlog.DomainEvents, f.TenantID})
	q := `SELECT ` + txIDExpr(l.db.Dialect) + `, ` + outboxColumns + ` FROM outbox
		WHERE stream = $1 AND tenant_id = $2 AND ` + where
	if f.SessionID != "" {
		args = append(args, f.SessionID)
		q += fmt.Sprintf(` AND session_id = $%d`, len(args))
	}
	args = append(args, limit)
	q += fmt.Sprintf(` %s LIMIT $%d`, order, len(args))
	rs, err := l.db.SQL.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, from, false, fmt.Errorf("replay outbox for tenant %s: %w", f.TenantID, err)
	}
	rows, err := scanOutbox(rs)
	if err != nil {
		return nil, from, false, err
	}
	if len(rows) > 0 {
		from = rows[len(rows)-1].pos
	}
	return rows, from, len(rows) == limit, nil
}

// OutboxSourceConfig tunes an OutboxSource.
type OutboxSourceConfig struct {
	// Wake, when set, signals that rows may have committed (an in-process
	// commit hook or LISTEN/NOTIFY); the source reads at once.
	Wake <-chan struct{}
	// PollInterval is the fallback read interval. Default 250ms.
	PollInterval time.Duration
	// BatchSize is how many rows one read takes. Default 500.
	BatchSize int
}

// OutboxSource follows the outbox table: the hub's source in embedded mode,
// where the outbox is the event log.
type OutboxSource struct {
	db     *store.DB
	cfg    OutboxSourceConfig
	logger *slog.Logger
}

var (
	_ Source           = (*OutboxSource)(nil)
	_ positionedSource = (*OutboxSource)(nil)
)

// NewOutboxSource follows db's outbox from its current end.
func NewOutboxSource(db *store.DB, cfg OutboxSourceConfig, logger *slog.Logger) *OutboxSource {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	return &OutboxSource{db: db, cfg: cfg, logger: logger}
}

// Run emits every domain event committed after it starts, in log order.
func (s *OutboxSource) Run(ctx context.Context, emit func(eventlog.Envelope)) error {
	return s.runPositioned(ctx, func() {}, func(e eventlog.Envelope, _ position) { emit(e) })
}

// runPositioned is Run with each event's outbox position, which lets a
// resuming connection tell live events it already replayed. ready is called
// once the starting point is fixed.
func (s *OutboxSource) runPositioned(ctx context.Context, ready func(), emit func(eventlog.Envelope, position)) error {
	var (
		pos     position
		started bool
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.cfg.Wake:
		case <-timer.C:
		}
		var err error
		if !started {
			pos, err = s.end(ctx)
			started = err == nil
			if started {
				ready()
			}
		}
		for started && err == nil {
			var rows []row
			rows, err = s.next(ctx, pos)
			for _, r := range rows {
				emit(r.env, r.pos)
				pos = r.pos
			}
			if len(rows) < s.cfg.BatchSize {
				break
			}
		}
		wait := s.cfg.PollInterval
		if err != nil && ctx.Err() == nil {
			failures++
			wait = min(s.cfg.PollInterval*time.Duration(1<<min(failures, 6)), 30*time.Second)
			s.logger.Warn("realtime: read outbox failed; retrying", "error", err.Error(), "retryIn", wait.String())
		} else {
			failures = 0
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// end is the position of the newest row already readable: following starts
// after it.
func (s *OutboxSource) end(ctx context.Context) (position, error) {
	var p position
	q := `SELECT ` + txIDExpr(s.db.Dialect) + `, seq FROM outbox WHERE stream = $1 ORDER BY seq DESC LIMIT 1`
	if s.db.Dialect == store.Postgres {
		q = `SELECT tx_id::text::bigint, seq FROM outbox
			WHERE stream = $1 AND tx_id < ` + pgHorizon + `
			ORDER BY tx_id DESC, seq DESC LIMIT 1`
	}
	err := s.db.SQL.QueryRowContext(ctx, q, eventlog.DomainEvents).Scan(&p.txID, &p.seq)
	if errors.Is(err, sql.ErrNoRows) {
		return position{}, nil
	}
	if err != nil {
		return position{}, fmt.Errorf("find end of outbox: %w", err)
	}
	return p, nil
}

// next reads the rows after pos that no in-flight transaction can precede.
func (s *OutboxSource) next(ctx context.Context, pos position) ([]row, error) {
	where, order, args := afterClause(s.db.Dialect == store.Postgres, pos, []any{eventlog.DomainEvents})
	q := `SELECT ` + txIDExpr(s.db.Dialect) + `, ` + outboxColumns + ` FROM outbox WHERE stream = $1 AND ` + where
	args = append(args, s.cfg.BatchSize)
	q += fmt.Sprintf(` %s LIMIT $%d`, order, len(args))
	rows, err := s.db.SQL.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("follow outbox: %w", err)
	}
	return scanOutbox(rows)
}
