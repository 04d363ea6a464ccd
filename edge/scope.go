package edge

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/edge/sqlite"
	"github.com/aiff/aiff/sync/client"
)

// scoper keeps the node's replica to its scope (client.Scoper): it learns the zones from the
// hub at every (re)connect, fetches the history of rows that enter, drops rows that leave,
// and wipes the replica when the hub revokes the credential.
type scoper struct{ n *Node }

var _ client.Scoper = scoper{}

// rowsPerRequest bounds one POST /api/sync/rows.
const rowsPerRequest = 1000

// SyncScope asks the hub for the scope; zones added since the last time come in with their
// rows' whole histories (only those zones: no full refetch), rows of removed zones go.
func (sc scoper) SyncScope(ctx context.Context, c *client.Client) error {
	s, err := c.Scope(ctx)
	if err != nil {
		return err
	}
	if s.Zones == nil {
		return nil // not an edge credential: nothing to keep
	}
	st := sc.n.Store
	old, err := st.Scope(ctx)
	if err != nil {
		return err
	}
	cursor, err := st.Cursor(ctx)
	if err != nil {
		return err
	}
	var added []string
	if old != nil || cursor > 0 {
		for _, z := range s.Zones {
			if !slices.Contains(old, z) {
				added = append(added, z)
			}
		}
	}
	if old != nil && len(added) == 0 && slices.Equal(old, slices.Sorted(slices.Values(s.Zones))) {
		return nil
	}
	var changes []domain.Change
	for z := range slices.Chunk(added, rowsPerRequest) {
		rows, err := c.Rows(ctx, z, nil)
		if err != nil {
			return fmt.Errorf("fetch rows of added zones: %w", err)
		}
		changes = append(changes, rows.Changes()...)
	}
	removed, err := st.ApplyScope(ctx, s.Zones, changes)
	if err != nil {
		return err
	}
	sc.n.logger.Info("edge scope", "zones", s.Zones, "previous", old, "added", added, "rows_in", len(changes), "rows_removed", len(removed))
	return nil
}

// Reconcile drops rows a page moved out of the scope and completes rows it moved in.
func (sc scoper) Reconcile(ctx context.Context, c *client.Client, changes []domain.Change) error {
	st := sc.n.Store
	_, incomplete, err := st.Reconcile(ctx, changes)
	if err != nil || len(incomplete) == 0 {
		return err
	}
	zones, err := st.Scope(ctx)
	if err != nil || zones == nil {
		return err
	}
	for chunk := range slices.Chunk(incomplete, rowsPerRequest) {
		keys := make([]client.RowKey, len(chunk))
		for i, k := range chunk {
			keys[i] = client.RowKey{Entity: k.Entity, ID: k.ID}
		}
		rows, err := c.Rows(ctx, nil, keys)
		if err != nil {
			return fmt.Errorf("fetch rows that entered the scope: %w", err)
		}
		got := map[sqlite.RowKey]bool{}
		for _, r := range rows.Rows {
			got[sqlite.RowKey{Entity: r.Entity, ID: r.ID}] = true
		}
		if _, err := st.ApplyScope(ctx, zones, rows.Changes()); err != nil {
			return err
		}
		// A row the hub did not return has left the scope again: do not keep half of it.
		var gone []sqlite.RowKey
		for _, k := range chunk {
			if !got[k] {
				gone = append(gone, k)
			}
		}
		if err := st.Forget(ctx, gone); err != nil {
			return err
		}
	}
	return nil
}

// Revoke wipes the replica and exports the dead letters (unsynced local changes included)
// to DeadLetterFile in the data dir.
func (sc scoper) Revoke(ctx context.Context, reason string) error {
	if err := sc.n.Store.Revoke(ctx, reason); err != nil {
		return err
	}
	path := filepath.Join(sc.n.cfg.DataDir, sqlite.DeadLetterFile)
	n, err := sc.n.Store.ExportDeadLetters(ctx, path)
	if err != nil {
		return err
	}
	sc.n.logger.Error("edge credential revoked: replica purged, dead letters exported", "reason", reason, "file", path, "dead_letters", n)
	return nil
}

// revoked returns why the hub revoked this edge's credential, "" while it is live.
func (n *Node) revoked(ctx context.Context) string {
	if r := n.Syncer.Revoked(); r != "" {
		return r
	}
	rev, err := n.Store.Revoked(ctx)
	if err != nil || rev == nil {
		return ""
	}
	return rev.Reason
}

// Config returns the node's configuration, defaults filled in.
func (n *Node) Config() Config { return n.cfg }
