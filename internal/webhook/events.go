package webhook

import "time"

// EndpointDisabledType is the wire name of EndpointDisabled.
const EndpointDisabledType = "webhook.endpoint.disabled"

// EndpointDisabled is emitted when an endpoint that kept failing is switched
// off; deliveries still pending for it are marked failed.
type EndpointDisabled struct {
	EndpointID   string    `json:"endpointId"`
	URL          string    `json:"url"`
	Reason       string    `json:"reason"`
	FailingSince time.Time `json:"failingSince"`
}

// EventType implements eventlog.Event.
func (EndpointDisabled) EventType() string { return EndpointDisabledType }
