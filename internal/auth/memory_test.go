package auth_test

import (
	"context"
	"database/sql"
	"log/slog"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/auth"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/user"
)

// TestSingleConnectionDatabase runs every use case on an SQLite ":memory:"
// database, which has exactly one connection: a query outside a transaction
// while the transaction holds that connection would hang, so this catches
// any use case that nests them.
func TestSingleConnectionDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	users, err := user.NewService(user.Config{DB: db, Sessions: auth.SessionRevoker{}, PasswordParams: fastParams}, logger)
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadSigningKey(ctx, db, "")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(auth.Config{DB: db, Users: users, Key: key, Issuer: issuer}, logger)
	if err != nil {
		t.Fatal(err)
	}
	token := func(kind string) string {
		var tok sql.NullString
		if err := db.SQL.QueryRowContext(ctx, `SELECT token FROM outgoing_mail WHERE kind = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, kind).Scan(&tok); err != nil {
			t.Fatal(err)
		}
		return tok.String
	}

	email := "memory@example.com"
	reg, err := users.Register(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.Register(ctx, email, password); err != nil { // taken: mails the owner
		t.Fatal(err)
	}
	if err := users.ResendVerification(ctx, email); err != nil {
		t.Fatal(err)
	}
	if _, err := users.Verify(ctx, token("verify-email")); err != nil {
		t.Fatal(err)
	}
	pair, err := svc.Login(ctx, email, password, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, email, "wrong password", "127.0.0.1"); err == nil {
		t.Fatal("wrong password logged in")
	}
	next, err := svc.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Refresh(ctx, pair.RefreshToken); err == nil {
		t.Fatal("a spent refresh token worked")
	}
	if err := svc.Logout(ctx, next.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if err := users.RequestPasswordReset(ctx, email); err != nil {
		t.Fatal(err)
	}
	if err := users.ResetPassword(ctx, token("reset-password"), "another password"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, email, "another password", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := users.Suspend(ctx, reg.UserID); err != nil {
		t.Fatal(err)
	}
}
