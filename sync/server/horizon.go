package server

import (
	"context"
	"net/http"

	"github.com/aiff/aiff/sync/server/syncstore"
)

// BootstrapHeader is the request header a replica sends on pull and stream when it can
// bootstrap from a snapshot (value "snapshot"). Only then does the hub refuse a cursor below
// the compacted history (sync/PROTOCOL.md §9.5); a replica without it pulls through the
// compacted log, which converges too (§9.3).
const BootstrapHeader = "AIFF-Bootstrap"

type bootstrapKey struct{}

// withBootstrap notes in r's context whether the caller can bootstrap from a snapshot.
func withBootstrap(r *http.Request) *http.Request {
	if r.Header.Get(BootstrapHeader) != "snapshot" {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), bootstrapKey{}, true))
}

// checkHorizon refuses a pull or stream from a cursor below the highest seq compaction has
// dropped, for a caller that can bootstrap (BootstrapHeader): it has missed changes the log
// no longer holds and re-bootstraps from a snapshot, carrying its unsynced edits forward,
// instead of replaying the compacted history. Cursor 0 is never refused (a new replica
// decides itself). A store without syncstore.HorizonReader refuses nothing.
func (h *Handler) checkHorizon(ctx context.Context, cursor int64) error {
	hr, ok := h.Store.(syncstore.HorizonReader)
	if !ok || cursor <= 0 || ctx.Value(bootstrapKey{}) == nil {
		return nil
	}
	dropped, err := hr.DroppedThrough(ctx)
	if err != nil {
		return err
	}
	if cursor < dropped {
		return &syncstore.BehindHorizonError{Cursor: cursor, Dropped: dropped}
	}
	return nil
}
