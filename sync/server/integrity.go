package server

import (
	"maps"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/integrity"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// zoneRow is one row of a zone as a replica at some cursor holds it.
type zoneRow struct {
	row     merge.Row
	changes []domain.Change // the logged changes with seq <= cursor, in seq order
}

// zoneRowsAt returns the rows of zone as a replica at cursor holds them (sync/PROTOCOL.md
// §11): each row's logged changes with seq <= cursor, replayed, kept if that state places it
// in zone. cursor is the "cursor" query parameter, default the log head.
func (h *Handler) zoneRowsAt(r *http.Request, q url.Values) (zone string, cursor int64, rows []zoneRow, err error) {
	p, err := principal(r)
	if err != nil {
		return "", 0, nil, err
	}
	ctx := r.Context()
	zone = q.Get("zone")
	if zone == "" {
		return "", 0, nil, domain.FieldErrorf("zone", "zone is required")
	}
	sc, err := h.readScopeOf(ctx, p)
	if err != nil {
		return "", 0, nil, err
	}
	if sc.team != "" || !sc.zoneOK(zone) {
		return "", 0, nil, domain.Errorf(domain.CodeForbidden, "zone %q is outside your scope", zone)
	}
	src, ok := h.Store.(syncstore.SnapshotSource)
	if !ok {
		return "", 0, nil, domain.Errorf(domain.CodeNotFound, "this hub store does not serve integrity buckets")
	}
	cursor = -1
	if s := q.Get("cursor"); s != "" {
		if cursor, err = strconv.ParseInt(s, 10, 64); err != nil || cursor < 0 {
			return "", 0, nil, domain.FieldErrorf("cursor", "cursor must be a non-negative integer")
		}
	}
	log, err := src.SnapshotLog(ctx, []string{zone})
	if err != nil {
		return "", 0, nil, err
	}
	if cursor < 0 {
		cursor = log.Cursor
	}
	if cursor > log.Cursor {
		return "", 0, nil, domain.FieldErrorf("cursor", "cursor %d is beyond the hub's log head %d", cursor, log.Cursor)
	}
	// log.Changes are in (entity, entity_id, seq) order: one run per row.
	for i := 0; i < len(log.Changes); {
		j := i
		for j < len(log.Changes) && log.Changes[j].Entity == log.Changes[i].Entity && log.Changes[j].EntityID == log.Changes[i].EntityID {
			j++
		}
		run := log.Changes[i:j]
		i = j
		if run[0].Entity == domain.EntityUser {
			continue // users are not part of a zone's state (§7)
		}
		row, kept, ok, err := integrity.AtCursor(run, cursor)
		if err != nil {
			return "", 0, nil, err
		}
		if ok && integrity.InZone(row.State(), zone) {
			rows = append(rows, zoneRow{row: row, changes: kept})
		}
	}
	return zone, cursor, rows, nil
}

// handleBuckets is GET /buckets?zone=Z[&cursor=C] (§11): the zone's bucket checksums as a
// replica at C (default: the head) holds them.
func (h *Handler) handleBuckets(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "zone", "cursor")
	if err != nil {
		return err
	}
	zone, cursor, rows, err := h.zoneRowsAt(r, q)
	if err != nil {
		return err
	}
	states := make([]merge.State, len(rows))
	for i, zr := range rows {
		states[i] = zr.row.State()
	}
	return writeJSON(w, http.StatusOK, integrity.NewReport(zone, cursor, states))
}

// handleBucketRows is GET /buckets/{bucket}?zone=Z[&cursor=C] (§11): every row of one bucket
// of the zone with its logged history up to C, for a replica to replace its copies with.
func (h *Handler) handleBucketRows(w http.ResponseWriter, r *http.Request) error {
	bucket := chi.URLParam(r, "bucket")
	if !integrity.ValidBucket(bucket) {
		return domain.FieldErrorf("bucket", "bucket must be two lower-case hex digits")
	}
	q, err := query(r, "zone", "cursor")
	if err != nil {
		return err
	}
	zone, cursor, rows, err := h.zoneRowsAt(r, q)
	if err != nil {
		return err
	}
	out := integrity.BucketRows{Zone: zone, Bucket: bucket, Cursor: cursor, Rows: []integrity.Row{}}
	for _, zr := range rows {
		row := zr.row
		if integrity.BucketOf(row.Entity, row.ID) != bucket {
			continue
		}
		changes := make([]domain.Change, len(zr.changes))
		for i, c := range zr.changes {
			c.Patch, c.Base = maps.Clone(c.Patch), maps.Clone(c.Base)
			if c.Op == domain.OpDelete {
				c.Patch = nil // the wire format carries no delete patch
			}
			changes[i] = c
		}
		out.Rows = append(out.Rows, integrity.Row{Entity: row.Entity, ID: row.ID, Changes: changes})
	}
	bucketRowsServed.Add(float64(len(out.Rows)))
	return writeJSON(w, http.StatusOK, out)
}
