package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/mail"
	"github.com/wagate/wagate/internal/store"
)

// SessionRevoker ends every login session of a user inside the caller's
// transaction. Package auth implements it; a password reset calls it so the
// new password and the revocation commit together.
type SessionRevoker interface {
	RevokeAllSessions(ctx context.Context, tx *sql.Tx, userID string, now time.Time) error
}

// ErrInvalidCredentials is the one answer to every failed login: unknown
// email and wrong password look the same.
var ErrInvalidCredentials = apperr.Unauthorized("invalid-credentials", "email or password is incorrect")

// Config configures a Service.
type Config struct {
	DB       *store.DB
	Sessions SessionRevoker
	// PasswordParams are the argon2id costs; zero means DefaultPasswordParams.
	PasswordParams PasswordParams
	// VerifyTTL is how long a verification link works (default 24h).
	VerifyTTL time.Duration
	// ResetTTL is how long a reset link works (default 1h).
	ResetTTL time.Duration
	// MailCooldown is the least time between two mails of one kind to one
	// account (default 1m), so "resend" and "forgot" cannot flood a mailbox.
	MailCooldown time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.PasswordParams == (PasswordParams{}) {
		c.PasswordParams = DefaultPasswordParams
	}
	if c.VerifyTTL <= 0 {
		c.VerifyTTL = 24 * time.Hour
	}
	if c.ResetTTL <= 0 {
		c.ResetTTL = time.Hour
	}
	if c.MailCooldown <= 0 {
		c.MailCooldown = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service holds the user use cases.
type Service struct {
	cfg    Config
	logger *slog.Logger
	// dummyHash is checked against when a login names an unknown email, so
	// that path spends the same argon2id work as a real one.
	dummyHash string
}

// NewService validates cfg and returns the service.
func NewService(cfg Config, logger *slog.Logger) (*Service, error) {
	cfg.setDefaults()
	if cfg.DB == nil || cfg.Sessions == nil {
		return nil, errors.New("user service: DB and Sessions are required")
	}
	dummy, err := HashPassword("wagate-dummy-password", cfg.PasswordParams)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, logger: logger, dummyHash: dummy}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// Registration is the answer to Register.
type Registration struct {
	UserID string
	Status Status
}

// Register creates a pending account and mails a verification link. An
// address that already has an account gets the same answer (with an id that
// belongs to nobody) and a mail to its owner instead, so registering never
// reveals who has an account.
func (s *Service) Register(ctx context.Context, email, password string) (Registration, error) {
	normalized, err := NormalizeEmail(email)
	if err != nil {
		return Registration{}, err
	}
	if err := ValidatePassword(password); err != nil {
		return Registration{}, err
	}
	hash, err := HashPassword(password, s.cfg.PasswordParams)
	if err != nil {
		return Registration{}, err
	}
	now := s.now()
	u, err := NewUser(eventlog.NewID(), normalized, hash, now)
	if err != nil {
		return Registration{}, err
	}
	err = s.cfg.DB.InTx(ctx, func(tx *sql.Tx) error {
		created, err := insertUser(ctx, tx, u)
		if err != nil {
			return err
		}
		if !created {
			return s.answerTakenEmail(ctx, tx, normalized, now)
		}
		return s.sendVerification(ctx, tx, u, now)
	})
	if err != nil {
		return Registration{}, err
	}
	return Registration{UserID: u.ID(), Status: StatusPendingVerification}, nil
}

// answerTakenEmail mails the owner of an address someone tried to register
// again: a fresh verification link while the account is pending, a notice
// that the account exists once it is active.
func (s *Service) answerTakenEmail(ctx context.Context, tx *sql.Tx, email string, now time.Time) error {
	existing, err := findUserByEmail(ctx, tx, email)
	if err != nil {
		return err
	}
	switch existing.Status() {
	case StatusPendingVerification:
		return s.sendVerificationUnlessRecent(ctx, tx, existing, now)
	case StatusActive:
		recent, err := mail.RecentlyQueued(ctx, tx, existing.ID(), mail.KindAccountExists, now.Add(-s.cfg.MailCooldown))
		if err != nil || recent {
			return err
		}
		return mail.Enqueue(ctx, tx, mail.Request{TenantID: existing.ID(), To: existing.Email(), Kind: mail.KindAccountExists}, now)
	}
	return nil
}

func (s *Service) sendVerificationUnlessRecent(ctx context.Context, tx *sql.Tx, u *User, now time.Time) error {
	recent, err := mail.RecentlyQueued(ctx, tx, u.ID(), mail.KindVerifyEmail, now.Add(-s.cfg.MailCooldown))
	if err != nil || recent {
		return err
	}
	return s.sendVerification(ctx, tx, u, now)
}

func (s *Service) sendVerification(ctx context.Context, tx *sql.Tx, u *User, now time.Time) error {
	token, err := issueToken(ctx, tx, u.ID(), purposeVerify, now, s.cfg.VerifyTTL)
	if err != nil {
		return err
	}
	return mail.Enqueue(ctx, tx, mail.Request{TenantID: u.ID(), To: u.Email(), Kind: mail.KindVerifyEmail, Token: token}, now)
}

// Verify spends a verification token and activates its account. A token of
// an account that is already active (another link won) still succeeds.
func (s *Service) Verify(ctx context.Context, token string) (*User, error) {
	now := s.now()
	var verified *User
	err := s.cfg.DB.InTx(ctx, func(tx *sql.Tx) error {
		userID, err := consumeToken(ctx, tx, token, purposeVerify, now)
		if err != nil {
			return err
		}
		u, err := getUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		verified = u
		if err := u.Verify(now); err != nil {
			if errors.Is(err, ErrAlreadyVerified) {
				return nil
			}
			return err
		}
		if err := saveUser(ctx, tx, u); err != nil {
			return err
		}
		return spendAllTokens(ctx, tx, userID, purposeVerify, now)
	})
	if err != nil {
		return nil, err
	}
	return verified, nil
}

// ResendVerification mails a new verification link when the address belongs
// to a pending account, and does nothing otherwise; the caller answers the
// same either way.
func (s *Service) ResendVerification(ctx context.Context, email string) error {
	normalized, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	now := s.now()
	return s.cfg.DB.InTx(ctx, func(tx *sql.Tx) error {
		u, err := findUserByEmail(ctx, tx, normalized)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if u.Status() != StatusPendingVerification {
			return nil
		}
		return s.sendVerificationUnlessRecent(ctx, tx, u, now)
	})
}

// RequestPasswordReset mails a reset link to an active account (a pending
// one gets its verification link instead: it must verify first), and does
// nothing for unknown addresses; the caller answers the same either way.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	normalized, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	now := s.now()
	return s.cfg.DB.InTx(ctx, func(tx *sql.Tx) error {
		u, err := findUserByEmail(ctx, tx, normalized)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		switch u.Status() {
		case StatusPendingVerification:
			return s.sendVerificationUnlessRecent(ctx, tx, u, now)
		case StatusSuspended:
			return nil
		}
		recent, err := mail.RecentlyQueued(ctx, tx, u.ID(), mail.KindResetPassword, now.Add(-s.cfg.MailCooldown))
		if err != nil || recent {
			return err
		}
		if err := u.RequestPasswordReset(now); err != nil {
			return err
		}
		token, err := issueToken(ctx, tx, u.ID(), purposeReset, now, s.cfg.ResetTTL)
		if err != nil {
			return err
		}
		if err := saveUser(ctx, tx, u); err != nil {
			return err
		}
		return mail.Enqueue(ctx, tx, mail.Request{TenantID: u.ID(), To: u.Email(), Kind: mail.KindResetPassword, Token: token}, now)
	})
}

// ResetPassword spends a reset token, sets the new password, revokes every
// login session of the account and mails a notice, all in one transaction.
func (s *Service) ResetPassword(ctx context.Context, token, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	// A garbage token must not cost an argon2id hash: check it first.
	usable, err := tokenUsable(ctx, s.cfg.DB.SQL, token, purposeReset, s.now())
	if err != nil {
		return err
	}
	if !usable {
		return ErrInvalidToken
	}
	hash, err := HashPassword(password, s.cfg.PasswordParams)
	if err != nil {
		return err
	}
	now := s.now()
	return s.cfg.DB.InTx(ctx, func(tx *sql.Tx) error {
		userID, err := consumeToken(ctx, tx, token, purposeReset, now)
		if err != nil {
			return err
		}
		u, err := getUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if err := u.ChangePassword(hash, now); err != nil {
			return err
		}
		if err := saveUser(ctx, tx, u); err != nil {
			return err
		}
		if err := spendAllTokens(ctx, tx, userID, purposeReset, now); err != nil {
			return err
		}
		if err := s.cfg.Sessions.RevokeAllSessions(ctx, tx, userID, now); err != nil {
			return fmt.Errorf("revoke sessions of %s: %w", userID, err)
		}
		return mail.Enqueue(ctx, tx, mail.Request{TenantID: userID, To: u.Email(), Kind: mail.KindPasswordChanged}, now)
	})
}

// CheckCredentials returns the account an email and password belong to.
// Unknown emails and wrong passwords both give ErrInvalidCredentials after
// the same argon2id work; only with the right password does a pending or
// suspended account get its own, more helpful error.
func (s *Service) CheckCredentials(ctx context.Context, email, password string) (*User, error) {
	normalized, err := NormalizeEmail(email)
	if err != nil {
		_, _ = CheckPassword(password, s.dummyHash)
		return nil, ErrInvalidCredentials
	}
	u, err := findUserByEmail(ctx, s.cfg.DB.SQL, normalized)
	if errors.Is(err, ErrNotFound) {
		_, _ = CheckPassword(password, s.dummyHash)
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, err
	}
	ok, err := CheckPassword(password, u.PasswordHash())
	if err != nil {
		return nil, fmt.Errorf("check password of %s: %w", u.ID(), err)
	}
	if !ok {
		return nil, ErrInvalidCredentials
	}
	if err := u.CanLogIn(); err != nil {
		return nil, err
	}
	return u, nil
}

// Get returns the user who is the given tenant.
func (s *Service) Get(ctx context.Context, tenantID string) (*User, error) {
	return getUser(ctx, s.cfg.DB.SQL, tenantID)
}

// CheckActive returns nil when the tenant's account may act, or why not.
// Package auth calls it before honouring a refresh token or an API key.
func (s *Service) CheckActive(ctx context.Context, tenantID string) error {
	u, err := s.Get(ctx, tenantID)
	if err != nil {
		return err
	}
	return u.CanLogIn()
}

// Suspend blocks an account (an operator action; no HTTP route yet).
func (s *Service) Suspend(ctx context.Context, tenantID string) error {
	now := s.now()
	return s.cfg.DB.InTx(ctx, func(tx *sql.Tx) error {
		u, err := getUser(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		u.Suspend(now)
		if err := saveUser(ctx, tx, u); err != nil {
			return err
		}
		return s.cfg.Sessions.RevokeAllSessions(ctx, tx, tenantID, now)
	})
}
