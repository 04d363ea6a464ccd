package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/aiff/aiff/domain"
)

// route is one row of the route table: how it is served, who may call it and how it is
// documented. The router, the role middleware, ROLES.md and openapi.json are all built from
// routeTable, so adding an endpoint means adding a row here.
type route struct {
	Method  string
	Pattern string
	Summary string
	Tag     string
	Public  bool  // no bearer token needed
	Perms   Perms // per-role access when not Public
	Handle  func(*Server, http.ResponseWriter, *http.Request) error
	// Documentation.
	Query  []param // accepted query parameters (any other is refused with 400)
	Body   any     // request body type (JSON)
	Form   bool    // also accepts application/x-www-form-urlencoded
	Status int     // success status; 200 if 0
	Resp   any     // response body type (JSON); nil with Status 204
	Media  string  // response media type when not JSON (text/html, text/plain)
}

type param struct {
	Name, Type, Doc string
}

var (
	ticketListQuery = []param{
		{"status", "string", "comma-separated statuses"},
		{"zone", "string", "comma-separated zone names"},
		{"priority", "string", "comma-separated priorities"},
		{"team", "string", `assigned team id, or "none" for unassigned`},
		{"q", "string", "text search in number, title, description, location"},
		{"due_before", "date-time", "RFC 3339 time or YYYY-MM-DD"},
		{"due_after", "date-time", "RFC 3339 time or YYYY-MM-DD"},
		{"updated_after", "date-time", "RFC 3339 time or YYYY-MM-DD"},
		{"sort", "string", "created_at, updated_at, due_date, priority or ticket_number; '-' prefix for descending"},
		{"cursor", "string", "next_cursor of the previous page"},
		{"limit", "integer", "page size 1..500 (default 50)"},
		{"total", "boolean", "true to include the total count"},
	}
	teamListQuery = []param{
		{"zone", "string", "comma-separated zone names"},
		{"status", "string", "comma-separated team statuses"},
		{"active", "boolean", "only active (true) or inactive (false) teams"},
	}
	analyticsQuery = []param{
		{"from", "date-time", "tickets created at or after (RFC 3339 or YYYY-MM-DD)"},
		{"to", "date-time", "tickets created before"},
		{"zone", "string", "comma-separated zone names"},
	}
)

var routeTable = []route{
	{Method: "GET", Pattern: "/healthz", Summary: "Liveness: the process is serving", Tag: "ops", Public: true, Handle: (*Server).handleHealthz, Resp: statusResponse{}},
	{Method: "GET", Pattern: "/readyz", Summary: "Readiness: the database answers", Tag: "ops", Public: true, Handle: (*Server).handleReadyz, Resp: statusResponse{}},
	{Method: "GET", Pattern: "/metrics", Summary: "Prometheus metrics", Tag: "ops", Public: true, Handle: (*Server).handleMetrics, Media: "text/plain"},
	{Method: "GET", Pattern: "/openapi.json", Summary: "This OpenAPI 3.1 document", Tag: "ops", Public: true, Handle: (*Server).handleOpenAPI, Media: "application/json"},
	{Method: "GET", Pattern: "/docs", Summary: "API documentation page", Tag: "ops", Public: true, Handle: (*Server).handleDocs, Media: "text/html"},

	{Method: "POST", Pattern: "/api/auth/login", Summary: "Log in with username and password (JSON, or an OAuth2 password grant form)", Tag: "auth", Public: true, Handle: (*Server).handleLogin, Body: loginRequest{}, Form: true, Resp: sessionResponse{}},
	{Method: "POST", Pattern: "/api/auth/refresh", Summary: "Trade a refresh token for new tokens (the old one is revoked)", Tag: "auth", Public: true, Handle: (*Server).handleRefresh, Body: refreshRequest{}, Form: true, Resp: sessionResponse{}},
	{Method: "POST", Pattern: "/api/auth/logout", Summary: "Revoke a refresh token (idempotent)", Tag: "auth", Public: true, Handle: (*Server).handleLogout, Body: refreshRequest{}, Status: http.StatusNoContent},
	{Method: "GET", Pattern: "/api/auth/me", Summary: "The calling user", Tag: "auth", Perms: permAnyUser, Handle: (*Server).handleMe, Resp: domain.User{}},
	{Method: "POST", Pattern: "/api/auth/register", Summary: "Create a user (admin only; there is no public sign-up)", Tag: "auth", Perms: permAdmin, Handle: (*Server).handleRegister, Body: registerRequest{}, Status: http.StatusCreated, Resp: domain.User{}},

	{Method: "GET", Pattern: "/api/users", Summary: "List users", Tag: "users", Perms: permAdmin, Handle: (*Server).handleUserList, Query: userListQuery, Resp: listResponse[domain.User]{}},
	{Method: "GET", Pattern: "/api/users/{id}", Summary: "Get a user", Tag: "users", Perms: permAdmin, Handle: (*Server).handleUserGet, Resp: domain.User{}},
	{Method: "PUT", Pattern: "/api/users/{id}", Summary: "Update some fields of a user; is_active false deactivates them everywhere (refresh tokens revoked, access tokens refused within seconds, edges told by sync)", Tag: "users", Perms: permAdmin, Handle: (*Server).handleUserUpdate, Body: domain.UserPatch{}, Resp: domain.User{}},

	{Method: "GET", Pattern: "/api/auth/teams", Summary: "List teams", Tag: "teams", Perms: permAnyUser, Handle: (*Server).handleTeamList, Query: teamListQuery, Resp: listResponse[domain.Team]{}},
	{Method: "POST", Pattern: "/api/auth/teams", Summary: "Create a team", Tag: "teams", Perms: permStaffWrite, Handle: (*Server).handleTeamCreate, Body: domain.TeamInput{}, Status: http.StatusCreated, Resp: domain.Team{}},
	{Method: "GET", Pattern: "/api/auth/teams/analytics/zones", Summary: "Per-zone team and ticket statistics", Tag: "analytics", Perms: permAnalytics, Handle: (*Server).handleZoneStats, Query: analyticsQuery, Resp: listResponse[domain.ZoneStats]{}},
	{Method: "GET", Pattern: "/api/auth/teams/analytics/performance", Summary: "Team performance ranking", Tag: "analytics", Perms: permAnalytics, Handle: (*Server).handleTeamPerformance, Query: analyticsQuery, Resp: listResponse[domain.TeamPerformance]{}},
	{Method: "GET", Pattern: "/api/auth/teams/{id}", Summary: "Get a team", Tag: "teams", Perms: permAnyUser, Handle: (*Server).handleTeamGet, Resp: domain.Team{}},
	{Method: "PUT", Pattern: "/api/auth/teams/{id}", Summary: "Update some fields of a team", Tag: "teams", Perms: permStaffWrite, Handle: (*Server).handleTeamUpdate, Body: domain.TeamInput{}, Resp: domain.Team{}},
	{Method: "DELETE", Pattern: "/api/auth/teams/{id}", Summary: "Delete a team (409 while it has active tickets)", Tag: "teams", Perms: permStaffWrite, Handle: (*Server).handleTeamDelete, Status: http.StatusNoContent},

	{Method: "GET", Pattern: "/api/zones", Summary: "List zones", Tag: "zones", Perms: permAnyUser, Handle: (*Server).handleZoneList, Resp: listResponse[domain.Zone]{}},

	{Method: "GET", Pattern: "/api/tickets", Summary: "List tickets (keyset pages)", Tag: "tickets", Perms: permTicketRead, Handle: (*Server).handleTicketList, Query: ticketListQuery, Resp: domain.Page[domain.Ticket]{}},
	{Method: "POST", Pattern: "/api/tickets", Summary: "Create a ticket", Tag: "tickets", Perms: permStaffWrite, Handle: (*Server).handleTicketCreate, Body: domain.NewTicketInput{}, Status: http.StatusCreated, Resp: domain.Ticket{}},
	{Method: "POST", Pattern: "/api/tickets/assign", Summary: "Assign tickets to a team, all or none", Tag: "tickets", Perms: permStaffWrite, Handle: (*Server).handleTicketAssign, Body: assignRequest{}, Resp: listResponse[domain.Ticket]{}},
	{Method: "GET", Pattern: "/api/tickets/analytics/overview", Summary: "Ticket KPIs", Tag: "analytics", Perms: permAnalytics, Handle: (*Server).handleTicketOverview, Query: analyticsQuery, Resp: domain.TicketOverview{}},
	{Method: "GET", Pattern: "/api/tickets/analytics/performance", Summary: "Daily ticket flow and team performance", Tag: "analytics", Perms: permAnalytics, Handle: (*Server).handleTicketPerformance, Query: analyticsQuery, Resp: ticketPerformance{}},
	{Method: "GET", Pattern: "/api/tickets/{id}", Summary: "Get a ticket", Tag: "tickets", Perms: permTicketRead, Handle: (*Server).handleTicketGet, Resp: domain.Ticket{}},
	{Method: "PUT", Pattern: "/api/tickets/{id}", Summary: "Update some fields of a ticket (status changes follow the state machine)", Tag: "tickets", Perms: permTicketEdit, Handle: (*Server).handleTicketUpdate, Body: domain.TicketPatch{}, Resp: domain.Ticket{}},
	{Method: "DELETE", Pattern: "/api/tickets/{id}", Summary: "Delete a ticket (kept as a tombstone for sync)", Tag: "tickets", Perms: permStaffWrite, Handle: (*Server).handleTicketDelete, Status: http.StatusNoContent},
	{Method: "GET", Pattern: "/api/tickets/{id}/notes", Summary: "List a ticket's notes, oldest first", Tag: "tickets", Perms: permTicketRead, Handle: (*Server).handleNoteList, Resp: listResponse[domain.Note]{}},
	{Method: "POST", Pattern: "/api/tickets/{id}/notes", Summary: "Add a note to a ticket (1 to 4000 characters)", Tag: "tickets", Perms: permTicketEdit, Handle: (*Server).handleNoteCreate, Body: domain.NoteInput{}, Status: http.StatusCreated, Resp: domain.Note{}},

	{Method: "GET", Pattern: "/", Summary: "Dispatcher dashboard", Tag: "web", Public: true, Handle: (*Server).handleIndex, Media: "text/html"},
	{Method: "GET", Pattern: "/field", Summary: "Field portal", Tag: "web", Public: true, Handle: (*Server).handleField, Media: "text/html"},
	{Method: "GET", Pattern: "/*", Summary: "Web assets (scripts, styles, manifest, icons)", Tag: "web", Public: true, Handle: (*Server).handleAsset, Media: "application/octet-stream"},
}

// routes registers the route table and the mounts on r.
func (s *Server) routes(r chi.Router) {
	r.Use(s.requestID, s.observe, s.recoverer, securityHeaders, s.cors)
	r.NotFound(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return domain.Errorf(domain.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path)
	}))
	r.MethodNotAllowed(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return domain.Errorf(codeMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path)
	}))
	for _, rt := range routeTable {
		mw := []func(http.Handler) http.Handler{s.limitBody}
		if !rt.Public {
			mw = append(mw, s.authenticate, s.requirePerms(rt.Perms))
		}
		if len(rt.Pattern) >= 4 && rt.Pattern[:4] == "/api" {
			mw = append(mw, s.rateLimit)
		}
		if rt.Query != nil {
			mw = append(mw, s.onlyQuery(rt.Query))
		}
		h := rt.Handle
		r.With(mw...).Method(rt.Method, rt.Pattern, s.handle(func(w http.ResponseWriter, r *http.Request) error {
			return h(s, w, r)
		}))
	}
	for _, m := range s.mounts {
		limit := s.limitBody
		if m.maxBody > 0 {
			limit = s.limitBodyTo(m.maxBody)
		}
		r.With(limit, s.authenticate, s.rateLimit).Mount(m.pattern, m.h)
	}
}

// handle adapts a handler that returns an error; the error goes to writeProblem, the only
// error writer.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeProblem(w, r, err)
		}
	}
}
