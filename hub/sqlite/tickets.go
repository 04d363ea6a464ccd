package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aiff/aiff/domain"
)

const ticketCols = `id, number, title, description, category, priority, status, zone, location, lat, lng, skills,
	assigned_team, assigned_to, due_date, created_at, updated_at, assigned_at, started_at, resolved_at, closed_at,
	customer_rating, deleted_at`

func scanTicket(row interface{ Scan(...any) error }) (domain.Ticket, error) {
	var (
		t                                              domain.Ticket
		number                                         int64
		lat, lng                                       sql.NullFloat64
		skills                                         string
		team, to                                       sql.NullString
		due, created, updated                          int64
		assigned, started, resolved, closed, deletedAt sql.NullInt64
		rating                                         sql.NullInt64
	)
	if err := row.Scan(&t.ID, &number, &t.Title, &t.Description, &t.Category, &t.Priority, &t.Status, &t.Zone,
		&t.Location, &lat, &lng, &skills, &team, &to, &due, &created, &updated, &assigned, &started, &resolved,
		&closed, &rating, &deletedAt); err != nil {
		return t, err
	}
	t.Number = domain.TicketNumber(number)
	t.Lat, t.Lng = nullFloat(lat), nullFloat(lng)
	if err := json.Unmarshal([]byte(skills), &t.Skills); err != nil {
		return t, fmt.Errorf("decode skills of ticket %s: %w", t.ID, err)
	}
	if t.Skills == nil {
		t.Skills = []string{}
	}
	t.AssignedTeam, t.AssignedTo = nullString(team), nullString(to)
	t.DueDate, t.CreatedAt, t.UpdatedAt = fromMicros(due), fromMicros(created), fromMicros(updated)
	t.AssignedAt, t.StartedAt, t.ResolvedAt = fromNullMicros(assigned), fromNullMicros(started), fromNullMicros(resolved)
	t.ClosedAt, t.DeletedAt = fromNullMicros(closed), fromNullMicros(deletedAt)
	if rating.Valid {
		r := int(rating.Int64)
		t.CustomerRating = &r
	}
	return t, nil
}

// normalizeTicket gives t the exact form the store returns: UTC microsecond times, non-nil
// skills and unaliased pointers, so a stored ticket round-trips equal.
func normalizeTicket(t domain.Ticket) domain.Ticket {
	if t.Skills == nil {
		t.Skills = []string{}
	} else {
		t.Skills = slices.Clone(t.Skills)
	}
	t.DueDate, t.CreatedAt, t.UpdatedAt = trunc(t.DueDate), trunc(t.CreatedAt), trunc(t.UpdatedAt)
	t.AssignedAt, t.StartedAt, t.ResolvedAt = truncPtr(t.AssignedAt), truncPtr(t.StartedAt), truncPtr(t.ResolvedAt)
	t.ClosedAt, t.DeletedAt = truncPtr(t.ClosedAt), truncPtr(t.DeletedAt)
	t.Lat, t.Lng = cleanFloat(t.Lat), cleanFloat(t.Lng)
	if t.AssignedTeam != nil && *t.AssignedTeam == "" {
		t.AssignedTeam = nil
	}
	return t
}

// parseNumber reads "TKT-000123" as 123.
func parseNumber(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "TKT-"), 10, 64)
	return n, err == nil && n > 0 && strings.HasPrefix(s, "TKT-")
}

// CreateTicket stores t, filling ID, Number (from the ticket_number counter), status open,
// CreatedAt/UpdatedAt (now) and DueDate (CreatedAt + SLA) when empty. Returns CodeInvalid with
// field zone or assigned_team for an unknown reference and CodeConflict if the ID or number is
// taken.
func (s *Store) CreateTicket(ctx context.Context, t domain.Ticket) (domain.Ticket, error) {
	if t.Status == "" {
		t.Status = domain.StatusOpen
	}
	if t.ID != "" && !domain.ValidID(t.ID) {
		return domain.Ticket{}, domain.FieldErrorf("id", "id %q is not a ulid", t.ID)
	}
	var number int64
	if t.Number != "" {
		n, ok := parseNumber(t.Number)
		if !ok {
			return domain.Ticket{}, domain.FieldErrorf("ticket_number", "ticket_number %q is not like TKT-000123", t.Number)
		}
		number = n
	}
	t.DeletedAt = nil
	err := s.write(ctx, func(tx *tx) error {
		if t.ID == "" {
			t.ID = domain.NewID(tx.now)
		}
		if t.CreatedAt.IsZero() {
			t.CreatedAt = tx.now
		}
		if t.UpdatedAt.IsZero() {
			t.UpdatedAt = t.CreatedAt
		}
		if t.DueDate.IsZero() && t.Priority.Valid() {
			t.DueDate = t.CreatedAt.Add(t.Priority.SLA())
		}
		t = normalizeTicket(t)
		if err := t.Validate(); err != nil {
			return err
		}
		if err := tx.checkTicketRefs(ctx, nil, t); err != nil {
			return err
		}
		if number == 0 {
			if err := tx.QueryRowContext(ctx, "UPDATE counters SET value = value + 1 WHERE name = 'ticket_number' RETURNING value").Scan(&number); err != nil {
				return fmt.Errorf("next ticket number: %w", err)
			}
		} else if _, err := tx.ExecContext(ctx, "UPDATE counters SET value = max(value, ?) WHERE name = 'ticket_number'", number); err != nil {
			return fmt.Errorf("bump ticket number: %w", err)
		}
		t.Number = domain.TicketNumber(number)
		if err := tx.insertTicket(ctx, t, number); err != nil {
			return err
		}
		if t.AssignedTeam != nil {
			if err := tx.recordAssignment(ctx, t, "manual"); err != nil {
				return err
			}
		}
		patch, err := domain.Diff(nil, t)
		if err != nil {
			return err
		}
		_, err = tx.appendChange(ctx, domain.EntityTicket, t.ID, domain.OpUpsert, t.Zone, patch)
		return err
	})
	if err != nil {
		return domain.Ticket{}, err
	}
	return t, nil
}

func (tx *tx) insertTicket(ctx context.Context, t domain.Ticket, number int64) error {
	_, err := tx.ExecContext(ctx, insertTicketSQL, append([]any{t.ID, number}, ticketArgs(t)...)...)
	if isUnique(err) {
		return domain.Errorf(domain.CodeConflict, "ticket %s or number %s already exists", t.ID, t.Number)
	}
	if err != nil {
		return fmt.Errorf("insert ticket: %w", err)
	}
	return nil
}

// checkTicketRefs checks that t's zone and team exist, where they differ from old (nil for a
// new ticket). A newly assigned team must also be live and active.
func (tx *tx) checkTicketRefs(ctx context.Context, old *domain.Ticket, t domain.Ticket) error {
	if old == nil || old.Zone != t.Zone {
		if ok, err := tx.zoneExists(ctx, t.Zone); err != nil {
			return err
		} else if !ok {
			return domain.FieldErrorf("zone", "unknown zone %q", t.Zone)
		}
	}
	if t.AssignedTeam != nil && (old == nil || old.AssignedTeam == nil || *old.AssignedTeam != *t.AssignedTeam) {
		return tx.checkTeamAssignable(ctx, *t.AssignedTeam, "assigned_team")
	}
	return nil
}

// checkTeamAssignable returns CodeInvalid naming field unless team id is live and active.
func (tx *tx) checkTeamAssignable(ctx context.Context, id, field string) error {
	var active bool
	err := tx.QueryRowContext(ctx, "SELECT is_active FROM teams WHERE id = ? AND deleted_at IS NULL", id).Scan(&active)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.FieldErrorf(field, "unknown team %s", id)
	}
	if err != nil {
		return fmt.Errorf("check team: %w", err)
	}
	if !active {
		return domain.FieldErrorf(field, "team %s is not active", id)
	}
	return nil
}

// recordAssignment supersedes the ticket's current assignment row and adds one for its team.
func (tx *tx) recordAssignment(ctx context.Context, t domain.Ticket, method string) error {
	if _, err := tx.ExecContext(ctx, "UPDATE assignments SET status = 'superseded' WHERE ticket_id = ? AND status = 'assigned'", t.ID); err != nil {
		return fmt.Errorf("supersede assignment: %w", err)
	}
	at := tx.now
	if t.AssignedAt != nil {
		at = *t.AssignedAt
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO assignments (id, ticket_id, team_id, assigned_at, assigned_by, method, status, notes)
		VALUES (?, ?, ?, ?, ?, ?, 'assigned', '')`, domain.NewID(tx.now), t.ID, *t.AssignedTeam, micros(at), tx.actor, method); err != nil {
		return fmt.Errorf("insert assignment: %w", err)
	}
	return nil
}

func getTicket(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (domain.Ticket, error) {
	t, err := scanTicket(q.QueryRowContext(ctx, "SELECT "+ticketCols+" FROM tickets WHERE id = ? AND deleted_at IS NULL", id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Ticket{}, domain.Errorf(domain.CodeNotFound, "ticket %s not found", id)
	}
	if err != nil {
		return domain.Ticket{}, fmt.Errorf("get ticket: %w", err)
	}
	return t, nil
}

// GetTicket returns the ticket, CodeNotFound for an unknown or deleted one.
func (s *Store) GetTicket(ctx context.Context, id string) (domain.Ticket, error) {
	return getTicket(ctx, s.reader, id)
}

// UpdateTicket reads the ticket, calls fn, checks the result's references and stores it, all
// in one transaction. ID, Number, CreatedAt and DeletedAt are the store's; UpdatedAt becomes
// now when anything changed. An update that changes nothing writes nothing (no change logged)
// and returns the ticket as it was. A change of team records an assignment.
func (s *Store) UpdateTicket(ctx context.Context, id string, fn func(domain.Ticket) (domain.Ticket, error)) (domain.Ticket, error) {
	var out domain.Ticket
	err := s.write(ctx, func(tx *tx) error {
		old, err := getTicket(ctx, tx, id)
		if err != nil {
			return err
		}
		t, err := fn(old)
		if err != nil {
			return err
		}
		t.ID, t.Number, t.CreatedAt, t.DeletedAt = old.ID, old.Number, old.CreatedAt, nil
		t = normalizeTicket(t)
		t.UpdatedAt = old.UpdatedAt
		if err := t.Validate(); err != nil {
			return err
		}
		if p, err := domain.Diff(old, t); err != nil {
			return err
		} else if len(p) == 0 {
			out = old
			return nil
		}
		if err := tx.checkTicketRefs(ctx, &old, t); err != nil {
			return err
		}
		t.UpdatedAt = tx.now
		if err := tx.storeTicket(ctx, old, t, "manual"); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return domain.Ticket{}, err
	}
	return out, nil
}

// storeTicket writes t over old, records an assignment when the team changed, and logs the
// change.
func (tx *tx) storeTicket(ctx context.Context, old, t domain.Ticket, method string) error {
	patch, err := domain.Diff(old, t)
	if err != nil {
		return err
	}
	// The API never moves created_at or deleted_at (DeleteTicket sets the tombstone itself).
	stored := t
	stored.CreatedAt, stored.DeletedAt = old.CreatedAt, old.DeletedAt
	if q, args := ticketUpdate(old, stored, 0); q != "" {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("update ticket: %w", err)
		}
	}
	if t.AssignedTeam != nil && (old.AssignedTeam == nil || *old.AssignedTeam != *t.AssignedTeam) {
		if err := tx.recordAssignment(ctx, t, method); err != nil {
			return err
		}
	}
	if _, err = tx.appendChange(ctx, domain.EntityTicket, t.ID, domain.OpUpsert, t.Zone, patch); err != nil || old.Zone == t.Zone {
		return err
	}
	return tx.rezoneNotes(ctx, t.ID, t.Zone)
}

// DeleteTicket soft-deletes the ticket: it stays as a tombstone (deleted_at set) that sync
// carries as an op=delete change. Returns CodeNotFound for an unknown or deleted ticket.
func (s *Store) DeleteTicket(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *tx) error {
		old, err := getTicket(ctx, tx, id)
		if err != nil {
			return err
		}
		t := old
		t.UpdatedAt, t.DeletedAt = tx.now, &tx.now
		if _, err := tx.ExecContext(ctx, "UPDATE tickets SET deleted_at = ?, updated_at = ? WHERE id = ?", micros(tx.now), micros(tx.now), id); err != nil {
			return fmt.Errorf("delete ticket: %w", err)
		}
		patch, err := domain.Diff(old, t)
		if err != nil {
			return err
		}
		_, err = tx.appendChange(ctx, domain.EntityTicket, id, domain.OpDelete, t.Zone, patch)
		return err
	})
}

// AssignTickets assigns every ticket in ids to team teamID, all or none, in one transaction.
// Returns CodeInvalid (field team_id) unless the team is live and active, CodeInvalid (field
// ticket_ids) for an empty list or an unknown ticket, CodeInvalid (field method) unless method
// is manual or auto, and CodeConflict for a done ticket. A ticket already with that team is
// left as it is (no change, no new assignment). Returns the tickets in the order of ids.
func (s *Store) AssignTickets(ctx context.Context, ids []string, teamID, method string) ([]domain.Ticket, error) {
	if method == "" {
		method = "manual"
	}
	if method != "manual" && method != "auto" {
		return nil, domain.FieldErrorf("method", "unknown assignment method %q (want manual or auto)", method)
	}
	if len(ids) == 0 {
		return nil, domain.FieldErrorf("ticket_ids", "ticket_ids is empty")
	}
	if teamID == "" {
		return nil, domain.FieldErrorf("team_id", "team_id is required")
	}
	var out []domain.Ticket
	err := s.write(ctx, func(tx *tx) error {
		out = out[:0]
		if err := tx.checkTeamAssignable(ctx, teamID, "team_id"); err != nil {
			return err
		}
		done := map[string]domain.Ticket{}
		for _, id := range ids {
			if t, ok := done[id]; ok {
				out = append(out, t)
				continue
			}
			old, err := getTicket(ctx, tx, id)
			if domain.ErrorCode(err) == domain.CodeNotFound {
				return domain.FieldErrorf("ticket_ids", "unknown ticket %s", id)
			}
			if err != nil {
				return err
			}
			if old.AssignedTeam != nil && *old.AssignedTeam == teamID {
				if old.Status.Done() {
					return domain.Errorf(domain.CodeConflict, "ticket %s is %s and cannot be assigned", old.Number, old.Status)
				}
				done[id] = old
				out = append(out, old)
				continue
			}
			t, err := old.Assign(teamID, nil, tx.now)
			if err != nil {
				return err
			}
			t = normalizeTicket(t)
			if err := tx.storeTicket(ctx, old, t, method); err != nil {
				return err
			}
			done[id] = t
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sortColumns maps each sort key (without '-') to its column; every one is an integer in
// SQLite, which keeps the cursor a plain number.
var sortColumns = map[string]string{
	"created_at":    "created_at",
	"updated_at":    "updated_at",
	"due_date":      "due_date",
	"priority":      "priority_rank",
	"ticket_number": "number",
}

// cursor is the keyset position after the last row of a page.
type cursor struct {
	Sort  string `json:"s"`
	Value int64  `json:"v"`
	ID    string `json:"id"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, sort string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.ID == "" {
		return c, domain.FieldErrorf("cursor", "invalid cursor")
	}
	if c.Sort != sort {
		return c, domain.FieldErrorf("cursor", "cursor was made for sort %q, not %q", c.Sort, sort)
	}
	return c, nil
}

// likePattern turns a search text into a lowercase LIKE pattern with its wildcards escaped.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// ticketWhere builds the WHERE clause of f (without the cursor).
func ticketWhere(f domain.TicketFilter) (string, []any, error) {
	where := []string{"deleted_at IS NULL"}
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if len(f.Status) > 0 {
		for _, st := range f.Status {
			if !st.Valid() {
				return "", nil, domain.FieldErrorf("status", "unknown status %q", st)
			}
		}
		ph, a := inList(f.Status)
		add("status IN ("+ph+")", a...)
	}
	if len(f.Priority) > 0 {
		for _, p := range f.Priority {
			if !p.Valid() {
				return "", nil, domain.FieldErrorf("priority", "unknown priority %q", p)
			}
		}
		ph, a := inList(f.Priority)
		add("priority IN ("+ph+")", a...)
	}
	if len(f.Zone) > 0 {
		ph, a := inList(f.Zone)
		add("zone IN ("+ph+")", a...)
	}
	if len(f.ScopeZones) > 0 {
		ph, a := inList(f.ScopeZones)
		add("zone IN ("+ph+")", a...)
	}
	switch f.Team {
	case "":
	case "none":
		add("assigned_team IS NULL")
	default:
		add("assigned_team = ?", f.Team)
	}
	if f.ScopeTeam != "" {
		add("assigned_team = ?", f.ScopeTeam)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		p := likePattern(q)
		add(`(lower(title) LIKE ? ESCAPE '\' OR lower(description) LIKE ? ESCAPE '\' OR lower(location) LIKE ? ESCAPE '\'
			OR 'tkt-' || printf('%06d', number) LIKE ? ESCAPE '\')`, p, p, p, p)
	}
	if f.DueBefore != nil {
		add("due_date < ?", micros(*f.DueBefore))
	}
	if f.DueAfter != nil {
		add("due_date > ?", micros(*f.DueAfter))
	}
	if f.UpdatedAfter != nil {
		add("updated_at > ?", micros(*f.UpdatedAfter))
	}
	return strings.Join(where, " AND "), args, nil
}

// ListTickets returns one page of live tickets matching f, ordered by f.Sort then id, with
// keyset pagination: NextCursor is empty on the last page. Returns CodeInvalid for an unknown
// sort, status or priority, or a cursor made for another sort.
func (s *Store) ListTickets(ctx context.Context, f domain.TicketFilter) (domain.Page[domain.Ticket], error) {
	var page domain.Page[domain.Ticket]
	sort := f.Sort
	if sort == "" {
		sort = "-created_at"
	}
	if !slices.Contains(domain.TicketSorts, sort) {
		return page, domain.FieldErrorf("sort", "unknown sort %q (want one of %s)", sort, strings.Join(domain.TicketSorts, ", "))
	}
	desc := strings.HasPrefix(sort, "-")
	col := sortColumns[strings.TrimPrefix(sort, "-")]
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)

	where, args, err := ticketWhere(f)
	if err != nil {
		return page, err
	}
	if f.WithTotal {
		var n int
		if err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM tickets WHERE "+where, args...).Scan(&n); err != nil {
			return page, fmt.Errorf("count tickets: %w", err)
		}
		page.Total = &n
	}
	dir, cmp := "ASC", ">"
	if desc {
		dir, cmp = "DESC", "<"
	}
	pageWhere, pageArgs := where, slices.Clone(args)
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor, sort)
		if err != nil {
			return page, err
		}
		pageWhere += fmt.Sprintf(" AND (%s, id) %s (?, ?)", col, cmp)
		pageArgs = append(pageArgs, c.Value, c.ID)
	}
	q := fmt.Sprintf("SELECT %s, %s FROM tickets WHERE %s ORDER BY %s %s, id %s LIMIT ?", ticketCols, col, pageWhere, col, dir, dir)
	rows, err := s.reader.QueryContext(ctx, q, append(pageArgs, limit+1)...)
	if err != nil {
		return page, fmt.Errorf("list tickets: %w", err)
	}
	defer rows.Close()
	page.Items = []domain.Ticket{}
	var last cursor
	for rows.Next() {
		var key int64
		t, err := scanTicket(scanPlus{rows, &key})
		if err != nil {
			return page, fmt.Errorf("scan ticket: %w", err)
		}
		if len(page.Items) == limit {
			page.NextCursor = encodeCursor(last)
			break
		}
		page.Items = append(page.Items, t)
		last = cursor{Sort: sort, Value: key, ID: t.ID}
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("list tickets: %w", err)
	}
	return page, nil
}

// scanPlus scans a row's leading columns into the wrapped scanner's targets and the extra
// trailing columns into more.
type scanPlus struct {
	rows *sql.Rows
	more *int64
}

func (s scanPlus) Scan(dest ...any) error { return s.rows.Scan(append(dest, s.more)...) }

// ticketColumns are the tickets columns besides id and number, in ticketArgs' order.
var ticketColumns = []string{"title", "description", "category", "priority", "priority_rank", "status", "zone",
	"location", "lat", "lng", "skills", "assigned_team", "assigned_to", "due_date", "created_at", "updated_at",
	"assigned_at", "started_at", "resolved_at", "closed_at", "customer_rating", "deleted_at"}

// ticketArgs returns t's values of ticketColumns, as stored.
func ticketArgs(t domain.Ticket) []any {
	skills, _ := json.Marshal(t.Skills)
	return []any{t.Title, t.Description, t.Category, string(t.Priority), t.Priority.Rank(), string(t.Status), t.Zone,
		t.Location, ptrArg(t.Lat), ptrArg(t.Lng), string(skills), ptrArg(t.AssignedTeam), ptrArg(t.AssignedTo),
		micros(t.DueDate), micros(t.CreatedAt), micros(t.UpdatedAt), microsPtr(t.AssignedAt), microsPtr(t.StartedAt),
		microsPtr(t.ResolvedAt), microsPtr(t.ClosedAt), ptrArg(t.CustomerRating), microsPtr(t.DeletedAt)}
}

// ticketUpdate returns the UPDATE that turns the stored ticket old into t (and sets its
// number, if not zero), setting only the columns whose values differ; "" if none do. SQLite
// rewrites every index on a column named in SET, changed or not: an edit of a title, most
// sync and API traffic, rewrote all thirteen ticket indexes when the statement set every
// column, and now rewrites only updated_at's.
func ticketUpdate(old, t domain.Ticket, number int64) (string, []any) {
	was, now := ticketArgs(old), ticketArgs(t)
	var set strings.Builder
	var args []any
	for i, col := range ticketColumns {
		if was[i] == now[i] {
			continue
		}
		if set.Len() > 0 {
			set.WriteString(", ")
		}
		set.WriteString(col + " = ?")
		args = append(args, now[i])
	}
	if number != 0 {
		if set.Len() > 0 {
			set.WriteString(", ")
		}
		set.WriteString("number = ?")
		args = append(args, number)
	}
	if set.Len() == 0 {
		return "", nil
	}
	return "UPDATE tickets SET " + set.String() + " WHERE id = ?", append(args, t.ID)
}

var insertTicketSQL = "INSERT INTO tickets (id, number, " + strings.Join(ticketColumns, ", ") + ") VALUES (?, ?" +
	strings.Repeat(", ?", len(ticketColumns)) + ")"
