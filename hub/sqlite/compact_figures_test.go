package sqlite_test

import (
	"os"
	"testing"
	"time"

	"github.com/aiff/aiff/hub/storetest"
)

// TestCompactFigures measures compaction for BENCHMARKS.md; set AIFF_COMPACT_FIGURES=1.
func TestCompactFigures(t *testing.T) {
	if os.Getenv("AIFF_COMPACT_FIGURES") == "" {
		t.Skip("set AIFF_COMPACT_FIGURES=1 to measure compaction")
	}
	storetest.CompactFigures(t, func(t *testing.T) storetest.SyncStore {
		return storetest.OpenSQLiteClock(t, time.Now, nil)
	}, 2000, 20000)
}
