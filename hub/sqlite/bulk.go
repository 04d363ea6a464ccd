package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/seed"
)

var _ seed.Sink = (*Store)(nil)

// BulkLoad implements seed.Sink: it writes ds into an empty database in one write transaction
// with prepared multi-row INSERTs, streaming the tickets from ds.Tickets so that memory stays
// flat whatever their number. It then sets the ticket number counter to the last ticket's
// number and computes every team's performance columns from its tickets with one UPDATE … FROM
// aggregate. One transaction keeps the load atomic (a failed seed leaves the file empty); in WAL
// mode readers keep reading the old, empty snapshot meanwhile.
//
// The tickets table's secondary indexes are dropped before the inserts and rebuilt after them,
// in the same transaction: the table is known to be empty, and one sorted build per index is
// cheaper than updating a dozen B-trees per row. The primary key and UNIQUE constraints stay.
//
// Every seeded row also gets one create ("genesis") change in the log (writeGenesis), since
// the log is sync's source of truth: a replica's row is a replay of the row's changes.
//
// Returns CodeConflict if zones, teams or tickets already exist (or a username is taken),
// CodeInvalid for a ticket that fails domain validation. progress is called from the calling
// goroutine.
func (s *Store) BulkLoad(ctx context.Context, ds *seed.Dataset, progress func(done, total int)) error {
	if s.writer == nil {
		return domain.Errorf(domain.CodeUnavailable, "store is not open")
	}
	if progress == nil {
		progress = func(int, int) {}
	}
	// A page cache big enough for the whole load keeps SQLite from spilling dirty pages to the
	// WAL mid-transaction and re-reading them; the writer's usual size comes back afterwards.
	var cacheSize int64
	if err := s.writer.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cacheSize); err != nil {
		return translate(fmt.Errorf("read cache size: %w", err))
	}
	if _, err := s.writer.ExecContext(ctx, "PRAGMA cache_size = -262144"); err != nil { // 256 MiB
		return translate(fmt.Errorf("set cache size: %w", err))
	}
	defer s.writer.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA cache_size = %d", cacheSize))
	tx, err := s.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock is held from here
	if err != nil {
		return translate(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()
	var used bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM zones) OR EXISTS (SELECT 1 FROM teams)
		OR EXISTS (SELECT 1 FROM tickets)`).Scan(&used); err != nil {
		return translate(fmt.Errorf("check empty: %w", err))
	}
	if used {
		return domain.Errorf(domain.CodeConflict, "the database already holds zones, teams or tickets; seed needs an empty one")
	}
	if err := insertCity(ctx, tx, ds); err != nil {
		return translate(err)
	}
	indexes, err := dropTicketIndexes(ctx, tx)
	if err != nil {
		return translate(err)
	}
	maxNum, err := insertTickets(ctx, tx, ds, progress)
	if err != nil {
		return translate(err)
	}
	for _, ix := range indexes {
		if _, err := tx.ExecContext(ctx, ix.def); err != nil {
			return translate(fmt.Errorf("rebuild index %s: %w", ix.name, err))
		}
	}
	// Fresh statistics, so that list queries plan well from the first request.
	if _, err := tx.ExecContext(ctx, "ANALYZE tickets"); err != nil {
		return translate(fmt.Errorf("analyze tickets: %w", err))
	}
	if _, err := tx.ExecContext(ctx, "UPDATE counters SET value = max(value, ?) WHERE name = 'ticket_number'", maxNum); err != nil {
		return translate(fmt.Errorf("set ticket counter: %w", err))
	}
	if _, err := tx.ExecContext(ctx, refreshTeamPerformanceSQL); err != nil {
		return translate(fmt.Errorf("refresh team performance: %w", err))
	}
	if err := writeGenesis(ctx, tx, ds, s.now()); err != nil {
		return translate(err)
	}
	if err := tx.Commit(); err != nil {
		return translate(fmt.Errorf("commit: %w", err))
	}
	// A large load leaves a WAL as big as the data; fold it into the database now rather than
	// on some later commit. Failure only delays that, so it is not an error.
	_, _ = s.writer.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return nil
}

// refreshTeamPerformanceSQL recomputes the performance columns of every team that has tickets,
// with the definitions TeamPerformance uses: completed = resolved tickets, completion rate =
// 100 × completed / assigned, response time = mean minutes from assignment to start, SLA met =
// resolved by the due date / completed, efficiency = 100 × (0.4 × SLA met + 0.3 × rating/5 +
// 0.3 × completion/100). Rates and the rating are rounded to two decimals.
const refreshTeamPerformanceSQL = `
UPDATE teams SET
	tickets_completed = a.completed,
	customer_rating   = round(a.rating, 2),
	response_time     = CAST(round(a.response) AS INTEGER),
	completion_rate   = round(100.0 * a.completed / a.assigned, 2),
	efficiency        = round(100 * (0.4 * coalesce(1.0 * a.met / nullif(a.completed, 0), 0)
	                        + 0.3 * a.rating / 5 + 0.3 * a.completed / a.assigned), 2)
FROM (
	SELECT assigned_team,
		count(*) AS assigned,
		count(resolved_at) AS completed,
		count(*) FILTER (WHERE resolved_at <= due_date) AS met,
		coalesce(avg(customer_rating), 0) AS rating,
		coalesce(avg((started_at - assigned_at) / 60000000.0) FILTER (WHERE started_at >= assigned_at), 0) AS response
	FROM tickets
	WHERE assigned_team IS NOT NULL AND deleted_at IS NULL
	GROUP BY assigned_team
) AS a
WHERE teams.id = a.assigned_team`

// ticketIndex is a secondary index of tickets with the statement that recreates it.
type ticketIndex struct{ name, def string }

// dropTicketIndexes drops every index of tickets that was made by CREATE INDEX (constraint
// indexes have no SQL in sqlite_schema) and returns their definitions. It reads them from the
// schema, so indexes added by later migrations are handled without change here.
func dropTicketIndexes(ctx context.Context, tx *sql.Tx) ([]ticketIndex, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema
		WHERE type = 'index' AND tbl_name = 'tickets' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list ticket indexes: %w", err)
	}
	defer rows.Close()
	var out []ticketIndex
	for rows.Next() {
		var ix ticketIndex
		if err := rows.Scan(&ix.name, &ix.def); err != nil {
			return nil, fmt.Errorf("list ticket indexes: %w", err)
		}
		out = append(out, ix)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list ticket indexes: %w", err)
	}
	rows.Close()
	for _, ix := range out {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+strings.ReplaceAll(ix.name, `"`, `""`)+`"`); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", ix.name, err)
		}
	}
	return out, nil
}

// insertCity inserts the zones, teams and users of ds.
func insertCity(ctx context.Context, tx *sql.Tx, ds *seed.Dataset) error {
	for _, z := range ds.Zones {
		if err := z.Validate(); err != nil {
			return fmt.Errorf("zone %s: %w", z.Name, err)
		}
		boundary, err := json.Marshal(z.Boundary)
		if err != nil {
			return fmt.Errorf("encode boundary of %s: %w", z.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO zones (id, name, region, boundary, center_lat, center_lng, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, z.ID, z.Name, z.Region, string(boundary), z.Center.Lat, z.Center.Lng,
			bulkMicros(z.CreatedAt)); err != nil {
			return fmt.Errorf("insert zone %s: %w", z.Name, err)
		}
	}
	for _, t := range ds.Teams {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("team %s: %w", t.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO teams (id, name, zone, description, skills, capacity, shift_start,
			shift_end, home_lat, home_lng, status, is_active, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.Zone, t.Description, skillsJSON(t.Skills), t.Capacity, t.ShiftStart, t.ShiftEnd,
			bulkPtr(t.HomeLat), bulkPtr(t.HomeLng), string(t.Status), bulkBool(t.IsActive),
			bulkMicros(t.CreatedAt), bulkMicros(t.UpdatedAt)); err != nil {
			return fmt.Errorf("insert team %s: %w", t.Name, err)
		}
	}
	for _, u := range ds.Users {
		if err := u.Validate(); err != nil {
			return fmt.Errorf("user %s: %w", u.Username, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, username, email, password_hash, role, team_id, is_active,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Username, u.Email, u.PasswordHash, string(u.Role), bulkPtr(u.TeamID), bulkBool(u.IsActive),
			bulkMicros(u.CreatedAt), bulkMicros(u.UpdatedAt)); err != nil {
			return fmt.Errorf("insert user %s: %w", u.Username, err)
		}
	}
	return nil
}

const (
	// ticketCols is the column list of the bulk ticket INSERT, in ticketArgs order.
	bulkTicketCols = `id, number, title, description, category, priority, priority_rank, status, zone, location,
		lat, lng, skills, assigned_team, assigned_to, due_date, created_at, updated_at, assigned_at, started_at,
		resolved_at, closed_at, customer_rating`
	bulkTicketArity = 23
	// bulkBatch rows go into one INSERT statement: fewer statement executions (the cost that
	// dominates through database/sql) while staying far below SQLite's 32766-parameter limit.
	bulkBatch = 64
	// bulkProgressEvery is how many rows pass between progress calls.
	bulkProgressEvery = 5_000
)

// insertTickets streams ds.Tickets into the tickets table in batches of bulkBatch rows with a
// prepared statement, and returns the highest ticket number.
func insertTickets(ctx context.Context, tx *sql.Tx, ds *seed.Dataset, progress func(done, total int)) (int64, error) {
	stmtFor := func(rows int) string {
		one := "(" + strings.TrimSuffix(strings.Repeat("?, ", bulkTicketArity), ", ") + ")"
		return "INSERT INTO tickets (" + bulkTicketCols + ") VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
	}
	full, err := tx.PrepareContext(ctx, stmtFor(bulkBatch))
	if err != nil {
		return 0, fmt.Errorf("prepare ticket insert: %w", err)
	}
	defer full.Close()
	total := ds.Config.Tickets
	args := make([]any, 0, bulkBatch*bulkTicketArity)
	rows, done := 0, 0
	var maxNum int64
	flush := func() error {
		if rows == 0 {
			return nil
		}
		var err error
		if rows == bulkBatch {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, stmtFor(rows), args...)
		}
		if err != nil {
			return fmt.Errorf("insert tickets: %w", err)
		}
		done += rows
		args, rows = args[:0], 0
		return nil
	}
	for t := range ds.Tickets {
		if err := t.Validate(); err != nil {
			return 0, fmt.Errorf("ticket %s: %w", t.Number, err)
		}
		num, err := seed.TicketSeq(t.Number)
		if err != nil {
			return 0, err
		}
		maxNum = max(maxNum, num)
		args = appendTicketArgs(args, t, num)
		rows++
		if rows == bulkBatch {
			before := done
			if err := flush(); err != nil {
				return 0, err
			}
			if done/bulkProgressEvery != before/bulkProgressEvery {
				progress(done, total)
			}
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	progress(done, total)
	return maxNum, nil
}

// appendTicketArgs appends t's column values in bulkTicketCols order.
func appendTicketArgs(args []any, t domain.Ticket, num int64) []any {
	return append(args, t.ID, num, t.Title, t.Description, t.Category, string(t.Priority), t.Priority.Rank(),
		string(t.Status), t.Zone, t.Location, bulkPtr(t.Lat), bulkPtr(t.Lng), skillsJSON(t.Skills),
		bulkPtr(t.AssignedTeam), bulkPtr(t.AssignedTo), bulkMicros(t.DueDate), bulkMicros(t.CreatedAt),
		bulkMicros(t.UpdatedAt), bulkMicrosPtr(t.AssignedAt), bulkMicrosPtr(t.StartedAt), bulkMicrosPtr(t.ResolvedAt),
		bulkMicrosPtr(t.ClosedAt), bulkPtr(t.CustomerRating))
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

// The bulk helpers encode like the rest of the store (unix microseconds, 0/1, NULL for nil)
// under their own names, so this file does not depend on helpers that may move.

func bulkMicros(t time.Time) int64 { return t.UTC().Truncate(time.Microsecond).UnixMicro() }

func bulkMicrosPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return bulkMicros(*t)
}

func bulkPtr[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func bulkBool(b bool) int {
	if b {
		return 1
	}
	return 0
}
