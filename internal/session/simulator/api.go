package simulator

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/wa"
)

// API serves the simulator control endpoints. Register it only when the
// simulator is enabled: otherwise the paths do not exist (404).
type API struct {
	sessions *session.Store
}

// NewAPI returns the control API over the session store.
func NewAPI(sessions *session.Store) *API { return &API{sessions: sessions} }

var errNotSimulated = apperr.Conflict("not-a-simulator-session", "this session does not use the simulator provider")

type scanInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Phone string `json:"phone" minLength:"6" maxLength:"32" doc:"The simulated phone's number, E.164"`
	}
}

type inboundInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		From     string `json:"from" minLength:"6" maxLength:"64" doc:"Sender, E.164 or JID"`
		Text     string `json:"text" minLength:"1" maxLength:"65536"`
		PushName string `json:"pushName,omitempty" maxLength:"100"`
	}
}

type historyInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Chats           int `json:"chats" minimum:"1" maximum:"50"`
		MessagesPerChat int `json:"messagesPerChat" minimum:"1" maximum:"500"`
	}
}

type disconnectInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Reason string `json:"reason" enum:"connection_lost,logged_out"`
	}
}

type acceptedOutput struct {
	Body struct {
		Accepted  bool   `json:"accepted"`
		MessageID string `json:"messageId,omitempty" doc:"WhatsApp id of the injected inbound message"`
	}
}

// Register adds the control operations to api.
func (a *API) Register(api huma.API) {
	tags := []string{"Simulator"}
	sec := []map[string][]string{{"bearer": {}}, {"apiKey": {}}}
	op := func(id, path, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: http.MethodPost, Path: path, Tags: tags,
			Summary: summary, DefaultStatus: http.StatusAccepted, Security: sec}
	}
	huma.Register(api, op("simulatorScan", "/simulator/sessions/{id}/scan", "The phone scans the current QR"), a.scan)
	huma.Register(api, op("simulatorInbound", "/simulator/sessions/{id}/inbound", "A contact writes to the session"), a.inbound)
	huma.Register(api, op("simulatorHistory", "/simulator/sessions/{id}/history", "A history sync arrives"), a.history)
	huma.Register(api, op("simulatorDisconnect", "/simulator/sessions/{id}/disconnect", "The connection drops or the device is logged out"), a.disconnect)
}

// load returns the caller's simulator session.
func (a *API) load(ctx context.Context, id string) (*session.Session, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := a.sessions.Get(ctx, p.TenantID, id)
	if err != nil {
		return nil, err
	}
	if sess.Provider() != session.ProviderSimulator {
		return nil, errNotSimulated
	}
	return sess, nil
}

func (a *API) send(ctx context.Context, sess *session.Session, cmd session.Event) (*acceptedOutput, error) {
	if err := a.sessions.AppendCommand(ctx, sess.TenantID(), sess.ID(), cmd); err != nil {
		return nil, err
	}
	out := &acceptedOutput{}
	out.Body.Accepted = true
	return out, nil
}

func (a *API) scan(ctx context.Context, in *scanInput) (*acceptedOutput, error) {
	sess, err := a.load(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	jid, err := wa.NormalizeJID(in.Body.Phone)
	if err != nil || wa.PhoneOf(jid) == "" {
		return nil, session.ErrInvalidPhone
	}
	if _, _, err := sess.CurrentQR(time.Now()); err != nil {
		return nil, err
	}
	return a.send(ctx, sess, Scan{Phone: wa.PhoneOf(jid)})
}

func (a *API) inbound(ctx context.Context, in *inboundInput) (*acceptedOutput, error) {
	sess, err := a.load(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	jid, err := wa.NormalizeJID(in.Body.From)
	if err != nil {
		return nil, err
	}
	m := wa.Message{
		MessageID: "SIMIN" + randomHex(8),
		ChatJID:   jid,
		SenderJID: jid,
		PushName:  in.Body.PushName,
		Type:      wa.TypeText,
		Content:   wa.Content{Text: in.Body.Text},
		Timestamp: time.Now().UTC().Truncate(time.Second),
	}
	out, err := a.send(ctx, sess, Inbound{Message: m})
	if err != nil {
		return nil, err
	}
	out.Body.MessageID = m.MessageID
	return out, nil
}

func (a *API) history(ctx context.Context, in *historyInput) (*acceptedOutput, error) {
	sess, err := a.load(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if sess.Status() != session.StatusConnected {
		return nil, session.ErrNotConnected
	}
	return a.send(ctx, sess, History{RequestID: eventlog.NewID(), Chats: in.Body.Chats, MessagesPerChat: in.Body.MessagesPerChat})
}

func (a *API) disconnect(ctx context.Context, in *disconnectInput) (*acceptedOutput, error) {
	sess, err := a.load(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if sess.Status() != session.StatusConnected {
		return nil, session.ErrNotConnected
	}
	return a.send(ctx, sess, Disconnect{Reason: session.ParseDisconnectReason(in.Body.Reason)})
}
