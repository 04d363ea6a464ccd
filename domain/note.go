package domain

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// NoteMaxBody is the longest note body, in characters after trimming: a note is a short field
// remark ("replaced fuse, customer not home"), not a report.
const NoteMaxBody = 4000

// Note is a short remark a technician or dispatcher writes on a ticket. Each note is its own
// row with its own id, so two people adding notes to one ticket at once (even offline on
// different edges) both keep theirs: notes never overwrite each other the way two writes of
// one ticket field do. Zone is the note's scope zone, always its ticket's zone (the hub keeps
// it so when the ticket moves), so a note syncs to exactly the replicas that hold its ticket.
type Note struct {
	ID        string     `json:"id"`
	TicketID  string     `json:"ticket_id"`
	Zone      string     `json:"zone"`
	Author    string     `json:"author"` // username of the writer
	Body      string     `json:"body"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
}

// NoteInput is the body of POST /api/tickets/{id}/notes.
type NoteInput struct {
	Body string `json:"body"`
}

// NewNote returns a validated note on ticket in zone by author, made at now. The body is
// trimmed; the id is a fresh ULID.
func NewNote(ticket Ticket, author string, in NoteInput, now time.Time) (Note, error) {
	return Note{TicketID: ticket.ID, Body: strings.TrimSpace(in.Body)}.Place(ticket, author, now)
}

// Place completes a note a store is about to create on ticket at now and validates it: a
// fresh id and now as its times where they are empty, author where Author is empty, the
// ticket's zone, live, and times in the stored form (UTC, microseconds).
func (n Note) Place(ticket Ticket, author string, now time.Time) (Note, error) {
	if n.ID == "" {
		n.ID = NewID(now)
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = now
	}
	if n.UpdatedAt.IsZero() {
		n.UpdatedAt = n.CreatedAt
	}
	if n.Author == "" {
		n.Author = author
	}
	n.Zone, n.DeletedAt = ticket.Zone, nil
	n.CreatedAt = n.CreatedAt.UTC().Truncate(time.Microsecond)
	n.UpdatedAt = n.UpdatedAt.UTC().Truncate(time.Microsecond)
	return n, n.Validate()
}

// Validate checks a note's fields: a ticket id, and a body of 1 to NoteMaxBody characters
// after trimming. The zone is not checked here: the store derives it from the ticket.
func (n Note) Validate() error {
	body := strings.TrimSpace(n.Body)
	switch {
	case n.TicketID == "":
		return FieldErrorf("ticket_id", "ticket_id is required")
	case !ValidID(n.TicketID):
		return FieldErrorf("ticket_id", "ticket_id %q is not a ulid", n.TicketID)
	case body == "":
		return FieldErrorf("body", "body is required")
	case utf8.RuneCountInString(body) > NoteMaxBody:
		return FieldErrorf("body", "body is longer than %d characters", NoteMaxBody)
	case !utf8.ValidString(n.Body):
		return FieldErrorf("body", "body is not valid utf-8")
	case len(n.Author) > 200:
		return FieldErrorf("author", "author is longer than 200 characters")
	}
	return nil
}

// NoteStore keeps ticket notes. Every write also appends its change to the change log in the
// same transaction, like a ticket write.
type NoteStore interface {
	// CreateNote stores n on its ticket, filling ID and times if empty, Author (the actor of
	// the principal in ctx) if empty, and Zone (always the ticket's). Returns CodeNotFound for
	// an unknown or deleted ticket, CodeInvalid for an invalid note, CodeConflict if the ID
	// is taken.
	CreateNote(ctx context.Context, n Note) (Note, error)
	// ListNotes returns the live notes of a ticket, oldest first. Returns CodeNotFound for an
	// unknown or deleted ticket.
	ListNotes(ctx context.Context, ticketID string) ([]Note, error)
}
