//go:build race

package simulation

// raceEnabled: the race detector slows the stores and handlers several times over, so the
// default run shrinks to stay inside CI's time budget (flags set on the command line win).
const raceEnabled = true
