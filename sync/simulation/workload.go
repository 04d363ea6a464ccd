package simulation

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aiff/aiff/domain"
)

// The workload: users writing on edges (inside the edge's zones) and dispatchers writing on
// the hub through its store API. A write refused by the domain rules (an illegal transition,
// a ticket not replicated yet) is simply not acknowledged; only acknowledged edge writes are
// held to invariant 1.

func (w *world) edgeCtx(ctx context.Context, e *edgeNode) context.Context {
	return domain.WithPrincipal(ctx, domain.Principal{Username: "tech." + e.name, Role: domain.RoleDispatcher, Node: e.name})
}

// ticketsIn returns the known tickets in any of zones, in creation order.
func (w *world) ticketsIn(zones []string) []ticketRef {
	var out []ticketRef
	for _, t := range w.tickets {
		if slices.Contains(zones, t.zone) {
			out = append(out, t)
		}
	}
	return out
}

// edgeTicket picks a ticket the edge holds (live), or ok=false. A ticket the edge shows
// without its create's fields breaks an invariant: the workload moves no ticket into an
// edge's zones, so every ticket an edge holds came with its create. (An edge that held its
// own change at its fast clock while the hub had clamped it once showed a ticket as nothing
// but the status of a cancellation that sorted before the create.)
func (w *world) edgeTicket(ctx context.Context, e *edgeNode) (domain.Ticket, bool, error) {
	cands := w.ticketsIn(e.zones)
	if len(cands) == 0 {
		return domain.Ticket{}, false, nil
	}
	id := pick(w.rng, cands).id
	t, err := e.store.GetTicket(ctx, id)
	if err != nil {
		return t, false, nil
	}
	if t.ID != id || t.Zone == "" {
		return t, false, violation("edge-row-whole", "%s shows ticket %s without its create: %+v", e.name, id, t)
	}
	return t, true, nil
}

// localWrite runs one edge write and records what it acknowledged. It returns the new change
// ids (nil if the write was refused).
func (w *world) localWrite(ctx context.Context, e *edgeNode, what string, fn func(ctx context.Context) error) ([]string, error) {
	err := fn(w.edgeCtx(ctx, e))
	if err != nil {
		code := domain.ErrorCode(err)
		if code == domain.CodeInternal {
			return nil, violation("edge-write", "%s %s: %v", e.name, what, err)
		}
		w.logf("%s: %s refused locally: %v", e.name, what, err)
		return nil, nil
	}
	before := len(e.acked)
	if err := e.recordWrites(ctx); err != nil {
		return nil, err
	}
	ids := slices.Clone(e.acked[before:])
	w.logf("%s: %s -> changes %v", e.name, what, ids)
	return ids, nil
}

func (w *world) newTicket(zone, origin string) (domain.Ticket, error) {
	prio := pick(w.rng, domain.Priorities)
	return domain.NewTicket(domain.NewTicketInput{
		Title:    fmt.Sprintf("%s job %d", origin, w.rng.IntN(100000)),
		Category: pick(w.rng, domain.Categories),
		Priority: prio,
		Zone:     zone,
		Location: fmt.Sprintf("%d Sim Street", w.rng.IntN(500)),
	}, w.now)
}

func (w *world) edgeCreate(ctx context.Context) error {
	e := w.pickEdge()
	zone := pick(w.rng, e.zones)
	t, err := w.newTicket(zone, e.name)
	if err != nil {
		return err
	}
	t.CreatedAt, t.UpdatedAt = e.now(), e.now()
	var made domain.Ticket
	ids, err := w.localWrite(ctx, e, "create ticket in "+zone, func(ctx context.Context) error {
		made, err = e.store.CreateTicket(ctx, t)
		return err
	})
	if err == nil && ids != nil {
		w.tickets = append(w.tickets, ticketRef{made.ID, zone})
	}
	return err
}

// nextStatus picks a target status: usually a legal move from what the edge sees (which may
// be stale on the hub), sometimes any status at all.
func (w *world) nextStatus(t domain.Ticket) domain.Status {
	next := t.Status.Next()
	if len(next) == 0 || w.rng.IntN(6) == 0 {
		return pick(w.rng, domain.Statuses)
	}
	return pick(w.rng, next)
}

// transition moves t to status to, assigning a team of its zone first when that status needs
// one.
func (w *world) transition(t domain.Ticket, to domain.Status, at time.Time) (domain.Ticket, error) {
	if to == domain.StatusAssigned && t.AssignedTeam == nil && t.Status == domain.StatusOpen {
		return t.Assign(pick(w.rng, w.teams[t.Zone]), nil, at)
	}
	out, err := t.Transition(to, at)
	if err == nil && to == domain.StatusResolved && w.rng.IntN(2) == 0 {
		r := 1 + w.rng.IntN(5)
		out.CustomerRating = &r
	}
	return out, err
}

func (w *world) edgeTransition(ctx context.Context) error {
	e := w.pickEdge()
	t, ok, err := w.edgeTicket(ctx, e)
	if !ok {
		return err
	}
	to := w.nextStatus(t)
	_, err = w.localWrite(ctx, e, fmt.Sprintf("ticket %s %s -> %s", short(t.ID), t.Status, to), func(ctx context.Context) error {
		_, err := e.store.UpdateTicket(ctx, t.ID, func(cur domain.Ticket) (domain.Ticket, error) {
			return w.transition(cur, to, e.now())
		})
		return err
	})
	return err
}

// editPatch is a random edit of one plain field.
func (w *world) editPatch(who string) (string, domain.TicketPatch) {
	var p domain.TicketPatch
	switch field := pick(w.rng, []string{"title", "description", "priority", "location"}); field {
	case "title":
		p.Title = domain.Some(fmt.Sprintf("%s title %d", who, w.rng.IntN(100000)))
		return field, p
	case "description":
		p.Description = domain.Some(fmt.Sprintf("%s notes %d", who, w.rng.IntN(100000)))
		return field, p
	case "priority":
		p.Priority = domain.Some(pick(w.rng, domain.Priorities))
		return field, p
	default:
		p.Location = domain.Some(fmt.Sprintf("%d %s Road", w.rng.IntN(1000), who))
		return "location", p
	}
}

func (w *world) edgeEdit(ctx context.Context) error {
	e := w.pickEdge()
	t, ok, err := w.edgeTicket(ctx, e)
	if !ok {
		return err
	}
	field, p := w.editPatch(e.name)
	_, err = w.localWrite(ctx, e, fmt.Sprintf("edit %s of %s", field, short(t.ID)), func(ctx context.Context) error {
		_, err := e.store.UpdateTicket(ctx, t.ID, func(cur domain.Ticket) (domain.Ticket, error) { return p.Apply(cur, e.now()) })
		return err
	})
	return err
}

func (w *world) edgeAssign(ctx context.Context) error {
	e := w.pickEdge()
	t, ok, err := w.edgeTicket(ctx, e)
	if !ok {
		return err
	}
	team := pick(w.rng, w.teams[t.Zone])
	_, err = w.localWrite(ctx, e, fmt.Sprintf("assign %s to %s", short(t.ID), short(team)), func(ctx context.Context) error {
		_, err := e.store.AssignTickets(ctx, []string{t.ID}, team)
		return err
	})
	return err
}

func (w *world) edgeDelete(ctx context.Context) error {
	e := w.pickEdge()
	t, ok, err := w.edgeTicket(ctx, e)
	if !ok {
		return err
	}
	_, err = w.localWrite(ctx, e, "delete "+short(t.ID), func(ctx context.Context) error { return e.store.DeleteTicket(ctx, t.ID) })
	return err
}

// edgeConcurrentEdit writes one field of one ticket on two edges sharing its zone, with
// different values, before either syncs: a true concurrent write that merge must resolve the
// same way everywhere and record as a conflict.
func (w *world) edgeConcurrentEdit(ctx context.Context) error {
	a := w.pickEdge()
	var others []*edgeNode
	for _, b := range w.edges {
		if b != a && slices.ContainsFunc(b.zones, func(z string) bool { return slices.Contains(a.zones, z) }) {
			others = append(others, b)
		}
	}
	if len(others) == 0 {
		return nil
	}
	b := pick(w.rng, others)
	var shared []string
	for _, z := range a.zones {
		if slices.Contains(b.zones, z) {
			shared = append(shared, z)
		}
	}
	cands := w.ticketsIn(shared)
	if len(cands) == 0 {
		return nil
	}
	id := pick(w.rng, cands).id
	field, pa := w.editPatch(a.name)
	var pb domain.TicketPatch
	for {
		f, p := w.editPatch(b.name)
		if f == field {
			pb = p
			break
		}
	}
	var ids [2][]string
	for i, x := range []struct {
		e *edgeNode
		p domain.TicketPatch
	}{{a, pa}, {b, pb}} {
		var err error
		ids[i], err = w.localWrite(ctx, x.e, fmt.Sprintf("concurrent edit of %s.%s", short(id), field), func(ctx context.Context) error {
			_, err := x.e.store.UpdateTicket(ctx, id, func(cur domain.Ticket) (domain.Ticket, error) { return x.p.Apply(cur, x.e.now()) })
			return err
		})
		if err != nil {
			return err
		}
	}
	if len(ids[0]) == 1 && len(ids[1]) == 1 {
		w.pairs = append(w.pairs, concurrentPair{ticket: id, field: field, a: ids[0][0], b: ids[1][0]})
	}
	return nil
}

// hubTicket picks a live ticket on the hub.
func (w *world) hubTicket(ctx context.Context) (domain.Ticket, bool) {
	if len(w.tickets) == 0 {
		return domain.Ticket{}, false
	}
	t, err := w.hub.store.GetTicket(w.hubCtx(ctx), pick(w.rng, w.tickets).id)
	return t, err == nil
}

// hubWrite runs a dispatcher's write on the hub store; a domain refusal is fine, anything
// else is a bug.
func (w *world) hubWrite(what string, err error) error {
	if err != nil && domain.ErrorCode(err) == domain.CodeInternal {
		return violation("hub-write", "%s: %v", what, err)
	}
	w.logf("hub: %s -> %v", what, err)
	return nil
}

func (w *world) hubEdit(ctx context.Context) error {
	t, ok := w.hubTicket(ctx)
	if !ok {
		return nil
	}
	field, p := w.editPatch("hub")
	_, err := w.hub.store.UpdateTicket(w.hubCtx(ctx), t.ID, func(cur domain.Ticket) (domain.Ticket, error) { return p.Apply(cur, w.now) })
	return w.hubWrite(fmt.Sprintf("edit %s of %s", field, short(t.ID)), err)
}

func (w *world) hubAssign(ctx context.Context) error {
	t, ok := w.hubTicket(ctx)
	if !ok {
		return nil
	}
	team := pick(w.rng, w.teams[t.Zone])
	_, err := w.hub.store.AssignTickets(w.hubCtx(ctx), []string{t.ID}, team, "manual")
	return w.hubWrite(fmt.Sprintf("assign %s to %s", short(t.ID), short(team)), err)
}

func (w *world) hubTransition(ctx context.Context) error {
	t, ok := w.hubTicket(ctx)
	if !ok {
		return nil
	}
	to := w.nextStatus(t)
	_, err := w.hub.store.UpdateTicket(w.hubCtx(ctx), t.ID, func(cur domain.Ticket) (domain.Ticket, error) { return w.transition(cur, to, w.now) })
	return w.hubWrite(fmt.Sprintf("ticket %s %s -> %s", short(t.ID), t.Status, to), err)
}

func (w *world) hubCreateStep(ctx context.Context) error {
	return w.hubCreate(ctx, pick(w.rng, zoneNames))
}

func (w *world) hubCreate(ctx context.Context, zone string) error {
	t, err := w.newTicket(zone, "hub")
	if err != nil {
		return err
	}
	made, err := w.hub.store.CreateTicket(w.hubCtx(ctx), t)
	if err == nil {
		w.tickets = append(w.tickets, ticketRef{made.ID, zone})
	}
	return w.hubWrite("create ticket in "+zone, err)
}

// short is the tail of an id, enough to follow a trace.
func short(id string) string {
	if len(id) > 6 {
		return id[len(id)-6:]
	}
	return id
}
