package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// APIVersion is the Graph API version wagate speaks.
const APIVersion = "v21.0"

// DefaultBaseURL is Meta's Graph API host (WAGATE_CLOUD_API_BASE_URL).
const DefaultBaseURL = "https://graph.facebook.com"

// maxAnswerBytes bounds a Graph API JSON answer.
const maxAnswerBytes = 1 << 20

// credentials are what a client needs to call the Graph API for a number.
type credentials struct {
	PhoneNumberID string
	AccessToken   string
}

// graph calls the Graph API. It holds no credentials: each call takes them.
type graph struct {
	base string
	http *http.Client
}

func newGraph(base string, hc *http.Client) *graph {
	if base == "" {
		base = DefaultBaseURL
	}
	return &graph{base: strings.TrimRight(base, "/") + "/" + APIVersion, http: hc}
}

// phoneNumber is GET /{phone-number-id}: the number behind the credentials.
type phoneNumber struct {
	ID                 string `json:"id"`
	DisplayPhoneNumber string `json:"display_phone_number"`
	VerifiedName       string `json:"verified_name"`
}

func (g *graph) phoneNumber(ctx context.Context, c credentials) (phoneNumber, error) {
	var out phoneNumber
	u := g.base + "/" + url.PathEscape(c.PhoneNumberID) + "?fields=display_phone_number,verified_name"
	err := g.do(ctx, c, http.MethodGet, u, nil, "", &out)
	return out, err
}

// sendAnswer is the answer to POST /{phone-number-id}/messages.
type sendAnswer struct {
	Contacts []struct {
		Input string `json:"input"`
		WaID  string `json:"wa_id"`
	} `json:"contacts"`
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
}

// send posts a message object and returns WhatsApp's message id.
func (g *graph) send(ctx context.Context, c credentials, msg any) (string, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return "", fmt.Errorf("encode message: %w", err)
	}
	var out sendAnswer
	if err := g.do(ctx, c, http.MethodPost, g.messagesURL(c), bytes.NewReader(body), "application/json", &out); err != nil {
		return "", err
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		return "", errors.New("graph api: the send answer has no message id")
	}
	return out.Messages[0].ID, nil
}

// markRead marks an inbound message read (blue ticks for the contact).
func (g *graph) markRead(ctx context.Context, c credentials, messageID string) error {
	body, _ := json.Marshal(map[string]string{
		"messaging_product": "whatsapp", "status": "read", "message_id": messageID})
	var out struct {
		Success bool `json:"success"`
	}
	return g.do(ctx, c, http.MethodPost, g.messagesURL(c), bytes.NewReader(body), "application/json", &out)
}

func (g *graph) messagesURL(c credentials) string {
	return g.base + "/" + url.PathEscape(c.PhoneNumberID) + "/messages"
}

// upload sends media bytes to POST /{phone-number-id}/media (multipart:
// messaging_product, type, file) and returns the media id to send them by.
func (g *graph) upload(ctx context.Context, c credentials, mimetype, filename string, data []byte) (string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("messaging_product", "whatsapp")
	_ = w.WriteField("type", mimetype)
	if filename == "" {
		filename = "file"
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	h.Set("Content-Type", mimetype)
	part, err := w.CreatePart(h)
	if err != nil {
		return "", fmt.Errorf("encode upload: %w", err)
	}
	if _, err := part.Write(data); err != nil {
		return "", fmt.Errorf("encode upload: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("encode upload: %w", err)
	}
	var out struct {
		ID string `json:"id"`
	}
	u := g.base + "/" + url.PathEscape(c.PhoneNumberID) + "/media"
	if err := g.do(ctx, c, http.MethodPost, u, &buf, w.FormDataContentType(), &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", errors.New("graph api: the upload answer has no media id")
	}
	return out.ID, nil
}

// mediaInfo is GET /{media-id}: where to download inbound media from.
type mediaInfo struct {
	URL      string `json:"url"`
	MimeType string `json:"mime_type"`
	ID       string `json:"id"`
}

// download fetches an inbound media's bytes: its URL from the Graph API,
// then the bytes from that URL with the same token, at most max bytes.
func (g *graph) download(ctx context.Context, c credentials, mediaID string, max int64) ([]byte, error) {
	var info mediaInfo
	u := g.base + "/" + url.PathEscape(mediaID) + "?phone_number_id=" + url.QueryEscape(c.PhoneNumberID)
	if err := g.do(ctx, c, http.MethodGet, u, nil, "", &info); err != nil {
		return nil, err
	}
	if info.URL == "" {
		return nil, errors.New("graph api: media has no download url")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, info.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("media url: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	res, err := g.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download media %s: %w", mediaID, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, graphErrorFrom(res)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("download media %s: %w", mediaID, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("media %s exceeds %d bytes", mediaID, max)
	}
	return b, nil
}

// do makes one authenticated call and decodes a 2xx JSON answer into out;
// other answers become *GraphError.
func (g *graph) do(ctx context.Context, c credentials, method, u string, body io.Reader, contentType string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("graph request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := g.http.Do(req)
	if err != nil {
		// The URL holds no secret (the token travels in a header).
		return fmt.Errorf("graph api %s: %w", method, err)
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return graphErrorFrom(res)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, maxAnswerBytes)).Decode(out); err != nil {
		return fmt.Errorf("graph api %s: decode answer: %w", method, err)
	}
	return nil
}

// graphErrorFrom reads a Graph error answer.
func graphErrorFrom(res *http.Response) *GraphError {
	e := &GraphError{HTTPStatus: res.StatusCode}
	var body struct {
		Error *struct {
			Message   string `json:"message"`
			Type      string `json:"type"`
			Code      int    `json:"code"`
			Subcode   int    `json:"error_subcode"`
			ErrorData struct {
				Details string `json:"details"`
			} `json:"error_data"`
			TraceID string `json:"fbtrace_id"`
		} `json:"error"`
	}
	if json.NewDecoder(io.LimitReader(res.Body, maxAnswerBytes)).Decode(&body) == nil && body.Error != nil {
		e.Parsed = true
		e.Code, e.Subcode, e.Type = body.Error.Code, body.Error.Subcode, body.Error.Type
		e.Message, e.Details, e.TraceID = body.Error.Message, body.Error.ErrorData.Details, body.Error.TraceID
	}
	return e
}

// defaultHTTPClient bounds every Graph call.
func defaultHTTPClient() *http.Client {
	return &http.Client{Timeout: 60 * time.Second}
}
