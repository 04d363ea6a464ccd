package syncstore

import (
	"context"
	"slices"
	"time"

	"github.com/aiff/aiff/domain"
)

// Watermarks and tombstone collection (sync/PROTOCOL.md §9.6). The hub records, per replica
// (the node of an edge credential or a device), the highest cursor the replica has
// acknowledged: the cursor of each pull it makes (it holds everything up to it), the cursor
// it opens a stream at, and each stream ack frame. A deleted row's changes are purged from
// the log only once every replica whose scope holds the row has acknowledged the row's last
// change — never by age — so no replica can miss a delete and keep (or resurrect) the row. A
// replica silent for longer than the replica horizon stops holding tombstones back: it is
// marked stale, and the hub refuses its pulls and streams with *BehindHorizonError (problem
// type cursor-behind-horizon) until it re-bootstraps from a snapshot (which carries no purged
// row); the snapshot's cursor becomes its floor.

// Replica is one replica's watermark.
type Replica struct {
	Node string `json:"node"`
	// Zones is the replica's scope when it last synced; nil means every zone.
	Zones []string `json:"zones"`
	// Cursor is the highest log position the replica acknowledged.
	Cursor int64     `json:"cursor"`
	SeenAt time.Time `json:"seen_at"`
	// StaleAt is when the replica was found silent past the horizon (nil: live). A stale
	// replica must re-bootstrap from a snapshot.
	StaleAt *time.Time `json:"stale_at,omitempty"`
}

// Holds reports whether a row in zone is in the replica's scope ("" zone: a row every
// replica may hold, such as a user without a team).
func (r Replica) Holds(zone string) bool {
	return r.Zones == nil || zone == "" || slices.Contains(r.Zones, zone)
}

// Tombstone is a deleted row still in the log.
type Tombstone struct {
	Key RowKey
	// Zone is the row's zone (a user's: its team's), from its delete change.
	Zone string
	// LastSeq is the seq of the row's last logged change (at least its delete's): every
	// holder must have acknowledged it before the row is purged.
	LastSeq int64
}

// TombstoneStats reports one collection run.
type TombstoneStats struct {
	Tombstones int      `json:"tombstones"` // deleted rows examined
	Purged     int      `json:"purged"`     // rows purged from the log
	Changes    int      `json:"changes"`    // changes dropped with them
	Stale      []string `json:"stale"`      // replicas newly marked stale
}

// Watermarks is a hub store that records replica watermarks and collects tombstones.
type Watermarks interface {
	// RecordCursor raises node's acknowledged cursor to cursor (never lowers it), stores its
	// zones (nil: every zone) and that it was seen now, and returns the replica. A stale
	// replica stays stale (the caller refuses it).
	RecordCursor(ctx context.Context, node string, zones []string, cursor int64) (Replica, error)
	// Rebootstrapped clears node's stale mark and sets its cursor to that of the snapshot it
	// is loading; it holds no purged row.
	Rebootstrapped(ctx context.Context, node string, zones []string, cursor int64) error
	// Replicas lists every recorded replica, by node.
	Replicas(ctx context.Context) ([]Replica, error)
	// CollectTombstones marks the replicas not seen since silentBefore stale and purges every
	// deleted row whose holders (live replicas whose scope holds its zone) have all
	// acknowledged its last change: the row's changes leave the log (their ids stay answered
	// "duplicate" through the dropped-id index) and the row is recorded as purged, so a late
	// push to it is refused.
	CollectTombstones(ctx context.Context, silentBefore time.Time) (TombstoneStats, error)
}

// PurgeTx is what Push needs to refuse changes to purged rows. A store that collects
// tombstones implements it on the Tx it passes to Push.
type PurgeTx interface {
	// PurgedRows returns which of keys were purged.
	PurgedRows(ctx context.Context, keys []RowKey) (map[RowKey]bool, error)
	// PurgedChanges returns the seq each of ids had when its row was purged, so a retried
	// push of a purged change is still a duplicate.
	PurgedChanges(ctx context.Context, ids []string) (map[string]int64, error)
}

// PlanTombstones decides, from the replicas and the tombstones, which replicas become stale
// (seen before silentBefore and not stale yet) and which tombstones may be purged: those
// whose every live holder has acknowledged LastSeq. A stale replica holds nothing back.
func PlanTombstones(replicas []Replica, tombs []Tombstone, silentBefore time.Time) (purge []Tombstone, stale []string) {
	var live []Replica
	for _, r := range replicas {
		switch {
		case r.StaleAt != nil:
		case r.SeenAt.Before(silentBefore):
			stale = append(stale, r.Node)
		default:
			live = append(live, r)
		}
	}
	for _, t := range tombs {
		ok := true
		for _, r := range live {
			if r.Holds(t.Zone) && r.Cursor < t.LastSeq {
				ok = false
				break
			}
		}
		if ok {
			purge = append(purge, t)
		}
	}
	return purge, stale
}

// RejectPurged is the rejection of a pushed change to a purged row.
func RejectPurged(k RowKey) error {
	return domain.Errorf(domain.CodeConflict, "%s %s was deleted and its tombstone purged", k.Entity, k.ID)
}
