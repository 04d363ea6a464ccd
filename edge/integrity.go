package edge

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/sync/client"
	"github.com/aiff/aiff/sync/integrity"
)

// DefaultIntegrityInterval is how often a ready edge compares its zones with the hub.
const DefaultIntegrityInterval = 10 * time.Minute

// DefaultQuietWait is how long a due check waits for sync to settle (Integrity.Busy).
const DefaultQuietWait = time.Minute

// Integrity proves, zone by zone, that the edge holds what the hub holds for its scope, and
// repairs what differs (sync/PROTOCOL.md §11): it compares the zone's bucket checksums with
// the hub's at the edge's own cursor, and for each bucket that differs fetches the hub's
// rows of that bucket with their histories and replaces the edge's copies in one
// transaction. Only the damaged buckets travel. A zone with unsynced local changes is not
// compared (its rows differ from the hub's on purpose until they are pushed).
type Integrity struct {
	Store  *sqlite.Store
	Client *client.Client
	Logger *slog.Logger
	// Interval between checks once ready (default DefaultIntegrityInterval).
	Interval time.Duration
	// Ready reports whether the replica has caught up (the stream's ready); checks wait for
	// it, since a replica crossing compacted history may hold states the hub never had.
	Ready func() bool
	// Busy reports whether sync is still moving the replica: changes waiting to be pushed,
	// or the hub's log ahead of the replica's cursor (nil: never). A due check waits, up to
	// QuietWait, until it is not: an edge back from an outage would otherwise compare its
	// zones, and have the hub compute their checksums, in the middle of its catch-up, which
	// both slows the catch-up and checks a zone mid-way.
	Busy func(ctx context.Context) bool
	// QuietWait bounds that wait (default DefaultQuietWait), so that an edge that is never
	// idle is still checked.
	QuietWait time.Duration
	// Poll is how often a waiting check looks again (default 1 s).
	Poll time.Duration

	checks  prometheus.Counter
	repairs *prometheus.CounterVec
}

// NewIntegrity returns a checker with its metrics (register Collectors).
func NewIntegrity(store *sqlite.Store, c *client.Client) *Integrity {
	return &Integrity{
		Store: store, Client: c,
		checks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aiff_edge_integrity_checks_total", Help: "Zone integrity checks against the hub (bucket checksums compared).",
		}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aiff_edge_integrity_repairs_total", Help: "Buckets of a zone found different from the hub and replaced with the hub's rows.",
		}, []string{"zone"}),
	}
}

// Collectors returns the checker's metrics.
func (in *Integrity) Collectors() []prometheus.Collector {
	return []prometheus.Collector{in.checks, in.repairs}
}

// ZoneResult is one zone's check.
type ZoneResult struct {
	Zone   string `json:"zone"`
	Cursor int64  `json:"cursor"`
	// Skipped says why the zone was not compared ("" if it was).
	Skipped string `json:"skipped,omitempty"`
	// Mismatched are the buckets that differed; Repaired those replaced from the hub.
	Mismatched []string `json:"mismatched,omitempty"`
	Repaired   []string `json:"repaired,omitempty"`
	// Rows rewritten and removed by the repair.
	Replaced int `json:"replaced,omitempty"`
	Removed  int `json:"removed,omitempty"`
}

// Check compares every zone of the edge's scope with the hub and repairs mismatched buckets.
func (in *Integrity) Check(ctx context.Context) ([]ZoneResult, error) {
	zones, err := in.Store.Scope(ctx)
	if err != nil {
		return nil, err
	}
	var out []ZoneResult
	for _, z := range zones {
		r, err := in.checkZone(ctx, z)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (in *Integrity) checkZone(ctx context.Context, zone string) (ZoneResult, error) {
	res := ZoneResult{Zone: zone}
	view, err := in.Store.Integrity(ctx, zone)
	if err != nil {
		return res, err
	}
	res.Cursor = view.Cursor
	if view.Pending > 0 {
		res.Skipped = "unsynced local changes"
		return res, nil
	}
	hub, err := in.Client.Buckets(ctx, zone, view.Cursor)
	if err != nil {
		return res, err
	}
	in.checks.Inc()
	res.Mismatched = integrity.Diff(hub.Buckets, view.Report().Buckets)
	for _, b := range res.Mismatched {
		rows, err := in.Client.BucketRows(ctx, zone, b, view.Cursor)
		if err != nil {
			return res, err
		}
		rr, err := in.Store.ReplaceBucket(ctx, zone, b, view.Cursor, rows.Rows)
		if err != nil {
			return res, err
		}
		if rr.Moved {
			res.Skipped = "the cursor moved during the repair; compare again"
			break
		}
		res.Repaired = append(res.Repaired, b)
		res.Replaced += rr.Replaced
		res.Removed += rr.Removed
		in.repairs.WithLabelValues(zone).Inc()
	}
	if len(res.Mismatched) > 0 {
		in.logger().Warn("integrity check found the zone different from the hub", "zone", zone, "cursor", view.Cursor,
			"mismatched", res.Mismatched, "repaired", res.Repaired, "replaced", res.Replaced, "removed", res.Removed)
	}
	return res, nil
}

// settle waits, polling, while Busy says sync is moving the replica, for at most QuietWait.
// It returns false if ctx ended.
func (in *Integrity) settle(ctx context.Context, poll <-chan time.Time) bool {
	if in.Busy == nil {
		return true
	}
	deadline := time.Now().Add(cmp.Or(in.QuietWait, DefaultQuietWait))
	for in.Busy(ctx) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return false
		case <-poll:
		}
	}
	return ctx.Err() == nil
}

func (in *Integrity) logger() *slog.Logger {
	if in.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Logger
}

// Run checks once the replica is first ready and then every Interval while it is ready,
// until ctx ends. A failed check is logged and tried again at the next tick.
func (in *Integrity) Run(ctx context.Context) {
	interval := in.Interval
	if interval <= 0 {
		interval = DefaultIntegrityInterval
	}
	ready := in.Ready
	if ready == nil {
		ready = func() bool { return true }
	}
	// Wait for the first ready, polling: the syncer has no ready notification.
	poll := time.NewTicker(cmp.Or(in.Poll, time.Second))
	defer poll.Stop()
	for !ready() {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if ready() && in.settle(ctx, poll.C) && ready() {
			if _, err := in.Check(ctx); err != nil && ctx.Err() == nil {
				in.logger().Error("integrity check", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
