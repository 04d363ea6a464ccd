package http

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
)

type loginRequest struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	GrantType string `json:"grant_type,omitempty"`
}

// session is the login answer, shaped like the hub's (auth.Session). Edge tokens cannot be
// refreshed (no refresh_token); Offline says the hub was not asked.
type session struct {
	AccessToken  string      `json:"access_token"`
	TokenType    string      `json:"token_type"`
	ExpiresIn    int         `json:"expires_in"`
	RefreshToken string      `json:"refresh_token"`
	User         domain.User `json:"user"`
	Offline      bool        `json:"offline"`
}

var errBadLogin = domain.Errorf(domain.CodeUnauthorized, "invalid username or password")

// handleLogin logs a user in. With the hub reachable the hub checks the password; the edge
// then caches an argon2id hash of it, so the same user can log in here while the hub is
// down. Without the hub, only users who have logged in through this edge before can log in,
// and not if the replicated user is now inactive. Either way the token is the edge's own.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var in loginRequest
	if mt := r.Header.Get("Content-Type"); strings.HasPrefix(mt, "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			return domain.Errorf(domain.CodeInvalid, "invalid form body")
		}
		in = loginRequest{Username: r.PostForm.Get("username"), Password: r.PostForm.Get("password"), GrantType: r.PostForm.Get("grant_type")}
	} else if err := decodeJSON(r, &in); err != nil {
		return err
	}
	switch {
	case in.GrantType != "" && in.GrantType != "password":
		return domain.FieldErrorf("grant_type", "grant_type must be password")
	case in.Username == "":
		return domain.FieldErrorf("username", "username is required")
	case in.Password == "":
		return domain.FieldErrorf("password", "password is required")
	case len(in.Username) > 100 || len(in.Password) > 1024:
		return errBadLogin
	}
	ctx := r.Context()
	key := strings.ToLower(in.Username)
	if wait, err := s.Throttle.Check(ctx, key); err != nil {
		return err
	} else if wait > 0 {
		return &domain.Error{Code: domain.CodeTooManyRequests, Message: "too many failed logins; try again later", Err: &auth.LockedError{Wait: wait}}
	}
	u, offline, err := s.checkLogin(ctx, in.Username, in.Password)
	if err != nil {
		if domain.ErrorCode(err) == domain.CodeUnauthorized {
			if wait, ferr := s.Throttle.Fail(ctx, key); ferr == nil && wait > 0 {
				return &domain.Error{Code: domain.CodeTooManyRequests, Message: "too many failed logins; try again later", Err: &auth.LockedError{Wait: wait}}
			}
		}
		return err
	}
	_ = s.Throttle.Reset(ctx, key)
	tok, claims, err := s.Tokens.Issue(u)
	if err != nil {
		return err
	}
	s.Logger.Info("login", logKeyUser, u.Username, "offline", offline)
	return writeJSON(w, http.StatusOK, session{
		AccessToken: tok, TokenType: "bearer", User: u, Offline: offline,
		ExpiresIn: int(claims.ExpiresAt.Time.Sub(claims.IssuedAt.Time) / time.Second),
	})
}

func (s *Server) checkLogin(ctx context.Context, username, password string) (domain.User, bool, error) {
	if s.HubLogin != nil {
		u, err := s.HubLogin(ctx, username, password)
		switch domain.ErrorCode(err) {
		case "":
			hash, err := auth.HashPassword(password)
			if err != nil {
				return u, false, err
			}
			if err := s.Store.SaveCredential(ctx, u, hash); err != nil {
				return u, false, err
			}
			if err := s.Store.ClearRevokedLogin(ctx, u.ID); err != nil {
				return u, false, err
			}
			return u, false, nil
		case domain.CodeUnauthorized, domain.CodeTooManyRequests, domain.CodeForbidden:
			return u, false, err
		}
		s.Logger.Warn("hub login unavailable; trying cached credentials", logKeyUser, username, logKeyError, err)
	}
	cred, err := s.Store.GetCredential(ctx, username)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		_, _ = auth.CheckPassword(dummyHash, password) // same cost as a real check
		return domain.User{}, true, errBadLogin
	}
	if err != nil {
		return domain.User{}, true, err
	}
	ok, err := auth.CheckPassword(cred.PasswordHash, password)
	if err != nil || !ok {
		return domain.User{}, true, errBadLogin
	}
	u := cred.User
	// The replicated user row is newer than the cached one when the hub changed it since.
	if ru, err := s.Store.GetUserByUsername(ctx, username); err == nil {
		u.Role, u.TeamID, u.IsActive = ru.Role, ru.TeamID, ru.IsActive
	}
	if !u.IsActive {
		s.forgetInactiveLogin(ctx, u)
		return domain.User{}, true, errBadLogin
	}
	return u, true, nil
}

var dummyHash, _ = auth.HashPassword("aiff-edge-dummy-password")

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(http.StatusNoContent) // edge tokens have no refresh token to revoke
	return nil
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) error {
	return domain.Errorf(domain.CodeUnauthorized, "edge sessions cannot be refreshed; log in again")
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	u := domain.User{ID: p.UserID, Username: p.Username, Role: p.Role, IsActive: true}
	if p.TeamID != "" {
		team := p.TeamID
		u.TeamID = &team
	}
	if cred, err := s.Store.GetCredential(r.Context(), p.Username); err == nil {
		u.Email, u.CreatedAt, u.UpdatedAt = cred.User.Email, cred.User.CreatedAt, cred.User.UpdatedAt
	}
	return writeJSON(w, http.StatusOK, u)
}

// fieldStatuses are the statuses a field user may set (as on the hub).
var fieldStatuses = []domain.Status{domain.StatusInProgress, domain.StatusOnHold, domain.StatusResolved}

// ticketScope is what the caller may see: field users only their team's tickets.
func ticketScope(r *http.Request) (team string, err error) {
	p := principal(r)
	switch p.Role {
	case domain.RoleField:
		if p.TeamID == "" {
			return "", domain.Errorf(domain.CodeForbidden, "a field user needs a team")
		}
		return p.TeamID, nil
	case domain.RoleAdmin, domain.RoleDispatcher, domain.RoleViewer:
		return "", nil
	}
	return "", domain.Errorf(domain.CodeForbidden, "unknown role")
}

func visible(t domain.Ticket, team string) bool {
	return team == "" || t.AssignedTeam != nil && *t.AssignedTeam == team
}

func ticketNotFound(id string) error {
	return domain.Errorf(domain.CodeNotFound, "ticket %q not found", id)
}

func (s *Server) handleTicketList(w http.ResponseWriter, r *http.Request) error {
	team, err := ticketScope(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := domain.TicketFilter{
		Zone:      list(q, "zone"),
		Team:      strings.TrimSpace(q.Get("team")),
		Query:     strings.TrimSpace(q.Get("q")),
		Sort:      strings.TrimSpace(q.Get("sort")),
		Cursor:    strings.TrimSpace(q.Get("cursor")),
		ScopeTeam: team,
	}
	for _, st := range list(q, "status") {
		if !domain.Status(st).Valid() {
			return domain.FieldErrorf("status", "unknown status %q", st)
		}
		f.Status = append(f.Status, domain.Status(st))
	}
	for _, p := range list(q, "priority") {
		if !domain.Priority(p).Valid() {
			return domain.FieldErrorf("priority", "unknown priority %q", p)
		}
		f.Priority = append(f.Priority, domain.Priority(p))
	}
	if f.Sort != "" && !slices.Contains(domain.TicketSorts, f.Sort) {
		return domain.FieldErrorf("sort", "unknown sort %q (want one of %s)", f.Sort, strings.Join(domain.TicketSorts, ", "))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return domain.FieldErrorf("limit", "limit must be 1 to 500")
		}
		f.Limit = n
	}
	for name, dst := range map[string]**time.Time{"due_before": &f.DueBefore, "due_after": &f.DueAfter, "updated_after": &f.UpdatedAfter} {
		if v := q.Get(name); v != "" {
			t, err := parseTime(v)
			if err != nil {
				return domain.FieldErrorf(name, "%s must be an RFC 3339 time or YYYY-MM-DD", name)
			}
			*dst = &t
		}
	}
	f.WithTotal = q.Get("total") == "true"
	page, err := s.Store.ListTickets(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	return time.Parse("2006-01-02", v)
}

func list(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Server) handleTicketGet(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	team, err := ticketScope(r)
	if err != nil {
		return err
	}
	t, err := s.Store.GetTicket(r.Context(), id)
	if err != nil {
		return err
	}
	if !visible(t, team) {
		return ticketNotFound(id)
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) inZones(ctx context.Context, zone string) error {
	zones, err := s.Store.ZoneNames(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(zones, zone) {
		return domain.FieldErrorf("zone", "zone %q is not served by this edge", zone)
	}
	return nil
}

func (s *Server) wrote() {
	if s.OnWrite != nil {
		s.OnWrite()
	}
}

func (s *Server) handleTicketCreate(w http.ResponseWriter, r *http.Request) error {
	var in domain.NewTicketInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	t, err := domain.NewTicket(in, s.Now())
	if err != nil {
		return err
	}
	if err := s.inZones(r.Context(), t.Zone); err != nil {
		return err
	}
	if t, err = s.Store.CreateTicket(r.Context(), t); err != nil {
		return err
	}
	s.wrote()
	w.Header().Set("Location", "/api/tickets/"+t.ID)
	return writeJSON(w, http.StatusCreated, t)
}

// handleTicketUpdate applies a partial update through the domain rules. Field users may set
// only status (to in_progress, on_hold, resolved) and customer_rating on their team's tickets.
func (s *Server) handleTicketUpdate(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	team, err := ticketScope(r)
	if err != nil {
		return err
	}
	if principal(r).Role == domain.RoleViewer {
		return domain.Errorf(domain.CodeForbidden, "viewers may not change tickets")
	}
	var patch domain.TicketPatch
	if err := decodeJSON(r, &patch); err != nil {
		return err
	}
	if team != "" {
		rest := patch
		rest.Status, rest.CustomerRating = domain.Opt[domain.Status]{}, domain.Opt[int]{}
		if !rest.Empty() {
			return domain.Errorf(domain.CodeForbidden, "field users may change only status and customer_rating")
		}
		if patch.Status.Set && !patch.Status.Null && !slices.Contains(fieldStatuses, patch.Status.Value) {
			return &domain.Error{Code: domain.CodeForbidden, Field: "status", Message: "field users may not set status " + string(patch.Status.Value)}
		}
	}
	if patch.Zone.Set && !patch.Zone.Null {
		if err := s.inZones(r.Context(), strings.TrimSpace(patch.Zone.Value)); err != nil {
			return err
		}
	}
	now := s.Now()
	t, err := s.Store.UpdateTicket(r.Context(), id, func(t domain.Ticket) (domain.Ticket, error) {
		if !visible(t, team) {
			return t, ticketNotFound(id)
		}
		return patch.Apply(t, now)
	})
	if err != nil {
		return err
	}
	s.wrote()
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) handleTicketDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Store.DeleteTicket(r.Context(), chi.URLParam(r, "id")); err != nil {
		return err
	}
	s.wrote()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type assignRequest struct {
	TicketIDs []string `json:"ticket_ids"`
	TeamID    string   `json:"team_id"`
}

func (s *Server) handleTicketAssign(w http.ResponseWriter, r *http.Request) error {
	var in assignRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	switch {
	case len(in.TicketIDs) == 0:
		return domain.FieldErrorf("ticket_ids", "ticket_ids is required")
	case len(in.TicketIDs) > 500:
		return domain.FieldErrorf("ticket_ids", "at most 500 tickets per request")
	case in.TeamID == "":
		return domain.FieldErrorf("team_id", "team_id is required")
	}
	if _, err := s.Store.GetTeam(r.Context(), in.TeamID); err != nil {
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return domain.FieldErrorf("team_id", "unknown team %q", in.TeamID)
		}
		return err
	}
	ts, err := s.Store.AssignTickets(r.Context(), in.TicketIDs, in.TeamID)
	if err != nil {
		return err
	}
	s.wrote()
	return writeJSON(w, http.StatusOK, map[string]any{"items": ts})
}

func (s *Server) handleTeamList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := domain.TeamFilter{Zone: list(q, "zone")}
	for _, st := range list(q, "status") {
		f.Status = append(f.Status, domain.TeamStatus(st))
	}
	if v := q.Get("active"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return domain.FieldErrorf("active", "active must be true or false")
		}
		f.Active = &b
	}
	ts, err := s.Store.ListTeams(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": ts, "total": len(ts)})
}

func (s *Server) handleTeamGet(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Store.GetTeam(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) handleZoneList(w http.ResponseWriter, r *http.Request) error {
	zs, err := s.Store.ListZones(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": zs, "total": len(zs)})
}
