// Package eventlog carries domain events and worker commands from the
// transaction that produced them to every subscriber: the envelope, the
// transactional outbox, the dispatcher to Redis Streams, consumer groups with
// retries and dead letters, and the embedded log used without Redis.
package eventlog

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Stream names. Events go to DomainEvents; commands for the session worker go
// to SessionCommands so they are consumed only by workers.
const (
	DomainEvents    = "domain-events"
	SessionCommands = "session-commands"
	DeadLetterQueue = "domain-events-dlq"
)

// Envelope is the wire form of every event and command, the same on streams,
// the WebSocket and webhooks.
type Envelope struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	TenantID   string          `json:"tenantId"`
	SessionID  string          `json:"sessionId,omitempty"`
	OccurredAt time.Time       `json:"occurredAt"`
	Data       json.RawMessage `json:"data"`
	// TraceParent is the W3C traceparent of the span that produced the event,
	// so one trace spans API → dispatcher → worker → consumer.
	TraceParent string `json:"-"`
}

// Event is implemented by domain event payloads: the wire name is stable and
// independent of the Go type name.
type Event interface {
	EventType() string
}

// NewEnvelope wraps a payload in an envelope with a fresh UUIDv7 id, the
// current time and the trace context of ctx.
func NewEnvelope(ctx context.Context, tenantID, sessionID string, ev Event) (Envelope, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s: %w", ev.EventType(), err)
	}
	return Envelope{
		ID:          NewID(),
		Type:        ev.EventType(),
		TenantID:    tenantID,
		SessionID:   sessionID,
		OccurredAt:  time.Now().UTC().Truncate(time.Millisecond),
		Data:        data,
		TraceParent: traceParent(ctx),
	}, nil
}

// MustEnvelope is NewEnvelope for payloads that always encode (plain structs).
func MustEnvelope(ctx context.Context, tenantID, sessionID string, ev Event) Envelope {
	env, err := NewEnvelope(ctx, tenantID, sessionID, ev)
	if err != nil {
		panic(err)
	}
	return env
}

// Decode unmarshals the envelope's data into v.
func (e Envelope) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("decode %s %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// Context returns ctx carrying the envelope's trace context, so a consumer's
// span joins the producer's trace.
func (e Envelope) Context(ctx context.Context) context.Context {
	if e.TraceParent == "" {
		return ctx
	}
	carrier := propagation.MapCarrier{"traceparent": e.TraceParent}
	return otel.GetTextMapPropagator().Extract(ctx, carrier)
}

// NewID returns a time-ordered UUIDv7 string.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

func traceParent(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	return carrier["traceparent"]
}

// envelopeJSON is the stored form of an envelope (dead letters); the trace
// context is kept beside it because Envelope does not marshal it.
func envelopeJSON(e Envelope) (string, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("encode envelope %s: %w", e.ID, err)
	}
	return string(b), nil
}

func parseEnvelopeJSON(body, traceParent string) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return Envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	e.TraceParent = traceParent
	return e, nil
}
