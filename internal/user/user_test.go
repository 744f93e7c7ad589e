package user_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/user"
)

var now = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func newPending(t *testing.T) *user.User {
	t.Helper()
	u, err := user.NewUser("u1", "Ada@Example.com", "$argon2id$…", now)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func eventTypes(u *user.User) []string {
	var out []string
	for _, e := range u.PopEvents() {
		out = append(out, e.EventType())
	}
	return out
}

func TestUserLifeCycle(t *testing.T) {
	t.Parallel()

	t.Run("NewUserIsPendingAndRecordsRegistered", func(t *testing.T) {
		t.Parallel()
		u := newPending(t)
		if u.Status() != user.StatusPendingVerification || u.Email() != "ada@example.com" {
			t.Fatalf("new user: status %s email %s", u.Status(), u.Email())
		}
		if got := eventTypes(u); len(got) != 1 || got[0] != user.TypeRegistered {
			t.Fatalf("events = %v", got)
		}
		if got := eventTypes(u); len(got) != 0 {
			t.Fatalf("events popped twice: %v", got)
		}
	})

	t.Run("NewUserValidates", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct{ id, email, hash string }{
			{"", "a@example.com", "h"},
			{"u", "not-an-email", "h"},
			{"u", "a@example.com", ""},
		} {
			if _, err := user.NewUser(c.id, c.email, c.hash, now); err == nil {
				t.Errorf("NewUser(%q, %q, %q) succeeded", c.id, c.email, c.hash)
			}
		}
	})

	t.Run("VerifyActivatesOnce", func(t *testing.T) {
		t.Parallel()
		u := newPending(t)
		u.PopEvents()
		if err := u.Verify(now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if u.Status() != user.StatusActive || !u.VerifiedAt().Equal(now.Add(time.Minute)) {
			t.Fatalf("after verify: %s %v", u.Status(), u.VerifiedAt())
		}
		if got := eventTypes(u); len(got) != 1 || got[0] != user.TypeVerified {
			t.Fatalf("events = %v", got)
		}
		if err := u.Verify(now); !errors.Is(err, user.ErrAlreadyVerified) {
			t.Fatalf("second verify: %v", err)
		}
		if got := eventTypes(u); len(got) != 0 {
			t.Fatalf("failed verify recorded %v", got)
		}
	})

	t.Run("OnlyActiveAccountsLogIn", func(t *testing.T) {
		t.Parallel()
		u := newPending(t)
		if err := u.CanLogIn(); !errors.Is(err, user.ErrEmailNotVerified) {
			t.Fatalf("pending: %v", err)
		}
		if err := u.Verify(now); err != nil {
			t.Fatal(err)
		}
		if err := u.CanLogIn(); err != nil {
			t.Fatalf("active: %v", err)
		}
		u.Suspend(now)
		if err := u.CanLogIn(); !errors.Is(err, user.ErrSuspended) {
			t.Fatalf("suspended: %v", err)
		}
		if err := u.Verify(now); !errors.Is(err, user.ErrSuspended) {
			t.Fatalf("verify while suspended: %v", err)
		}
	})

	t.Run("PasswordResetNeedsAnActiveAccount", func(t *testing.T) {
		t.Parallel()
		u := newPending(t)
		u.PopEvents()
		if err := u.RequestPasswordReset(now); !errors.Is(err, user.ErrEmailNotVerified) {
			t.Fatalf("pending: %v", err)
		}
		if err := u.Verify(now); err != nil {
			t.Fatal(err)
		}
		u.PopEvents()
		if err := u.RequestPasswordReset(now); err != nil {
			t.Fatal(err)
		}
		if err := u.ChangePassword("$argon2id$new", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if u.PasswordHash() != "$argon2id$new" || !u.PasswordChangedAt().Equal(now.Add(time.Hour)) {
			t.Fatal("password not changed")
		}
		got := eventTypes(u)
		if strings.Join(got, ",") != user.TypePasswordResetRequested+","+user.TypePasswordChanged {
			t.Fatalf("events = %v", got)
		}
		u.Suspend(now)
		if err := u.ChangePassword("$argon2id$x", now); !errors.Is(err, user.ErrSuspended) {
			t.Fatalf("change while suspended: %v", err)
		}
	})

	t.Run("LoadUserRejectsUnknownStatus", func(t *testing.T) {
		t.Parallel()
		if _, err := user.LoadUser("u", "a@example.com", "h", "banned", now, now, time.Time{}, now); err == nil {
			t.Fatal("loaded a user with an unknown status")
		}
	})

	t.Run("EventsCarryNoSecrets", func(t *testing.T) {
		t.Parallel()
		u := newPending(t)
		_ = u.Verify(now)
		_ = u.RequestPasswordReset(now)
		_ = u.ChangePassword("$argon2id$secret-hash", now)
		for _, e := range u.PopEvents() {
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			s := strings.ToLower(string(b))
			if strings.Contains(s, "argon2id") || strings.Contains(s, "token") || strings.Contains(s, "password\"") {
				t.Fatalf("%s carries a secret: %s", e.EventType(), b)
			}
			if !strings.Contains(s, `"userid":"u1"`) {
				t.Fatalf("%s lacks the user id: %s", e.EventType(), b)
			}
		}
	})
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ada@example.com":             "ada@example.com",
		"  Ada.Lovelace@Example.COM ": "ada.lovelace@example.com",
		"a+tag@sub.example.org":       "a+tag@sub.example.org",
	} {
		got, err := user.NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ada", "ada@", "@example.com", "Ada <ada@example.com>", "ada@localhost",
		"a@b.c\r\nBcc: x@y.z", strings.Repeat("a", 250) + "@example.com"} {
		if got, err := user.NormalizeEmail(bad); err == nil {
			t.Errorf("NormalizeEmail(%q) accepted as %q", bad, got)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pw string
		ok bool
	}{
		{"1234567", false},
		{"12345678", true},
		{strings.Repeat("é", 8), true}, // characters, not bytes
		{strings.Repeat("é", 4), false},
		{strings.Repeat("x", 256), true},
		{strings.Repeat("x", 257), false},
		{"        ", true}, // no composition rules
	} {
		if err := user.ValidatePassword(c.pw); (err == nil) != c.ok {
			t.Errorf("ValidatePassword(%d chars %q…) = %v, want ok=%v", len([]rune(c.pw)), c.pw[:min(len(c.pw), 8)], err, c.ok)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	fast := user.PasswordParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

	t.Run("DefaultsAreOWASPs", func(t *testing.T) {
		t.Parallel()
		h, err := user.HashPassword("correct horse", user.DefaultPasswordParams)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Fatalf("hash = %s", h)
		}
		if ok, err := user.CheckPassword("correct horse", h); err != nil || !ok {
			t.Fatalf("right password: %v %v", ok, err)
		}
	})

	t.Run("WrongPasswordFails", func(t *testing.T) {
		t.Parallel()
		h, err := user.HashPassword("correct horse", fast)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := user.CheckPassword("correct hors", h); err != nil || ok {
			t.Fatalf("wrong password: %v %v", ok, err)
		}
	})

	t.Run("SaltsDiffer", func(t *testing.T) {
		t.Parallel()
		a, _ := user.HashPassword("same", fast)
		b, _ := user.HashPassword("same", fast)
		if a == b {
			t.Fatal("two hashes of one password are equal: no salt")
		}
	})

	t.Run("MalformedHashIsAnError", func(t *testing.T) {
		t.Parallel()
		for _, h := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=18$m=64,t=1,p=1$c2FsdA$a2V5",
			"$argon2id$v=19$m=0,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=64,t=1,p=1$!!$a2V5"} {
			if _, err := user.CheckPassword("x", h); err == nil {
				t.Errorf("CheckPassword accepted hash %q", h)
			}
		}
	})
}

func TestSecret(t *testing.T) {
	t.Parallel()
	a, da, err := user.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := user.NewSecret()
	if len(a) != 43 || a == b {
		t.Fatalf("tokens %q %q: want 43 distinct base64url characters", a, b)
	}
	if da != user.Digest(a) || da == a || len(da) != 64 {
		t.Fatalf("digest %q of %q", da, a)
	}
}
