package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aiff/aiff/domain"
)

// ProblemBase prefixes every problem type URI. The URIs are identifiers, stable across
// releases; clients switch on them rather than on the title or detail text.
const ProblemBase = "https://aiff.dev/problems/"

// Pseudo-codes for failures that come from routing, not from the domain. Exported so the edge's
// API (edge/http) answers them with the same problem types.
const (
	CodeMethodNotAllowed     domain.Code = "method_not_allowed"
	CodeUnsupportedMediaType domain.Code = "unsupported_media_type"

	codeMethodNotAllowed     = CodeMethodNotAllowed
	codeUnsupportedMediaType = CodeUnsupportedMediaType
)

// problemKind is the HTTP face of one error code.
type problemKind struct {
	Status int
	Slug   string // last segment of the type URI
	Title  string
}

// problemKinds is THE table mapping error codes to HTTP statuses and problem types. Nothing
// else in the package picks a status for an error.
var problemKinds = map[domain.Code]problemKind{
	domain.CodeInvalid:         {http.StatusBadRequest, "invalid", "Invalid request"},
	domain.CodeNotFound:        {http.StatusNotFound, "not-found", "Not found"},
	domain.CodeConflict:        {http.StatusConflict, "conflict", "Conflict"},
	domain.CodeUnauthorized:    {http.StatusUnauthorized, "unauthorized", "Unauthorized"},
	domain.CodeForbidden:       {http.StatusForbidden, "forbidden", "Forbidden"},
	domain.CodeTooManyRequests: {http.StatusTooManyRequests, "too-many-requests", "Too many requests"},
	domain.CodeTooLarge:        {http.StatusRequestEntityTooLarge, "too-large", "Request too large"},
	domain.CodeUnavailable:     {http.StatusServiceUnavailable, "unavailable", "Service unavailable"},
	domain.CodeInternal:        {http.StatusInternalServerError, "internal", "Internal error"},
	codeMethodNotAllowed:       {http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"},
	codeUnsupportedMediaType:   {http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type"},
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// ProblemKind returns the HTTP status, the problem type URI and the title for an error code
// (CodeInternal's for an unknown one): the one table, which the edge's API uses too so that a
// client sees the same answers from the hub and from an edge.
func ProblemKind(c domain.Code) (status int, typ, title string) {
	k, ok := problemKinds[c]
	if !ok {
		k = problemKinds[domain.CodeInternal]
	}
	return k.Status, ProblemBase + k.Slug, k.Title
}

// ProblemType returns the stable type URI for an error code.
func ProblemType(c domain.Code) string {
	k, ok := problemKinds[c]
	if !ok {
		k = problemKinds[domain.CodeInternal]
	}
	return ProblemBase + k.Slug
}

// problemSlugger is implemented by errors that need a more specific problem type than their
// code's, with the same status (syncstore.RevokedError: "credential-revoked", a 401 after
// which an edge stops syncing for good).
type problemSlugger interface{ ProblemSlug() string }

// retryAfter is implemented by errors that know when the caller may retry (auth.LockedError,
// rate limits).
type retryAfter interface{ RetryAfter() time.Duration }

// writeProblem is the only writer of error responses. Internal errors (anything that is not a
// *domain.Error, or CodeInternal) are logged with the request id and answered with a generic
// detail, so no driver text or stack ever reaches a client.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	code := domain.ErrorCode(err)
	k, ok := problemKinds[code]
	if !ok {
		code, k = domain.CodeInternal, problemKinds[domain.CodeInternal]
	}
	rid := RequestID(r.Context())
	p := Problem{Type: ProblemBase + k.Slug, Title: k.Title, Status: k.Status, RequestID: rid}
	var ps problemSlugger
	if code != domain.CodeInternal && errors.As(err, &ps) {
		p.Type = ProblemBase + ps.ProblemSlug()
	}
	if code == domain.CodeInternal {
		p.Detail = "internal error; quote request id " + rid + " when reporting it"
		s.Logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String(logKeyRequestID, rid), slog.String(logKeyMethod, r.Method),
			slog.String(logKeyPath, r.URL.Path), slog.Any(logKeyError, err))
	} else {
		p.Detail, p.Field = domain.ErrorMessage(err), domain.ErrorField(err)
	}
	var ra retryAfter
	if errors.As(err, &ra) {
		secs := int((ra.RetryAfter() + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
	}
	if k.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aiff"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(k.Status)
	json.NewEncoder(w).Encode(p)
}

// writeJSON writes v as JSON with status. HTML-significant characters are escaped (\u003c…), so
// a stored `<script>` can never be sniffed into markup.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	return nil
}
