package session

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/wa"
)

// Status is where a session is in its lifecycle.
type Status string

// Session statuses.
const (
	// StatusPendingQR: the device is not linked; a QR or pairing code is
	// (or will soon be) available.
	StatusPendingQR Status = "pending_qr"
	// StatusConnected: linked and online.
	StatusConnected Status = "connected"
	// StatusDisconnected: offline; DisconnectReason tells why.
	StatusDisconnected Status = "disconnected"
)

// Provider names.
const (
	ProviderWhatsmeow = "whatsmeow"
	ProviderSimulator = "simulator"
	ProviderCloud     = "cloud"
)

const maxNameLen = 100

// Session is one WhatsApp linked device of a tenant. Fields are unexported:
// state changes go through methods that keep it consistent and record the
// events and worker commands the store writes in the same transaction.
type Session struct {
	id          string
	tenantID    string
	name        string
	provider    string
	status      Status
	phone       string
	reason      DisconnectReason
	qr          string
	qrExpiresAt time.Time
	wantRunning bool
	createdAt   time.Time
	updatedAt   time.Time
	deletedAt   time.Time

	events   []Event
	commands []Event
}

// NewSession creates a session that waits for its first QR and asks the
// worker to start it. provider must be one of the Provider* names.
func NewSession(id, tenantID, name, provider string, now time.Time) (*Session, error) {
	if id == "" || tenantID == "" {
		return nil, apperr.Invalid("invalid-session", "session needs an id and a tenant")
	}
	name = strings.TrimSpace(name)
	if err := validateName(name); err != nil {
		return nil, err
	}
	if provider == "" {
		provider = ProviderWhatsmeow
	}
	switch provider {
	case ProviderWhatsmeow, ProviderSimulator, ProviderCloud:
	default:
		return nil, ErrUnknownProvider.WithMessage("unknown provider %q", provider)
	}
	now = now.UTC().Truncate(time.Millisecond)
	s := &Session{
		id: id, tenantID: tenantID, name: name, provider: provider,
		status: StatusPendingQR, wantRunning: true, createdAt: now, updatedAt: now,
	}
	s.record(Created{Name: name, Provider: provider, Status: s.status})
	s.command(Start{})
	return s, nil
}

func validateName(name string) error {
	if utf8.RuneCountInString(name) > maxNameLen {
		return ErrInvalidName
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return ErrInvalidName
		}
	}
	return nil
}

// Snapshot is a session's stored state, used only to load a session from the
// database (UnmarshalSessionFromDatabase).
type Snapshot struct {
	ID, TenantID, Name, Provider string
	Status                       Status
	Phone                        string
	Reason                       DisconnectReason
	QR                           string
	QRExpiresAt                  time.Time
	WantRunning                  bool
	CreatedAt, UpdatedAt         time.Time
	DeletedAt                    time.Time
}

// UnmarshalSessionFromDatabase rebuilds a session from stored state. It is
// not a constructor: it validates nothing and records no events, because the
// state was valid when it was saved. Only stores call it.
func UnmarshalSessionFromDatabase(s Snapshot) *Session {
	return &Session{
		id: s.ID, tenantID: s.TenantID, name: s.Name, provider: s.Provider,
		status: s.Status, phone: s.Phone, reason: s.Reason, qr: s.QR, qrExpiresAt: s.QRExpiresAt,
		wantRunning: s.WantRunning, createdAt: s.CreatedAt, updatedAt: s.UpdatedAt, deletedAt: s.DeletedAt,
	}
}

// Snapshot returns the state a store saves.
func (s *Session) Snapshot() Snapshot {
	return Snapshot{
		ID: s.id, TenantID: s.tenantID, Name: s.name, Provider: s.provider,
		Status: s.status, Phone: s.phone, Reason: s.reason, QR: s.qr, QRExpiresAt: s.qrExpiresAt,
		WantRunning: s.wantRunning, CreatedAt: s.createdAt, UpdatedAt: s.updatedAt, DeletedAt: s.deletedAt,
	}
}

// ID is the session id.
func (s *Session) ID() string { return s.id }

// TenantID is the owning tenant.
func (s *Session) TenantID() string { return s.tenantID }

// Ref names the session for providers.
func (s *Session) Ref() Ref { return Ref{TenantID: s.tenantID, SessionID: s.id} }

// Name is the user's label for the session (may be empty).
func (s *Session) Name() string { return s.name }

// Provider is the provider name ("whatsmeow", "simulator", …).
func (s *Session) Provider() string { return s.provider }

// Status is the lifecycle status.
func (s *Session) Status() Status { return s.status }

// Phone is the linked number in E.164, empty before the first link.
func (s *Session) Phone() string { return s.phone }

// DisconnectReason tells why a disconnected session is offline.
func (s *Session) DisconnectReason() DisconnectReason { return s.reason }

// WantRunning reports whether a user asked for the session to run.
func (s *Session) WantRunning() bool { return s.wantRunning }

// CreatedAt is when the session was created.
func (s *Session) CreatedAt() time.Time { return s.createdAt }

// UpdatedAt is when the session last changed.
func (s *Session) UpdatedAt() time.Time { return s.updatedAt }

// Deleted reports whether the session was deleted (its removal may still be
// in progress on the worker).
func (s *Session) Deleted() bool { return !s.deletedAt.IsZero() }

// Restorable reports whether a starting worker should run the session: a
// user wants it running and nothing requires a person to act first.
func (s *Session) Restorable() bool {
	if !s.wantRunning || s.Deleted() {
		return false
	}
	return !(s.status == StatusDisconnected && s.reason.Terminal())
}

// CurrentQR returns the QR code to show at now, or ErrNoQR.
func (s *Session) CurrentQR(now time.Time) (code string, expiresAt time.Time, err error) {
	if s.status != StatusPendingQR || s.qr == "" || !now.Before(s.qrExpiresAt) {
		return "", time.Time{}, ErrNoQR
	}
	return s.qr, s.qrExpiresAt, nil
}

// Start asks for the session to run.
func (s *Session) Start(now time.Time) error {
	if err := s.checkLive(); err != nil {
		return err
	}
	s.wantRunning = true
	s.touch(now)
	s.command(Start{})
	return nil
}

// Stop asks for the session to disconnect, keeping the pairing.
func (s *Session) Stop(now time.Time) error {
	if err := s.checkLive(); err != nil {
		return err
	}
	s.wantRunning = false
	s.touch(now)
	s.command(Stop{})
	return nil
}

// Logout asks for the device to be unlinked.
func (s *Session) Logout(now time.Time) error {
	if err := s.checkLive(); err != nil {
		return err
	}
	s.wantRunning = false
	s.touch(now)
	s.command(Logout{})
	return nil
}

// Delete marks the session deleted; the worker unlinks the device and
// removes what remains.
func (s *Session) Delete(now time.Time) error {
	if err := s.checkLive(); err != nil {
		return err
	}
	s.wantRunning = false
	s.qr, s.qrExpiresAt = "", time.Time{}
	s.touch(now)
	s.deletedAt = s.updatedAt
	s.record(Deleted{})
	s.command(Delete{Provider: s.provider})
	return nil
}

// RequestPairCode asks the worker for a pairing code for phone (E.164); the
// session starts if it was not running.
func (s *Session) RequestPairCode(requestID, phone string, now time.Time) error {
	if err := s.checkLive(); err != nil {
		return err
	}
	if s.status == StatusConnected {
		return ErrAlreadyConnected
	}
	jid, err := wa.NormalizeJID(phone)
	if err != nil || wa.PhoneOf(jid) == "" {
		return ErrInvalidPhone
	}
	s.wantRunning = true
	s.touch(now)
	s.command(PairCode{RequestID: requestID, Phone: wa.PhoneOf(jid)})
	return nil
}

// ShowQR records a new QR code to scan.
func (s *Session) ShowQR(code string, expiresAt, now time.Time) {
	s.status = StatusPendingQR
	s.reason = ReasonNone
	s.qr = code
	s.qrExpiresAt = expiresAt.UTC().Truncate(time.Millisecond)
	s.touch(now)
	s.record(QRUpdated{QR: code, ExpiresAt: s.qrExpiresAt})
}

// MarkConnected records that the device is linked and online as phone.
// Repeating it changes nothing and records no event.
func (s *Session) MarkConnected(phone string, now time.Time) {
	if s.status == StatusConnected && (phone == "" || phone == s.phone) {
		return
	}
	s.status = StatusConnected
	s.reason = ReasonNone
	if phone != "" {
		s.phone = phone
	}
	s.qr, s.qrExpiresAt = "", time.Time{}
	s.touch(now)
	s.record(Connected{Phone: s.phone})
}

// MarkDisconnected records that the session is offline for reason.
// Repeating it with the same reason records no event.
func (s *Session) MarkDisconnected(reason DisconnectReason, now time.Time) {
	if reason == ReasonNone {
		reason = ReasonError
	}
	if s.status == StatusDisconnected && s.reason == reason {
		return
	}
	s.status = StatusDisconnected
	s.reason = reason
	s.qr, s.qrExpiresAt = "", time.Time{}
	s.touch(now)
	s.record(Disconnected{Reason: reason})
}

// PopEvents returns and forgets the domain events recorded since load.
func (s *Session) PopEvents() []Event {
	ev := s.events
	s.events = nil
	return ev
}

// PopCommands returns and forgets the worker commands recorded since load.
func (s *Session) PopCommands() []Event {
	c := s.commands
	s.commands = nil
	return c
}

func (s *Session) checkLive() error {
	if s.Deleted() {
		return ErrNotFound
	}
	return nil
}

func (s *Session) touch(now time.Time) {
	now = now.UTC().Truncate(time.Millisecond)
	if now.After(s.updatedAt) {
		s.updatedAt = now
	}
}

func (s *Session) record(e Event)  { s.events = append(s.events, e) }
func (s *Session) command(e Event) { s.commands = append(s.commands, e) }
