package session

import (
	"errors"
	"testing"
	"time"
)

func newTestSession(t *testing.T) *Session {
	t.Helper()
	s, err := NewSession("s1", "t1", "  shop  ", "", time.UnixMilli(1000))
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	return s
}

func eventTypes(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.EventType())
	}
	return out
}

func TestNewSession(t *testing.T) {
	t.Parallel()
	t.Run("DefaultsAndRecordsCreatedAndStart", func(t *testing.T) {
		t.Parallel()
		s := newTestSession(t)
		if s.Name() != "shop" || s.Provider() != ProviderWhatsmeow || s.Status() != StatusPendingQR || !s.WantRunning() {
			t.Fatalf("unexpected session %+v", s.Snapshot())
		}
		if got := eventTypes(s.PopEvents()); len(got) != 1 || got[0] != EventCreated {
			t.Fatalf("events = %v", got)
		}
		if got := eventTypes(s.PopCommands()); len(got) != 1 || got[0] != CommandStart {
			t.Fatalf("commands = %v", got)
		}
		if len(s.PopEvents()) != 0 {
			t.Fatal("PopEvents must forget what it returned")
		}
	})
	t.Run("RejectsBadInput", func(t *testing.T) {
		t.Parallel()
		for name, tc := range map[string]struct {
			id, tenant, name, provider string
			want                       error
		}{
			"UnknownProvider": {"s", "t", "", "telegram", ErrUnknownProvider},
			"LongName":        {"s", "t", string(make([]rune, 101)), "", ErrInvalidName},
			"ControlChars":    {"s", "t", "a\x00b", "", ErrInvalidName},
		} {
			if _, err := NewSession(tc.id, tc.tenant, tc.name, tc.provider, time.Now()); !errors.Is(err, tc.want) {
				t.Errorf("%s: err = %v, want %v", name, err, tc.want)
			}
		}
		if _, err := NewSession("", "t", "", "", time.Now()); err == nil {
			t.Error("a session without id must be rejected")
		}
	})
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(5000)

	t.Run("QRThenConnectedThenDisconnected", func(t *testing.T) {
		t.Parallel()
		s := newTestSession(t)
		s.PopEvents()
		s.ShowQR("2@abc", now.Add(time.Minute), now)
		code, exp, err := s.CurrentQR(now)
		if err != nil || code != "2@abc" || !exp.Equal(now.Add(time.Minute)) {
			t.Fatalf("CurrentQR = %q %v %v", code, exp, err)
		}
		if _, _, err := s.CurrentQR(now.Add(time.Minute)); !errors.Is(err, ErrNoQR) {
			t.Fatalf("expired QR: err = %v", err)
		}
		s.MarkConnected("+15550001111", now)
		s.MarkConnected("+15550001111", now) // repeated: no second event
		if s.Status() != StatusConnected || s.Phone() != "+15550001111" {
			t.Fatalf("status %s phone %s", s.Status(), s.Phone())
		}
		if _, _, err := s.CurrentQR(now); !errors.Is(err, ErrNoQR) {
			t.Fatal("a connected session has no QR")
		}
		s.MarkDisconnected(ReasonConnectionLost, now)
		s.MarkDisconnected(ReasonConnectionLost, now)
		got := eventTypes(s.PopEvents())
		want := []string{EventQRUpdated, EventConnected, EventDisconnected}
		if len(got) != len(want) {
			t.Fatalf("events = %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("events = %v, want %v", got, want)
			}
		}
		if s.DisconnectReason() != ReasonConnectionLost {
			t.Fatalf("reason = %s", s.DisconnectReason())
		}
	})

	t.Run("StopAndStartChangeIntent", func(t *testing.T) {
		t.Parallel()
		s := newTestSession(t)
		s.PopCommands()
		if err := s.Stop(now); err != nil || s.WantRunning() {
			t.Fatalf("Stop: %v want=%v", err, s.WantRunning())
		}
		if err := s.Start(now); err != nil || !s.WantRunning() {
			t.Fatalf("Start: %v want=%v", err, s.WantRunning())
		}
		if err := s.Logout(now); err != nil || s.WantRunning() {
			t.Fatalf("Logout: %v want=%v", err, s.WantRunning())
		}
		got := eventTypes(s.PopCommands())
		if len(got) != 3 || got[0] != CommandStop || got[1] != CommandStart || got[2] != CommandLogout {
			t.Fatalf("commands = %v", got)
		}
	})

	t.Run("TerminalDisconnectIsNotRestorable", func(t *testing.T) {
		t.Parallel()
		s := newTestSession(t)
		if !s.Restorable() {
			t.Fatal("a new session is restorable")
		}
		s.MarkDisconnected(ReasonConnectionLost, now)
		if !s.Restorable() {
			t.Fatal("a lost connection is restorable")
		}
		s.MarkDisconnected(ReasonQRTimeout, now)
		if s.Restorable() {
			t.Fatal("a QR timeout needs a person")
		}
		_ = s.Start(now)
		if !s.WantRunning() {
			t.Fatal("Start sets the intent even after a terminal disconnect")
		}
	})

	t.Run("DeletedSessionRefusesEverything", func(t *testing.T) {
		t.Parallel()
		s := newTestSession(t)
		if err := s.Delete(now); err != nil {
			t.Fatal(err)
		}
		if !s.Deleted() || s.Restorable() {
			t.Fatal("deleted session must not run")
		}
		for name, fn := range map[string]func(time.Time) error{"Start": s.Start, "Stop": s.Stop, "Logout": s.Logout, "Delete": s.Delete} {
			if err := fn(now); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s on deleted: %v", name, err)
			}
		}
	})

	t.Run("PairCodeNeedsUnlinkedSessionAndValidPhone", func(t *testing.T) {
		t.Parallel()
		s := newTestSession(t)
		s.PopCommands()
		if err := s.RequestPairCode("r1", "not a phone", now); !errors.Is(err, ErrInvalidPhone) {
			t.Fatalf("bad phone: %v", err)
		}
		if err := s.RequestPairCode("r1", "+1 555 000 1111", now); err != nil {
			t.Fatal(err)
		}
		cmds := s.PopCommands()
		if pc, ok := cmds[0].(PairCode); !ok || pc.Phone != "+15550001111" || pc.RequestID != "r1" {
			t.Fatalf("command = %#v", cmds)
		}
		s.MarkConnected("+15550001111", now)
		if err := s.RequestPairCode("r2", "+15550001111", now); !errors.Is(err, ErrAlreadyConnected) {
			t.Fatalf("connected: %v", err)
		}
	})
}

func TestDisconnectReason(t *testing.T) {
	t.Parallel()
	if ParseDisconnectReason("from_the_future") != ReasonError {
		t.Error("unknown codes load as error")
	}
	if ParseDisconnectReason("logged_out") != ReasonLoggedOut || ParseDisconnectReason("") != ReasonNone {
		t.Error("known codes round-trip")
	}
	for _, r := range []DisconnectReason{ReasonLoggedOut, ReasonBanned, ReasonReplaced, ReasonQRTimeout, ReasonClientOutdated} {
		if r.Retryable() || !r.Terminal() {
			t.Errorf("%s must be terminal and never retried", r)
		}
	}
	for _, r := range []DisconnectReason{ReasonConnectionLost, ReasonKeepAliveTimeout} {
		if !r.Retryable() || r.Terminal() {
			t.Errorf("%s must be retried", r)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	min, max := time.Second, 30*time.Second
	cases := []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{1, 0, 500 * time.Millisecond},
		{1, 0.999999, time.Second - time.Microsecond},
		{2, 0, time.Second},
		{3, 0, 2 * time.Second},
		{10, 0, 15 * time.Second},
		{100, 0, 15 * time.Second},
	}
	for _, c := range cases {
		got := backoff(c.n, min, max, c.jitter)
		if got < c.want-time.Millisecond || got > c.want+time.Millisecond {
			t.Errorf("backoff(%d, jitter %v) = %v, want ≈%v", c.n, c.jitter, got, c.want)
		}
	}
}
