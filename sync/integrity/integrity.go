// Package integrity splits a zone's replicated state into buckets with a checksum each
// (sync/PROTOCOL.md §11), so that a replica can prove it matches the hub for its scope and,
// when it does not, repair only the buckets that differ instead of re-fetching the zone.
//
// A row's bucket is the first two hex digits of SHA-256("<entity>/<id>"): 256 buckets that
// spread rows evenly whatever their ids look like (ULIDs start with their time, so a prefix
// of the id itself would put a day's rows in one bucket). A bucket's checksum is
// merge.DigestStates over the visible states of its rows, so the buckets use exactly the
// digest's definition (§7) and a zone whose buckets all match has an equal digest.
package integrity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// Buckets is the number of buckets a zone is split into.
const Buckets = 256

// BucketOf returns the bucket of a row: two lower-case hex digits.
func BucketOf(entity domain.Entity, id string) string {
	h := sha256.Sum256([]byte(string(entity) + "/" + id))
	return hex.EncodeToString(h[:1])
}

// ValidBucket reports whether b names a bucket ("00" … "ff").
func ValidBucket(b string) bool {
	if len(b) != 2 {
		return false
	}
	for _, c := range []byte(b) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Sum is one bucket's checksum and row count.
type Sum struct {
	Sum  string `json:"sum"`
	Rows int    `json:"rows"`
}

// Sums returns the checksum of every non-empty bucket of states.
func Sums(states []merge.State) map[string]Sum {
	by := map[string][]merge.State{}
	for _, s := range states {
		b := BucketOf(s.Entity, s.ID)
		by[b] = append(by[b], s)
	}
	out := make(map[string]Sum, len(by))
	for b, ss := range by {
		out[b] = Sum{Sum: merge.DigestStates(ss), Rows: len(ss)}
	}
	return out
}

// Diff returns the buckets, sorted, whose checksums differ between a and b (present in one
// only, or with another sum).
func Diff(a, b map[string]Sum) []string {
	var out []string
	for k, sa := range a {
		if sb, ok := b[k]; !ok || sb != sa {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Report is the answer of GET /api/sync/buckets: a zone's buckets at a log position.
type Report struct {
	Zone string `json:"zone"`
	// Cursor is the log position the state was taken at.
	Cursor int64 `json:"cursor"`
	// Digest is the zone's digest (§7) at Cursor; Rows its row count.
	Digest  string         `json:"digest"`
	Rows    int            `json:"rows"`
	Buckets map[string]Sum `json:"buckets"`
}

// NewReport computes the report of states at cursor.
func NewReport(zone string, cursor int64, states []merge.State) Report {
	return Report{Zone: zone, Cursor: cursor, Digest: merge.DigestStates(states), Rows: len(states), Buckets: Sums(states)}
}

// Keys returns the buckets of r, sorted (for logs and tests).
func (r Report) Keys() []string { return slices.Sorted(maps.Keys(r.Buckets)) }

// Row is one row's logged history, as GET /api/sync/buckets/{bucket} sends it.
type Row struct {
	Entity  domain.Entity   `json:"entity"`
	ID      string          `json:"id"`
	Changes []domain.Change `json:"changes"`
}

// BucketRows is the answer of GET /api/sync/buckets/{bucket}: every row of one bucket of a
// zone with its history up to Cursor.
type BucketRows struct {
	Zone   string `json:"zone"`
	Bucket string `json:"bucket"`
	Cursor int64  `json:"cursor"`
	Rows   []Row  `json:"rows"`
}

// AtCursor cuts a row's logged changes (each with its seq) to those with seq <= cursor and
// replays them: the state a replica at cursor holds of the row. ok is false if no change is
// left. (merge.Row keeps no seqs, so the cut needs the logged changes themselves.)
func AtCursor(logged []domain.Change, cursor int64) (row merge.Row, kept []domain.Change, ok bool, err error) {
	for _, c := range logged {
		if c.Seq <= cursor {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return merge.Row{}, nil, false, nil
	}
	row, err = merge.Replay(kept)
	return row, kept, err == nil, err
}

// InZone reports whether a row's visible state places it in zone: a ticket's, team's or
// note's "zone" field, a zone's "name". Other entities are not part of a zone's buckets.
func InZone(s merge.State, zone string) bool {
	var f string
	switch s.Entity {
	case domain.EntityTicket, domain.EntityTeam, domain.EntityNote:
		f = "zone"
	case domain.EntityZone:
		f = "name"
	default:
		return false
	}
	v, ok := s.Fields[f]
	if !ok {
		return true // a tombstone folded to its delete keeps its place by the typed row
	}
	var z string
	return json.Unmarshal(v, &z) == nil && z == zone
}
