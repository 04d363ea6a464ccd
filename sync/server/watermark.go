package server

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// DefaultReplicaHorizon is how long a replica may stay silent and still hold deleted rows'
// tombstones back (AIFF_SYNC_REPLICA_HORIZON): after it, the replica is marked stale and must
// re-bootstrap from a snapshot (sync/PROTOCOL.md §9.6).
const DefaultReplicaHorizon = 90 * 24 * time.Hour

// watermarkRefresh is how often an unchanged cursor is written again to keep a replica's
// seen_at fresh; an advancing cursor is written at once.
const watermarkRefresh = time.Minute

// watermarks remembers the last cursor written per node, so that a replica pulling or acking
// the same position again does not cost a write transaction each time.
type watermarks struct {
	mu   sync.Mutex
	last map[string]watermarkSeen
}

type watermarkSeen struct {
	cursor int64
	at     time.Time
}

// noteCursor records that p (a replica with a node id) holds everything up to cursor: the
// cursor of a pull, of a stream's start, or of a stream ack. It refuses a stale replica
// (*syncstore.BehindHorizonError: re-bootstrap). Callers without a node id, and stores
// without watermarks, are not tracked.
func (h *Handler) noteCursor(ctx context.Context, p domain.Principal, sc readScope, cursor int64) error {
	wm, ok := h.Store.(syncstore.Watermarks)
	if !ok || p.Node == "" {
		return nil
	}
	now := h.Now()
	h.marks.mu.Lock()
	prev, seen := h.marks.last[p.Node]
	h.marks.mu.Unlock()
	if seen && cursor <= prev.cursor && now.Sub(prev.at) < watermarkRefresh {
		return nil
	}
	if _, err := wm.RecordCursor(ctx, p.Node, sc.zones, cursor); err != nil {
		if domain.ErrorCode(err) == domain.CodeConflict {
			replicasRefused.Inc()
		}
		return err
	}
	h.marks.mu.Lock()
	if h.marks.last == nil {
		h.marks.last = map[string]watermarkSeen{}
	}
	h.marks.last[p.Node] = watermarkSeen{cursor: max(cursor, prev.cursor), at: now}
	h.marks.mu.Unlock()
	return nil
}

// rebootstrapped tells the store that p is loading a fresh snapshot at cursor: a stale replica
// becomes live again with that cursor as its floor.
func (h *Handler) rebootstrapped(ctx context.Context, p domain.Principal, sc readScope, cursor int64) error {
	wm, ok := h.Store.(syncstore.Watermarks)
	if !ok || p.Node == "" {
		return nil
	}
	h.marks.mu.Lock()
	delete(h.marks.last, p.Node)
	h.marks.mu.Unlock()
	return wm.Rebootstrapped(ctx, p.Node, sc.zones, cursor)
}

// collectTombstones runs the tombstone collector after a compaction, when the store has
// watermarks (a zero horizon: DefaultReplicaHorizon).
func (c *Compaction) collectTombstones(ctx context.Context, now time.Time) (syncstore.TombstoneStats, error) {
	wm, ok := c.Store.(syncstore.Watermarks)
	if !ok {
		return syncstore.TombstoneStats{}, nil
	}
	horizon := c.ReplicaHorizon
	if horizon <= 0 {
		horizon = DefaultReplicaHorizon
	}
	st, err := wm.CollectTombstones(ctx, now.Add(-horizon))
	if err == nil {
		tombstonesPurged.Add(float64(st.Purged))
		replicasStale.Add(float64(len(st.Stale)))
	}
	return st, err
}

// Watermark metrics.
var (
	tombstonesPurged = promauto.NewCounter(prometheus.CounterOpts{
		Name: "aiff_sync_tombstones_purged_total", Help: "Deleted rows purged from the log once every replica holding them acknowledged the delete.",
	})
	replicasStale = promauto.NewCounter(prometheus.CounterOpts{
		Name: "aiff_sync_replicas_stale_total", Help: "Replicas marked stale (silent past the replica horizon; must re-bootstrap).",
	})
	replicasRefused = promauto.NewCounter(prometheus.CounterOpts{
		Name: "aiff_sync_replica_rebootstrap_refusals_total", Help: "Pulls and streams refused because the replica must re-bootstrap.",
	})
)

// bucketRowsServed counts rows sent to replicas repairing a bucket (integrity.go).
var bucketRowsServed = promauto.NewCounter(prometheus.CounterOpts{
	Name: "aiff_sync_integrity_rows_served_total", Help: "Rows sent to replicas repairing a mismatched integrity bucket.",
})
