package sqlite_test

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/hub/gctune"
	"github.com/aiff/aiff/hub/procstat"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/sync/snapshot"
)

// TestMeasureBootstrap measures a new edge's bootstrap (sync/PROTOCOL.md §9.5): a snapshot of
// AIFF_MEASURE_ROWS rows (default 1,000,000: one zone, one team, the rest tickets with a full
// create change each, as the hub's compacted log holds them) served over loopback HTTP,
// downloaded, verified, staged and switched to by client.Bootstrap into a new edge SQLite
// file; then the same final rows (every column as the edge stored them) inserted into a new
// SQLite file with the same table and indexes directly, in one transaction with one prepared
// statement: the floor any loader pays. Reports rows/s of both and their ratio. Issue 4
// target: ≥ 35,000 rows/s. Run with AIFF_MEASURE=1.
func TestMeasureBootstrap(t *testing.T) {
	if os.Getenv("AIFF_MEASURE") == "" {
		t.Skip("set AIFF_MEASURE=1")
	}
	// Measure with the collector settings the aiff binary runs with (GOGC/GOMEMLIMIT win).
	t.Logf("gc: %s", gctune.Apply(os.Getenv))
	n := 1_000_000
	if s := os.Getenv("AIFF_MEASURE_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	dir := t.TempDir()
	stream := filepath.Join(dir, "snapshot.ndjson")
	size := writeSnapshot(t, stream, n)
	t.Logf("snapshot: %d rows, %d bytes (%.0f bytes/row)", n, size, float64(size)/float64(n))

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(stream)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		w.Header().Set("ETag", `"measure"`)
		w.Header().Set("Content-Type", "application/x-ndjson")
		http.ServeContent(w, r, "", time.Time{}, f)
	}))
	defer srv.Close()

	// The reader alone (decode and verify, nothing stored): its share of the bootstrap.
	runtime.GC()
	start := time.Now()
	sf, err := os.Open(stream)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := snapshot.NewReader(sf, snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := rd.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	sf.Close()
	verify := time.Since(start)

	st := openStore(t, filepath.Join(dir, "edge.db"), "edge-measure")
	c := client.New(srv.URL, "")
	runtime.GC()
	var lastChunk time.Time
	cpu0, _ := procstat.CPU()
	// AIFF_MEASURE_PROFILE=FILE writes a CPU profile of the bootstrap alone.
	if path := os.Getenv("AIFF_MEASURE_PROFILE"); path != "" {
		pf, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	cursor, err := c.Bootstrap(ctx, st, client.BootstrapOptions{OnChunk: func(snapshot.Checkpoint) { lastChunk = time.Now() }})
	if err != nil {
		t.Fatal(err)
	}
	boot := time.Since(start)
	cpu1, _ := procstat.CPU()
	bootCPU := cpu1 - cpu0
	pprof.StopCPUProfile()
	stage, swap := lastChunk.Sub(start), time.Since(lastChunk)
	if got, _ := st.Cursor(ctx); got != cursor || cursor != int64(n) {
		t.Fatalf("cursor %d, bootstrap %d, want %d", got, cursor, n)
	}
	page, err := st.ListTickets(ctx, domain.TicketFilter{Limit: 1})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("list after bootstrap: %v", err)
	}

	// The floor: the same rows into a new file with the same table and indexes, directly.
	src, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "edge.db")+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var ddl []string
	rs, err := src.Query("SELECT sql FROM sqlite_master WHERE tbl_name = 'rows' AND sql IS NOT NULL ORDER BY type DESC")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var s string
		rs.Scan(&s)
		ddl = append(ddl, s)
	}
	rs.Close()
	const cols = 14
	var data [][]any
	rs, err = src.Query("SELECT entity, id, zone, deleted, doc, state, status, priority_rank, assigned_team, due_date, created_at, updated_at, number, name FROM rows")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var e, id, zone, doc, state, status, team, number, name string
		var deleted, rank, due, created, updated int64
		if err := rs.Scan(&e, &id, &zone, &deleted, &doc, &state, &status, &rank, &team, &due, &created, &updated, &number, &name); err != nil {
			t.Fatal(err)
		}
		data = append(data, []any{e, id, zone, deleted, doc, state, status, rank, team, due, created, updated, number, name})
	}
	rs.Close()
	var docBytes, stateBytes int
	for _, row := range data {
		docBytes += len(row[4].(string))
		stateBytes += len(row[5].(string))
	}
	t.Logf("stored per row: doc %d bytes, state %d bytes", docBytes/max(len(data), 1), stateBytes/max(len(data), 1))
	if len(data) != n {
		t.Fatalf("edge holds %d rows, want %d", len(data), n)
	}
	dst, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "direct.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	dst.SetMaxOpenConns(1)
	// Same page size as the edge file: the floor of the same layout.
	var pageSize int
	if err := src.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Exec("PRAGMA page_size=" + strconv.Itoa(pageSize)); err != nil {
		t.Fatal(err)
	}
	for _, q := range ddl {
		if _, err := dst.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// The reference holds every row in memory at once (GBs for a million), which no edge
	// does: without the soft memory limit the bootstrap ran under, the collector would run
	// without pause and slow the reference, not the bootstrap.
	debug.SetMemoryLimit(math.MaxInt64)
	runtime.GC()
	cpu0, _ = procstat.CPU()
	start = time.Now()
	tx, err := dst.Begin()
	if err != nil {
		t.Fatal(err)
	}
	ins, err := tx.Prepare("INSERT INTO rows (entity, id, zone, deleted, doc, state, status, priority_rank, assigned_team, due_date, created_at, updated_at, number, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range data {
		if _, err := ins.Exec(row[:cols]...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	direct := time.Since(start)
	cpu1, _ = procstat.CPU()
	directCPU := cpu1 - cpu0

	rate := func(d time.Duration) float64 { return float64(n) / d.Seconds() }
	t.Logf("bootstrap: %d rows in %s = %.0f rows/s (download+verify+stage %s, switch+index %s)", n, boot.Round(time.Millisecond), rate(boot),
		stage.Round(time.Millisecond), swap.Round(time.Millisecond))
	t.Logf("reader alone (decode + verify, nothing stored): %s = %.0f rows/s", verify.Round(time.Millisecond), rate(verify))
	t.Logf("direct insert, one transaction, %d-byte pages: %d rows in %s = %.0f rows/s", pageSize, n, direct.Round(time.Millisecond), rate(direct))
	t.Logf("process CPU (user+system, all threads): bootstrap %s = %.0f rows per CPU-second; direct insert %s = %.0f rows per CPU-second; CPU ratio %.2fx; load average %s",
		bootCPU.Round(time.Millisecond), rate(bootCPU), directCPU.Round(time.Millisecond), rate(directCPU), bootCPU.Seconds()/directCPU.Seconds(), procstat.LoadAvg())
	t.Logf("ratio: bootstrap takes %.2fx the direct insert (%.0f%% of its rate)", boot.Seconds()/direct.Seconds(), 100*rate(boot)/rate(direct))
	if rate(boot) < 35_000 {
		t.Errorf("bootstrap %.0f rows/s, target ≥ 35,000", rate(boot))
	}
}

// writeSnapshot writes a snapshot stream of n rows to path: genesis (zone, team, ticket) and
// n-3 more tickets, each a full create change, at cursor n.
func writeSnapshot(t *testing.T, path string, n int) int64 {
	t.Helper()
	h := newHub()
	f := genesis(t, h)
	tmpl := f.changes[2]
	type made struct {
		id  string
		seq int64
	}
	ids := make([]made, 0, n-3)
	now := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	for i := range n - 3 {
		ids = append(ids, made{domain.NewID(now.Add(time.Duration(i) * time.Millisecond)), int64(i + 4)})
	}
	rows := []snapshot.Row{
		{Entity: domain.EntityTeam, ID: f.team.ID, Changes: []domain.Change{f.changes[1]}},
		{Entity: domain.EntityTicket, ID: f.ticket.ID, Changes: []domain.Change{f.changes[2]}},
	}
	slices.SortFunc(ids, func(a, b made) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	bw := bufio.NewWriterSize(file, 1<<20)
	w := snapshot.NewWriter(bw, snapshot.Header{Zones: []string{"North"}, Cursor: int64(n), Rows: int64(n)})
	// Tickets in key order, the genesis ticket among them.
	tickets := make([]snapshot.Row, 0, len(ids)+1)
	tickets = append(tickets, rows[1])
	for i, m := range ids {
		c := tmpl
		c.ID, c.EntityID, c.Seq = domain.NewID(now), m.id, m.seq
		c.HLC = h.clock.Now().String()
		c.Patch = make(map[string]json.RawMessage, len(tmpl.Patch))
		for k, v := range tmpl.Patch {
			c.Patch[k] = v
		}
		c.Patch["id"], _ = json.Marshal(m.id)
		c.Patch["title"], _ = json.Marshal("Ticket " + strconv.Itoa(i))
		c.Patch["ticket_number"], _ = json.Marshal(domain.TicketNumber(m.seq))
		tickets = append(tickets, snapshot.Row{Entity: domain.EntityTicket, ID: m.id, Changes: []domain.Change{c}})
	}
	slices.SortFunc(tickets, func(a, b snapshot.Row) int { return a.Key().Compare(b.Key()) })
	all := append([]snapshot.Row{rows[0]}, tickets...)
	all = append(all, snapshot.Row{Entity: domain.EntityZone, ID: f.zone.ID, Changes: []domain.Change{f.changes[0]}})
	for _, r := range all {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	fi, err := file.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
