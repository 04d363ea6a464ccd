package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server/syncstore"
	"github.com/aiff/aiff/sync/snapshot"
)

// handleSnapshot is GET /snapshot?zones=Z[,Z…]&after=KEY (sync/PROTOCOL.md §9.4): the rows of
// the caller's scope (or of the named zones within it), compacted at the enforced horizon, at
// one log cursor, as a snapshot stream. Chunks are flushed as they are written, so a cut
// client keeps every complete chunk; it resumes with after=<checkpoint.last>, or with an HTTP
// Range request from checkpoint.offset (If-Range on the ETag): the same cursor, horizon and
// scope give the same bytes, so the hub rebuilds the stream and serves the range.
func (h *Handler) handleSnapshot(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	q, err := query(r, "zones", "after")
	if err != nil {
		return err
	}
	src, ok := h.Store.(syncstore.SnapshotSource)
	if !ok {
		return domain.Errorf(domain.CodeNotFound, "this hub store does not serve snapshots")
	}
	after, err := snapshot.ParseKey(q.Get("after"))
	if err != nil {
		return err
	}
	sc, err := h.readScopeOf(r.Context(), p)
	if err != nil {
		return err
	}
	zones := sc.zones
	if s := q.Get("zones"); s != "" {
		zones = nil
		for _, z := range strings.Split(s, ",") {
			if z = strings.TrimSpace(z); z == "" {
				return domain.FieldErrorf("zones", "empty zone name")
			}
			if !sc.zoneOK(z) {
				return domain.Errorf(domain.CodeForbidden, "zone %q is outside your scope", z)
			}
			zones = append(zones, z)
		}
	}
	if zones != nil {
		slices.Sort(zones)
		zones = slices.Compact(zones)
	}
	log, err := src.SnapshotLog(r.Context(), zones)
	if err != nil {
		return err
	}
	if len(log.Zones) == 0 {
		return domain.Errorf(domain.CodeNotFound, "there are no zones to snapshot")
	}
	horizon, err := merge.ParseHorizon(log.Horizon)
	if err != nil {
		return err
	}
	all, err := snapshot.Rows(log.Changes, horizon)
	if err != nil {
		return err
	}
	rows := make([]snapshot.Row, 0, len(all))
	for _, row := range all {
		if row.Key().Compare(after) <= 0 {
			continue
		}
		if sc.team != "" {
			if ok, err := h.fieldRow(r, sc, row); err != nil {
				return err
			} else if !ok {
				continue
			}
		}
		for i := range row.Changes {
			if row.Changes[i].Op == domain.OpDelete {
				row.Changes[i].Patch = nil // the wire format carries no delete patch
			}
		}
		rows = append(rows, row)
	}
	hdr := snapshot.Header{Zones: slices.Sorted(slices.Values(log.Zones)), Cursor: log.Cursor, Horizon: log.Horizon,
		Rows: int64(len(rows)), After: q.Get("after")}
	if after.IsZero() {
		hdr.After = ""
		if r.Header.Get("Range") == "" {
			// A fresh bootstrap: a replica told to re-bootstrap is live again from here.
			if err := h.rebootstrapped(r.Context(), p, sc, log.Cursor); err != nil {
				return err
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("ETag", snapshotETag(hdr, sc.team))
	if r.Header.Get("Range") != "" {
		// A resumed download: rebuild the stream and let ServeContent answer the range (or
		// the whole stream if If-Range names another snapshot).
		var buf bytes.Buffer
		if err := writeSnapshot(&buf, hdr, rows); err != nil {
			return err
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(buf.Bytes()))
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if err := writeSnapshot(flushWriter{w}, hdr, rows); err != nil {
		// Part of the stream is out: end the response abnormally so the client sees a
		// truncated stream and resumes from its checkpoint.
		h.Logger.Error("write snapshot", logKeyError, err)
		panic(http.ErrAbortHandler)
	}
	snapshotRows.Add(float64(len(rows)))
	return nil
}

// fieldRow reports whether a field user may see row: its team's tickets, its team, zones.
func (h *Handler) fieldRow(r *http.Request, sc readScope, row snapshot.Row) (bool, error) {
	switch row.Entity {
	case domain.EntityTicket:
		t, err := h.Store.GetTicket(r.Context(), row.ID)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return t.AssignedTeam != nil && *t.AssignedTeam == sc.team, nil
	case domain.EntityTeam:
		return row.ID == sc.team, nil
	case domain.EntityZone:
		return true, nil
	}
	return false, nil
}

// writeSnapshot writes the stream of hdr and rows to w.
func writeSnapshot(w io.Writer, hdr snapshot.Header, rows []snapshot.Row) error {
	sw := snapshot.NewWriter(w, hdr)
	for _, row := range rows {
		if err := sw.Write(row); err != nil {
			return err
		}
	}
	return sw.Close()
}

// snapshotETag names a stream by what decides its bytes: the header (zones, cursor, horizon,
// row count, after) and a field user's team.
func snapshotETag(hdr snapshot.Header, team string) string {
	b, _ := json.Marshal(struct {
		H    snapshot.Header
		Team string
	}{hdr, team})
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// flushWriter flushes the response after every write: the snapshot writer writes one whole
// line (a chunk) per call, so the client receives complete chunks as they are made.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = http.NewResponseController(f.w).Flush()
	}
	return n, err
}
