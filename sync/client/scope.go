package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aiff/aiff/domain"
)

// ErrRevoked is what Syncer.Run returns after the hub refused the credential for good.
var ErrRevoked = errors.New("sync: the hub revoked this node's credential")

// ProblemRevoked is the problem type of a revoked or expired edge credential.
const ProblemRevoked = "https://aiff.dev/problems/credential-revoked"

// Scope is GET /api/sync/scope: what this credential may replicate now.
type Scope struct {
	Node   string   `json:"node"`
	Zones  []string `json:"zones"` // nil: every zone
	Team   string   `json:"team"`
	Cursor int64    `json:"cursor"`
}

// Scope asks the hub for the caller's current scope.
func (c *Client) Scope(ctx context.Context) (Scope, error) {
	var s Scope
	req, err := c.newRequest(ctx, http.MethodGet, "/api/sync/scope", nil, nil)
	if err != nil {
		return s, err
	}
	resp, err := c.do("scope", req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return s, &Error{Op: "scope", Err: err, Detail: "decode scope: " + err.Error()}
	}
	return s, nil
}

// RowKey names a row.
type RowKey struct {
	Entity domain.Entity `json:"entity"`
	ID     string        `json:"id"`
}

// HistoryRow is one row's complete logged history, in seq order.
type HistoryRow struct {
	Entity  domain.Entity   `json:"entity"`
	ID      string          `json:"id"`
	Changes []domain.Change `json:"changes"`
}

// Rows is the answer of POST /api/sync/rows.
type Rows struct {
	Cursor int64        `json:"cursor"`
	Rows   []HistoryRow `json:"rows"`
}

// Changes returns every change of every row.
func (r Rows) Changes() []domain.Change {
	var out []domain.Change
	for _, row := range r.Rows {
		out = append(out, row.Changes...)
	}
	return out
}

// Rows fetches the complete history of the rows now in zones and of keys (edges only);
// rows outside the credential's scope are left out.
func (c *Client) Rows(ctx context.Context, zones []string, keys []RowKey) (Rows, error) {
	var out Rows
	if zones == nil {
		zones = []string{}
	}
	if keys == nil {
		keys = []RowKey{}
	}
	b, _ := json.Marshal(map[string]any{"zones": zones, "rows": keys})
	req, err := c.newRequest(ctx, http.MethodPost, "/api/sync/rows", nil, bytes.NewReader(b))
	if err != nil {
		return out, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do("rows", req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, &Error{Op: "rows", Err: err, Detail: "decode rows: " + err.Error()}
	}
	return out, nil
}

// RevokedReason reports whether err is the hub refusing the credential for good (401 with
// the problem type credential-revoked), and the hub's reason.
func RevokedReason(err error) (string, bool) {
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized && e.Type == ProblemRevoked {
		return e.Detail, true
	}
	return "", false
}

// Scoper keeps a replica within its scope; an edge implements it (the Syncer's Scoper).
type Scoper interface {
	// SyncScope runs before every catch-up: learn the scope from the hub, and move rows in
	// and out if it changed since the last time.
	SyncScope(ctx context.Context, c *Client) error
	// Reconcile runs after every applied batch of hub changes: drop rows that left the
	// scope, fetch the history of rows that entered it.
	Reconcile(ctx context.Context, c *Client, changes []domain.Change) error
	// Revoke runs once when the hub refuses the credential for good: wipe the replica,
	// keep unsynced local changes as dead letters.
	Revoke(ctx context.Context, reason string) error
}

// syncScope runs the Scoper's SyncScope, if there is one.
func (s *Syncer) syncScope(ctx context.Context) error {
	if s.Scoper == nil {
		return nil
	}
	return s.Scoper.SyncScope(ctx, s.Client)
}

// reconcile runs the Scoper's Reconcile, if there is one.
func (s *Syncer) reconcile(ctx context.Context, changes []domain.Change) error {
	if s.Scoper == nil || len(changes) == 0 {
		return nil
	}
	if err := s.Scoper.Reconcile(ctx, s.Client, changes); err != nil {
		return fmt.Errorf("reconcile scope: %w", err)
	}
	return nil
}

// checkRevoked handles err if it means the credential is revoked: a 401 credential-revoked,
// or an unauthorized answer (a stream's error frame) that a scope probe confirms. It then
// stops syncing at once: the replica is wiped (Scoper.Revoke), the status says why, and Run
// returns ErrRevoked. It reports whether it did.
func (s *Syncer) checkRevoked(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	reason, ok := RevokedReason(err)
	if !ok {
		if domain.ErrorCode(err) != domain.CodeUnauthorized && !strings.Contains(err.Error(), "unauthorized") {
			return false
		}
		_, perr := s.Client.Scope(ctx)
		if reason, ok = RevokedReason(perr); !ok {
			return false
		}
	}
	s.revoke(ctx, reason)
	return true
}

// revoke stops the syncer for good (once): the Scoper wipes the replica first, then the
// status says revoked (so a caller that sees the status sees the purge done) and the loops
// end.
func (s *Syncer) revoke(ctx context.Context, reason string) {
	s.revokeOnce.Do(func() {
		s.logger().Error("the hub revoked this node's credential; sync stopped, replicated data purged, unsynced changes kept as dead letters",
			"reason", reason)
		if s.Scoper != nil {
			if err := s.Scoper.Revoke(context.WithoutCancel(ctx), reason); err != nil {
				s.logger().Error("purge after revocation failed", "error", err)
			}
		}
		s.update(func(st *Status) {
			st.Revoked = reason
			st.Connected, st.Ready, st.LastError = false, false, "credential revoked: "+reason
		})
		if s.stop != nil {
			s.stop()
		}
	})
}

// Revoked returns the reason the hub revoked the credential, "" while it is live.
func (s *Syncer) Revoked() string { return s.Status().Revoked }
