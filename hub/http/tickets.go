package http

import (
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/aiff/aiff/domain"
)

// ticketScope is what a caller may see of tickets: a field user only their team's (OwnTeam),
// an edge only its zones.
type ticketScope struct {
	team  string // non-empty: only tickets assigned to this team
	zones []string
}

func (s *Server) ticketScope(r *http.Request) (ticketScope, error) {
	p := principal(r)
	sc := ticketScope{zones: p.Zones}
	if accessFrom(r.Context()) == OwnTeam {
		if p.TeamID == "" {
			return sc, domain.Errorf(domain.CodeForbidden, "a field user needs a team")
		}
		sc.team = p.TeamID
	}
	return sc, nil
}

// visible reports whether t is in scope; tickets out of scope are reported as not found, so a
// field user cannot even learn which ids exist in other teams.
func (sc ticketScope) visible(t domain.Ticket) bool {
	if sc.team != "" && (t.AssignedTeam == nil || *t.AssignedTeam != sc.team) {
		return false
	}
	return len(sc.zones) == 0 || slices.Contains(sc.zones, t.Zone)
}

func ticketNotFound(id string) error {
	return domain.Errorf(domain.CodeNotFound, "ticket %q not found", id)
}

func ticketID(r *http.Request) (string, error) {
	id := chi.URLParam(r, "id")
	if !domain.ValidID(id) {
		return "", ticketNotFound(id)
	}
	return id, nil
}

func (s *Server) ticketFilter(r *http.Request, sc ticketScope) (domain.TicketFilter, error) {
	q := r.URL.Query()
	f := domain.TicketFilter{
		Zone:       queryList(q, "zone"),
		Team:       strings.TrimSpace(first(q["team"])),
		Query:      strings.TrimSpace(first(q["q"])),
		Sort:       strings.TrimSpace(first(q["sort"])),
		Cursor:     strings.TrimSpace(first(q["cursor"])),
		ScopeZones: sc.zones,
		ScopeTeam:  sc.team,
	}
	var err error
	if f.Status, err = oneOf("status", queryList(q, "status"), domain.Status.Valid); err != nil {
		return f, err
	}
	if f.Priority, err = oneOf("priority", queryList(q, "priority"), domain.Priority.Valid); err != nil {
		return f, err
	}
	if f.Team != "" && f.Team != "none" && !domain.ValidID(f.Team) {
		return f, domain.FieldErrorf("team", `team must be a team id or "none"`)
	}
	if utf8.RuneCountInString(f.Query) > 200 {
		return f, domain.FieldErrorf("q", "q is longer than 200 characters")
	}
	if f.Sort != "" && !slices.Contains(domain.TicketSorts, f.Sort) {
		return f, domain.FieldErrorf("sort", "unknown sort %q (want one of %s)", f.Sort, strings.Join(domain.TicketSorts, ", "))
	}
	if err := checkCursor(f.Cursor); err != nil {
		return f, err
	}
	if f.Limit, err = queryLimit(q); err != nil {
		return f, err
	}
	if f.DueBefore, err = queryTime(q, "due_before"); err != nil {
		return f, err
	}
	if f.DueAfter, err = queryTime(q, "due_after"); err != nil {
		return f, err
	}
	if f.UpdatedAfter, err = queryTime(q, "updated_after"); err != nil {
		return f, err
	}
	total, err := queryBool(q, "total")
	if err != nil {
		return f, err
	}
	f.WithTotal = total != nil && *total
	return f, nil
}

func (s *Server) handleTicketList(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.ticketScope(r)
	if err != nil {
		return err
	}
	f, err := s.ticketFilter(r, sc)
	if err != nil {
		return err
	}
	page, err := s.Store.ListTickets(r.Context(), f)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []domain.Ticket{}
	}
	return writeJSON(w, http.StatusOK, page)
}

func (s *Server) handleTicketCreate(w http.ResponseWriter, r *http.Request) error {
	var in domain.NewTicketInput
	if err := s.decodeJSON(r, &in); err != nil {
		return err
	}
	t, err := domain.NewTicket(in, s.Now())
	if err != nil {
		return err
	}
	if !inScope(principal(r), t.Zone) {
		return domain.FieldErrorf("zone", "zone %q is outside your scope", t.Zone)
	}
	if t, err = s.Store.CreateTicket(r.Context(), t); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/tickets/"+t.ID)
	return writeJSON(w, http.StatusCreated, t)
}

func (s *Server) handleTicketGet(w http.ResponseWriter, r *http.Request) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	sc, err := s.ticketScope(r)
	if err != nil {
		return err
	}
	t, err := s.Store.GetTicket(r.Context(), id)
	if err != nil {
		return err
	}
	if !sc.visible(t) {
		return ticketNotFound(id)
	}
	return writeJSON(w, http.StatusOK, t)
}

// handleTicketUpdate applies a partial update. Field users (OwnTeam) may set only status and
// customer_rating, and move status only to fieldStatuses; anything else is 403 naming the
// field. The scope check runs inside the store's transaction, on the row being changed.
func (s *Server) handleTicketUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	sc, err := s.ticketScope(r)
	if err != nil {
		return err
	}
	var patch domain.TicketPatch
	if err := s.decodeJSON(r, &patch); err != nil {
		return err
	}
	if sc.team != "" {
		for _, f := range setFields(patch) {
			if !slices.Contains(fieldEditable, f) {
				return &domain.Error{Code: domain.CodeForbidden, Field: f,
					Message: "field users may change only status and customer_rating, not " + f}
			}
		}
		if patch.Status.Set && !patch.Status.Null && !slices.Contains(fieldStatuses, patch.Status.Value) {
			return &domain.Error{Code: domain.CodeForbidden, Field: "status",
				Message: "field users may not set status " + string(patch.Status.Value)}
		}
	}
	if patch.Zone.Set && !patch.Zone.Null && !inScope(principal(r), patch.Zone.Value) {
		return domain.FieldErrorf("zone", "zone %q is outside your scope", patch.Zone.Value)
	}
	now := s.Now()
	t, err := s.Store.UpdateTicket(r.Context(), id, func(t domain.Ticket) (domain.Ticket, error) {
		if !sc.visible(t) {
			return t, ticketNotFound(id)
		}
		return patch.Apply(t, now)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) handleTicketDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	if sc, err := s.ticketScope(r); err != nil {
		return err
	} else if len(sc.zones) > 0 || sc.team != "" {
		t, err := s.Store.GetTicket(r.Context(), id)
		if err != nil {
			return err
		}
		if !sc.visible(t) {
			return ticketNotFound(id)
		}
	}
	if err := s.Store.DeleteTicket(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxAssign bounds one assignment request, like the store's page size.
const maxAssign = 500

func (s *Server) handleTicketAssign(w http.ResponseWriter, r *http.Request) error {
	var in assignRequest
	if err := s.decodeJSON(r, &in); err != nil {
		return err
	}
	switch {
	case len(in.TicketIDs) == 0:
		return domain.FieldErrorf("ticket_ids", "ticket_ids is required")
	case len(in.TicketIDs) > maxAssign:
		return domain.FieldErrorf("ticket_ids", "at most %d tickets per request", maxAssign)
	case in.TeamID == "":
		return domain.FieldErrorf("team_id", "team_id is required")
	case !domain.ValidID(in.TeamID):
		return domain.FieldErrorf("team_id", "unknown team %q", in.TeamID)
	}
	seen := make(map[string]bool, len(in.TicketIDs))
	for _, id := range in.TicketIDs {
		if !domain.ValidID(id) {
			return domain.FieldErrorf("ticket_ids", "ticket id %q is not valid", id)
		}
		if seen[id] {
			return domain.FieldErrorf("ticket_ids", "ticket id %q is listed twice", id)
		}
		seen[id] = true
	}
	if p := principal(r); len(p.Zones) > 0 {
		for _, id := range in.TicketIDs {
			t, err := s.Store.GetTicket(r.Context(), id)
			if err != nil {
				return err
			}
			if !inScope(p, t.Zone) {
				return ticketNotFound(id)
			}
		}
	}
	ts, err := s.Store.AssignTickets(r.Context(), in.TicketIDs, in.TeamID, "manual")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list(ts))
}
