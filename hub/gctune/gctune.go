// Package gctune sets the garbage collector for the aiff processes (hub, edge, demo, seed).
//
// Sync ingest and catch-up allocate heavily for short lived values (decoded frames, merge
// rows, typed rows) while the live heap stays small, so Go's default GOGC=100 collects
// every few milliseconds: a quarter of the hub's CPU went to the collector during pushes.
// AIFF runs with GOGC=400 and a 1 GiB soft memory limit instead, unless the operator sets
// GOGC or GOMEMLIMIT, which always win. The memory limit keeps the larger GOGC from letting
// a big live heap grow fivefold: near the limit the collector runs as often as it must.
package gctune

import (
	"runtime/debug"
	"strings"
)

const (
	// DefaultPercent is the GOGC AIFF uses when GOGC is not set.
	DefaultPercent = 400
	// DefaultLimit is the soft memory limit in bytes AIFF uses when GOMEMLIMIT is not set.
	DefaultLimit = 1 << 30
)

// Apply sets the defaults for whatever of GOGC and GOMEMLIMIT getenv does not name (the Go
// runtime has read those already) and says what it set, for the start-up log.
func Apply(getenv func(string) string) string {
	var set []string
	if getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultPercent)
		set = append(set, "GOGC=400")
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(DefaultLimit)
		set = append(set, "GOMEMLIMIT=1GiB")
	}
	return strings.Join(set, " ")
}
