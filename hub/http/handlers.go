package http

import (
	"context"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/auth"
)

// Request and response bodies that are not domain types.
type (
	loginRequest struct {
		Username  string `json:"username"`
		Password  string `json:"password"`
		GrantType string `json:"grant_type,omitempty"` // optional; "password" if given
	}
	refreshRequest struct {
		RefreshToken string `json:"refresh_token"`
		GrantType    string `json:"grant_type,omitempty"` // optional; "refresh_token" if given
	}
	sessionResponse = auth.Session
	registerRequest struct {
		Username string      `json:"username"`
		Email    string      `json:"email"`
		Password string      `json:"password"`
		Role     domain.Role `json:"role"`
		TeamID   *string     `json:"team_id"`
	}
	assignRequest struct {
		TicketIDs []string `json:"ticket_ids"`
		TeamID    string   `json:"team_id"`
	}
	listResponse[T any] struct {
		Items []T `json:"items"`
	}
	ticketPerformance struct {
		Trends []domain.TrendPoint      `json:"trends"`
		Teams  []domain.TeamPerformance `json:"teams"`
	}
	statusResponse struct {
		Status string `json:"status"`
	}
)

func principal(r *http.Request) domain.Principal {
	p, _ := domain.PrincipalFrom(r.Context())
	return p
}

// list wraps items so that an empty result is [] rather than null.
func list[T any](items []T) listResponse[T] {
	if items == nil {
		items = []T{}
	}
	return listResponse[T]{Items: items}
}

// --- ops ---

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, statusResponse{"ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.Logger.Warn("readiness check failed", logKeyRequestID, RequestID(r.Context()), logKeyError, err)
		return domain.Errorf(domain.CodeUnavailable, "database is not reachable")
	}
	return writeJSON(w, http.StatusOK, statusResponse{"ok"})
}

// --- auth ---

// isForm reports whether the body is an HTML/OAuth2 form rather than JSON.
func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// decodeForm parses an OAuth2-style form body with the same limits and strictness as JSON:
// only the named fields, each at most once.
func (s *Server) decodeForm(r *http.Request, fields ...string) (url.Values, error) {
	data, err := s.readBody(r)
	if err != nil {
		return nil, err
	}
	v, err := url.ParseQuery(string(data))
	if err != nil {
		return nil, domain.Errorf(domain.CodeInvalid, "malformed form body")
	}
	for k, vals := range v {
		if !slices.Contains(fields, k) {
			return nil, domain.FieldErrorf(k, "unknown field %q", k)
		}
		if len(vals) > 1 {
			return nil, domain.FieldErrorf(k, "field %q given more than once", k)
		}
	}
	return v, nil
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var in loginRequest
	if isForm(r) {
		v, err := s.decodeForm(r, "grant_type", "username", "password", "scope", "client_id")
		if err != nil {
			return err
		}
		in = loginRequest{Username: v.Get("username"), Password: v.Get("password"), GrantType: v.Get("grant_type")}
	} else if err := s.decodeJSON(r, &in); err != nil {
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
		return domain.Errorf(domain.CodeUnauthorized, "invalid username or password")
	}
	sess, err := s.Auth.Login(r.Context(), in.Username, in.Password, s.clientIP(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sess)
}

func (s *Server) refreshToken(r *http.Request, grant string) (string, error) {
	var in refreshRequest
	if isForm(r) {
		v, err := s.decodeForm(r, "grant_type", "refresh_token", "client_id")
		if err != nil {
			return "", err
		}
		in = refreshRequest{RefreshToken: v.Get("refresh_token"), GrantType: v.Get("grant_type")}
	} else if err := s.decodeJSON(r, &in); err != nil {
		return "", err
	}
	if in.GrantType != "" && in.GrantType != grant {
		return "", domain.FieldErrorf("grant_type", "grant_type must be %s", grant)
	}
	if in.RefreshToken == "" {
		return "", domain.FieldErrorf("refresh_token", "refresh_token is required")
	}
	return in.RefreshToken, nil
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.refreshToken(r, "refresh_token")
	if err != nil {
		return err
	}
	sess, err := s.Auth.Refresh(r.Context(), tok)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sess)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.refreshToken(r, "refresh_token")
	if err != nil {
		return err
	}
	if err := s.Auth.Logout(r.Context(), tok); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	u, err := s.Store.GetUser(r.Context(), principal(r).UserID)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return domain.Errorf(domain.CodeUnauthorized, "user no longer exists")
	} else if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

// handleRegister creates a user. It is admin-only: a user's role is part of the request, and
// public sign-up would let anyone on the network make themselves a dispatcher.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) error {
	var in registerRequest
	if err := s.decodeJSON(r, &in); err != nil {
		return err
	}
	if err := domain.ValidatePassword(in.Password); err != nil {
		return err
	}
	now := s.Now().UTC()
	u := domain.User{ID: domain.NewID(now), Username: strings.TrimSpace(in.Username), Email: strings.TrimSpace(in.Email),
		Role: in.Role, TeamID: in.TeamID, IsActive: true, CreatedAt: now, UpdatedAt: now, PasswordHash: "pending"}
	if u.TeamID != nil && *u.TeamID == "" {
		u.TeamID = nil
	}
	if err := u.Validate(); err != nil {
		return err
	}
	if u.TeamID != nil && !domain.ValidID(*u.TeamID) {
		return domain.FieldErrorf("team_id", "unknown team %q", *u.TeamID)
	}
	hash, err := auth.HashPassword(in.Password)
	if err != nil {
		return err
	}
	u.PasswordHash = hash
	u, err = s.Store.CreateUser(r.Context(), u)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/users/"+u.ID)
	return writeJSON(w, http.StatusCreated, u)
}

// --- teams ---

func inScope(p domain.Principal, zone string) bool {
	return len(p.Zones) == 0 || slices.Contains(p.Zones, zone)
}

func (s *Server) teamID(r *http.Request) (string, error) {
	id := chi.URLParam(r, "id")
	if !domain.ValidID(id) {
		return "", domain.Errorf(domain.CodeNotFound, "team %q not found", id)
	}
	return id, nil
}

func (s *Server) handleTeamList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := domain.TeamFilter{Zone: queryList(q, "zone"), ScopeZones: principal(r).Zones}
	var err error
	if f.Status, err = oneOf("status", queryList(q, "status"), domain.TeamStatus.Valid); err != nil {
		return err
	}
	if f.Active, err = queryBool(q, "active"); err != nil {
		return err
	}
	teams, err := s.Store.ListTeams(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list(teams))
}

func (s *Server) handleTeamCreate(w http.ResponseWriter, r *http.Request) error {
	var in domain.TeamInput
	if err := s.decodeJSON(r, &in); err != nil {
		return err
	}
	t, err := domain.NewTeam(in, s.Now())
	if err != nil {
		return err
	}
	if !inScope(principal(r), t.Zone) {
		return domain.FieldErrorf("zone", "zone %q is outside your scope", t.Zone)
	}
	if t, err = s.Store.CreateTeam(r.Context(), t); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/auth/teams/"+t.ID)
	return writeJSON(w, http.StatusCreated, t)
}

func (s *Server) handleTeamGet(w http.ResponseWriter, r *http.Request) error {
	id, err := s.teamID(r)
	if err != nil {
		return err
	}
	t, err := s.Store.GetTeam(r.Context(), id)
	if err != nil {
		return err
	}
	if !inScope(principal(r), t.Zone) {
		return domain.Errorf(domain.CodeNotFound, "team %q not found", id)
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) handleTeamUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := s.teamID(r)
	if err != nil {
		return err
	}
	var in domain.TeamInput
	if err := s.decodeJSON(r, &in); err != nil {
		return err
	}
	if len(setFields(in)) == 0 {
		return domain.Errorf(domain.CodeInvalid, "no fields to update")
	}
	p, now := principal(r), s.Now()
	t, err := s.Store.UpdateTeam(r.Context(), id, func(t domain.Team) (domain.Team, error) {
		if !inScope(p, t.Zone) {
			return t, domain.Errorf(domain.CodeNotFound, "team %q not found", id)
		}
		t, err := in.Apply(t, now)
		if err == nil && !inScope(p, t.Zone) {
			err = domain.FieldErrorf("zone", "zone %q is outside your scope", t.Zone)
		}
		return t, err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) handleTeamDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := s.teamID(r)
	if err != nil {
		return err
	}
	if p := principal(r); len(p.Zones) > 0 {
		t, err := s.Store.GetTeam(r.Context(), id)
		if err != nil {
			return err
		}
		if !inScope(p, t.Zone) {
			return domain.Errorf(domain.CodeNotFound, "team %q not found", id)
		}
	}
	if err := s.Store.DeleteTeam(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- zones ---

func (s *Server) handleZoneList(w http.ResponseWriter, r *http.Request) error {
	zones, err := s.Store.ListZones(r.Context())
	if err != nil {
		return err
	}
	p := principal(r)
	zones = slices.DeleteFunc(zones, func(z domain.Zone) bool { return !inScope(p, z.Name) })
	return writeJSON(w, http.StatusOK, list(zones))
}

// --- analytics ---

func (s *Server) analyticsFilter(r *http.Request) (domain.AnalyticsFilter, error) {
	q := r.URL.Query()
	f := domain.AnalyticsFilter{Zones: queryList(q, "zone"), ScopeZones: principal(r).Zones, Now: s.Now().UTC()}
	var err error
	if f.From, err = queryTime(q, "from"); err != nil {
		return f, err
	}
	if f.To, err = queryTime(q, "to"); err != nil {
		return f, err
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		return f, domain.FieldErrorf("to", "to must be after from")
	}
	return f, nil
}

func (s *Server) handleZoneStats(w http.ResponseWriter, r *http.Request) error {
	f, err := s.analyticsFilter(r)
	if err != nil {
		return err
	}
	st, err := s.Store.ZoneStats(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list(st))
}

func (s *Server) handleTeamPerformance(w http.ResponseWriter, r *http.Request) error {
	f, err := s.analyticsFilter(r)
	if err != nil {
		return err
	}
	tp, err := s.Store.TeamPerformance(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list(tp))
}

func (s *Server) handleTicketOverview(w http.ResponseWriter, r *http.Request) error {
	f, err := s.analyticsFilter(r)
	if err != nil {
		return err
	}
	ov, err := s.Store.TicketOverview(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ov)
}

func (s *Server) handleTicketPerformance(w http.ResponseWriter, r *http.Request) error {
	f, err := s.analyticsFilter(r)
	if err != nil {
		return err
	}
	tr, err := s.Store.Trends(r.Context(), f)
	if err != nil {
		return err
	}
	tp, err := s.Store.TeamPerformance(r.Context(), f)
	if err != nil {
		return err
	}
	out := ticketPerformance{Trends: list(tr).Items, Teams: list(tp).Items}
	return writeJSON(w, http.StatusOK, out)
}
