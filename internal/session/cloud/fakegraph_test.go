package cloud

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// fakeGraph is a local Graph API for one WhatsApp Business number. It checks
// the shape of every request the way the Cloud API documents it (path,
// Bearer token, JSON fields, multipart fields) and answers like Meta,
// including Meta's error bodies; a request it does not understand gets a
// Graph error, so a wrong shape fails the send visibly.
type fakeGraph struct {
	t             *testing.T
	srv           *httptest.Server
	token         string
	phoneNumberID string
	display       string

	mu       sync.Mutex
	requests []graphCall
	failTo   map[string]graphAnswer // recipient → error answer for sends
	failNext *graphAnswer           // error answer of the next call, whatever it is
	uploads  map[string]graphUpload // media id → upload
	inbound  map[string][]byte      // media id → bytes of inbound media
	seq      int
}

// graphCall is one request the fake received.
type graphCall struct {
	Method, Path, Query string
	// Token is the bearer token the call carried.
	Token string
	// JSON is the decoded JSON body (messages calls).
	JSON map[string]any
	// Form holds the multipart fields of uploads.
	Form map[string]string
}

type graphUpload struct {
	mimetype, filename, partType string
	data                         []byte
}

// graphAnswer is an error answer: status and Graph error object.
type graphAnswer struct {
	status  int
	code    int
	subcode int
	message string
	details string
}

func (a graphAnswer) write(w http.ResponseWriter) {
	body := map[string]any{"error": map[string]any{
		"message": a.message, "type": "OAuthException", "code": a.code,
		"error_subcode": a.subcode, "fbtrace_id": "AbCdEfGhIjK",
		"error_data": map[string]any{"messaging_product": "whatsapp", "details": a.details},
	}}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_token"`)
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(body)
}

// Meta's documented error answers.
var (
	errExpiredToken = graphAnswer{status: 401, code: 190, subcode: 463,
		message: "Error validating access token: Session has expired on Friday, 01-Jan-21 00:00:00 PST."}
	errReengagement = graphAnswer{status: 400, code: 131047, message: "(#131047) Re-engagement message",
		details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}
	errRateLimit = graphAnswer{status: 400, code: 130429, message: "(#130429) Rate limit hit",
		details: "Cloud API message throughput has been reached."}
	errPairRateLimit = graphAnswer{status: 400, code: 131056, message: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
		details: "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time."}
	errNotAllowed = graphAnswer{status: 400, code: 131030, subcode: 2494010, message: "(#131030) Recipient phone number not in allowed list",
		details: "Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."}
	errUndeliverable = graphAnswer{status: 400, code: 131026, message: "(#131026) Message undeliverable",
		details: "Unable to deliver message."}
	errServiceUnavailable = graphAnswer{status: 503, code: 131016, message: "(#131016) Service unavailable",
		details: "A service is temporarily unavailable."}
	errInvalidParameter = graphAnswer{status: 400, code: 100, message: "(#100) Invalid parameter"}
	errUnknownObject    = graphAnswer{status: 400, code: 100, subcode: 33,
		message: "Unsupported get request. Object with ID '1' does not exist, cannot be loaded due to missing permissions, or does not support this operation."}
)

const (
	testToken         = "EAAJtestTOKEN0123456789"
	testPhoneNumberID = "106540352242922"
	testAppSecret     = "0123456789abcdef0123456789abcdef"
	testVerifyToken   = "meatyhamhock"
)

func newFakeGraph(t *testing.T) *fakeGraph {
	f := &fakeGraph{t: t, token: testToken, phoneNumberID: testPhoneNumberID, display: "+1 555-078-3881",
		failTo: map[string]graphAnswer{}, uploads: map[string]graphUpload{}, inbound: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGraph) URL() string { return f.srv.URL }

func (f *fakeGraph) calls() []graphCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]graphCall(nil), f.requests...)
}

// sends returns the message objects posted (not read marks).
func (f *fakeGraph) sends() []map[string]any {
	var out []map[string]any
	for _, c := range f.calls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/messages") && c.JSON != nil && c.JSON["status"] == nil {
			out = append(out, c.JSON)
		}
	}
	return out
}

func (f *fakeGraph) failSendsTo(to string, a graphAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failTo[to] = a
}

func (f *fakeGraph) failNextCall(a graphAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = &a
}

func (f *fakeGraph) setInboundMedia(id string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inbound[id] = b
}

func (f *fakeGraph) upload(id string) (graphUpload, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.uploads[id]
	return u, ok
}

var versionPath = regexp.MustCompile(`^/v21\.0/([0-9A-Za-z._-]+)(/messages|/media)?$`)

func (f *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	call := graphCall{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Token: strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")}
	defer func() {
		f.mu.Lock()
		f.requests = append(f.requests, call)
		f.mu.Unlock()
	}()
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		errExpiredToken.write(w)
		return
	}
	f.mu.Lock()
	next := f.failNext
	f.failNext = nil
	f.mu.Unlock()
	if next != nil {
		next.write(w)
		return
	}
	if id, ok := strings.CutPrefix(r.URL.Path, "/download/"); ok && r.Method == http.MethodGet {
		f.mu.Lock()
		b, found := f.inbound[id]
		f.mu.Unlock()
		if !found {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(b)
		return
	}
	m := versionPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		errInvalidParameter.write(w)
		return
	}
	switch {
	case r.Method == http.MethodGet && m[2] == "" && m[1] == f.phoneNumberID:
		if !strings.Contains(r.URL.Query().Get("fields"), "display_phone_number") {
			errInvalidParameter.write(w)
			return
		}
		writeJSON(w, map[string]any{"verified_name": "Jasper's Market", "display_phone_number": f.display, "id": f.phoneNumberID})
	case r.Method == http.MethodGet && m[2] == "":
		f.mediaInfo(w, m[1])
	case r.Method == http.MethodPost && m[2] == "/messages" && m[1] == f.phoneNumberID:
		call.JSON = f.message(w, r)
	case r.Method == http.MethodPost && m[2] == "/media" && m[1] == f.phoneNumberID:
		call.Form = f.media(w, r)
	default:
		errUnknownObject.write(w)
	}
}

func (f *fakeGraph) mediaInfo(w http.ResponseWriter, id string) {
	f.mu.Lock()
	b, ok := f.inbound[id]
	f.mu.Unlock()
	if !ok {
		errUnknownObject.write(w)
		return
	}
	writeJSON(w, map[string]any{"messaging_product": "whatsapp", "url": f.srv.URL + "/download/" + id,
		"mime_type": "image/jpeg", "sha256": "abc", "file_size": fmt.Sprint(len(b)), "id": id})
}

// message checks a POST /messages body and answers it.
func (f *fakeGraph) message(w http.ResponseWriter, r *http.Request) map[string]any {
	var body map[string]any
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		errInvalidParameter.write(w)
		return nil
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["messaging_product"] != "whatsapp" {
		errInvalidParameter.write(w)
		return body
	}
	if body["status"] == "read" {
		if s, _ := body["message_id"].(string); s == "" {
			errInvalidParameter.write(w)
			return body
		}
		writeJSON(w, map[string]any{"success": true})
		return body
	}
	to, _ := body["to"].(string)
	typ, _ := body["type"].(string)
	if body["recipient_type"] != "individual" || !regexp.MustCompile(`^[0-9]{6,15}$`).MatchString(to) || !validContent(typ, body[typ]) {
		f.t.Logf("fake graph: malformed message %v", body)
		errInvalidParameter.write(w)
		return body
	}
	f.mu.Lock()
	fail, failing := f.failTo[to]
	f.seq++
	id := fmt.Sprintf("wamid.HBgLMTU1NTAwMDExMTEVAgARGBI%04d", f.seq)
	f.mu.Unlock()
	if failing {
		fail.write(w)
		return body
	}
	writeJSON(w, map[string]any{"messaging_product": "whatsapp",
		"contacts": []any{map[string]any{"input": to, "wa_id": to}},
		"messages": []any{map[string]any{"id": id, "message_status": "accepted"}}})
	return body
}

// validContent checks the content object of a message type as documented.
func validContent(typ string, v any) bool {
	if typ == "contacts" {
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return false
		}
		c, _ := list[0].(map[string]any)
		name, _ := c["name"].(map[string]any)
		return name["formatted_name"] != nil && name["first_name"] != nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return false
	}
	str := func(k string) string { s, _ := o[k].(string); return s }
	switch typ {
	case "text":
		return str("body") != ""
	case "image", "video", "audio", "document", "sticker":
		return (str("id") == "") != (str("link") == "")
	case "location":
		_, lat := o["latitude"].(float64)
		_, lng := o["longitude"].(float64)
		return lat && lng
	case "reaction":
		_, hasEmoji := o["emoji"].(string)
		return str("message_id") != "" && hasEmoji
	}
	return false
}

// media checks a POST /media multipart upload and answers it.
func (f *fakeGraph) media(w http.ResponseWriter, r *http.Request) map[string]string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		errInvalidParameter.write(w)
		return nil
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		errInvalidParameter.write(w)
		return nil
	}
	form := map[string]string{"messaging_product": r.FormValue("messaging_product"), "type": r.FormValue("type")}
	file, hdr, err := r.FormFile("file")
	if err != nil || form["messaging_product"] != "whatsapp" || form["type"] == "" {
		errInvalidParameter.write(w)
		return form
	}
	data, _ := io.ReadAll(file)
	form["filename"], form["partType"] = hdr.Filename, hdr.Header.Get("Content-Type")
	f.mu.Lock()
	f.seq++
	id := fmt.Sprintf("%d", 1037543291543636+f.seq)
	f.uploads[id] = graphUpload{mimetype: form["type"], filename: hdr.Filename, partType: form["partType"], data: data}
	f.mu.Unlock()
	writeJSON(w, map[string]any{"id": id})
	return form
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
