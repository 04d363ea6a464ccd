package domain

import (
	"crypto/rand"
	"io"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// IDs are ULIDs in their canonical 26-character Crockford base32 text form. They sort by the
// millisecond they were made at, which keeps B-tree inserts local and lets a change log be read
// in creation order at its origin.

var (
	idMu      sync.Mutex
	idEntropy io.Reader = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a new ULID for time t. IDs made by one process are strictly increasing, even
// within one millisecond (monotonic entropy), which the sync outbox relies on.
func NewID(t time.Time) string {
	idMu.Lock()
	defer idMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(t), idEntropy).String()
}

// ValidID reports whether s is a canonical ULID.
func ValidID(s string) bool {
	if len(s) != ulid.EncodedSize {
		return false
	}
	id, err := ulid.ParseStrict(s)
	return err == nil && id.String() == s
}

// IDTime returns the time encoded in a valid ULID.
func IDTime(s string) (time.Time, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil {
		return time.Time{}, FieldErrorf("id", "invalid ulid %q", s)
	}
	return ulid.Time(id.Time()).UTC(), nil
}
