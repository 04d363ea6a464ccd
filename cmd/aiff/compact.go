package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	syncserver "github.com/aiff/aiff/sync/server"
	"github.com/aiff/aiff/sync/server/syncstore"
)

// runCompact compacts the hub's change log once (sync/PROTOCOL.md §9): history older than the
// retention window is folded, and from then on edits older than it are refused.
//
//	aiff compact [--retention 720h] [--db URL] [--data DIR]
func runCompact(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f dbFlags
	f.register(fs, getenv)
	def, err := retentionEnv(getenv)
	if err != nil {
		return err
	}
	retention := fs.Duration("retention", def, "keep this much history unfolded; older edits are refused afterwards (env AIFF_SYNC_RETENTION)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *retention < syncserver.MinRetention {
		return fmt.Errorf("--retention must be at least %s", syncserver.MinRetention)
	}
	store, err := f.open(ctx, newLogger(getenv, io.Discard))
	if err != nil {
		return err
	}
	defer store.Close()
	c, ok := store.(syncstore.Compactor)
	if !ok {
		return errors.New("this store does not compact its change log")
	}
	st, err := (&syncserver.Compaction{Store: c}).Once(ctx, *retention)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	fmt.Fprintf(stdout, "compacted the change log at horizon %s: %d rows examined, %d compacted, %d changes dropped, %d trimmed in %d ms\n",
		st.Horizon, st.Rows, st.Compacted, st.Dropped, st.Trimmed, st.Millis)
	return nil
}

// retentionEnv reads AIFF_SYNC_RETENTION (a Go duration; default 30 days).
func retentionEnv(getenv func(string) string) (time.Duration, error) {
	return durationEnv(getenv, "AIFF_SYNC_RETENTION", syncserver.DefaultRetention)
}

// durationEnv reads a Go duration from the environment, def when unset.
func durationEnv(getenv func(string) string, key string, def time.Duration) (time.Duration, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: want a duration such as 720h, got %q", key, v)
	}
	return d, nil
}

// hubCompaction is the hub's background compaction job: every AIFF_SYNC_COMPACT_INTERVAL
// (default 6h; 0 disables it) with AIFF_SYNC_RETENTION (default 30 days). Nil when the store
// does not compact.
func hubCompaction(store hubStore, getenv func(string) string) (*syncserver.Compaction, error) {
	c, ok := store.(syncstore.Compactor)
	if !ok {
		return nil, nil
	}
	retention, err := retentionEnv(getenv)
	if err != nil {
		return nil, err
	}
	if retention < syncserver.MinRetention {
		return nil, fmt.Errorf("AIFF_SYNC_RETENTION must be at least %s", syncserver.MinRetention)
	}
	interval, err := durationEnv(getenv, "AIFF_SYNC_COMPACT_INTERVAL", 6*time.Hour)
	if err != nil {
		return nil, err
	}
	// A replica silent for longer stops holding deleted rows' tombstones back and must
	// re-bootstrap (sync/PROTOCOL.md §9.6).
	replicaHorizon, err := durationEnv(getenv, "AIFF_SYNC_REPLICA_HORIZON", syncserver.DefaultReplicaHorizon)
	if err != nil {
		return nil, err
	}
	return &syncserver.Compaction{Store: c, Retention: retention, Interval: interval, ReplicaHorizon: replicaHorizon}, nil
}
