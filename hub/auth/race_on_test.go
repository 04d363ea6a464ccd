//go:build race

package auth_test

// raceEnabled: the race detector is on, and instrumented code runs several times slower.
const raceEnabled = true
