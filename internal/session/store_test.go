package session

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

// outboxRow is one row of the outbox as tests read it back.
type outboxRow struct {
	Stream, Type, TenantID, SessionID, Data string
}

func readOutbox(t *testing.T, db *store.DB, sessionID string) []outboxRow {
	t.Helper()
	rows, err := db.SQL.QueryContext(context.Background(), `SELECT stream, type, tenant_id, session_id, data
		FROM outbox WHERE session_id = $1 ORDER BY seq`, sessionID)
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.Stream, &r.Type, &r.TenantID, &r.SessionID, &r.Data); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func createSession(t *testing.T, st *Store, tenant, provider string) *Session {
	t.Helper()
	s, err := NewSession(eventlog.NewID(), tenant, "test", provider, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Create(context.Background(), s); err != nil {
		t.Fatalf("create: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			st := NewStore(db)
			ctx := context.Background()

			t.Run("CreateWritesEventAndCommandInSameTransaction", func(t *testing.T) {
				t.Parallel()
				s := createSession(t, st, "tenant-a", "")
				rows := readOutbox(t, db, s.ID())
				if len(rows) != 2 {
					t.Fatalf("outbox = %+v", rows)
				}
				if rows[0].Stream != eventlog.DomainEvents || rows[0].Type != EventCreated || rows[0].TenantID != "tenant-a" {
					t.Errorf("event row = %+v", rows[0])
				}
				if rows[1].Stream != eventlog.SessionCommands || rows[1].Type != CommandStart {
					t.Errorf("command row = %+v", rows[1])
				}
			})

			t.Run("GetIsTenantScoped", func(t *testing.T) {
				t.Parallel()
				s := createSession(t, st, "tenant-b", "")
				got, err := st.Get(ctx, "tenant-b", s.ID())
				if err != nil || got.Status() != StatusPendingQR || !got.WantRunning() || !got.CreatedAt().Equal(s.CreatedAt()) {
					t.Fatalf("get = %+v, %v", got, err)
				}
				if _, err := st.Get(ctx, "tenant-other", s.ID()); !errors.Is(err, ErrNotFound) {
					t.Fatalf("other tenant: %v", err)
				}
				if _, err := st.Update(ctx, "tenant-other", s.ID(), func(*Session) error { return nil }); !errors.Is(err, ErrNotFound) {
					t.Fatalf("other tenant update: %v", err)
				}
				if err := st.AppendCommand(ctx, "tenant-other", s.ID(), Start{}); !errors.Is(err, ErrNotFound) {
					t.Fatalf("other tenant command: %v", err)
				}
			})

			t.Run("UpdateSavesStateAndEvents", func(t *testing.T) {
				t.Parallel()
				s := createSession(t, st, "tenant-c", "")
				exp := time.Now().Add(time.Minute)
				_, err := st.Update(ctx, "tenant-c", s.ID(), func(s *Session) error {
					s.ShowQR("2@qr", exp, time.Now())
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				got, _ := st.Get(ctx, "tenant-c", s.ID())
				if code, e, err := got.CurrentQR(time.Now()); err != nil || code != "2@qr" || e.UnixMilli() != exp.UnixMilli() {
					t.Fatalf("QR after reload = %q %v %v", code, e, err)
				}
				rows := readOutbox(t, db, s.ID())
				if last := rows[len(rows)-1]; last.Type != EventQRUpdated {
					t.Fatalf("last event = %+v", last)
				}
			})

			t.Run("UpdateErrorWritesNothing", func(t *testing.T) {
				t.Parallel()
				s := createSession(t, st, "tenant-d", "")
				boom := errors.New("boom")
				_, err := st.Update(ctx, "tenant-d", s.ID(), func(s *Session) error {
					s.MarkConnected("+15550001111", time.Now())
					return boom
				})
				if !errors.Is(err, boom) {
					t.Fatalf("err = %v", err)
				}
				got, _ := st.Get(ctx, "tenant-d", s.ID())
				if got.Status() != StatusPendingQR || len(readOutbox(t, db, s.ID())) != 2 {
					t.Fatal("a failed update must not change the session or the outbox")
				}
			})

			t.Run("ListPaginatesNewestFirst", func(t *testing.T) {
				t.Parallel()
				var ids []string
				for range 5 {
					ids = append(ids, createSession(t, st, "tenant-e", "").ID())
				}
				var seen []string
				cursor := ""
				for page := 0; page < 5; page++ {
					items, next, err := st.List(ctx, "tenant-e", Page{Limit: 2, Cursor: cursor})
					if err != nil {
						t.Fatal(err)
					}
					for _, s := range items {
						seen = append(seen, s.ID())
					}
					if next == "" {
						break
					}
					cursor = next
				}
				if fmt.Sprint(seen) != fmt.Sprint([]string{ids[4], ids[3], ids[2], ids[1], ids[0]}) {
					t.Fatalf("pages = %v, created %v", seen, ids)
				}
				if _, _, err := st.List(ctx, "tenant-e", Page{Cursor: "!!!"}); !errors.Is(err, ErrInvalidCursor) {
					t.Fatalf("bad cursor: %v", err)
				}
			})

			t.Run("DeletedIsHiddenAndPurgeRemovesIt", func(t *testing.T) {
				t.Parallel()
				s := createSession(t, st, "tenant-f", "")
				if _, err := st.Update(ctx, "tenant-f", s.ID(), func(s *Session) error { return s.Delete(time.Now()) }); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Get(ctx, "tenant-f", s.ID()); !errors.Is(err, ErrNotFound) {
					t.Fatalf("deleted session visible: %v", err)
				}
				items, _, _ := st.List(ctx, "tenant-f", Page{})
				if len(items) != 0 {
					t.Fatal("deleted session listed")
				}
				if got, err := st.GetAny(ctx, "tenant-f", s.ID()); err != nil || !got.Deleted() {
					t.Fatalf("GetAny: %v", err)
				}
				if err := st.Purge(ctx, "tenant-f", s.ID()); err != nil {
					t.Fatal(err)
				}
				if _, err := st.GetAny(ctx, "tenant-f", s.ID()); !errors.Is(err, ErrNotFound) {
					t.Fatalf("purged session still there: %v", err)
				}
			})

			t.Run("LeaseIsExclusiveUntilItExpires", func(t *testing.T) {
				t.Parallel()
				a := &leases{db: db, owner: "worker-a-" + string(d), ttl: time.Hour}
				b := &leases{db: db, owner: "worker-b-" + string(d), ttl: time.Hour}
				id := eventlog.NewID()
				if ok, err := a.acquire(ctx, id); !ok || err != nil {
					t.Fatalf("a acquire: %v %v", ok, err)
				}
				if ok, err := a.acquire(ctx, id); !ok || err != nil {
					t.Fatalf("a re-acquire: %v %v", ok, err)
				}
				if ok, err := b.acquire(ctx, id); ok || err != nil {
					t.Fatalf("b must be refused while a holds the lease: %v %v", ok, err)
				}
				held, err := a.renew(ctx)
				if err != nil || !held[id] {
					t.Fatalf("renew: %v %v", held, err)
				}
				// An expired lease (a crashed worker) is taken over.
				if _, err := db.SQL.ExecContext(ctx, `UPDATE session_leases SET expires_at = 1 WHERE session_id = $1`, id); err != nil {
					t.Fatal(err)
				}
				if ok, err := b.acquire(ctx, id); !ok || err != nil {
					t.Fatalf("b takeover: %v %v", ok, err)
				}
				if held, _ := a.renew(ctx); held[id] {
					t.Fatal("a must notice it lost the lease")
				}
				if err := a.release(ctx, id); err != nil {
					t.Fatal(err)
				}
				if ok, _ := a.acquire(ctx, id); ok {
					t.Fatal("a's release must not free b's lease")
				}
			})

			t.Run("PairRequestRoundTrip", func(t *testing.T) {
				t.Parallel()
				s := createSession(t, st, "tenant-g", "")
				p := &pairRequests{db: db}
				if _, err := p.create(ctx, st, "tenant-other", s.ID(), "+15550001111", time.Now()); !errors.Is(err, ErrNotFound) {
					t.Fatalf("other tenant: %v", err)
				}
				id, err := p.create(ctx, st, "tenant-g", s.ID(), "+15550001111", time.Now())
				if err != nil {
					t.Fatal(err)
				}
				rows := readOutbox(t, db, s.ID())
				if last := rows[len(rows)-1]; last.Type != CommandPairCode || last.Stream != eventlog.SessionCommands {
					t.Fatalf("last outbox row = %+v", last)
				}
				if err := p.answer(ctx, "tenant-g", id, "ABCD-EFGH", ""); err != nil {
					t.Fatal(err)
				}
				if err := p.answer(ctx, "tenant-g", id, "LATE-LATE", ""); err != nil {
					t.Fatal(err)
				}
				code, err := p.wait(ctx, "tenant-g", id, 10*time.Millisecond)
				if err != nil || code != "ABCD-EFGH" {
					t.Fatalf("wait = %q %v", code, err)
				}
				// Unanswered: the wait gives up with a 503-class error.
				id2, _ := p.create(ctx, st, "tenant-g", s.ID(), "+15550001111", time.Now())
				wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				if _, err := p.wait(wctx, "tenant-g", id2, 10*time.Millisecond); !errors.Is(err, ErrPairCodeTimeout) {
					t.Fatalf("timeout: %v", err)
				}
				id3, _ := p.create(ctx, st, "tenant-g", s.ID(), "+15550001111", time.Now())
				_ = p.answer(ctx, "tenant-g", id3, "", pairErrConnected)
				if _, err := p.wait(ctx, "tenant-g", id3, 10*time.Millisecond); !errors.Is(err, ErrAlreadyConnected) {
					t.Fatalf("error answer: %v", err)
				}
			})

			t.Run("DevicesAreTenantScoped", func(t *testing.T) {
				t.Parallel()
				ds := NewDeviceStore(db)
				ref := Ref{TenantID: "tenant-h", SessionID: eventlog.NewID()}
				if _, ok, err := ds.Get(ctx, ref); ok || err != nil {
					t.Fatalf("empty: %v %v", ok, err)
				}
				if err := ds.Put(ctx, ref, ProviderSimulator, "15550001111@s.whatsapp.net"); err != nil {
					t.Fatal(err)
				}
				if err := ds.Put(ctx, ref, ProviderSimulator, "15550002222@s.whatsapp.net"); err != nil {
					t.Fatal(err)
				}
				if jid, ok, _ := ds.Get(ctx, ref); !ok || jid != "15550002222@s.whatsapp.net" {
					t.Fatalf("get = %q %v", jid, ok)
				}
				if _, ok, _ := ds.Get(ctx, Ref{TenantID: "other", SessionID: ref.SessionID}); ok {
					t.Fatal("other tenant sees the device")
				}
				if err := ds.Delete(ctx, ref); err != nil {
					t.Fatal(err)
				}
				if _, ok, _ := ds.Get(ctx, ref); ok {
					t.Fatal("device not deleted")
				}
			})

			t.Run("RestorableSkipsStoppedAndTerminal", func(t *testing.T) {
				t.Parallel()
				tenant := "tenant-i-" + eventlog.NewID()
				running := createSession(t, st, tenant, "")
				stopped := createSession(t, st, tenant, "")
				timedOut := createSession(t, st, tenant, "")
				_, _ = st.Update(ctx, tenant, stopped.ID(), func(s *Session) error { return s.Stop(time.Now()) })
				_, _ = st.Update(ctx, tenant, timedOut.ID(), func(s *Session) error {
					s.MarkDisconnected(ReasonQRTimeout, time.Now())
					return nil
				})
				all, err := st.Restorable(ctx, "me", time.Now())
				if err != nil {
					t.Fatal(err)
				}
				found := map[string]bool{}
				for _, s := range all {
					found[s.ID()] = true
				}
				if !found[running.ID()] || found[stopped.ID()] || found[timedOut.ID()] {
					t.Fatalf("restorable = %v", found)
				}
				// Held by another live worker: not this worker's to restore.
				other := &leases{db: db, owner: "other", ttl: time.Hour}
				if ok, _ := other.acquire(ctx, running.ID()); !ok {
					t.Fatal("acquire")
				}
				all, _ = st.Restorable(ctx, "me", time.Now())
				for _, s := range all {
					if s.ID() == running.ID() {
						t.Fatal("a session another worker holds is not restorable here")
					}
				}
				all, _ = st.Restorable(ctx, "me", time.Now().Add(2*time.Hour))
				back := false
				for _, s := range all {
					back = back || s.ID() == running.ID()
				}
				if !back {
					t.Fatal("once the lease expired, the session is restorable again")
				}
			})
		})
	}
}
