package domain

import (
	"io"

	"github.com/oklog/ulid/v2"
)

// SetIDEntropy makes NewID draw the random part of every later ID from r (through the same
// monotonic reader as the default) and returns a function that restores the previous source.
// It exists for deterministic simulations (sync/simulation), where one seed must give the same
// IDs, hence the same tie-breaks and the same trace, on every run. It affects the whole
// process: callers must not run concurrently with other users of NewID that care about
// randomness, and must call restore when done.
func SetIDEntropy(r io.Reader) (restore func()) {
	idMu.Lock()
	defer idMu.Unlock()
	prev := idEntropy
	idEntropy = ulid.Monotonic(r, 0)
	return func() {
		idMu.Lock()
		defer idMu.Unlock()
		idEntropy = prev
	}
}
