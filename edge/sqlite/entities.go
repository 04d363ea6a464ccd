package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// canonTicket truncates a ticket's times to microseconds in UTC, the form the hub stores, so
// the values this edge writes into patches are byte-equal to the hub's.
func canonTicket(t domain.Ticket) domain.Ticket {
	c := func(p *time.Time) *time.Time {
		if p == nil {
			return nil
		}
		v := p.UTC().Truncate(time.Microsecond)
		return &v
	}
	t.DueDate = t.DueDate.UTC().Truncate(time.Microsecond)
	t.CreatedAt = t.CreatedAt.UTC().Truncate(time.Microsecond)
	t.UpdatedAt = t.UpdatedAt.UTC().Truncate(time.Microsecond)
	t.AssignedAt, t.StartedAt, t.ResolvedAt, t.ClosedAt, t.DeletedAt = c(t.AssignedAt), c(t.StartedAt), c(t.ResolvedAt), c(t.ClosedAt), c(t.DeletedAt)
	if t.Skills == nil {
		t.Skills = []string{}
	}
	return t
}

func ticketOf(r merge.Row) (domain.Ticket, error) {
	var t domain.Ticket
	if err := decodeRow(r, &t); err != nil {
		return t, err
	}
	if t.Skills == nil {
		t.Skills = []string{}
	}
	return t, nil
}

// CreateTicket stores a new ticket made on this edge and queues its create change. ID and
// times are filled if empty; the ticket number stays empty until the hub assigns one (it
// arrives as a hub change). Returns CodeInvalid if the zone is not one this edge holds.
func (s *Store) CreateTicket(ctx context.Context, t domain.Ticket) (domain.Ticket, error) {
	err := s.write(ctx, func(tx *tx) error {
		if t.ID == "" {
			t.ID = domain.NewID(tx.now)
		}
		if t.CreatedAt.IsZero() {
			t.CreatedAt, t.UpdatedAt = tx.now, tx.now
		}
		t = canonTicket(t)
		if err := t.Validate(); err != nil {
			return err
		}
		if err := tx.checkRefs(ctx, t.Zone, t.AssignedTeam); err != nil {
			return err
		}
		if r, err := tx.row(ctx, domain.EntityTicket, t.ID); err != nil {
			return err
		} else if len(r.Changes) > 0 {
			return domain.Errorf(domain.CodeConflict, "ticket %s already exists", t.ID)
		}
		_, _, err := tx.local(ctx, domain.EntityTicket, t.ID, t.Zone, domain.OpUpsert, nil, t)
		return err
	})
	return t, err
}

// checkRefs requires zone to be a zone this edge holds and team (if set) a live team.
func (tx *tx) checkRefs(ctx context.Context, zone string, team *string) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM rows WHERE entity = 'zone' AND name = ? AND deleted = 0", zone).Scan(&n); err != nil {
		return fmt.Errorf("check zone: %w", err)
	}
	if n == 0 {
		return domain.FieldErrorf("zone", "unknown zone %q", zone)
	}
	if team != nil {
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM rows WHERE entity = 'team' AND id = ? AND deleted = 0", *team).Scan(&n); err != nil {
			return fmt.Errorf("check team: %w", err)
		}
		if n == 0 {
			return domain.FieldErrorf("assigned_team", "unknown team %q", *team)
		}
	}
	return nil
}

// GetTicket returns CodeNotFound for an unknown or deleted ticket.
func (s *Store) GetTicket(ctx context.Context, id string) (domain.Ticket, error) {
	r, err := s.getRow(ctx, domain.EntityTicket, id)
	if err != nil {
		return domain.Ticket{}, err
	}
	if r.Deleted != nil {
		return domain.Ticket{}, domain.Errorf(domain.CodeNotFound, "ticket %q not found", id)
	}
	return ticketOf(r)
}

// UpdateTicket reads the ticket, calls fn (which applies the domain rules: TicketPatch.Apply,
// Ticket.Transition …), and stores the result with its change in the outbox, in one
// transaction. A result equal to the input writes nothing.
func (s *Store) UpdateTicket(ctx context.Context, id string, fn func(domain.Ticket) (domain.Ticket, error)) (domain.Ticket, error) {
	var out domain.Ticket
	err := s.write(ctx, func(tx *tx) error {
		var err error
		out, err = tx.updateTicket(ctx, id, fn)
		return err
	})
	return out, err
}

func (tx *tx) updateTicket(ctx context.Context, id string, fn func(domain.Ticket) (domain.Ticket, error)) (domain.Ticket, error) {
	r, err := tx.row(ctx, domain.EntityTicket, id)
	if err != nil {
		return domain.Ticket{}, err
	}
	if len(r.Changes) == 0 || r.Deleted != nil {
		return domain.Ticket{}, domain.Errorf(domain.CodeNotFound, "ticket %q not found", id)
	}
	old, err := ticketOf(r)
	if err != nil {
		return old, err
	}
	old = canonTicket(old)
	t, err := fn(old)
	if err != nil {
		return old, err
	}
	t = canonTicket(t)
	t.ID, t.Number, t.CreatedAt = old.ID, old.Number, old.CreatedAt
	if err := t.Validate(); err != nil {
		return old, err
	}
	if t.Zone != old.Zone || (t.AssignedTeam != nil && (old.AssignedTeam == nil || *old.AssignedTeam != *t.AssignedTeam)) {
		if err := tx.checkRefs(ctx, t.Zone, t.AssignedTeam); err != nil {
			return old, err
		}
	}
	next, ok, err := tx.local(ctx, domain.EntityTicket, id, t.Zone, domain.OpUpsert, old, t)
	if err != nil || !ok {
		return old, err
	}
	return ticketOf(next)
}

// AssignTickets assigns every ticket in ids to team at once, all or none (a provisional
// assignment until the hub accepts the changes).
func (s *Store) AssignTickets(ctx context.Context, ids []string, teamID string) ([]domain.Ticket, error) {
	var out []domain.Ticket
	err := s.write(ctx, func(tx *tx) error {
		out = out[:0]
		for _, id := range ids {
			t, err := tx.updateTicket(ctx, id, func(t domain.Ticket) (domain.Ticket, error) {
				return t.Assign(teamID, nil, tx.now)
			})
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// DeleteTicket tombstones the ticket (a delete change; merge keeps it deleted for good).
func (s *Store) DeleteTicket(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *tx) error {
		r, err := tx.row(ctx, domain.EntityTicket, id)
		if err != nil {
			return err
		}
		if len(r.Changes) == 0 || r.Deleted != nil {
			return domain.Errorf(domain.CodeNotFound, "ticket %q not found", id)
		}
		t, err := ticketOf(r)
		if err != nil {
			return err
		}
		_, _, err = tx.local(ctx, domain.EntityTicket, id, t.Zone, domain.OpDelete, nil, nil)
		return err
	})
}

// ticketSorts maps a sort key to its column.
var ticketSorts = map[string]string{
	"created_at": "created_at", "updated_at": "updated_at", "due_date": "due_date",
	"priority": "priority_rank", "ticket_number": "number",
}

type listCursor struct {
	Key json.RawMessage `json:"k"`
	ID  string          `json:"id"`
}

// ListTickets lists the live tickets matching f, in keyset pages on (sort column, id), with
// the hub's filter semantics. ScopeZones and ScopeTeam restrict the result like the hub's.
func (s *Store) ListTickets(ctx context.Context, f domain.TicketFilter) (domain.Page[domain.Ticket], error) {
	page := domain.Page[domain.Ticket]{Items: []domain.Ticket{}}
	sortKey := f.Sort
	if sortKey == "" {
		sortKey = "-created_at"
	}
	desc := strings.HasPrefix(sortKey, "-")
	col, ok := ticketSorts[strings.TrimPrefix(sortKey, "-")]
	if !ok {
		return page, domain.FieldErrorf("sort", "unknown sort %q", f.Sort)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)

	where := []string{"entity = 'ticket'", "deleted = 0"}
	var args []any
	in := func(c string, vals []string) {
		where = append(where, c+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	if len(f.Status) > 0 {
		in("status", toStrings(f.Status))
	}
	if len(f.Priority) > 0 {
		ranks := make([]string, len(f.Priority))
		for i, p := range f.Priority {
			ranks[i] = fmt.Sprint(p.Rank())
		}
		in("priority_rank", ranks)
	}
	if len(f.Zone) > 0 {
		in("zone", f.Zone)
	}
	if len(f.ScopeZones) > 0 {
		in("zone", f.ScopeZones)
	}
	switch {
	case f.Team == "none":
		where = append(where, "assigned_team = ''")
	case f.Team != "":
		where, args = append(where, "assigned_team = ?"), append(args, f.Team)
	}
	if f.ScopeTeam != "" {
		where, args = append(where, "assigned_team = ?"), append(args, f.ScopeTeam)
	}
	if f.Query != "" {
		where = append(where, `(number LIKE ?1q ESCAPE '\' OR json_extract(doc, '$.title') LIKE ?1q ESCAPE '\'
			OR json_extract(doc, '$.description') LIKE ?1q ESCAPE '\' OR json_extract(doc, '$.location') LIKE ?1q ESCAPE '\')`)
		q := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Query) + "%"
		// SQLite's LIKE is case-insensitive for ASCII, like the hub's ILIKE.
		where[len(where)-1] = strings.ReplaceAll(where[len(where)-1], "?1q", "?")
		args = append(args, q, q, q, q)
	}
	if f.DueBefore != nil {
		where, args = append(where, "due_date < ?"), append(args, micros(*f.DueBefore))
	}
	if f.DueAfter != nil {
		where, args = append(where, "due_date >= ?"), append(args, micros(*f.DueAfter))
	}
	if f.UpdatedAfter != nil {
		where, args = append(where, "updated_at > ?"), append(args, micros(*f.UpdatedAfter))
	}
	base, baseArgs := strings.Join(where, " AND "), slices.Clone(args)
	if f.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		var c listCursor
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err != nil || c.ID == "" {
			return page, domain.FieldErrorf("cursor", "invalid cursor")
		}
		var key any
		if col == "number" {
			var sv string
			err = json.Unmarshal(c.Key, &sv)
			key = sv
		} else {
			var iv int64
			err = json.Unmarshal(c.Key, &iv)
			key = iv
		}
		if err != nil {
			return page, domain.FieldErrorf("cursor", "invalid cursor")
		}
		op := ">"
		if desc {
			op = "<"
		}
		where = append(where, fmt.Sprintf("(%s %s ? OR (%s = ? AND id %s ?))", col, op, col, op))
		args = append(args, key, key, c.ID)
	}
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	q := fmt.Sprintf("SELECT state, %s FROM rows WHERE %s ORDER BY %s %s, id %s LIMIT ?", col, strings.Join(where, " AND "), col, dir, dir)
	rows, err := s.reader.QueryContext(ctx, q, append(args, limit+1)...)
	if err != nil {
		return page, fmt.Errorf("list tickets: %w", err)
	}
	defer rows.Close()
	var lastKey any
	for rows.Next() {
		var b string
		var key any
		if err := rows.Scan(&b, &key); err != nil {
			return page, fmt.Errorf("scan ticket: %w", err)
		}
		if len(page.Items) == limit {
			last := page.Items[len(page.Items)-1]
			kb, _ := json.Marshal(lastKey)
			cb, _ := json.Marshal(listCursor{Key: kb, ID: last.ID})
			page.NextCursor = base64.RawURLEncoding.EncodeToString(cb)
			break
		}
		r, err := decodeState([]byte(b))
		if err != nil {
			return page, fmt.Errorf("decode ticket: %w", err)
		}
		t, err := ticketOf(r)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, t)
		lastKey = key
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	if f.WithTotal {
		var n int
		if err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM rows WHERE "+base, baseArgs...).Scan(&n); err != nil {
			return page, fmt.Errorf("count tickets: %w", err)
		}
		page.Total = &n
	}
	return page, nil
}

func toStrings[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}

// GetTeam returns CodeNotFound for an unknown or deleted team. ActiveTickets is computed from
// the tickets this edge holds.
func (s *Store) GetTeam(ctx context.Context, id string) (domain.Team, error) {
	r, err := s.getRow(ctx, domain.EntityTeam, id)
	if err != nil {
		return domain.Team{}, err
	}
	if r.Deleted != nil {
		return domain.Team{}, domain.Errorf(domain.CodeNotFound, "team %q not found", id)
	}
	var t domain.Team
	if err := decodeRow(r, &t); err != nil {
		return t, err
	}
	active, err := s.activeTickets(ctx)
	if err != nil {
		return t, err
	}
	t.ActiveTickets = active[t.ID]
	if t.Skills == nil {
		t.Skills = []string{}
	}
	return t, nil
}

func (s *Store) activeTickets(ctx context.Context) (map[string]int, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT assigned_team, count(*) FROM rows WHERE entity = 'ticket' AND deleted = 0
		AND assigned_team != '' AND status IN ('assigned', 'in_progress', 'on_hold') GROUP BY assigned_team`)
	if err != nil {
		return nil, fmt.Errorf("count active tickets: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var team string
		var n int
		if err := rows.Scan(&team, &n); err != nil {
			return nil, fmt.Errorf("count active tickets: %w", err)
		}
		out[team] = n
	}
	return out, rows.Err()
}

// ListTeams lists live teams matching f, by name.
func (s *Store) ListTeams(ctx context.Context, f domain.TeamFilter) ([]domain.Team, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT state FROM rows WHERE entity = 'team' AND deleted = 0 ORDER BY name, id")
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	defer rows.Close()
	active, err := s.activeTickets(ctx)
	if err != nil {
		return nil, err
	}
	out := []domain.Team{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("scan team: %w", err)
		}
		r, err := decodeState([]byte(b))
		if err != nil {
			return nil, fmt.Errorf("decode team: %w", err)
		}
		var t domain.Team
		if err := decodeRow(r, &t); err != nil {
			return nil, err
		}
		switch {
		case len(f.Zone) > 0 && !slices.Contains(f.Zone, t.Zone),
			len(f.ScopeZones) > 0 && !slices.Contains(f.ScopeZones, t.Zone),
			len(f.Status) > 0 && !slices.Contains(f.Status, t.Status),
			f.Active != nil && *f.Active != t.IsActive:
			continue
		}
		t.ActiveTickets = active[t.ID]
		if t.Skills == nil {
			t.Skills = []string{}
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ListZones lists the zones this edge holds (its scope), by name.
func (s *Store) ListZones(ctx context.Context) ([]domain.Zone, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT doc FROM rows WHERE entity = 'zone' AND deleted = 0 ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list zones: %w", err)
	}
	defer rows.Close()
	out := []domain.Zone{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("scan zone: %w", err)
		}
		var z domain.Zone
		if err := json.Unmarshal([]byte(b), &z); err != nil {
			return nil, fmt.Errorf("decode zone: %w", err)
		}
		out = append(out, z)
	}
	return out, rows.Err()
}

// ZoneNames returns the names of the zones this edge holds.
func (s *Store) ZoneNames(ctx context.Context) ([]string, error) {
	zs, err := s.ListZones(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(zs))
	for i, z := range zs {
		out[i] = z.Name
	}
	return out, nil
}

// GetUserByUsername returns a user replicated from the hub (case-insensitive username), or
// CodeNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (domain.User, error) {
	return s.replicatedUser(ctx, "name = ? COLLATE NOCASE", username, domain.Errorf(domain.CodeNotFound, "user %q not found", username))
}

// replicatedUser reads the live replicated user row matching where (one argument), or
// returns notFound.
func (s *Store) replicatedUser(ctx context.Context, where string, arg any, notFound error) (domain.User, error) {
	var b string
	err := s.reader.QueryRowContext(ctx, "SELECT doc FROM rows WHERE entity = 'user' AND deleted = 0 AND "+where, arg).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.User{}, notFound
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("get user: %w", err)
	}
	var u domain.User
	if err := json.Unmarshal([]byte(b), &u); err != nil {
		return u, fmt.Errorf("decode user: %w", err)
	}
	return u, nil
}

// Credential is a cached login: the user as the hub described it at the last successful hub
// login through this edge, and an argon2id hash of the password that was used.
type Credential struct {
	User         domain.User
	PasswordHash string
	UpdatedAt    time.Time
}

// SaveCredential caches u's password hash for logins while the hub is unreachable.
func (s *Store) SaveCredential(ctx context.Context, u domain.User, hash string) error {
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("encode user: %w", err)
	}
	return s.write(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO credentials (username, user_id, doc, password_hash, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (username) DO UPDATE SET user_id = excluded.user_id, doc = excluded.doc,
				password_hash = excluded.password_hash, updated_at = excluded.updated_at`,
			u.Username, u.ID, string(b), hash, micros(tx.now))
		if err != nil {
			return fmt.Errorf("save credential: %w", err)
		}
		return nil
	})
}

// GetCredential returns the cached login of username (case-insensitive), or CodeNotFound.
func (s *Store) GetCredential(ctx context.Context, username string) (Credential, error) {
	var c Credential
	var b string
	var at int64
	err := s.reader.QueryRowContext(ctx, "SELECT doc, password_hash, updated_at FROM credentials WHERE username = ?", username).Scan(&b, &c.PasswordHash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return c, domain.Errorf(domain.CodeNotFound, "no cached credential for %q", username)
	}
	if err != nil {
		return c, fmt.Errorf("get credential: %w", err)
	}
	if err := json.Unmarshal([]byte(b), &c.User); err != nil {
		return c, fmt.Errorf("decode credential: %w", err)
	}
	c.UpdatedAt = fromMicros(at)
	return c, nil
}
