package session

// DisconnectReason is a stable code telling why a session is not connected.
// The codes are public (API, events) and never change meaning.
type DisconnectReason string

// Disconnect reasons.
const (
	// ReasonNone is the reason of a session that is not disconnected.
	ReasonNone DisconnectReason = ""
	// ReasonStopped: a user stopped the session; the pairing is kept.
	ReasonStopped DisconnectReason = "stopped"
	// ReasonLoggedOut: the device was unlinked (by the API or the phone);
	// starting again asks for a new QR.
	ReasonLoggedOut DisconnectReason = "logged_out"
	// ReasonConnectionLost: the network dropped; the worker reconnects.
	ReasonConnectionLost DisconnectReason = "connection_lost"
	// ReasonReplaced: another client opened the same device (stream replaced).
	ReasonReplaced DisconnectReason = "replaced"
	// ReasonBanned: WhatsApp banned the number (temporarily or for good).
	ReasonBanned DisconnectReason = "banned"
	// ReasonQRTimeout: no QR code was scanned before they ran out.
	ReasonQRTimeout DisconnectReason = "qr_timeout"
	// ReasonClientOutdated: WhatsApp refuses this client version.
	ReasonClientOutdated DisconnectReason = "client_outdated"
	// ReasonKeepAliveTimeout: the server stopped answering keep-alives.
	ReasonKeepAliveTimeout DisconnectReason = "keepalive_timeout"
	// ReasonPairFailed: the phone scanned but pairing failed.
	ReasonPairFailed DisconnectReason = "pair_failed"
	// ReasonWorkerStopped: the worker running the session shut down; the
	// next worker to start restores it.
	ReasonWorkerStopped DisconnectReason = "worker_stopped"
	// ReasonProviderUnavailable: the session's provider is not enabled in
	// this deployment (e.g. simulator without WAGATE_SIMULATOR=true).
	ReasonProviderUnavailable DisconnectReason = "provider_unavailable"
	// ReasonError: anything else; details are in the worker's logs.
	ReasonError DisconnectReason = "error"
)

var reasons = map[DisconnectReason]bool{
	ReasonStopped: true, ReasonLoggedOut: true, ReasonConnectionLost: true, ReasonReplaced: true,
	ReasonBanned: true, ReasonQRTimeout: true, ReasonClientOutdated: true, ReasonKeepAliveTimeout: true,
	ReasonPairFailed: true, ReasonWorkerStopped: true, ReasonProviderUnavailable: true, ReasonError: true,
}

// ParseDisconnectReason returns the reason with that code; unknown codes are
// ReasonError so data written by a newer version still loads.
func ParseDisconnectReason(s string) DisconnectReason {
	if s == "" {
		return ReasonNone
	}
	if r := DisconnectReason(s); reasons[r] {
		return r
	}
	return ReasonError
}

// Terminal reports whether a person must act before the session can run
// again (scan a new QR, re-link, update wagate): such sessions are not
// restored when a worker starts.
func (r DisconnectReason) Terminal() bool {
	switch r {
	case ReasonLoggedOut, ReasonBanned, ReasonReplaced, ReasonQRTimeout, ReasonClientOutdated, ReasonPairFailed:
		return true
	}
	return false
}

// Retryable reports whether the worker should reconnect by itself after a
// disconnection for this reason: only transient network trouble qualifies.
// A logged-out, banned, replaced or outdated client is never retried.
func (r DisconnectReason) Retryable() bool {
	switch r {
	case ReasonConnectionLost, ReasonKeepAliveTimeout, ReasonError:
		return true
	}
	return false
}
