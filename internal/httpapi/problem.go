package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wagate/wagate/internal/apperr"
)

// ProblemBaseURI prefixes every problem type, e.g.
// "https://wagate.dev/problems/session-not-found".
const ProblemBaseURI = "https://wagate.dev/problems/"

// Problem is an RFC 9457 problem detail. Huma's ErrorModel has the same
// shape; this one adds a stable machine code.
type Problem = huma.ErrorModel

// statusOf is the one place where error kinds become HTTP status codes.
func statusOf(k apperr.Kind) int {
	switch k {
	case apperr.KindInvalid:
		return http.StatusBadRequest
	case apperr.KindNotFound:
		return http.StatusNotFound
	case apperr.KindConflict:
		return http.StatusConflict
	case apperr.KindUnauthorized:
		return http.StatusUnauthorized
	case apperr.KindForbidden:
		return http.StatusForbidden
	case apperr.KindRateLimited:
		return http.StatusTooManyRequests
	case apperr.KindUnprocessable:
		return http.StatusUnprocessableEntity
	case apperr.KindUnavailable:
		return http.StatusServiceUnavailable
	case apperr.KindGone:
		return http.StatusGone
	case apperr.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.KindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	default:
		return http.StatusInternalServerError
	}
}

// problemError is a huma.StatusError that also carries response headers
// (Retry-After on rate limits, WWW-Authenticate on 401).
type problemError struct {
	huma.ErrorModel
	headers http.Header
}

func (p *problemError) GetHeaders() http.Header { return p.headers }

// ProblemFor turns any error into a problem. Classified errors keep their
// code and message; anything else is logged and answered as a bare 500 that
// leaks nothing.
func ProblemFor(ctx context.Context, logger *slog.Logger, err error) (int, *problemError) {
	if ae, ok := apperr.As(err); ok {
		status := statusOf(ae.Kind)
		p := &problemError{ErrorModel: huma.ErrorModel{
			Type:   ProblemBaseURI + ae.Code,
			Title:  http.StatusText(status),
			Status: status,
			Detail: ae.Message,
		}, headers: http.Header{}}
		if ae.Kind == apperr.KindRateLimited && ae.RetryAfterSeconds > 0 {
			p.headers.Set("Retry-After", strconv.Itoa(ae.RetryAfterSeconds))
		}
		if ae.Kind == apperr.KindUnauthorized {
			p.headers.Set("WWW-Authenticate", `Bearer realm="wagate"`)
		}
		return status, p
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return ProblemFor(ctx, logger, apperr.TooLarge("body-too-large", "request body exceeds the size limit"))
	}
	if errors.Is(err, context.Canceled) {
		// The client went away; nobody will read the answer.
		return 499, &problemError{ErrorModel: huma.ErrorModel{Type: ProblemBaseURI + "canceled", Title: "Client Closed Request", Status: 499}}
	}
	logger.ErrorContext(ctx, "request failed", "error", err.Error())
	return http.StatusInternalServerError, internalProblem("")
}

// internalProblem is the answer to every unclassified failure: a fixed text,
// so neither error strings nor panic values reach the client.
func internalProblem(instance string) *problemError {
	return &problemError{ErrorModel: huma.ErrorModel{
		Type:     ProblemBaseURI + "internal",
		Title:    http.StatusText(http.StatusInternalServerError),
		Status:   http.StatusInternalServerError,
		Detail:   "an unexpected error occurred",
		Instance: instance,
	}, headers: http.Header{}}
}

// WriteError writes err as application/problem+json. Plain net/http handlers
// (WebSocket, media streaming) use it; Huma operations get the same through
// installHumaErrors.
//
// A nil logger means the logger of the server handling r.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if logger == nil {
		logger = loggerFrom(r.Context())
	}
	status, p := ProblemFor(r.Context(), logger, err)
	p.Instance = r.URL.Path
	writeProblem(w, status, p)
}

func writeProblem(w http.ResponseWriter, status int, p *problemError) {
	for k, vs := range p.headers {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p.ErrorModel)
}

// installHumaErrors makes Huma build its errors through ProblemFor, so
// validation failures, handler errors and panics all share one format and
// one status mapping; they log through the logger of the server that
// received the request. Huma's own errors (validation, bad JSON) keep their
// status and gain a type.
func installHumaErrors() {
	huma.NewErrorWithContext = func(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		ctx := context.Background()
		path := ""
		if hctx != nil {
			ctx = hctx.Context()
			u := hctx.URL()
			path = u.Path
		}
		logger := loggerFrom(ctx)
		if status >= 500 {
			for _, e := range errs {
				if e == nil {
					continue
				}
				var mbe *http.MaxBytesError
				if _, ok := apperr.As(e); ok || errors.Is(e, context.Canceled) || errors.As(e, &mbe) {
					_, p := ProblemFor(ctx, logger, e)
					p.Instance = path
					// Huma only copies headers from the handler's own error,
					// which is not a problem yet: add Retry-After and
					// WWW-Authenticate here.
					if hctx != nil {
						for k, vs := range p.headers {
							for _, v := range vs {
								hctx.AppendHeader(k, v)
							}
						}
					}
					return p
				}
			}
			_, p := ProblemFor(ctx, logger, errors.Join(append([]error{errors.New(msg)}, errs...)...))
			p.Instance = path
			return p
		}
		details := make([]*huma.ErrorDetail, 0, len(errs))
		for _, e := range errs {
			if e == nil {
				continue
			}
			var d *huma.ErrorDetail
			if errors.As(e, &d) {
				details = append(details, d)
			} else {
				details = append(details, &huma.ErrorDetail{Message: e.Error()})
			}
		}
		code := "invalid-request"
		switch status {
		case http.StatusNotFound:
			code = "not-found"
		case http.StatusUnprocessableEntity:
			code = "validation-failed"
		case http.StatusRequestEntityTooLarge:
			code = "body-too-large"
		case http.StatusUnsupportedMediaType:
			code = "unsupported-media-type"
		case http.StatusNotAcceptable:
			code = "not-acceptable"
		}
		return &problemError{ErrorModel: huma.ErrorModel{
			Type:     ProblemBaseURI + code,
			Title:    http.StatusText(status),
			Status:   status,
			Detail:   msg,
			Instance: path,
			Errors:   details,
		}, headers: http.Header{}}
	}
}
