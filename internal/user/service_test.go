package user_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/wagate/wagate/internal/auth"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/user"
)

func newService(t *testing.T, db *store.DB) *user.Service {
	t.Helper()
	s, err := user.NewService(user.Config{
		DB: db, Sessions: auth.SessionRevoker{},
		PasswordParams: user.PasswordParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mailedToken reads the newest token queued for a tenant, as the mail
// subscriber would before sending it.
func mailedToken(t *testing.T, db *store.DB, tenantID, kind string) string {
	t.Helper()
	var token string
	if err := db.SQL.QueryRow(`SELECT token FROM outgoing_mail WHERE tenant_id = $1 AND kind = $2
		ORDER BY created_at DESC, id DESC LIMIT 1`, tenantID, kind).Scan(&token); err != nil {
		t.Fatal(err)
	}
	return token
}

func TestServiceTokensAreSingleUseUnderConcurrency(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			s := newService(t, db)
			ctx := context.Background()

			reg, err := s.Register(ctx, "race@example.com", "a good password")
			if err != nil {
				t.Fatal(err)
			}
			token := mailedToken(t, db, reg.UserID, "verify-email")

			const n = 6
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Verify(ctx, token)
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			ok := 0
			for err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, user.ErrInvalidToken):
					t.Errorf("concurrent verify: %v", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d of %d concurrent uses of one token succeeded, want exactly 1", ok, n)
			}
			u, err := s.Get(ctx, reg.UserID)
			if err != nil {
				t.Fatal(err)
			}
			if u.Status() != user.StatusActive {
				t.Fatalf("status %s", u.Status())
			}
			var verified int
			if err := db.SQL.QueryRow(`SELECT COUNT(*) FROM outbox WHERE tenant_id = $1 AND type = $2`,
				reg.UserID, user.TypeVerified).Scan(&verified); err != nil {
				t.Fatal(err)
			}
			if verified != 1 {
				t.Fatalf("%d user.verified events, want 1", verified)
			}
		})
	}
}

func TestServiceConcurrentRegistrationsOfOneEmail(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			s := newService(t, db)
			ctx := context.Background()
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := s.Register(ctx, "twice@example.com", "a good password"); err != nil {
						t.Errorf("register: %v", err)
					}
				}()
			}
			wg.Wait()
			var users int
			if err := db.SQL.QueryRow(`SELECT COUNT(*) FROM users WHERE email = $1`, "twice@example.com").Scan(&users); err != nil {
				t.Fatal(err)
			}
			if users != 1 {
				t.Fatalf("%d accounts for one email", users)
			}
		})
	}
}
