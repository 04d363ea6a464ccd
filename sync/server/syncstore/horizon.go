package syncstore

import (
	"context"
	"fmt"

	"github.com/aiff/aiff/domain"
)

// HorizonReader is a hub store that can tell how far compaction has folded the log, so the
// sync server can send a replica that missed folded history to a snapshot instead of letting
// it replay the compacted log (sync/PROTOCOL.md §9.5). Both adapters implement it; a store
// without it never sends replicas to a snapshot.
type HorizonReader interface {
	// DroppedThrough returns the highest seq compaction has dropped from the log (0: none).
	// A replica whose cursor is below it has missed changes that no longer exist.
	DroppedThrough(ctx context.Context) (int64, error)
}

// ProblemCursorBehindHorizon is the problem type slug of BehindHorizonError.
const ProblemCursorBehindHorizon = "cursor-behind-horizon"

// BehindHorizonError refuses a pull or stream from a cursor below the log's compacted part:
// the replica must re-bootstrap from GET /api/sync/snapshot (its unsynced local changes carried
// forward) and pull from the snapshot's cursor. It is a CodeConflict with its own problem type.
type BehindHorizonError struct {
	Cursor  int64 // the replica's cursor
	Dropped int64 // the highest seq compaction dropped
}

func (e *BehindHorizonError) Error() string {
	return fmt.Sprintf("cursor %d is behind the compacted history (through seq %d): re-bootstrap from a snapshot", e.Cursor, e.Dropped)
}

// ProblemSlug names the problem type (hub/http's problemSlugger).
func (e *BehindHorizonError) ProblemSlug() string { return ProblemCursorBehindHorizon }

// Unwrap makes the error a CodeConflict for domain.ErrorCode.
func (e *BehindHorizonError) Unwrap() error {
	return &domain.Error{Code: domain.CodeConflict, Field: "cursor", Message: e.Error()}
}
