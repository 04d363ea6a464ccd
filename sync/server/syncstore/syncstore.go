// Package syncstore is the hub store's sync side, shared by both store adapters (hub/sqlite,
// hub/postgres) and the sync server (sync/server): the Store port the server consumes, the
// types it speaks (conflict records, edge credentials, snapshots) and Push, the dialect-neutral
// algorithm both adapters run inside their write transaction to take in a batch of changes.
//
// Why here and not in domain: the port's results are sync/wire frames and sync/merge values,
// and those packages import domain, so domain cannot name them without an import cycle. Why
// not private to sync/server: the adapters implement the port and run Push, and a store should
// not import an HTTP package. So this small package is the contract both sides import.
package syncstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
	"github.com/aiff/aiff/sync/wire"
)

// Store is what the sync server needs of the hub store, on top of the change log.
type Store interface {
	domain.ChangeLog

	// PushChanges takes in a batch pushed by p, in order, in one transaction: all results are
	// recorded or none (see Push for the rules). A change whose ID is already in the log is
	// a duplicate and changes nothing, so re-sending a batch is safe. Returns CodeForbidden,
	// storing nothing, if p may not push or any change is outside p's scope; per-change
	// problems (invalid merged row, unknown reference) are rejected results, not errors.
	PushChanges(ctx context.Context, p domain.Principal, changes []domain.Change) (wire.PushResponse, error)

	// Snapshot returns every row whose zone is in zones (tickets and teams in them, and the
	// zones themselves; tombstones included) as merge rows replayed from the log, and the log
	// position they were read at, in one read transaction, so a replica that loads them and
	// then pulls from Cursor misses nothing and sees nothing twice.
	Snapshot(ctx context.Context, zones []string) (Snapshot, error)

	// ListConflicts returns conflict records, newest first, a page at a time.
	ListConflicts(ctx context.Context, f ConflictFilter) (domain.Page[Conflict], error)
	// ResolveConflict marks a record resolved by the caller in ctx. With ActionApply it first
	// writes the lost value back as an ordinary new hub change (through the same merge and
	// validation as a push). Returns CodeNotFound for an unknown id, CodeConflict if it is
	// already resolved.
	ResolveConflict(ctx context.Context, id string, action Action) (Conflict, error)

	// CreateEdgeCredential mints a token for edge c.Name scoped to c.Zones (which must exist)
	// and stores only its hash. Returns CodeConflict if the name is taken.
	CreateEdgeCredential(ctx context.Context, c EdgeCredential) (EdgeCredential, string, error)
	ListEdgeCredentials(ctx context.Context) ([]EdgeCredential, error)
	// RevokeEdgeCredential revokes by name; CodeNotFound for an unknown name. Idempotent.
	RevokeEdgeCredential(ctx context.Context, name string) error
	// AuthenticateEdge returns the principal {Node: name, Zones: zones} of a live edge token,
	// CodeUnauthorized for an unknown, forged, revoked or expired one.
	AuthenticateEdge(ctx context.Context, token string) (domain.Principal, error)
}

// Snapshot is a consistent view of rows in some zones at log position Cursor.
type Snapshot struct {
	Cursor int64
	Rows   []merge.Row
}

// States returns the visible state of every row, what a digest hashes.
func (s Snapshot) States() []merge.State {
	out := make([]merge.State, len(s.Rows))
	for i, r := range s.Rows {
		out[i] = r.State()
	}
	return out
}

// Conflict is a stored merge conflict record.
type Conflict struct {
	ID string `json:"id"`
	// Seq is the log position of the change whose arrival produced the record.
	Seq int64 `json:"seq"`
	merge.Conflict
	Zone       string     `json:"zone"`
	CreatedAt  time.Time  `json:"created_at"`
	ResolvedAt *time.Time `json:"resolved_at"`
	ResolvedBy string     `json:"resolved_by,omitempty"`
	// Resolution is "dismiss", "apply" or "withdrawn" (merge no longer holds it lost).
	Resolution string `json:"resolution,omitempty"`
}

// ConflictFilter selects conflict records. ScopeZones is set from the caller, never input.
type ConflictFilter struct {
	Zone       string
	Resolved   *bool
	ScopeZones []string
	Cursor     string
	Limit      int // 1..500, default 50
}

// Action is how a dispatcher resolves a conflict.
type Action string

const (
	ActionDismiss Action = "dismiss" // keep the row as merge left it
	ActionApply   Action = "apply"   // write the lost value back as a new change
)

// EdgeCredential is an edge node's credential; the token itself is never stored.
type EdgeCredential struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Zones     []string   `json:"zones"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// EdgeTokenPrefix starts every edge token, so the hub can tell them from access tokens.
const EdgeTokenPrefix = "aiffe_"

const edgeSecretBytes = 32

var edgeNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateEdge checks a credential's name (it becomes the edge's node id, so it must be a
// valid HLC node) and zones.
func ValidateEdge(c EdgeCredential) error {
	switch {
	case !edgeNameRe.MatchString(c.Name):
		return domain.FieldErrorf("name", "name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	case c.Name == domain.HubOrigin || c.Name == SeedOrigin:
		return domain.FieldErrorf("name", "name %q is reserved", c.Name)
	case len(c.Zones) == 0:
		return domain.FieldErrorf("zones", "at least one zone is required")
	}
	for _, z := range c.Zones {
		if strings.TrimSpace(z) == "" || len(z) > 400 {
			return domain.FieldErrorf("zones", "zone names must be non-empty")
		}
	}
	return nil
}

// NewEdgeToken returns a fresh token "aiffe_<name>_<32 random bytes, base64url>" and the hash
// to store.
func NewEdgeToken(name string) (token, hash string, err error) {
	b := make([]byte, edgeSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = EdgeTokenPrefix + name + "_" + base64.RawURLEncoding.EncodeToString(b)
	return token, HashEdgeToken(token), nil
}

// HashEdgeToken returns the stored form of a token: hex SHA-256 of its text. A fast hash is
// enough for 256 random bits.
func HashEdgeToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// WellFormedEdgeToken reports whether token has the shape NewEdgeToken makes, so a store can
// refuse garbage without a lookup.
func WellFormedEdgeToken(token string) bool {
	rest, ok := strings.CutPrefix(token, EdgeTokenPrefix)
	secretLen := base64.RawURLEncoding.EncodedLen(edgeSecretBytes)
	if !ok || len(rest) < secretLen+2 || rest[len(rest)-secretLen-1] != '_' {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest[len(rest)-secretLen:])
	return err == nil && len(b) == edgeSecretBytes && edgeNameRe.MatchString(rest[:len(rest)-secretLen-1])
}

// SeedOrigin is the origin of the genesis changes the seed bulk loaders write.
const SeedOrigin = "seed"
