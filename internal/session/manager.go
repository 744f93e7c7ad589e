package session

import "sync"

// Manager runs the session worker: one provider client per running session.
type Manager struct {
	mu      sync.Mutex
	running map[string]*runner
}

// runner is one running session.
type runner struct {
	ref    Ref
	client Client
}

// connectedClient returns the client of a session this worker runs, if it
// is connected now.
func (m *Manager) connectedClient(tenantID, sessionID string) (Client, error) {
	m.mu.Lock()
	r := m.running[sessionID]
	m.mu.Unlock()
	if r == nil || r.ref.TenantID != tenantID || r.client == nil || !r.client.IsConnected() {
		return nil, ErrNotConnected
	}
	return r.client, nil
}
