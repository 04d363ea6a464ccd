// Package snapshot is the stream a new or far-behind replica bootstraps from: the compacted
// rows of its scope at one hub cursor, after which it pulls the log from that cursor, instead
// of replaying the hub's history. sync/PROTOCOL.md ("Snapshots and compaction") specifies it.
//
// A stream is lines of JSON, each an envelope like the sync frames ({"v":1,"type":…,"data":…}):
// one header, then chunks of rows in (entity, id) order, then a trailer. Every chunk carries
// the running SHA-256 of the stream so far (a hash chain over the header line and the rows of
// each chunk), and the trailer the final one. A reader applies a chunk only once it has
// verified it, so a client cut off at any byte resumes from its last complete chunk: with an
// HTTP Range request from Checkpoint.Offset (Resume), or by asking the hub for the rows after
// Checkpoint.Last (a new stream whose header names that key). Decoding is strict: unknown
// fields, out-of-order rows, invalid changes, limits and checksum mismatches are errors, and
// nothing unverified is ever returned.
package snapshot

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/wire"
)

// Frame types of a snapshot stream.
const (
	TypeHeader  = "snapshot"
	TypeChunk   = "snapshot_chunk"
	TypeTrailer = "snapshot_end"
)

// Header opens a stream. Rows is the number of rows in this stream (after After).
type Header struct {
	// Zones is the scope, sorted, each once.
	Zones []string `json:"zones"`
	// Cursor is the hub log position the rows are consistent with: every change with a seq at
	// or before it, and none after, of every row in scope. The replica pulls from here.
	Cursor int64 `json:"cursor"`
	// Horizon is the compaction horizon the rows were folded with (merge.Version.HLC), "" if
	// they were not compacted. The hub refuses changes below it (sync/PROTOCOL.md).
	Horizon string `json:"horizon"`
	// Rows counts the rows of this stream.
	Rows int64 `json:"rows"`
	// After is the key ("entity/id") this stream resumes after, "" for a whole snapshot: only
	// rows after it follow.
	After string `json:"after"`
}

// Row is one row of the snapshot: its changes from the hub's log (compacted), in seq order.
// The row's state is merge.Replay(Changes).
type Row struct {
	Entity  domain.Entity   `json:"entity"`
	ID      string          `json:"id"`
	Changes []domain.Change `json:"changes"`
}

// Key returns the row's key.
func (r Row) Key() Key { return Key{Entity: r.Entity, ID: r.ID} }

// Key identifies a row. Rows are ordered by entity, then id, byte-wise, as digests are.
type Key struct {
	Entity domain.Entity
	ID     string
}

// String is the key's text form, "entity/id" (the id may itself contain "/").
func (k Key) String() string { return string(k.Entity) + "/" + k.ID }

// IsZero reports whether k is the zero key (before every row).
func (k Key) IsZero() bool { return k == Key{} }

// Compare orders keys by entity, then id.
func (k Key) Compare(o Key) int {
	return cmp.Or(strings.Compare(string(k.Entity), string(o.Entity)), strings.Compare(k.ID, o.ID))
}

// ParseKey reads "entity/id"; the empty string is the zero key. Returns CodeInvalid for an
// unknown entity or an invalid id.
func ParseKey(s string) (Key, error) {
	if s == "" {
		return Key{}, nil
	}
	e, id, ok := strings.Cut(s, "/")
	k := Key{Entity: domain.Entity(e), ID: id}
	if !ok || !knownEntity(k.Entity) || !validText(id, 1, 128) {
		return Key{}, domain.FieldErrorf("after", "invalid row key %q", truncate(s, 80))
	}
	return k, nil
}

func knownEntity(e domain.Entity) bool {
	switch e {
	case domain.EntityTicket, domain.EntityTeam, domain.EntityUser, domain.EntityZone, domain.EntityNote:
		return true
	}
	return false
}

// Limits bound what a Reader accepts (and what a Writer produces). Zero fields take defaults.
type Limits struct {
	MaxLineBytes  int64 // bytes of one line (header, chunk or trailer); default 8 MiB
	MaxChunkRows  int   // rows in one chunk; default 1000
	MaxRowChanges int   // changes in one row; default 1000
	MaxRows       int64 // rows in one stream; default 50 million
}

// DefaultLimits are used for zero Limits fields.
var DefaultLimits = Limits{MaxLineBytes: 8 << 20, MaxChunkRows: 1000, MaxRowChanges: 1000, MaxRows: 50_000_000}

func (l Limits) withDefaults() Limits {
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = DefaultLimits.MaxLineBytes
	}
	if l.MaxChunkRows <= 0 {
		l.MaxChunkRows = DefaultLimits.MaxChunkRows
	}
	if l.MaxRowChanges <= 0 {
		l.MaxRowChanges = DefaultLimits.MaxRowChanges
	}
	if l.MaxRows <= 0 {
		l.MaxRows = DefaultLimits.MaxRows
	}
	return l
}

// ErrTruncated is returned (wrapped) when a stream ends before its trailer: the connection
// was cut. Resume from the Reader's Checkpoint.
var ErrTruncated = errors.New("snapshot stream truncated")

// ChecksumError reports a line whose checksum does not match the bytes received: the stream
// was corrupted (or is not the stream a checkpoint came from). Nothing of the line was
// returned; resume from the Reader's Checkpoint, or start over if the header was damaged.
type ChecksumError struct {
	Line   string // "header", "chunk" or "trailer"
	Chunk  int    // index of the chunk (for a chunk)
	Offset int64  // byte offset of the line in the stream
}

func (e *ChecksumError) Error() string {
	if e.Line == "chunk" {
		return fmt.Sprintf("snapshot chunk %d at byte %d: checksum mismatch", e.Chunk, e.Offset)
	}
	return fmt.Sprintf("snapshot %s at byte %d: checksum mismatch", e.Line, e.Offset)
}

// checkHeader validates h, returning CodeInvalid naming the field.
func checkHeader(h Header, lim Limits) error {
	if len(h.Zones) == 0 {
		return domain.FieldErrorf("zones", "a snapshot needs at least one zone")
	}
	for i, z := range h.Zones {
		if !validText(z, 1, 400) || len([]rune(z)) > 100 {
			return domain.FieldErrorf("zones", "invalid zone name")
		}
		if i > 0 && h.Zones[i-1] >= z {
			return domain.FieldErrorf("zones", "zones must be sorted and distinct")
		}
	}
	if h.Cursor < 0 {
		return domain.FieldErrorf("cursor", "cursor must not be negative")
	}
	if _, err := merge.ParseHorizon(h.Horizon); err != nil {
		return err
	}
	if h.Rows < 0 || h.Rows > lim.MaxRows {
		return domain.FieldErrorf("rows", "rows must be between 0 and %d", lim.MaxRows)
	}
	_, err := ParseKey(h.After)
	return err
}

// checkRow validates and normalizes r as the row after prev in a stream with header h: a
// known entity and valid id, after prev, 1..MaxRowChanges changes all of this row, each a
// valid change of the hub's log (sync/wire rules) with a seq at or before h.Cursor, in
// increasing seq order, within the wire limits on patches.
func checkRow(r *Row, prev Key, h Header, lim Limits) error {
	k := r.Key()
	if !knownEntity(k.Entity) || !validText(k.ID, 1, 128) {
		return domain.FieldErrorf("rows", "invalid row key %q", truncate(k.String(), 80))
	}
	if k.Compare(prev) <= 0 {
		return domain.FieldErrorf("rows", "row %s is not after %s", truncate(k.String(), 80), truncate(prev.String(), 80))
	}
	if len(r.Changes) == 0 {
		return domain.FieldErrorf("rows", "row %s has no changes", truncate(k.String(), 80))
	}
	if len(r.Changes) > lim.MaxRowChanges {
		return domain.Errorf(domain.CodeTooLarge, "row %s has more than %d changes", truncate(k.String(), 80), lim.MaxRowChanges)
	}
	wl := wire.DefaultLimits
	for _, c := range r.Changes {
		if c.Entity != k.Entity || c.EntityID != k.ID {
			return domain.FieldErrorf("rows", "change %s is not of row %s", truncate(c.ID, 40), truncate(k.String(), 80))
		}
		if len(c.Patch) > wl.MaxPatchFields || len(c.Base) > wl.MaxPatchFields+1 {
			return domain.Errorf(domain.CodeTooLarge, "change %s has more than %d fields", truncate(c.ID, 40), wl.MaxPatchFields)
		}
		for _, v := range c.Patch {
			if len(v) > wl.MaxValueBytes {
				return domain.Errorf(domain.CodeTooLarge, "a value of change %s is larger than %d bytes", truncate(c.ID, 40), wl.MaxValueBytes)
			}
		}
	}
	// The wire rules for changes from the hub's log: seq > 0 and increasing, the last at or
	// before the cursor, valid ids, clocks, ops and fields. CheckLogChanges validates and
	// normalizes the changes in place (what wire.Marshal checks, without encoding them).
	if err := wire.CheckLogChanges(r.Changes, h.Cursor); err != nil {
		var de *domain.Error
		if errors.As(err, &de) {
			return de
		}
		return domain.FieldErrorf("rows", "row %s has invalid changes", truncate(k.String(), 80))
	}
	return nil
}

// Rows builds the rows of a snapshot from changes read from the hub's log (every change of
// every row in scope up to the snapshot's cursor, in any order): grouped by row, compacted at
// horizon (merge.Compact; the zero horizon keeps everything), each row's changes in seq
// order, rows in key order. Errors are merge.Compact's.
func Rows(log []domain.Change, horizon merge.Version) ([]Row, error) {
	groups := map[Key][]domain.Change{}
	for _, c := range log {
		k := Key{Entity: c.Entity, ID: c.EntityID}
		groups[k] = append(groups[k], c)
	}
	rows := make([]Row, 0, len(groups))
	for k, cs := range groups {
		res, err := merge.Compact(cs, horizon)
		if err != nil {
			return nil, fmt.Errorf("compact %s: %w", k, err)
		}
		slices.SortFunc(res.Changes, func(a, b domain.Change) int { return cmp.Compare(a.Seq, b.Seq) })
		rows = append(rows, Row{Entity: k.Entity, ID: k.ID, Changes: res.Changes})
	}
	slices.SortFunc(rows, func(a, b Row) int { return a.Key().Compare(b.Key()) })
	return rows, nil
}

// validText requires s to be valid UTF-8 without control characters, of min..max bytes.
func validText(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
