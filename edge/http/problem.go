package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	hubhttp "github.com/aiff/aiff/hub/http"
)

// ProblemBase prefixes problem type URIs; the identifiers and the code → status table are the
// hub's (hub/http), so a client sees the same answers from the hub and from an edge.
const ProblemBase = hubhttp.ProblemBase

const (
	codeMethodNotAllowed     = hubhttp.CodeMethodNotAllowed
	codeUnsupportedMediaType = hubhttp.CodeUnsupportedMediaType
)

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Field  string `json:"field,omitempty"`
}

type retryAfter interface{ RetryAfter() time.Duration }

// writeProblem is the error writer: internal errors are logged and answered with a generic
// detail, so no driver text reaches a client.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	if domain.ErrorCode(err) == domain.CodeInternal {
		s.Logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String(logKeyMethod, r.Method), slog.String(logKeyPath, r.URL.Path), slog.Any(logKeyError, err))
	}
	writeProblemStatic(w, r, err)
}

func writeProblemStatic(w http.ResponseWriter, _ *http.Request, err error) {
	status, typ, title := hubhttp.ProblemKind(domain.ErrorCode(err))
	p := Problem{Type: typ, Title: title, Status: status}
	if status == http.StatusInternalServerError {
		p.Detail = "internal error"
	} else {
		p.Detail, p.Field = domain.ErrorMessage(err), domain.ErrorField(err)
	}
	var ra retryAfter
	if errors.As(err, &ra) {
		secs := int((ra.RetryAfter() + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aiff-edge"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

// decodeJSON reads the body strictly: JSON media type, size limit, one value, no unknown
// fields, no NUL characters in text.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return domain.Errorf(codeUnsupportedMediaType, "content type %q is not application/json", ct)
		}
	}
	data, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return domain.Errorf(domain.CodeTooLarge, "request body is larger than %d bytes", mbe.Limit)
	case err != nil:
		return domain.Errorf(domain.CodeInvalid, "could not read request body")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return domain.Errorf(domain.CodeInvalid, "request body is empty; send a JSON object")
	}
	if bytes.Contains(data, []byte(`\u0000`)) {
		return domain.Errorf(domain.CodeInvalid, "text may not contain NUL characters")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return domain.Errorf(domain.CodeInvalid, "malformed JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			return domain.FieldErrorf(te.Field, "%s has the wrong type", te.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return domain.FieldErrorf(f, "unknown field %q", f)
		}
		var de *domain.Error
		if errors.As(err, &de) {
			return de
		}
		return domain.Errorf(domain.CodeInvalid, "invalid JSON body")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return domain.Errorf(domain.CodeInvalid, "unexpected data after the JSON body")
	}
	return nil
}
