package session

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

func TestStatusCollector(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, store.SQLite)
	st := NewStore(db)
	createSession(t, st, "a", "")
	s := createSession(t, st, "b", "")
	if _, err := st.Update(t.Context(), "b", s.ID(), func(s *Session) error {
		s.MarkConnected("+15550001111", time.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewStatusCollector(st, slog.New(slog.DiscardHandler)))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{"connected": 1, "pending_qr": 1, "disconnected": 0}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("wagate_sessions = %v, want %v", got, want)
		}
	}
}
