package wire

import "github.com/aiff/aiff/domain"

// CheckLogChanges validates and normalizes cs in place as changes of the hub's log, by the
// rules of a changes frame with cursor (seq > 0 and increasing, the last at or before cursor,
// valid ids, clocks, ops, fields and values): exactly what Marshal(&FrameChanges{Changes: cs,
// Cursor: cursor}) checks, without encoding them. For callers that hold the changes' JSON
// already (a snapshot reader checking rows it just decoded), where the encoding is waste.
func CheckLogChanges(cs []domain.Change, cursor int64) error {
	return (&FrameChanges{Changes: cs, Cursor: cursor}).check(nil)
}
