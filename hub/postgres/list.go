package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/aiff/aiff/domain"
)

// sortColumns maps each sort key (without '-') to its column. Every key has a B-tree index
// ending in id, so a page is an index range scan whatever the table size.
var sortColumns = map[string]string{
	"created_at":    "created_at",
	"updated_at":    "updated_at",
	"due_date":      "due_date",
	"priority":      "priority_rank",
	"ticket_number": "number",
}

// cursor is the keyset position after the last row of a page. Value is the sort column as an
// integer (times in unix microseconds), the same encoding hub/sqlite uses, so a cursor means
// the same thing on either store.
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

// sortKey is t's value of the sort column, as a cursor holds it.
func sortKey(t domain.Ticket, key string) int64 {
	switch key {
	case "updated_at":
		return t.UpdatedAt.UnixMicro()
	case "due_date":
		return t.DueDate.UnixMicro()
	case "priority":
		return int64(t.Priority.Rank())
	case "ticket_number":
		n, _ := parseNumber(t.Number)
		return n
	default:
		return t.CreatedAt.UnixMicro()
	}
}

// cursorArg turns a cursor value back into the column's type.
func cursorArg(key string, v int64) any {
	switch key {
	case "created_at", "updated_at", "due_date":
		return time.UnixMicro(v).UTC()
	default:
		return v
	}
}

// searchSep separates the fields inside ticket_search_text (migration 0002); a query holding
// it could match across two fields, so such a query searches the fields one by one.
const searchSep = "\x01"

// likePattern turns a search text into a lowercase LIKE pattern with its wildcards escaped.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// numberSearch matches a search for a ticket number written with its prefix, or the end of it:
// "TKT-000123", "kt-0001", "-00012" (lowercase), with at least three digits. Group 1 is the
// digits.
var numberSearch = regexp.MustCompile(`^(?:tkt|kt|t)?-([0-9]{3,})$`)

// searchCond adds the text-search condition for q to w.
func searchCond(w *where, q string) {
	p := likePattern(q)
	if strings.Contains(q, searchSep) {
		w.add(`(lower(title) LIKE ? OR lower(description) LIKE ? OR lower(location) LIKE ?
			OR 'tkt-' || CASE WHEN number < 1000000 THEN lpad(number::text, 6, '0') ELSE number::text END LIKE ?)`, p, p, p, p)
		return
	}
	if m := numberSearch.FindStringSubmatch(strings.ToLower(q)); m != nil {
		// Every row's search text starts with "tkt-", so the trigram index would read the
		// posting list of every ticket for the trigrams of "tkt" (380–480 ms p99 at a million
		// tickets under load). Every match contains the digits, whose trigrams are in a few
		// hundred rows, so the index is asked for those alone and strpos, which no index
		// serves, checks the whole text on what it returns: the same rows as LIKE '%q%'.
		w.add(`ticket_search_text(number, title, description, location) LIKE ?
			AND strpos(ticket_search_text(number, title, description, location), ?) > 0`, likePattern(m[1]), strings.ToLower(q))
		return
	}
	// The same expression as the trigram index of migration 0003.
	w.add(`ticket_search_text(number, title, description, location) LIKE ?`, p)
}

// leadsWithStatus reports whether a list of f sorted by key walks the (status, created_at, id)
// index: one status and a created_at sort.
//
// Status is strongly correlated with age (old tickets are closed, new ones open), which the
// planner cannot know: asked for the newest closed tickets, it walks the created_at index and
// filters, skipping every recent open ticket first (tens of thousands of rows at a million
// tickets). Writing the filter as "status = ANY($n)" and the order as "status, created_at, id"
// (the same order, status being fixed) leaves the composite index as the only ordered path, so
// the page is a range scan whatever the data, in custom and generic plans alike.
func leadsWithStatus(f domain.TicketFilter, key string) bool {
	return len(f.Status) == 1 && key == "created_at"
}

// splitsOnDue reports whether a list of f sorted by key reads its rows as two ordered halves
// (see firstRows): a due_date upper bound under a created_at sort.
//
// A ticket is due after it is created, by its SLA (hours to days), so "due before X, newest
// first" walks the created_at index from the newest ticket and filters out everything created
// after X first: half a million rows for an X in the middle of a year of a million tickets
// (0.6–1 s p99 under load). Walking the due_date index instead finds the rows at once but must
// sort all of them. The rows due before X are those created before X and due before X, which
// the created_at index finds from X on, plus those created at or after X yet due before X,
// whose due date precedes their creation: legal (a back-dated due date) but rare, and kept in
// the partial index idx_tickets_due_early (migration 0006), so both halves are short ordered
// range scans.
func splitsOnDue(f domain.TicketFilter, key string) bool {
	return f.DueBefore != nil && key == "created_at"
}

// firstRows returns SQL that selects cols of the first k rows matching w, in order, adding its
// own arguments to w. With split (a due_date upper bound, see splitsOnDue) it reads the rows
// created before split and the rows due before they were created, each in order and limited,
// and merges them: two disjoint halves whose union is exactly the rows matching w. cols must
// hold the columns that order names.
func firstRows(w *where, cols, order string, split *time.Time, k int) string {
	lim := w.arg(k)
	if split == nil {
		return fmt.Sprintf("SELECT %s FROM tickets WHERE %s ORDER BY %s LIMIT %s", cols, w.sql(), order, lim)
	}
	at := w.arg(split.UTC())
	return fmt.Sprintf(`SELECT * FROM (
		(SELECT %[1]s FROM tickets WHERE %[2]s AND created_at < %[3]s ORDER BY %[4]s LIMIT %[5]s)
		UNION ALL
		(SELECT %[1]s FROM tickets WHERE %[2]s AND created_at >= %[3]s AND due_date < created_at ORDER BY %[4]s LIMIT %[5]s)
	) tickets ORDER BY %[4]s LIMIT %[5]s`, cols, w.sql(), at, order, lim)
}

// ticketWhere builds the WHERE clause of f, without the text search and the cursor, into w.
func ticketWhere(w *where, f domain.TicketFilter, key string) error {
	w.add("deleted_at IS NULL")
	// One value is written as "col = $n" rather than "= ANY($n)": the planner can then walk a
	// (col, sort, id) index in order and stop after one page.
	in := func(col string, vals []string) {
		if len(vals) == 1 {
			w.add(col+" = ?", vals[0])
		} else {
			w.add(col+" = ANY(?)", vals)
		}
	}
	if len(f.Status) > 0 {
		for _, st := range f.Status {
			if !st.Valid() {
				return domain.FieldErrorf("status", "unknown status %q", st)
			}
		}
		if leadsWithStatus(f, key) {
			w.add("status = ANY(?)", strs(f.Status))
		} else {
			in("status", strs(f.Status))
		}
	}
	if len(f.Priority) > 0 {
		for _, p := range f.Priority {
			if !p.Valid() {
				return domain.FieldErrorf("priority", "unknown priority %q", p)
			}
		}
		in("priority", strs(f.Priority))
	}
	if len(f.Zone) > 0 {
		in("zone", f.Zone)
	}
	if len(f.ScopeZones) > 0 {
		in("zone", f.ScopeZones)
	}
	switch f.Team {
	case "":
	case "none":
		w.add("assigned_team IS NULL")
	default:
		w.add("assigned_team = ?", f.Team)
	}
	if f.ScopeTeam != "" {
		w.add("assigned_team = ?", f.ScopeTeam)
	}
	if f.DueBefore != nil {
		w.add("due_date < ?", f.DueBefore.UTC())
	}
	if f.DueAfter != nil {
		w.add("due_date > ?", f.DueAfter.UTC())
	}
	if f.UpdatedAfter != nil {
		w.add("updated_at > ?", f.UpdatedAfter.UTC())
	}
	return nil
}

// ListTickets returns one page of live tickets matching f, ordered by f.Sort then id, with
// keyset pagination: NextCursor is empty on the last page. Total is counted only when
// f.WithTotal asks, since a count visits every matching row. Returns CodeInvalid for an unknown
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
	key := strings.TrimPrefix(sort, "-")
	col := sortColumns[key]
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)

	var w where
	if err := ticketWhere(&w, f, key); err != nil {
		return page, err
	}
	q := strings.TrimSpace(f.Query)
	if f.WithTotal {
		cw := w
		cw.conds, cw.args = slices.Clone(w.conds), slices.Clone(w.args)
		if q != "" {
			searchCond(&cw, q)
		}
		var n int
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM tickets WHERE "+cw.sql(), cw.args...).Scan(&n); err != nil {
			return page, translate(fmt.Errorf("count tickets: %w", err))
		}
		page.Total = &n
	}
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor, sort)
		if err != nil {
			return page, err
		}
		cmp := ">"
		if desc {
			cmp = "<"
		}
		w.add(fmt.Sprintf("(%s, id) %s (?, ?)", col, cmp), cursorArg(key, c.Value), c.ID)
	}
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	order := fmt.Sprintf("%s %s, id %s", col, dir, dir)
	if leadsWithStatus(f, key) {
		order = "status " + dir + ", " + order
	}
	var (
		items []domain.Ticket
		err   error
	)
	var split *time.Time
	if splitsOnDue(f, key) {
		split = f.DueBefore
	}
	if q == "" {
		items, err = s.queryTickets(ctx, firstRows(&w, ticketCols, order, split, limit+1), w.args)
	} else {
		items, err = s.searchTickets(ctx, w, q, order, split, limit+1)
	}
	if err != nil {
		return page, err
	}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		page.NextCursor = encodeCursor(cursor{Sort: sort, Value: sortKey(last, key), ID: last.ID})
	}
	page.Items = items
	return page, nil
}

func (s *Store) queryTickets(ctx context.Context, sql string, args []any) ([]domain.Ticket, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(fmt.Errorf("list tickets: %w", err))
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Ticket, error) { return scanTicket(row) })
	if err != nil {
		return nil, translate(fmt.Errorf("list tickets: %w", err))
	}
	return items, nil
}

// searchWindow is the most rows, in list order, a text search examines before it turns to the
// trigram index; searchSample is how many of them it samples first.
var (
	searchWindow = 4000
	searchSample = 500
)

// searchText is the text a search matches, as migration 0003 indexes it.
const searchText = "ticket_search_text(number, title, description, location)"

// searchTickets returns the first n tickets in order that match w and the text q; split is
// firstRows's.
//
// The planner cannot guess how many tickets a substring matches, and both of its guesses go
// badly wrong at a million rows: walking the sort index and filtering is quick for a common
// word but reads the whole table for a rare one, and the trigram index is quick for a rare word
// but fetches and sorts a hundred thousand rows for a common one. So the search decides from
// the data, in steps that each cost little more than the answer they may give:
//
//   - A probe filters the first searchSample rows in list order (a bounded index range scan
//     that stops at the first page of matches): this answers any common word, and any query
//     whose other filters leave fewer rows than that.
//   - If the sample held some matches but not a page, a probe of as many rows as that density
//     needs for a page (twice over, at most searchWindow) usually answers.
//   - Otherwise q is rare, and the trigram index returns every match (materialized, so the
//     planner cannot turn back to the sort index), sorted. The index is asked for q without
//     the words that are common in the sample (searchParts): a word in most rows ("berlin" in
//     every address) has trigrams whose posting lists span most of the table, which costs
//     tens of milliseconds to read and narrows nothing. strpos, which no index serves, then
//     checks the whole of q on the rows the index returns.
//
// A ticket number search (numberSearch) is known to be rare and goes to the index at once.
func (s *Store) searchTickets(ctx context.Context, w where, q, order string, split *time.Time, n int) ([]domain.Ticket, error) {
	lq := strings.ToLower(q)
	var parts []string // the pieces of q the index is asked for, when not the whole of q
	if !numberSearch.MatchString(lq) {
		sample := min(searchSample, searchWindow)
		items, done, err := s.probeTickets(ctx, w, q, order, split, sample, n)
		if err != nil || done {
			return items, err
		}
		if hits := len(items); hits > 0 {
			if win := min(searchWindow, max(2*sample, 2*sample*n/hits)); win > sample {
				if items, done, err = s.probeTickets(ctx, w, q, order, split, win, n); err != nil || done {
					return items, err
				}
			}
		} else if words := searchWords(lq); words != nil && !strings.Contains(q, searchSep) {
			if parts, err = s.searchParts(ctx, w, lq, order, split, sample, words); err != nil {
				return nil, err
			}
		}
	}
	all := where{conds: slices.Clone(w.conds), args: slices.Clone(w.args)}
	if len(parts) > 0 {
		for _, part := range parts {
			all.add(searchText+" LIKE ?", likePattern(part))
		}
		all.add("strpos("+searchText+", ?) > 0", lq)
	} else {
		searchCond(&all, q)
	}
	return s.queryTickets(ctx, fmt.Sprintf(`WITH m AS MATERIALIZED (SELECT %s FROM tickets WHERE %s)
		SELECT * FROM m ORDER BY %s LIMIT %s`, ticketCols, all.sql(), order, all.arg(n)), all.args)
}

// searchParts counts, over the first sample rows matching w in order, the rows that hold each
// of words, and returns lq cut into the pieces left without the words common there (in more
// than one row in twenty), or nil to search for the whole of lq.
func (s *Store) searchParts(ctx context.Context, w where, lq, order string, split *time.Time, sample int, words []string) ([]string, error) {
	agg := where{conds: slices.Clone(w.conds), args: slices.Clone(w.args)}
	src := firstRows(&agg, "*, "+searchText+" AS search_text", order, split, sample)
	cols := make([]string, len(words))
	for i, word := range words {
		cols[i] = fmt.Sprintf("count(*) FILTER (WHERE strpos(search_text, %s) > 0)", agg.arg(word))
	}
	counts := make([]int, len(words))
	dest := make([]any, len(words))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := s.pool.QueryRow(ctx, fmt.Sprintf("SELECT %s FROM (%s) sample", strings.Join(cols, ", "), src),
		agg.args...).Scan(dest...); err != nil {
		return nil, translate(fmt.Errorf("sample search words: %w", err))
	}
	var common []string
	for i, word := range words {
		if counts[i] > sample/20 {
			common = append(common, word)
		}
	}
	if len(common) == 0 {
		return nil, nil
	}
	return searchParts(lq, common), nil
}

// probeTickets returns the first n tickets matching q among the first win rows matching w in
// order. done reports that they are the answer: a full page, or every match because fewer
// than win rows match w.
func (s *Store) probeTickets(ctx context.Context, w where, q, order string, split *time.Time, win, n int) (items []domain.Ticket, done bool, err error) {
	inner := where{conds: slices.Clone(w.conds), args: slices.Clone(w.args)}
	src := firstRows(&inner, "*", order, split, win)
	probe := where{args: inner.args}
	searchCond(&probe, q)
	items, err = s.queryTickets(ctx, fmt.Sprintf(`SELECT %s FROM (%s) tickets WHERE %s ORDER BY %s LIMIT %s`,
		ticketCols, src, probe.sql(), order, probe.arg(n)), probe.args)
	if err != nil || len(items) == n {
		return items, err == nil, err
	}
	var inWindow int
	cw := where{args: slices.Clone(w.args)}
	if err := s.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM tickets WHERE %s LIMIT %s) w`,
		w.sql(), cw.arg(win)), cw.args...).Scan(&inWindow); err != nil {
		return nil, false, translate(fmt.Errorf("search tickets: %w", err))
	}
	return items, inWindow < win, nil
}

// searchWords returns the distinct words of the lowercase search text q that give the trigram
// index something to look up: runs of three or more letters or digits, as pg_trgm splits text.
// It returns nil for a text of fewer than two such words, which has nothing to leave out.
func searchWords(q string) []string {
	var words []string
	for _, w := range strings.FieldsFunc(q, notWordRune) {
		if utf8.RuneCountInString(w) >= 3 && !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	if len(words) < 2 {
		return nil
	}
	return words
}

func notWordRune(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// searchParts returns the pieces of q left when every occurrence of the words in drop is cut
// out, keeping the separators around what is left (they bound its words, which gives the index
// more trigrams), and only pieces that still hold a word of three or more runes. Every piece is
// a substring of q, so a text holding q holds each of them. It returns nil when no piece is
// left: the whole of q is then the best the index can do.
func searchParts(q string, drop []string) []string {
	var parts []string
	flush := func(piece string) {
		for _, w := range strings.FieldsFunc(piece, notWordRune) {
			if utf8.RuneCountInString(w) >= 3 {
				parts = append(parts, piece)
				return
			}
		}
	}
	start := 0 // of the current piece
	for i := 0; i < len(q); {
		r, size := utf8.DecodeRuneInString(q[i:])
		if notWordRune(r) {
			i += size
			continue
		}
		j := strings.IndexFunc(q[i:], notWordRune)
		if j < 0 {
			j = len(q)
		} else {
			j += i
		}
		if slices.Contains(drop, q[i:j]) {
			flush(q[start:i])
			start = j
		}
		i = j
	}
	flush(q[start:])
	return parts
}
