package cloud

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// WebhookAPI serves GET and POST /webhooks/messages, where Meta verifies and
// then delivers a Cloud API number's webhooks. It needs no wagate
// credentials: the verify token and the payload signature identify the
// session.
type WebhookAPI struct {
	store      *Store
	log        *slog.Logger
	deliveries *prometheus.CounterVec
}

// NewWebhookAPI returns the webhook API; reg receives its metrics (nil
// registers none).
func NewWebhookAPI(st *Store, logger *slog.Logger, reg prometheus.Registerer) (*WebhookAPI, error) {
	a := &WebhookAPI{
		store: st,
		log:   logger.With("component", "cloud-webhook"),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wagate_cloud_webhook_deliveries_total",
			Help: "Cloud API webhook deliveries received, by result (accepted, duplicate, ignored, rejected, invalid).",
		}, []string{"result"}),
	}
	if reg != nil {
		if err := reg.Register(a.deliveries); err != nil {
			return nil, err
		}
	}
	return a, nil
}

type verifyInput struct {
	Mode      string `query:"hub.mode" maxLength:"32" doc:"subscribe"`
	Token     string `query:"hub.verify_token" maxLength:"256" doc:"the verify token of a cloud session"`
	Challenge string `query:"hub.challenge" maxLength:"512" doc:"echoed back when the token matches"`
}

type verifyOutput struct {
	ContentType string `header:"Content-Type"`
	Body        []byte
}

type receiveInput struct {
	Signature string `header:"X-Hub-Signature-256" maxLength:"100" doc:"sha256=<hex HMAC-SHA256 of the body with the app secret>"`
	RawBody   []byte `contentType:"application/json"`
}

// ReceiveResult tells Meta (and people replaying deliveries) what happened.
type ReceiveResult struct {
	Accepted   int `json:"accepted" doc:"messages and statuses accepted for the first time"`
	Duplicates int `json:"duplicates" doc:"messages and statuses accepted before (a redelivery)"`
}

type receiveOutput struct {
	Body ReceiveResult
}

// Register adds the webhook operations to api.
func (a *WebhookAPI) Register(api huma.API) {
	tags := []string{"Cloud API webhook"}
	huma.Register(api, huma.Operation{
		OperationID: "cloudWebhookVerify", Method: http.MethodGet, Path: "/webhooks/messages", Tags: tags,
		Summary:     "Cloud API webhook verification",
		Description: "Meta's verification handshake: with hub.mode=subscribe and the verify token of a cloud session, answers hub.challenge as text/plain; 403 when no session has that token.",
		Responses: map[string]*huma.Response{"200": {
			Description: "The challenge",
			Content:     map[string]*huma.MediaType{"text/plain": {Schema: &huma.Schema{Type: "string"}}},
		}},
	}, a.verify)
	huma.Register(api, huma.Operation{
		OperationID: "cloudWebhookReceive", Method: http.MethodPost, Path: "/webhooks/messages", Tags: tags,
		Summary: "Cloud API webhook delivery (inbound messages, statuses)",
		// The signature covers the raw bytes; the handler parses them itself.
		SkipValidateBody: true,
		Description:      "Receives Meta's whatsapp_business_account payloads. X-Hub-Signature-256 must be the HMAC-SHA256 of the raw body with the app secret of the session owning metadata.phone_number_id (401 otherwise). The payload is stored durably before the 200; repeated messages and statuses are recognised and change nothing.",
	}, a.receive)
}

func (a *WebhookAPI) verify(ctx context.Context, in *verifyInput) (*verifyOutput, error) {
	if in.Mode != "subscribe" || in.Token == "" || in.Challenge == "" {
		return nil, ErrInvalidHandshake
	}
	ok, err := a.store.verifyTokenKnown(ctx, in.Token)
	if err != nil {
		return nil, err
	}
	if !ok {
		a.log.WarnContext(ctx, "webhook verification with an unknown verify token")
		return nil, ErrVerifyTokenMismatch
	}
	a.log.InfoContext(ctx, "webhook verified by Meta")
	return &verifyOutput{ContentType: "text/plain; charset=utf-8", Body: []byte(in.Challenge)}, nil
}

func (a *WebhookAPI) receive(ctx context.Context, in *receiveInput) (*receiveOutput, error) {
	sum, ok := parseSignature(in.Signature)
	if !ok {
		a.deliveries.WithLabelValues("rejected").Inc()
		return nil, ErrBadSignature
	}
	var p webhookPayload
	if err := json.Unmarshal(in.RawBody, &p); err != nil || p.Object != objectWABA {
		a.deliveries.WithLabelValues("invalid").Inc()
		return nil, ErrInvalidPayload
	}
	deliveries, relevant, err := a.verified(ctx, p, in.RawBody, sum)
	if err != nil {
		return nil, err
	}
	if len(deliveries) == 0 {
		if relevant {
			a.deliveries.WithLabelValues("rejected").Inc()
			a.log.WarnContext(ctx, "webhook delivery rejected: no session's app secret matches its signature")
			return nil, ErrBadSignature
		}
		// Nothing wagate handles (account or template updates): taking it
		// stops Meta from retrying it.
		a.deliveries.WithLabelValues("ignored").Inc()
		return &receiveOutput{}, nil
	}
	accepted, dups, err := a.store.accept(ctx, deliveries)
	if err != nil {
		return nil, err
	}
	if accepted > 0 {
		a.deliveries.WithLabelValues("accepted").Inc()
	} else {
		a.deliveries.WithLabelValues("duplicate").Inc()
	}
	return &receiveOutput{Body: ReceiveResult{Accepted: accepted, Duplicates: dups}}, nil
}

// verified returns, for every "messages" change of the payload, a delivery
// to each session of its phone number id whose app secret signed the body.
// A change no such session signed is dropped: a valid signature by one app
// must not let it deliver to another tenant's number. relevant reports
// whether the payload had any change wagate handles.
func (a *WebhookAPI) verified(ctx context.Context, p webhookPayload, body, sum []byte) (out []delivery, relevant bool, err error) {
	type verdict struct {
		sessions []candidate
	}
	byNumber := map[string]verdict{}
	for _, e := range p.Entry {
		for _, ch := range e.Changes {
			if ch.Field != fieldMessages {
				continue
			}
			var v changeValue
			if json.Unmarshal(ch.Value, &v) != nil || v.Metadata.PhoneNumberID == "" {
				continue
			}
			relevant = true
			number := v.Metadata.PhoneNumberID
			vd, seen := byNumber[number]
			if !seen {
				cands, err := a.store.candidates(ctx, number)
				if err != nil {
					return nil, false, err
				}
				for _, c := range cands {
					if validSignature(c.appSecret, body, sum) {
						vd.sessions = append(vd.sessions, c)
					}
				}
				byNumber[number] = vd
				if len(vd.sessions) == 0 {
					a.log.WarnContext(ctx, "webhook change for a number no verifying session owns", "phoneNumberId", number)
				}
			}
			for _, c := range vd.sessions {
				out = append(out, delivery{ref: c.ref, value: v})
			}
		}
	}
	return out, relevant, nil
}
