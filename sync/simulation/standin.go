package simulation

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/wire"
)

// standinHandler serves the three sync endpoints the simulation uses (push, pull, digest)
// straight from the hub store's sync API (syncstore.Store), with edge tokens mapped to
// principals. It is a stand-in for the sync/server handlers mounted on hubhttp.Server, used
// while they are not available (Config.Handler == HandlerStandin): everything below the HTTP
// layer — the store's push transaction, merge, the log — is the real hub code.
type standinHandler struct {
	store  HubStore
	tokens map[string]domain.Principal
}

func (h *standinHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := h.tokens[bearer(r)]
	if !ok {
		writeProblem(w, domain.Errorf(domain.CodeUnauthorized, "unknown token"))
		return
	}
	ctx := domain.WithPrincipal(r.Context(), p)
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/sync/push":
		req, err := wire.ReadAs[*wire.PushRequest](r.Body, wire.Limits{})
		if err != nil {
			writeProblem(w, err)
			return
		}
		res, err := h.store.PushChanges(ctx, p, req.Changes)
		if err != nil {
			writeProblem(w, err)
			return
		}
		writeFrame(w, &res)
	case r.Method == http.MethodGet && r.URL.Path == "/api/sync/pull":
		q := r.URL.Query()
		cursor, err := strconv.ParseInt(q.Get("cursor"), 10, 64)
		if err != nil || cursor < 0 {
			writeProblem(w, domain.FieldErrorf("cursor", "cursor must be a non-negative integer"))
			return
		}
		limit := 500
		if s := q.Get("limit"); s != "" {
			if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
				writeProblem(w, domain.FieldErrorf("limit", "limit must be 1 to 1000"))
				return
			}
		}
		st := h.store
		head, err := st.LastSeq(ctx)
		if err != nil {
			writeProblem(w, err)
			return
		}
		if cursor > head {
			writeProblem(w, domain.FieldErrorf("cursor", "cursor %d is beyond the log head %d", cursor, head))
			return
		}
		cs, err := st.ListChanges(ctx, cursor, p.Zones, limit+1)
		if err != nil {
			writeProblem(w, err)
			return
		}
		res := wire.PullResponse{Changes: cs, NextCursor: head}
		if len(cs) > limit {
			res.Changes, res.HasMore = cs[:limit], true
			res.NextCursor = cs[limit-1].Seq
		} else if n := len(cs); n > 0 {
			res.NextCursor = max(head, cs[n-1].Seq)
		}
		writeFrame(w, &res)
	case r.Method == http.MethodGet && r.URL.Path == "/api/sync/digest":
		zone := r.URL.Query().Get("zone")
		snap, err := h.store.Snapshot(ctx, []string{zone})
		if err != nil {
			writeProblem(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"zone": zone, "digest": merge.DigestStates(snap.States()),
			"cursor": snap.Cursor, "rows": len(snap.Rows)})
	default:
		writeProblem(w, domain.Errorf(domain.CodeNotFound, "no route"))
	}
}

func bearer(r *http.Request) string {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) > len(prefix) && h[:len(prefix)] == prefix {
		return h[len(prefix):]
	}
	return ""
}

func writeFrame(w http.ResponseWriter, f wire.Frame) {
	b, err := wire.Marshal(f)
	if err != nil {
		writeProblem(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

var problemStatus = map[domain.Code]int{
	domain.CodeInvalid: 400, domain.CodeUnauthorized: 401, domain.CodeForbidden: 403, domain.CodeNotFound: 404,
	domain.CodeConflict: 409, domain.CodeTooLarge: 413, domain.CodeTooManyRequests: 429, domain.CodeUnavailable: 503,
}

var problemSlug = map[domain.Code]string{
	domain.CodeInvalid: "invalid", domain.CodeUnauthorized: "unauthorized", domain.CodeForbidden: "forbidden",
	domain.CodeNotFound: "not-found", domain.CodeConflict: "conflict", domain.CodeTooLarge: "too-large",
	domain.CodeTooManyRequests: "too-many-requests", domain.CodeUnavailable: "unavailable",
}

// writeProblem writes err as problem+json the way hub/http does (same types and statuses).
func writeProblem(w http.ResponseWriter, err error) {
	code := domain.ErrorCode(err)
	status, ok := problemStatus[code]
	slug := problemSlug[code]
	detail := domain.ErrorMessage(err)
	if !ok {
		status, slug, detail = 500, "internal", "internal error: "+err.Error()
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "https://aiff.dev/problems/" + slug, "status": status,
		"detail": detail, "field": domain.ErrorField(err)})
}
