package domain

import (
	"bytes"
	"encoding/json"
	"time"
)

// Entity names the kind of row a change applies to.
type Entity string

const (
	EntityTicket Entity = "ticket"
	EntityTeam   Entity = "team"
	EntityUser   Entity = "user"
	EntityZone   Entity = "zone"
	EntityNote   Entity = "note" // a ticket's note; its scope zone is its ticket's
)

// Op is what a change does to its row.
type Op string

const (
	OpUpsert Op = "upsert" // set the fields in Patch (creating the row if new)
	OpDelete Op = "delete" // tombstone the row
)

// Change is one entry of the change log: a field-level patch of one row, made at an origin
// node with a ULID, and given a position Seq in the hub's total order once accepted (0 before).
// The change log is what edges and devices pull and stream; Seq, not ID, is the pull cursor.
type Change struct {
	ID       string                     `json:"id"`
	Seq      int64                      `json:"seq,omitempty"`
	Origin   string                     `json:"origin"`
	Actor    string                     `json:"actor"`
	Entity   Entity                     `json:"entity"`
	EntityID string                     `json:"entity_id"`
	Op       Op                         `json:"op"`
	Zone     string                     `json:"zone,omitempty"` // scope of the row after the change
	Patch    map[string]json.RawMessage `json:"patch,omitempty"`
	HLC      string                     `json:"hlc,omitempty"` // hybrid logical clock at origin; set by sync
	At       time.Time                  `json:"at"`
	// Base records, per field, the HLC of the value the origin held when it made the change
	// (for ticket changes it should also name "status"). Merge uses it to tell a write that
	// saw an earlier one from a concurrent write that did not, so that lost concurrent writes
	// become conflict records. A missing entry means "not known to have been seen".
	Base map[string]string `json:"base,omitempty"`
}

// HubOrigin is the origin name of changes made on the hub itself.
const HubOrigin = "hub"

// Diff returns the top-level JSON fields whose values differ between old and new, with new's
// values. A nil old yields every field of new. Fields whose JSON encodings are equal are left
// out, so an update that changes nothing produces an empty patch.
func Diff(old, new any) (map[string]json.RawMessage, error) {
	nm, err := fields(new)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nm, nil
	}
	om, err := fields(old)
	if err != nil {
		return nil, err
	}
	for k, v := range nm {
		if ov, ok := om[k]; ok && bytes.Equal(ov, v) {
			delete(nm, k)
		}
	}
	return nm, nil
}

func fields(v any) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}
