package webhook

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
)

// urlChecker refuses URLs wagate must not call (Guard).
type urlChecker interface {
	CheckURL(ctx context.Context, rawURL string) error
}

var _ urlChecker = Guard{}

// APIConfig configures the webhook endpoints API.
type APIConfig struct {
	// MaxEndpointsPerTenant bounds one tenant's endpoints. Default 25.
	MaxEndpointsPerTenant int
}

// API serves /webhook-endpoints.
type API struct {
	store *Store
	urls  urlChecker
	cfg   APIConfig
	now   func() time.Time
}

// NewAPI returns the webhook API over st; guard vets every URL set.
func NewAPI(st *Store, guard Guard, cfg APIConfig) *API {
	if cfg.MaxEndpointsPerTenant <= 0 {
		cfg.MaxEndpointsPerTenant = 25
	}
	return &API{store: st, urls: guard, cfg: cfg, now: time.Now}
}

// EndpointView is an endpoint as API clients see it.
type EndpointView struct {
	ID             string     `json:"id"`
	URL            string     `json:"url"`
	Events         []string   `json:"events" doc:"Event types or prefixes ending in .* (\"session.*\"); \"*\" is every event"`
	Enabled        bool       `json:"enabled" doc:"False once disabled by the user or after failing for a day"`
	DisabledReason string     `json:"disabledReason,omitempty"`
	FailingSince   *time.Time `json:"failingSince,omitempty" doc:"Start of the current run of failed attempts"`
	Secret         string     `json:"secret,omitempty" doc:"HMAC-SHA256 signing secret; returned only by create"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
}

func viewOf(e *Endpoint) EndpointView {
	v := EndpointView{
		ID: e.ID(), URL: e.URL(), Events: e.Events(), Enabled: e.Enabled(), DisabledReason: e.DisabledReason(),
		CreatedAt: e.CreatedAt(), UpdatedAt: e.UpdatedAt(),
	}
	if t := e.FailingSince(); !t.IsZero() {
		v.FailingSince = &t
	}
	return v
}

// DeliveryView is a delivery as API clients see it.
type DeliveryView struct {
	ID               string         `json:"id"`
	EventID          string         `json:"eventId" doc:"Sent as X-Wagate-Event-Id, the same on every attempt"`
	EventType        string         `json:"eventType"`
	Status           DeliveryStatus `json:"status" enum:"pending,succeeded,failed"`
	Attempts         int            `json:"attempts"`
	LastResponseCode int            `json:"lastResponseCode,omitempty" doc:"HTTP status of the last attempt; absent when it got no response"`
	LastError        string         `json:"lastError,omitempty"`
	NextAttemptAt    *time.Time     `json:"nextAttemptAt,omitempty"`
	CreatedAt        time.Time      `json:"createdAt"`
	UpdatedAt        time.Time      `json:"updatedAt"`
	CompletedAt      *time.Time     `json:"completedAt,omitempty"`
}

func deliveryView(d Delivery) DeliveryView {
	v := DeliveryView{
		ID: d.ID, EventID: d.EventID, EventType: d.EventType, Status: d.Status, Attempts: d.Attempts,
		LastResponseCode: d.LastStatusCode, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
	if !d.NextAttemptAt.IsZero() && d.Status == StatusPending {
		t := d.NextAttemptAt
		v.NextAttemptAt = &t
	}
	if !d.CompletedAt.IsZero() {
		t := d.CompletedAt
		v.CompletedAt = &t
	}
	return v
}

var security = []map[string][]string{{"bearer": {}}, {"apiKey": {}}}

type createEndpointInput struct {
	Body struct {
		URL    string   `json:"url" minLength:"1" maxLength:"2048" doc:"http(s) URL that receives POSTs; internal addresses are refused unless WAGATE_WEBHOOK_ALLOW_PRIVATE=true"`
		Events []string `json:"events" minItems:"1" maxItems:"50" doc:"Event types or prefixes ending in .*, e.g. [\"message.received\",\"session.*\"]; [\"*\"] for all"`
		Secret string   `json:"secret,omitempty" maxLength:"200" doc:"Signing secret (16+ characters); generated when absent"`
	}
}

type updateEndpointInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		URL     *string  `json:"url,omitempty" maxLength:"2048"`
		Events  []string `json:"events,omitempty" maxItems:"50"`
		Secret  *string  `json:"secret,omitempty" maxLength:"200" doc:"A new signing secret (16+ characters)"`
		Enabled *bool    `json:"enabled,omitempty" doc:"Re-enable a disabled endpoint, or pause one"`
	}
}

type endpointIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

type listEndpointsInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor string `query:"cursor" maxLength:"200"`
}

type listDeliveriesInput struct {
	ID     string `path:"id" maxLength:"64"`
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor string `query:"cursor" maxLength:"200"`
}

type endpointOutput struct {
	Body EndpointView
}

type listEndpointsOutput struct {
	Body struct {
		Items      []EndpointView `json:"items"`
		NextCursor string         `json:"nextCursor,omitempty"`
	}
}

type listDeliveriesOutput struct {
	Body struct {
		Items      []DeliveryView `json:"items"`
		NextCursor string         `json:"nextCursor,omitempty"`
	}
}

// Register adds the webhook endpoint operations to api.
func (a *API) Register(api huma.API) {
	tags := []string{"Webhooks"}
	huma.Register(api, huma.Operation{
		OperationID: "createWebhookEndpoint", Method: http.MethodPost, Path: "/webhook-endpoints", Tags: tags,
		Summary: "Register a webhook endpoint", DefaultStatus: http.StatusCreated, Security: security,
		Description: "Matching events are POSTed to the URL as the event envelope, signed with the secret " +
			"(X-Wagate-Signature, X-Hub-Signature-256); see docs/webhooks.md. The secret is shown only in this response.",
	}, a.create)
	huma.Register(api, huma.Operation{
		OperationID: "listWebhookEndpoints", Method: http.MethodGet, Path: "/webhook-endpoints", Tags: tags,
		Summary: "List webhook endpoints", Security: security,
	}, a.list)
	huma.Register(api, huma.Operation{
		OperationID: "getWebhookEndpoint", Method: http.MethodGet, Path: "/webhook-endpoints/{id}", Tags: tags,
		Summary: "Get a webhook endpoint", Security: security,
	}, a.get)
	huma.Register(api, huma.Operation{
		OperationID: "updateWebhookEndpoint", Method: http.MethodPatch, Path: "/webhook-endpoints/{id}", Tags: tags,
		Summary: "Change a webhook endpoint", Security: security,
		Description: "Absent fields stay as they are. {\"enabled\":true} re-enables an endpoint disabled after failing.",
	}, a.update)
	huma.Register(api, huma.Operation{
		OperationID: "deleteWebhookEndpoint", Method: http.MethodDelete, Path: "/webhook-endpoints/{id}", Tags: tags,
		Summary: "Delete a webhook endpoint", DefaultStatus: http.StatusNoContent, Security: security,
		Description: "Pending deliveries are dropped.",
	}, a.delete)
	huma.Register(api, huma.Operation{
		OperationID: "listWebhookDeliveries", Method: http.MethodGet, Path: "/webhook-endpoints/{id}/deliveries", Tags: tags,
		Summary: "List an endpoint's deliveries", Security: security,
		Description: "Newest first: status, attempts, last response code and the next attempt of each.",
	}, a.deliveries)
}

func (a *API) create(ctx context.Context, in *createEndpointInput) (*endpointOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	e, err := NewEndpoint(eventlog.NewID(), p.TenantID, in.Body.URL, in.Body.Events, in.Body.Secret, a.now())
	if err != nil {
		return nil, err
	}
	if err := a.urls.CheckURL(ctx, e.URL()); err != nil {
		return nil, err
	}
	if err := a.store.CreateEndpoint(ctx, e, a.cfg.MaxEndpointsPerTenant); err != nil {
		return nil, err
	}
	v := viewOf(e)
	v.Secret = e.Secret()
	return &endpointOutput{Body: v}, nil
}

func (a *API) list(ctx context.Context, in *listEndpointsInput) (*listEndpointsOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	items, next, err := a.store.Endpoints(ctx, p.TenantID, Page{Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, err
	}
	out := &listEndpointsOutput{}
	out.Body.Items = make([]EndpointView, 0, len(items))
	for _, e := range items {
		out.Body.Items = append(out.Body.Items, viewOf(e))
	}
	out.Body.NextCursor = next
	return out, nil
}

func (a *API) get(ctx context.Context, in *endpointIDInput) (*endpointOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	e, err := a.store.Endpoint(ctx, p.TenantID, in.ID)
	if err != nil {
		return nil, err
	}
	return &endpointOutput{Body: viewOf(e)}, nil
}

func (a *API) update(ctx context.Context, in *updateEndpointInput) (*endpointOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	changes := EndpointChanges{URL: in.Body.URL, Events: in.Body.Events, Secret: in.Body.Secret, Enabled: in.Body.Enabled}
	if changes.URL != nil {
		// Vet outside the transaction: DNS may be slow.
		u, err := normalizeURL(*changes.URL)
		if err != nil {
			return nil, err
		}
		if err := a.urls.CheckURL(ctx, u); err != nil {
			return nil, err
		}
	}
	e, err := a.store.UpdateEndpoint(ctx, p.TenantID, in.ID, func(e *Endpoint) error {
		return e.Apply(changes, a.now())
	})
	if err != nil {
		return nil, err
	}
	return &endpointOutput{Body: viewOf(e)}, nil
}

func (a *API) delete(ctx context.Context, in *endpointIDInput) (*struct{}, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	return nil, a.store.DeleteEndpoint(ctx, p.TenantID, in.ID)
}

func (a *API) deliveries(ctx context.Context, in *listDeliveriesInput) (*listDeliveriesOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	items, next, err := a.store.Deliveries(ctx, p.TenantID, in.ID, Page{Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, err
	}
	out := &listDeliveriesOutput{}
	out.Body.Items = make([]DeliveryView, 0, len(items))
	for _, d := range items {
		out.Body.Items = append(out.Body.Items, deliveryView(d))
	}
	out.Body.NextCursor = next
	return out, nil
}
