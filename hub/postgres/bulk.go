package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/seed"
)

var _ seed.Sink = (*Store)(nil)

// BulkLoad implements seed.Sink: it writes ds into an empty database in one transaction with
// COPY, streaming the tickets from ds.Tickets so that memory stays flat whatever their number.
// It then sets the ticket number counter to the last ticket's number and computes every team's
// performance columns from its tickets with one UPDATE … FROM aggregate.
//
// The tickets table's secondary indexes are dropped before the COPY and rebuilt after it, in
// the same transaction: the table is known to be empty, and one sorted build per index is many
// times cheaper than maintaining a dozen indexes (one of them a trigram GIN) row by row. The
// primary key and unique constraints stay. Readers of tickets wait for the commit meanwhile.
//
// Every seeded row also gets one create ("genesis") change in the log, with COPY too
// (copyGenesis), since the log is sync's source of truth: a replica's row is a replay of the
// row's changes.
//
// Returns CodeConflict if zones, teams or tickets already exist (or a username is taken),
// CodeInvalid for a ticket that fails domain validation. progress is called from the goroutine
// that encodes the COPY stream, never concurrently with itself.
func (s *Store) BulkLoad(ctx context.Context, ds *seed.Dataset, progress func(done, total int)) error {
	if progress == nil {
		progress = func(int, int) {}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Hold off other writers while checking that the tables are empty and filling them.
		// Readers of zones, teams and users carry on (EXCLUSIVE blocks only writes); tickets
		// is locked outright up front, as dropping its indexes would lock it anyway.
		if _, err := tx.Exec(ctx, "LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock tickets: %w", err)
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE zones, teams, users IN EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock tables: %w", err)
		}
		var used bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM zones) OR EXISTS (SELECT 1 FROM teams)
			OR EXISTS (SELECT 1 FROM tickets)`).Scan(&used); err != nil {
			return fmt.Errorf("check empty: %w", err)
		}
		if used {
			return domain.Errorf(domain.CodeConflict, "the database already holds zones, teams or tickets; seed needs an empty one")
		}
		if err := copyCity(ctx, tx, ds); err != nil {
			return err
		}
		indexes, err := dropTicketIndexes(ctx, tx)
		if err != nil {
			return err
		}
		total := ds.Config.Tickets
		src := newTicketSource(ds.Tickets, total, progress)
		defer src.stop()
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"tickets"}, BulkTicketColumns, src)
		if src.err != nil {
			return src.err
		}
		if err != nil {
			return fmt.Errorf("copy tickets: %w", err)
		}
		progress(int(n), total)
		if _, err := tx.Exec(ctx, advanceTicketNumbersSQL, src.maxNum); err != nil {
			return fmt.Errorf("set ticket counter: %w", err)
		}
		if _, err := tx.Exec(ctx, refreshTeamPerformanceSQL); err != nil {
			return fmt.Errorf("refresh team performance: %w", err)
		}
		if err := copyGenesis(ctx, tx, ds, s.now()); err != nil {
			return err
		}
		// Building an index over loaded rows sorts them once; maintaining it row by row during
		// COPY costs far more (the trigram GIN index above all). More memory, faster sort.
		if _, err := tx.Exec(ctx, "SET LOCAL maintenance_work_mem = '256MB'"); err != nil {
			return fmt.Errorf("set maintenance_work_mem: %w", err)
		}
		for _, ix := range indexes {
			if _, err := tx.Exec(ctx, ix.def); err != nil {
				return fmt.Errorf("rebuild index %s: %w", ix.name, err)
			}
		}
		// Fresh statistics, so that list queries plan well from the first request.
		if _, err := tx.Exec(ctx, "ANALYZE tickets"); err != nil {
			return fmt.Errorf("analyze tickets: %w", err)
		}
		return nil
	})
	return translate(err)
}

// refreshTeamPerformanceSQL recomputes the performance columns of every team that has tickets,
// with the definitions TeamPerformance uses: completed = resolved tickets, completion rate =
// 100 × completed / assigned, response time = mean minutes from assignment to start, SLA met =
// resolved by the due date / completed, efficiency = 100 × (0.4 × SLA met + 0.3 × rating/5 +
// 0.3 × completion/100). Rates and the rating are rounded to two decimals.
const refreshTeamPerformanceSQL = `
UPDATE teams t SET
	tickets_completed = a.completed,
	customer_rating   = round(a.rating::numeric, 2),
	response_time     = round(a.response)::integer,
	completion_rate   = round((100.0 * a.completed / a.assigned)::numeric, 2),
	efficiency        = round((100 * (0.4 * coalesce(a.met::float8 / nullif(a.completed, 0), 0)
	                        + 0.3 * a.rating / 5 + 0.3 * a.completed::float8 / a.assigned))::numeric, 2)
FROM (
	SELECT assigned_team,
		count(*) AS assigned,
		count(resolved_at) AS completed,
		count(*) FILTER (WHERE resolved_at <= due_date) AS met,
		coalesce(avg(customer_rating)::float8, 0) AS rating,
		coalesce(avg(extract(epoch FROM started_at - assigned_at) / 60) FILTER (WHERE started_at >= assigned_at), 0)::float8 AS response
	FROM tickets
	WHERE assigned_team IS NOT NULL AND deleted_at IS NULL
	GROUP BY assigned_team
) a
WHERE t.id = a.assigned_team`

// ticketIndex is a secondary index of tickets with the statement that recreates it.
type ticketIndex struct{ name, def string }

// dropTicketIndexes drops every index of tickets that does not back a constraint and returns
// their definitions. It reads them from the catalogue, so indexes added by later migrations are
// handled without change here.
func dropTicketIndexes(ctx context.Context, tx pgx.Tx) ([]ticketIndex, error) {
	rows, err := tx.Query(ctx, `SELECT n.nspname, c.relname, pg_get_indexdef(i.indexrelid)
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE i.indrelid = 'tickets'::regclass
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
		ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("list ticket indexes: %w", err)
	}
	var out []ticketIndex
	var schemas []string
	for rows.Next() {
		var schema string
		var ix ticketIndex
		if err := rows.Scan(&schema, &ix.name, &ix.def); err != nil {
			return nil, fmt.Errorf("list ticket indexes: %w", err)
		}
		out = append(out, ix)
		schemas = append(schemas, schema)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list ticket indexes: %w", err)
	}
	for i, ix := range out {
		if _, err := tx.Exec(ctx, "DROP INDEX "+pgx.Identifier{schemas[i], ix.name}.Sanitize()); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", ix.name, err)
		}
	}
	return out, nil
}

// copyCity copies the zones, teams and users of ds.
func copyCity(ctx context.Context, tx pgx.Tx, ds *seed.Dataset) error {
	zones := make([][]any, 0, len(ds.Zones))
	for _, z := range ds.Zones {
		if err := z.Validate(); err != nil {
			return fmt.Errorf("zone %s: %w", z.Name, err)
		}
		boundary, err := json.Marshal(z.Boundary)
		if err != nil {
			return fmt.Errorf("encode boundary of %s: %w", z.Name, err)
		}
		zones = append(zones, []any{z.ID, z.Name, z.Region, string(boundary), z.Center.Lat, z.Center.Lng, utc(z.CreatedAt)})
	}
	teams := make([][]any, 0, len(ds.Teams))
	for _, t := range ds.Teams {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("team %s: %w", t.Name, err)
		}
		teams = append(teams, []any{t.ID, t.Name, t.Zone, t.Description, skillsJSON(t.Skills), int32(t.Capacity),
			t.ShiftStart, t.ShiftEnd, t.HomeLat, t.HomeLng, string(t.Status), t.IsActive, utc(t.CreatedAt), utc(t.UpdatedAt)})
	}
	users := make([][]any, 0, len(ds.Users))
	for _, u := range ds.Users {
		if err := u.Validate(); err != nil {
			return fmt.Errorf("user %s: %w", u.Username, err)
		}
		users = append(users, []any{u.ID, u.Username, u.Email, u.PasswordHash, string(u.Role), u.TeamID, u.IsActive,
			utc(u.CreatedAt), utc(u.UpdatedAt)})
	}
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"zones", []string{"id", "name", "region", "boundary", "center_lat", "center_lng", "created_at"}, zones},
		{"teams", []string{"id", "name", "zone", "description", "skills", "capacity", "shift_start", "shift_end",
			"home_lat", "home_lng", "status", "is_active", "created_at", "updated_at"}, teams},
		{"users", []string{"id", "username", "email", "password_hash", "role", "team_id", "is_active", "created_at", "updated_at"}, users},
	} {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return fmt.Errorf("copy %s: %w", c.table, err)
		}
	}
	return nil
}

// BulkTicketColumns are the tickets columns BulkLoad copies, in the order of BulkTicketRow.
var BulkTicketColumns = []string{"id", "number", "title", "description", "category", "priority", "priority_rank",
	"status", "zone", "location", "lat", "lng", "skills", "assigned_team", "assigned_to", "due_date", "created_at",
	"updated_at", "assigned_at", "started_at", "resolved_at", "closed_at", "customer_rating"}

// BulkTicketRow appends the COPY values of t (numbered num) to dst[:0] in BulkTicketColumns
// order. It is exported for the load benchmark, which copies the same rows with a bare COPY.
func BulkTicketRow(dst []any, t domain.Ticket, num int64) []any {
	var rating any
	if t.CustomerRating != nil {
		rating = int16(*t.CustomerRating)
	}
	return append(dst[:0], t.ID, num, t.Title, t.Description, t.Category, string(t.Priority), int16(t.Priority.Rank()),
		string(t.Status), t.Zone, t.Location, t.Lat, t.Lng, skillsJSON(t.Skills), t.AssignedTeam, t.AssignedTo,
		utc(t.DueDate), utc(t.CreatedAt), utc(t.UpdatedAt), utcPtr(t.AssignedAt), utcPtr(t.StartedAt),
		utcPtr(t.ResolvedAt), utcPtr(t.ClosedAt), rating)
}

// skillsJSON encodes validated skills as a JSON array. Validation allows only a-z, 0-9, '-' and
// '_', none of which JSON escapes, so the strings are written as they are.
func skillsJSON(skills []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range skills {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// ticketSource feeds pgx's COPY from the ticket stream. pgx calls Next and Values from the
// goroutine that encodes the COPY data, one row at a time, so one row slice is reused.
type ticketSource struct {
	next     func() (domain.Ticket, bool)
	stop     func()
	row      []any
	done     int
	total    int
	maxNum   int64
	progress func(done, total int)
	err      error
}

// progressEvery is how many rows pass between progress calls.
const progressEvery = 10_000

func newTicketSource(tickets iter.Seq[domain.Ticket], total int, progress func(done, total int)) *ticketSource {
	next, stop := iter.Pull(tickets)
	return &ticketSource{next: next, stop: stop, total: total, progress: progress, row: make([]any, 0, len(BulkTicketColumns))}
}

func (s *ticketSource) Next() bool {
	t, ok := s.next()
	if !ok {
		return false
	}
	if err := t.Validate(); err != nil {
		s.err = fmt.Errorf("ticket %s: %w", t.Number, err)
		return false
	}
	num, err := seed.TicketSeq(t.Number)
	if err != nil {
		s.err = err
		return false
	}
	s.maxNum = max(s.maxNum, num)
	s.row = BulkTicketRow(s.row, t, num)
	s.done++
	if s.done%progressEvery == 0 {
		s.progress(s.done, s.total)
	}
	return true
}

func (s *ticketSource) Values() ([]any, error) { return s.row, nil }

func (s *ticketSource) Err() error { return s.err }
