package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/aiff/aiff/domain"
)

// handleNoteList lists a ticket's notes from the local store, oldest first: the ones written
// here (pushed or not) and the ones the hub sent. It works offline.
func (s *Server) handleNoteList(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if _, err := s.visibleTicket(r, id); err != nil {
		return err
	}
	notes, err := s.Store.ListNotes(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": notes})
}

// handleNoteCreate adds a note written by the caller to a ticket, as on the hub: field users
// only on their team's tickets, viewers never. The note and its outbox entry are written in
// one local transaction, so a note made offline is pushed when the hub is back.
func (s *Server) handleNoteCreate(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if principal(r).Role == domain.RoleViewer {
		return domain.Errorf(domain.CodeForbidden, "viewers may not write notes")
	}
	var in domain.NoteInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	tk, err := s.visibleTicket(r, id)
	if err != nil {
		return err
	}
	n, err := domain.NewNote(tk, principal(r).Actor(), in, s.Now())
	if err != nil {
		return err
	}
	if n, err = s.Store.CreateNote(r.Context(), n); err != nil {
		return err
	}
	s.wrote()
	return writeJSON(w, http.StatusCreated, n)
}

// visibleTicket returns ticket id if the caller may see it, else not found.
func (s *Server) visibleTicket(r *http.Request, id string) (domain.Ticket, error) {
	team, err := ticketScope(r)
	if err != nil {
		return domain.Ticket{}, err
	}
	t, err := s.Store.GetTicket(r.Context(), id)
	if err != nil {
		return domain.Ticket{}, err
	}
	if !visible(t, team) {
		return domain.Ticket{}, ticketNotFound(id)
	}
	return t, nil
}
