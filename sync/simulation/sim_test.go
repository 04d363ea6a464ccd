package simulation

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"
)

var (
	flagSeed   = flag.Uint64("sim.seed", 0, "run only this seed (0: run -sim.seeds seeds from -sim.first)")
	flagSeeds  = flag.Int("sim.seeds", 20, "how many seeds to run")
	flagFirst  = flag.Uint64("sim.first", 1, "first seed of the range")
	flagSteps  = flag.Int("sim.steps", 300, "workload and nemesis steps per seed")
	flagEdges  = flag.Int("sim.edges", 3, "edge nodes")
	flagTrace  = flag.Bool("sim.trace", false, "log every step (with -v)")
	flagStrict = flag.Bool("sim.strict", false, "fail on known bugs of the code under test too")
)

// TestSimulation runs the seeded simulation: by default 20 seeds of 300 steps each.
func TestSimulation(t *testing.T) {
	seeds := make([]uint64, 0, *flagSeeds)
	if *flagSeed != 0 {
		seeds = append(seeds, *flagSeed)
	} else {
		for i := range *flagSeeds {
			seeds = append(seeds, *flagFirst+uint64(i))
		}
	}
	if testing.Short() && *flagSeed == 0 {
		seeds = seeds[:min(len(seeds), 3)]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runSeed(t, seed, *flagSteps)
		})
	}
}

func runSeed(t *testing.T, seed uint64, steps int) Report {
	t.Helper()
	cfg := Config{Seed: seed, Steps: steps, Edges: *flagEdges, Dir: simDir(t), Strict: *flagStrict}
	if *flagTrace {
		cfg.Trace = func(line string) { t.Log(line) }
	}
	start := time.Now()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		var v *Violation
		kind := "run failed"
		if errors.As(err, &v) {
			kind = "invariant broken"
		}
		t.Fatalf("%s; reproduce with: go test ./sync/simulation -run 'TestSimulation' -sim.seed=%d -sim.steps=%d -v -sim.trace\n%v",
			kind, seed, steps, err)
	}
	t.Logf("%s (%s)", rep, time.Since(start).Round(time.Millisecond))
	return rep
}

// simDir returns an empty directory for one run's databases, removed when t ends. It is not
// t.TempDir(): that is named after the test, and a fuzz input's name holds '#', which the
// SQLite stores pass unescaped into a file: URI, so every store of the run would open one
// shared file in the temp root (see TestStorePathWithHash).
func simDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "aiff-sim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// FuzzSimulation lets the fuzzer pick the seed and the length of a run.
func FuzzSimulation(f *testing.F) {
	f.Add(uint64(1), uint16(50))
	f.Add(uint64(7), uint16(120))
	f.Fuzz(func(t *testing.T, seed uint64, steps uint16) {
		runSeed(t, seed, 20+int(steps%400))
	})
}
