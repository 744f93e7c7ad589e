package messaging

import (
	"context"
	"mime"
	"net/http"
	"os"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/wagate/wagate/internal/httpapi"
)

var security = []map[string][]string{{"bearer": {}}, {"apiKey": {}}}

type sendToSessionInput struct {
	SessionID      string `path:"id" maxLength:"128"`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"repeat a request safely: the same key and body return the same message for 24 hours"`
	Body           SendRequest
}

type sendToChatInput struct {
	JID            string `path:"jid" maxLength:"128" doc:"chat JID or E.164 phone number"`
	SessionID      string `query:"sessionId" required:"true" maxLength:"128"`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"repeat a request safely: the same key and body return the same message for 24 hours"`
	Body           SendRequest
}

type sendOutput struct {
	// Replayed is "true" when an Idempotency-Key repeat returned the
	// message of the first request.
	Replayed string `header:"Idempotent-Replayed"`
	Body     Message
}

type messageInput struct {
	SessionID string `path:"id" maxLength:"128"`
	MessageID string `path:"messageId" maxLength:"128" doc:"wagate id or WhatsApp messageId"`
}

type messageOutput struct {
	Body Message
}

type listChatsInput struct {
	SessionID string `query:"sessionId" required:"true" maxLength:"128"`
	Limit     int    `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"page size"`
	Cursor    string `query:"cursor" maxLength:"1024" doc:"nextCursor of the previous page"`
}

// ChatPage is one page of chats.
type ChatPage struct {
	Items []Chat `json:"items"`
	// NextCursor continues the list; absent on the last page.
	NextCursor string `json:"nextCursor,omitempty"`
}

type chatPageOutput struct {
	Body ChatPage
}

type chatInput struct {
	JID       string `path:"jid" maxLength:"128" doc:"chat JID or E.164 phone number"`
	SessionID string `query:"sessionId" required:"true" maxLength:"128"`
}

type listMessagesInput struct {
	JID       string `path:"jid" maxLength:"128" doc:"chat JID or E.164 phone number"`
	SessionID string `query:"sessionId" required:"true" maxLength:"128"`
	Limit     int    `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"page size"`
	Cursor    string `query:"cursor" maxLength:"1024" doc:"nextCursor of the previous page"`
}

// MessagePage is one page of a chat's history.
type MessagePage struct {
	Items []Message `json:"items"`
	// NextCursor continues the list; absent on the last page.
	NextCursor string `json:"nextCursor,omitempty"`
}

type messagePageOutput struct {
	Body MessagePage
}

type chatOutput struct {
	Body Chat
}

// RegisterHTTP adds the messaging endpoints to the API server.
func RegisterHTTP(srv *httpapi.Server, svc *Service) {
	api := srv.API
	// Inline media arrives base64-encoded inside JSON: 4/3 of the bytes.
	maxBody := svc.cfg.MaxMediaBytes/3*4 + 64<<10

	huma.Register(api, huma.Operation{
		OperationID:   "send-message",
		Method:        http.MethodPost,
		Path:          "/sessions/{id}/messages",
		Summary:       "Send a message",
		Description:   "Stores the message as pending and queues it for the session worker; 202 with the message. Track it with GET /sessions/{id}/messages/{messageId}, the WebSocket or webhooks.",
		Tags:          []string{"Messages"},
		DefaultStatus: http.StatusAccepted,
		MaxBodyBytes:  maxBody,
		Security:      security,
	}, func(ctx context.Context, in *sendToSessionInput) (*sendOutput, error) {
		return send(ctx, svc, SendInput{SessionID: in.SessionID, IdempotencyKey: in.IdempotencyKey, Request: in.Body})
	})

	huma.Register(api, huma.Operation{
		OperationID:   "send-chat-message",
		Method:        http.MethodPost,
		Path:          "/chats/{jid}/messages",
		Summary:       "Send a message into a chat",
		Description:   "Like POST /sessions/{id}/messages with the recipient taken from the URL.",
		Tags:          []string{"Messages"},
		DefaultStatus: http.StatusAccepted,
		MaxBodyBytes:  maxBody,
		Security:      security,
	}, func(ctx context.Context, in *sendToChatInput) (*sendOutput, error) {
		return send(ctx, svc, SendInput{SessionID: in.SessionID, ChatJID: in.JID, IdempotencyKey: in.IdempotencyKey, Request: in.Body})
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-message",
		Method:      http.MethodGet,
		Path:        "/sessions/{id}/messages/{messageId}",
		Summary:     "Get a message with its status",
		Tags:        []string{"Messages"},
		Security:    security,
	}, func(ctx context.Context, in *messageInput) (*messageOutput, error) {
		p, err := httpapi.PrincipalFrom(ctx)
		if err != nil {
			return nil, err
		}
		m, err := svc.Message(ctx, p.TenantID, in.SessionID, in.MessageID)
		if err != nil {
			return nil, err
		}
		return &messageOutput{Body: m}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-message-media",
		Method:      http.MethodGet,
		Path:        "/sessions/{id}/messages/{messageId}/media",
		Summary:     "Download a message's media",
		Description: "Streams the file (Range requests supported). Inbound media is downloaded from WhatsApp through the session worker on first request, then cached; 503 media-pending asks to retry shortly.",
		Tags:        []string{"Messages"},
		Security:    security,
		Responses: map[string]*huma.Response{
			"200": {Description: "the media file", Content: map[string]*huma.MediaType{
				"application/octet-stream": {Schema: &huma.Schema{Type: "string", Format: "binary"}},
			}},
		},
	}, func(ctx context.Context, in *messageInput) (*huma.StreamResponse, error) {
		p, err := httpapi.PrincipalFrom(ctx)
		if err != nil {
			return nil, err
		}
		f, err := svc.Media(ctx, p.TenantID, in.SessionID, in.MessageID)
		if err != nil {
			return nil, err
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) { serveMedia(hctx, svc, f) }}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "list-chats",
		Method:      http.MethodGet,
		Path:        "/chats",
		Summary:     "List a session's chats",
		Description: "Most recent activity first, cursor-paginated.",
		Tags:        []string{"Chats"},
		Security:    security,
	}, func(ctx context.Context, in *listChatsInput) (*chatPageOutput, error) {
		p, err := httpapi.PrincipalFrom(ctx)
		if err != nil {
			return nil, err
		}
		items, next, err := svc.ListChats(ctx, p.TenantID, in.SessionID, in.Limit, in.Cursor)
		if err != nil {
			return nil, err
		}
		return &chatPageOutput{Body: ChatPage{Items: items, NextCursor: next}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "list-chat-messages",
		Method:      http.MethodGet,
		Path:        "/chats/{jid}/messages",
		Summary:     "A chat's message history",
		Description: "Newest first, cursor-paginated (keyset on timestamp and id: stable while messages arrive).",
		Tags:        []string{"Chats"},
		Security:    security,
	}, func(ctx context.Context, in *listMessagesInput) (*messagePageOutput, error) {
		p, err := httpapi.PrincipalFrom(ctx)
		if err != nil {
			return nil, err
		}
		items, next, err := svc.ListMessages(ctx, p.TenantID, in.SessionID, in.JID, in.Limit, in.Cursor)
		if err != nil {
			return nil, err
		}
		return &messagePageOutput{Body: MessagePage{Items: items, NextCursor: next}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "mark-chat-read",
		Method:      http.MethodPost,
		Path:        "/chats/{jid}/read",
		Summary:     "Mark a chat read",
		Description: "Sets unreadCount to 0 and sends read receipts for the unread messages through the session.",
		Tags:        []string{"Chats"},
		Security:    security,
	}, func(ctx context.Context, in *chatInput) (*chatOutput, error) {
		p, err := httpapi.PrincipalFrom(ctx)
		if err != nil {
			return nil, err
		}
		c, err := svc.MarkRead(ctx, p.TenantID, in.SessionID, in.JID)
		if err != nil {
			return nil, err
		}
		return &chatOutput{Body: c}, nil
	})
}

func send(ctx context.Context, svc *Service, in SendInput) (*sendOutput, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	in.TenantID = p.TenantID
	m, replayed, err := svc.Send(ctx, in)
	if err != nil {
		return nil, err
	}
	out := &sendOutput{Body: m}
	if replayed {
		out.Replayed = "true"
	}
	return out, nil
}

// serveMedia streams a cached media file with Range support.
func serveMedia(hctx huma.Context, svc *Service, f MediaFile) {
	r, w := humago.Unwrap(hctx)
	file, err := os.Open(f.Path)
	if err != nil {
		httpapi.WriteError(w, r, svc.logger, err)
		return
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		httpapi.WriteError(w, r, svc.logger, err)
		return
	}
	// The mimetype comes from a user: never let the file run as a page of
	// this origin (sandbox, no sniffing), and offer anything but plain
	// media as a download.
	disposition := "attachment"
	if t, _, _ := strings.Cut(f.Mimetype, "/"); (t == "image" || t == "video" || t == "audio") && !strings.Contains(f.Mimetype, "svg") {
		disposition = "inline"
	}
	w.Header().Set("Content-Type", f.Mimetype)
	w.Header().Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": f.Filename}))
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	http.ServeContent(w, r, f.Filename, st.ModTime(), file)
}
