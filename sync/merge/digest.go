package merge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/aiff/aiff/domain"
)

// State is the visible state of one row: what a digest covers. Stores that keep rows in
// tables rather than as Rows build States from their columns (the JSON field values).
type State struct {
	Entity  domain.Entity
	ID      string
	Deleted bool
	Fields  map[string]json.RawMessage
}

// State returns the row's visible state.
func (r Row) State() State {
	s := State{Entity: r.Entity, ID: r.ID, Deleted: r.Deleted != nil, Fields: make(map[string]json.RawMessage, len(r.Fields))}
	for k, f := range r.Fields {
		s.Fields[k] = f.Value
	}
	return s
}

// Digest returns the hex SHA-256 of the rows' visible states (see DigestStates). Two replicas
// that have applied the same set of changes, in whatever order, have equal digests.
func Digest(rows []Row) string {
	states := make([]State, len(rows))
	for i, r := range rows {
		states[i] = r.State()
	}
	return DigestStates(states)
}

// DigestStates hashes states in a canonical form: sorted by entity then id, each as one line
// of JSON [entity, id, deleted, [[field, value], …]] with fields sorted by name and values in
// Canonical form (a value that is not valid JSON is hashed as given). The input order and
// JSON formatting of values do not matter; any difference in a visible value does.
func DigestStates(states []State) string {
	sorted := slices.Clone(states)
	slices.SortStableFunc(sorted, func(a, b State) int {
		if c := strings.Compare(string(a.Entity), string(b.Entity)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	h := sha256.New()
	for _, s := range sorted {
		fields := make([][2]any, 0, len(s.Fields))
		for _, k := range slices.Sorted(maps.Keys(s.Fields)) {
			v := s.Fields[k]
			if cv, err := Canonical(v); err == nil {
				v = cv
			} else {
				b, _ := json.Marshal(string(v))
				v = b
			}
			fields = append(fields, [2]any{k, v})
		}
		line, _ := json.Marshal([]any{s.Entity, s.ID, s.Deleted, fields})
		h.Write(line)
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}
