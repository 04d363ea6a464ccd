package syncstore

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// Notes in a push. A note is its own row, so concurrent notes on one ticket never collide;
// its scope zone is its ticket's. Three rules keep it so:
//   - the ticket must exist and be live, and a zone-scoped caller must hold the ticket's zone
//     (a note on a ticket outside the caller's zones is a scope violation, like any other);
//   - a note accepted with a zone other than its ticket's (made offline before the ticket
//     moved) is followed by a hub change setting its zone to the ticket's;
//   - a ticket whose zone changes takes its notes along: each of them gets a hub change
//     setting its zone, appended right after the ticket's change, so replicas of the old
//     zone see the notes leave (exits) and replicas of the new one fetch them (entries).

// NormalizeNote gives n the form the hub stores: UTC microsecond times.
func NormalizeNote(n domain.Note) domain.Note {
	n.CreatedAt, n.UpdatedAt, n.DeletedAt = us(n.CreatedAt), us(n.UpdatedAt), usPtr(n.DeletedAt)
	return n
}

// materializeNote is materialize for a note.
func (ps *pusher) materializeNote(ctx context.Context, k RowKey, cur any, exists bool, visible iter.Seq2[string, json.RawMessage], deletedAt *time.Time, c domain.Change) (any, error) {
	var old *domain.Note
	if exists {
		n := cur.(domain.Note)
		old = &n
	}
	patched, err := checkCanonical(old, c.Patch, NormalizeNote)
	if err != nil {
		return nil, err
	}
	n, err := overlayOrPatched(old, visible, c.Patch, patched)
	if err != nil {
		return nil, err
	}
	n = NormalizeNote(n)
	n.ID, n.DeletedAt = k.ID, deletedAt
	if old != nil && n.TicketID != old.TicketID {
		return nil, domain.FieldErrorf("ticket_id", "a note cannot move to another ticket")
	}
	if n.DeletedAt != nil {
		return n, nil
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	if n.Zone == "" {
		return nil, domain.FieldErrorf("zone", "zone is required")
	}
	tk, err := ps.noteTicket(ctx, n.TicketID)
	if err != nil {
		return nil, err
	}
	if tk == nil || tk.DeletedAt != nil {
		return nil, domain.FieldErrorf("ticket_id", "unknown ticket %s", n.TicketID)
	}
	return n, nil
}

// noteTicket returns the ticket id as the batch sees it (tombstones included; nil if there
// is none), loading and locking it the first time a note needs it, so the ticket cannot move
// between the scope check and the commit.
func (ps *pusher) noteTicket(ctx context.Context, id string) (*domain.Ticket, error) {
	k := RowKey{domain.EntityTicket, id}
	if r, ok := ps.rows[k]; ok {
		t := r.(domain.Ticket)
		return &t, nil
	}
	if t, ok := ps.tickets[id]; ok {
		return t, nil
	}
	if ps.tickets == nil {
		ps.tickets = map[string]*domain.Ticket{}
	}
	if !domain.ValidID(id) {
		ps.tickets[id] = nil
		return nil, nil
	}
	rows, err := ps.tx.LockRows(ctx, []RowKey{k})
	if err != nil {
		return nil, err
	}
	var tp *domain.Ticket
	if r, ok := rows[k]; ok {
		t := r.(domain.Ticket)
		tp = &t
	}
	ps.tickets[id] = tp
	return tp, nil
}

// noteTicketID is the ticket of a pushed note change: the stored note's, else the patch's.
func noteTicketID(cur any, exists bool, c domain.Change) string {
	if exists {
		return cur.(domain.Note).TicketID
	}
	var id string
	json.Unmarshal(c.Patch["ticket_id"], &id)
	return id
}

// checkNoteScope is checkScope's part for a note change of a zone-scoped caller: the note's
// ticket must be in the caller's zones. An unknown ticket is left to materialize to reject.
func (ps *pusher) checkNoteScope(ctx context.Context, i int, c domain.Change, cur any, exists bool) error {
	tk, err := ps.noteTicket(ctx, noteTicketID(cur, exists, c))
	if err != nil || tk == nil {
		return err
	}
	if !ps.sc.zoneOK(tk.Zone) {
		return forbidden(i, "note %s is on ticket %s in zone %q, outside your zones", c.EntityID, tk.ID, tk.Zone)
	}
	return nil
}

// checkFieldNote is checkScope's part for a note change of a field user: a new note on a
// ticket assigned to the user's team, nothing else.
func (ps *pusher) checkFieldNote(ctx context.Context, i int, c domain.Change, exists bool) error {
	if exists || c.Op != domain.OpUpsert {
		return forbidden(i, "field users may only add notes")
	}
	tk, err := ps.noteTicket(ctx, noteTicketID(nil, false, c))
	if err != nil {
		return err
	}
	if tk == nil || tk.AssignedTeam == nil || *tk.AssignedTeam != ps.sc.team {
		return forbidden(i, "note %s is not on a ticket assigned to your team", c.EntityID)
	}
	return nil
}

// followZones appends the hub changes that keep notes in their ticket's zone after the
// accepted change that turned row k from cur into typed: a note whose zone is not its
// ticket's is moved to it; a ticket that moved takes its notes along.
func (ps *pusher) followZones(ctx context.Context, k RowKey, cur any, exists bool, typed any) error {
	switch r := typed.(type) {
	case domain.Note:
		if r.DeletedAt != nil {
			return nil
		}
		tk, err := ps.noteTicket(ctx, r.TicketID)
		if err != nil || tk == nil || tk.Zone == r.Zone {
			return err
		}
		return ps.rezoneNote(k, r, tk.Zone)
	case domain.Ticket:
		if !exists || r.DeletedAt != nil || cur.(domain.Ticket).Zone == r.Zone {
			return nil
		}
		return ps.rezoneNotes(ctx, r.ID, r.Zone)
	}
	return nil
}

// rezoneNotes moves every live note of ticket id to zone: the stored ones (loaded and
// locked now if the batch has not touched them) and the ones this batch created.
func (ps *pusher) rezoneNotes(ctx context.Context, ticketID, zone string) error {
	ids, err := ps.tx.TicketNotes(ctx, ticketID)
	if err != nil {
		return err
	}
	var load []RowKey
	for _, id := range ids {
		if k := (RowKey{domain.EntityNote, id}); ps.rows[k] == nil {
			load = append(load, k)
		}
	}
	if len(load) > 0 {
		rows, err := ps.tx.LockRows(ctx, load)
		if err != nil {
			return err
		}
		states, _, err := loadStates(ctx, ps.tx, load, ps.horizon)
		if err != nil {
			return err
		}
		for _, k := range load {
			if r, ok := rows[k]; ok {
				ps.rows[k], ps.orig[k], ps.states[k] = r, r, states[k]
			}
		}
	}
	// Every note of the ticket the batch knows of, in first-seen order (deterministic).
	var keys []RowKey
	seen := map[RowKey]bool{}
	for _, id := range ids {
		keys = append(keys, RowKey{domain.EntityNote, id})
		seen[RowKey{domain.EntityNote, id}] = true
	}
	for _, k := range ps.order {
		if k.Entity == domain.EntityNote && !seen[k] {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		r, ok := ps.rows[k]
		if !ok {
			continue
		}
		n := r.(domain.Note)
		if n.TicketID != ticketID || n.DeletedAt != nil || n.Zone == zone {
			continue
		}
		if err := ps.rezoneNote(k, n, zone); err != nil {
			return err
		}
	}
	return nil
}

// rezoneNote appends a hub change setting note n's zone, as the ticket_number change does
// for a ticket: stamped after every change of the row, so it wins over each of them.
func (ps *pusher) rezoneNote(k RowKey, n domain.Note, zone string) error {
	z, _ := json.Marshal(zone)
	f := domain.Change{ID: domain.NewID(ps.now), Origin: domain.HubOrigin, Actor: "system", Entity: k.Entity,
		EntityID: k.ID, Op: domain.OpUpsert, Zone: zone, Patch: map[string]json.RawMessage{"zone": z}, At: ps.now}
	f.HLC, f.Base = Stamp(ps.clock, ps.states[k].Changes, f.Entity, f.Patch)
	row, res, err := merge.Apply(ps.states[k], f)
	if err != nil {
		return fmt.Errorf("move note %s to zone %s: %w", k.ID, zone, err)
	}
	n.Zone = zone
	ps.accept(k, n, row, res, f)
	return nil
}
