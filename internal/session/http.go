package session

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
)

// APIConfig configures the session endpoints.
type APIConfig struct {
	// Providers are the provider names clients may choose; the first is
	// the default. Default: whatsmeow only.
	Providers []string
	// PairCodeWait bounds how long POST /sessions/{id}/pair-code waits for
	// the worker (default 20s); PairCodePoll is its polling period
	// (default 100ms).
	PairCodeWait, PairCodePoll time.Duration
	// Cloud stores the credentials of "cloud" sessions; without it the
	// cloud provider cannot be chosen.
	Cloud CloudCredentials
}

// API serves the session endpoints. It never talks to a provider: it
// changes sessions and writes worker commands through the outbox.
type API struct {
	store *Store
	pairs *pairRequests
	cfg   APIConfig
}

// NewAPI returns the session API over store.
func NewAPI(store *Store, cfg APIConfig) *API {
	if len(cfg.Providers) == 0 {
		cfg.Providers = []string{ProviderWhatsmeow}
	}
	if cfg.PairCodeWait <= 0 {
		cfg.PairCodeWait = 20 * time.Second
	}
	if cfg.PairCodePoll <= 0 {
		cfg.PairCodePoll = 100 * time.Millisecond
	}
	return &API{store: store, pairs: &pairRequests{db: store.DB()}, cfg: cfg}
}

// SessionView is a session as API clients see it.
type SessionView struct {
	ID               string           `json:"id" doc:"Session id"`
	Name             string           `json:"name"`
	Provider         string           `json:"provider" enum:"whatsmeow,simulator,cloud"`
	Status           Status           `json:"status" enum:"pending_qr,connected,disconnected"`
	Phone            string           `json:"phone,omitempty" doc:"Linked number, E.164"`
	DisconnectReason DisconnectReason `json:"disconnectReason,omitempty" doc:"Why a disconnected session is offline: stopped, logged_out, connection_lost, replaced, banned, qr_timeout, client_outdated, keepalive_timeout, pair_failed, worker_stopped, provider_unavailable, error"`
	CreatedAt        time.Time        `json:"createdAt"`
	UpdatedAt        time.Time        `json:"updatedAt"`
}

// ViewOf renders a session for API clients.
func ViewOf(s *Session) SessionView {
	return SessionView{
		ID: s.ID(), Name: s.Name(), Provider: s.Provider(), Status: s.Status(), Phone: s.Phone(),
		DisconnectReason: s.DisconnectReason(), CreatedAt: s.CreatedAt(), UpdatedAt: s.UpdatedAt(),
	}
}

var security = []map[string][]string{{"bearer": {}}, {"apiKey": {}}}

type createInput struct {
	Body *struct {
		Name     string         `json:"name,omitempty" maxLength:"100" doc:"A label for the session"`
		Provider string         `json:"provider,omitempty" doc:"whatsmeow (default), cloud (Meta's WhatsApp Cloud API; needs the cloud object) or simulator (only with WAGATE_SIMULATOR=true)"`
		Cloud    *CloudSettings `json:"cloud,omitempty" doc:"Cloud API credentials, for provider cloud only; stored encrypted, never returned"`
	}
}

type createOutput struct {
	Body struct {
		SessionID string `json:"sessionId"`
		Status    Status `json:"status"`
	}
}

type idInput struct {
	ID string `path:"id" maxLength:"64"`
}

type viewOutput struct {
	Body SessionView
}

type listInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor string `query:"cursor" maxLength:"200"`
}

type listOutput struct {
	Body struct {
		Items      []SessionView `json:"items"`
		NextCursor string        `json:"nextCursor,omitempty"`
	}
}

type qrInput struct {
	ID     string `path:"id" maxLength:"64"`
	Accept string `header:"Accept"`
}

// QRView is the current QR code of a session.
type QRView struct {
	QR        string    `json:"qr" doc:"Render this string as a QR code and scan it from WhatsApp → Linked devices"`
	ExpiresAt time.Time `json:"expiresAt"`
}

type qrOutput struct {
	ContentType  string `header:"Content-Type"`
	CacheControl string `header:"Cache-Control"`
	Body         []byte
}

type pairInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Phone string `json:"phone" minLength:"6" maxLength:"32" doc:"The phone number to link, E.164 (+15550001111)"`
	}
}

type pairOutput struct {
	Body struct {
		Code string `json:"code" doc:"Type it on the phone: WhatsApp → Linked devices → Link with phone number"`
	}
}

// Register adds the session operations to api.
func (a *API) Register(api huma.API) {
	tags := []string{"Sessions"}
	huma.Register(api, huma.Operation{
		OperationID: "createSession", Method: http.MethodPost, Path: "/sessions", Tags: tags,
		Summary: "Create a session", DefaultStatus: http.StatusCreated, Security: security,
		Description: "Creates a WhatsApp session and asks the worker to start it; watch for session.qr.updated or poll GET /sessions/{id}/qr.",
	}, a.create)
	huma.Register(api, huma.Operation{
		OperationID: "listSessions", Method: http.MethodGet, Path: "/sessions", Tags: tags,
		Summary: "List sessions", Security: security,
	}, a.list)
	huma.Register(api, huma.Operation{
		OperationID: "getSession", Method: http.MethodGet, Path: "/sessions/{id}", Tags: tags,
		Summary: "Get a session", Security: security,
	}, a.get)
	huma.Register(api, huma.Operation{
		OperationID: "getSessionQR", Method: http.MethodGet, Path: "/sessions/{id}/qr", Tags: tags,
		Summary: "Current QR code", Security: security,
		Description: "JSON {qr, expiresAt}, or a PNG image with Accept: image/png. 409 when there is no QR to scan now.",
		Responses: map[string]*huma.Response{"200": {
			Description: "The QR code",
			Content: map[string]*huma.MediaType{
				"application/json": {Schema: huma.SchemaFromType(api.OpenAPI().Components.Schemas, reflectType[QRView]())},
				"image/png":        {Schema: &huma.Schema{Type: "string", Format: "binary"}},
			},
		}},
	}, a.qr)
	huma.Register(api, huma.Operation{
		OperationID: "requestPairCode", Method: http.MethodPost, Path: "/sessions/{id}/pair-code", Tags: tags,
		Summary: "Link by phone number", Security: security,
		Description: "Asks WhatsApp for an 8-character code to type on the phone instead of scanning a QR. Waits for the worker; 503 when it does not answer in time.",
	}, a.pairCode)
	for _, op := range []struct {
		id, path, summary string
		fn                func(*Session, time.Time) error
	}{
		{"startSession", "/sessions/{id}/start", "Start (connect) a session", (*Session).Start},
		{"stopSession", "/sessions/{id}/stop", "Stop a session, keeping its pairing", (*Session).Stop},
		{"logoutSession", "/sessions/{id}/logout", "Unlink the session's device", (*Session).Logout},
	} {
		huma.Register(api, huma.Operation{
			OperationID: op.id, Method: http.MethodPost, Path: op.path, Tags: tags,
			Summary: op.summary, DefaultStatus: http.StatusAccepted, Security: security,
		}, func(ctx context.Context, in *idInput) (*viewOutput, error) { return a.change(ctx, in.ID, op.fn) })
	}
	huma.Register(api, huma.Operation{
		OperationID: "deleteSession", Method: http.MethodDelete, Path: "/sessions/{id}", Tags: tags,
		Summary: "Delete a session", DefaultStatus: http.StatusNoContent, Security: security,
		Description: "Stops the session, unlinks its device and removes it.",
	}, func(ctx context.Context, in *idInput) (*struct{}, error) {
		_, err := a.change(ctx, in.ID, (*Session).Delete)
		return nil, err
	})
}

func (a *API) create(ctx context.Context, in *createInput) (*createOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	var name, provider string
	var cloud *CloudSettings
	if in.Body != nil {
		name, provider, cloud = in.Body.Name, in.Body.Provider, in.Body.Cloud
	}
	if provider == "" {
		provider = a.cfg.Providers[0]
	}
	if !slices.Contains(a.cfg.Providers, provider) {
		return nil, ErrUnknownProvider.WithMessage("provider %q is not available; use one of: %s",
			provider, strings.Join(a.cfg.Providers, ", "))
	}
	settings, err := a.cloudSetup(provider, cloud)
	if err != nil {
		return nil, err
	}
	sess, err := NewSession(eventlog.NewID(), p.TenantID, name, provider, time.Now())
	if err != nil {
		return nil, err
	}
	if err := a.store.Create(ctx, sess, settings); err != nil {
		return nil, err
	}
	out := &createOutput{}
	out.Body.SessionID = sess.ID()
	out.Body.Status = sess.Status()
	return out, nil
}

func (a *API) list(ctx context.Context, in *listInput) (*listOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	items, next, err := a.store.List(ctx, p.TenantID, Page{Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, err
	}
	out := &listOutput{}
	out.Body.Items = make([]SessionView, 0, len(items))
	for _, s := range items {
		out.Body.Items = append(out.Body.Items, ViewOf(s))
	}
	out.Body.NextCursor = next
	return out, nil
}

func (a *API) get(ctx context.Context, in *idInput) (*viewOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := a.store.Get(ctx, p.TenantID, in.ID)
	if err != nil {
		return nil, err
	}
	return &viewOutput{Body: ViewOf(sess)}, nil
}

func (a *API) qr(ctx context.Context, in *qrInput) (*qrOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := a.store.Get(ctx, p.TenantID, in.ID)
	if err != nil {
		return nil, err
	}
	code, expiresAt, err := sess.CurrentQR(time.Now())
	if err != nil {
		return nil, err
	}
	out := &qrOutput{CacheControl: "no-store"}
	if strings.Contains(strings.ToLower(in.Accept), "image/png") {
		png, err := qrcode.Encode(code, qrcode.Medium, 256)
		if err != nil {
			return nil, err
		}
		out.ContentType, out.Body = "image/png", png
		return out, nil
	}
	body, err := json.Marshal(QRView{QR: code, ExpiresAt: expiresAt})
	if err != nil {
		return nil, err
	}
	out.ContentType, out.Body = "application/json", body
	return out, nil
}

func (a *API) pairCode(ctx context.Context, in *pairInput) (*pairOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	reqID, err := a.pairs.create(ctx, a.store, p.TenantID, in.ID, in.Body.Phone, time.Now())
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, a.cfg.PairCodeWait)
	defer cancel()
	code, err := a.pairs.wait(wctx, p.TenantID, reqID, a.cfg.PairCodePoll)
	if err != nil {
		return nil, err
	}
	out := &pairOutput{}
	out.Body.Code = code
	return out, nil
}

func (a *API) change(ctx context.Context, id string, fn func(*Session, time.Time) error) (*viewOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := a.store.Update(ctx, p.TenantID, id, func(s *Session) error { return fn(s, time.Now()) })
	if err != nil {
		return nil, err
	}
	return &viewOutput{Body: ViewOf(sess)}, nil
}

func reflectType[T any]() reflect.Type { return reflect.TypeFor[T]() }
