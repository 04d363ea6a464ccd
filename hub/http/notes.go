package http

import (
	"net/http"

	"github.com/aiff/aiff/domain"
)

// handleNoteList lists a ticket's notes, oldest first. A ticket the caller may not see (a
// field user's other teams', an edge's other zones) is not found, as for GET /api/tickets/{id}.
func (s *Server) handleNoteList(w http.ResponseWriter, r *http.Request) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	if _, err := s.visibleTicket(r, id); err != nil {
		return err
	}
	notes, err := s.Store.ListNotes(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list(notes))
}

// handleNoteCreate adds a note to a ticket, written by the caller. Field users may write only
// on their team's tickets (others are not found); the note takes the ticket's zone.
func (s *Server) handleNoteCreate(w http.ResponseWriter, r *http.Request) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	var in domain.NoteInput
	if err := s.decodeJSON(r, &in); err != nil {
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
	n, err = s.Store.CreateNote(r.Context(), n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, n)
}

// visibleTicket returns ticket id if the caller may see it, else not found.
func (s *Server) visibleTicket(r *http.Request, id string) (domain.Ticket, error) {
	sc, err := s.ticketScope(r)
	if err != nil {
		return domain.Ticket{}, err
	}
	t, err := s.Store.GetTicket(r.Context(), id)
	if err != nil {
		return domain.Ticket{}, err
	}
	if !sc.visible(t) {
		return domain.Ticket{}, ticketNotFound(id)
	}
	return t, nil
}
