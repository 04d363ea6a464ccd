package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// DefaultRetention is how much history the hub keeps uncompacted: edges and devices offline
// for longer get their older edits refused (sync/PROTOCOL.md §9.1).
const DefaultRetention = 30 * 24 * time.Hour

// MinRetention is the shortest retention accepted: a horizon close to now would refuse the
// edits of every replica whose clock lags a little.
const MinRetention = time.Hour

// Compaction runs log compaction on the hub store: every Interval while Run is running (the
// Handler runs it when set), and on demand (Once; POST /api/sync/compact). Runs never
// overlap. Set the exported fields before use.
type Compaction struct {
	Store syncstore.Compactor
	// Retention is how far behind now the horizon is set (default DefaultRetention).
	Retention time.Duration
	// Interval between runs of Run (0: Run does nothing; compaction only on demand).
	Interval time.Duration
	// Duty is the share of its running time a background run (Run) works, idling between
	// batches so ingest keeps the writer and the CPU (default 0.1; 1 runs flat out). Once,
	// the endpoint's and the command's run, is not paced.
	Duty float64
	// ReplicaHorizon is how long a replica may be silent and still hold tombstones back
	// (default DefaultReplicaHorizon); each run also collects the tombstones every live
	// replica holding them has acknowledged (watermark.go).
	ReplicaHorizon time.Duration
	// Now is the clock the horizon is taken from (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger

	mu sync.Mutex // one run at a time
}

// Once compacts with the horizon now minus retention (0: c.Retention). Returns CodeInvalid
// for a retention below MinRetention.
func (c *Compaction) Once(ctx context.Context, retention time.Duration) (syncstore.CompactStats, error) {
	if retention == 0 {
		retention = c.Retention
	}
	if retention == 0 {
		retention = DefaultRetention
	}
	if retention < MinRetention {
		return syncstore.CompactStats{}, domain.FieldErrorf("retention", "retention must be at least %s", MinRetention)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.Store.Compact(ctx, now().Add(-retention))
	if err == nil {
		st.Tombstones, err = c.collectTombstones(ctx, now())
	}
	if err == nil {
		compactRuns.WithLabelValues("ok").Inc()
		compactDropped.Add(float64(st.Dropped))
	} else {
		compactRuns.WithLabelValues("error").Inc()
	}
	return st, err
}

// Run compacts every Interval until ctx ends (the first run one Interval after the start, so a
// restarting hub does not compact at once). A failed run is logged and retried at the next
// tick.
func (c *Compaction) Run(ctx context.Context) {
	if c.Interval <= 0 {
		return
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		duty := c.Duty
		if duty <= 0 {
			duty = 0.1
		}
		st, err := c.Once(syncstore.WithDuty(ctx, duty), 0)
		if err != nil {
			if ctx.Err() == nil {
				logger.Error("compact the change log", logKeyError, err)
			}
			continue
		}
		logger.Info("compacted the change log", "horizon", st.Horizon, "rows", st.Rows, "dropped", st.Dropped,
			"trimmed", st.Trimmed, "millis", st.Millis)
	}
}

// compaction returns the handler's Compaction, or one on demand only when the store can
// compact; nil if it cannot.
func (h *Handler) compaction() *Compaction {
	if h.Compaction != nil {
		return h.Compaction
	}
	if c, ok := h.Store.(syncstore.Compactor); ok {
		h.compactOnce.Do(func() { h.defaultCompaction = &Compaction{Store: c, Now: h.Now, Logger: h.Logger} })
		return h.defaultCompaction
	}
	return nil
}

// handleCompact is POST /compact?retention=720h (admin): one compaction run now.
func (h *Handler) handleCompact(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireRole(r, domain.RoleAdmin); err != nil {
		return err
	}
	q, err := query(r, "retention")
	if err != nil {
		return err
	}
	var retention time.Duration
	if s := q.Get("retention"); s != "" {
		if retention, err = time.ParseDuration(s); err != nil || retention <= 0 {
			return domain.FieldErrorf("retention", "retention must be a positive duration such as 720h")
		}
	}
	c := h.compaction()
	if c == nil {
		return domain.Errorf(domain.CodeNotFound, "this hub store does not compact its log")
	}
	st, err := c.Once(r.Context(), retention)
	if err != nil {
		return err
	}
	h.Logger.Info("compacted the change log on request", "horizon", st.Horizon, "dropped", st.Dropped, "trimmed", st.Trimmed)
	return writeJSON(w, http.StatusOK, st)
}

// Compaction and snapshot metrics.
var (
	compactRuns = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "aiff_sync_compactions_total", Help: "Log compaction runs by outcome (ok, error).",
	}, []string{"outcome"})
	compactDropped = promauto.NewCounter(prometheus.CounterOpts{
		Name: "aiff_sync_compacted_changes_total", Help: "Changes dropped from the log by compaction.",
	})
	snapshotRows = promauto.NewCounter(prometheus.CounterOpts{
		Name: "aiff_sync_snapshot_rows_total", Help: "Rows sent in snapshot streams.",
	})
)
