package gctune

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	env := map[string]string{}
	if got := Apply(func(k string) string { return env[k] }); got != "GOGC=400 GOMEMLIMIT=1GiB" {
		t.Errorf("Apply with nothing set = %q", got)
	}
	if p := debug.SetGCPercent(100); p != DefaultPercent {
		t.Errorf("GC percent %d, want %d", p, DefaultPercent)
	}
	if l := debug.SetMemoryLimit(-1); l != DefaultLimit {
		t.Errorf("memory limit %d, want %d", l, DefaultLimit)
	}

	// The operator's settings win: Apply leaves what the runtime read from them alone.
	debug.SetGCPercent(50)
	debug.SetMemoryLimit(123 << 20)
	env = map[string]string{"GOGC": "50", "GOMEMLIMIT": "123MiB"}
	if got := Apply(func(k string) string { return env[k] }); got != "" {
		t.Errorf("Apply with both set = %q, want nothing", got)
	}
	if p := debug.SetGCPercent(100); p != 50 {
		t.Errorf("GC percent %d, want the operator's 50", p)
	}
	if l := debug.SetMemoryLimit(-1); l != 123<<20 {
		t.Errorf("memory limit %d, want the operator's", l)
	}
}
