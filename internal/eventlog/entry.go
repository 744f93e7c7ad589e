package eventlog

import (
	"encoding/json"
	"fmt"
)

// Redis stream entries carry the envelope as JSON in the "event" field and
// the W3C trace context in "traceparent". Every reader of a wagate stream
// (consumer groups, WebSocket fan-out, tools) decodes them with DecodeEntry.
const (
	entryEventField = "event"
	entryTraceField = "traceparent"
)

// StreamKey is the Redis key of a stream under a deployment's key prefix.
func StreamKey(prefix, stream string) string { return prefix + stream }

// EntryValues encodes an envelope as Redis stream entry fields.
func EntryValues(e Envelope) (map[string]any, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode entry %s: %w", e.ID, err)
	}
	return map[string]any{entryEventField: string(b), entryTraceField: e.TraceParent}, nil
}

// DecodeEntry decodes the fields of a Redis stream entry into an envelope.
func DecodeEntry(values map[string]any) (Envelope, error) {
	raw, ok := values[entryEventField].(string)
	if !ok {
		return Envelope{}, fmt.Errorf("stream entry without %q field", entryEventField)
	}
	var e Envelope
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return Envelope{}, fmt.Errorf("decode stream entry: %w", err)
	}
	e.TraceParent, _ = values[entryTraceField].(string)
	return e, nil
}
