package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/merge"
)

// The stored form of a merge.Row (the rows.state column) is json.Marshal's form of the row,
// except for versions and field values the row's own changes already hold:
//
//   - a version (a field's, or the row's delete) equal to one of the row's changes, by clock
//     and id, is written as that change's index in "changes";
//   - a field whose version is change i and whose value is exactly change i's patch value for
//     the field is written as the bare index: "status":0 for {"value":"open","version":{…}}.
//
// Nearly every field of a row is such a field. The version object and value repeated for
// each of a ticket's ~20 fields were three quarters of a stored state (3.3 KB of a snapshot
// row's 3.75 KB with its doc), all of it written, checkpointed and indexed past by a
// bootstrap. The full form, which rows written before this form and json.Marshal's fallback
// carry, decodes too.

// storedRow is the stored form's shape for decoding.
type storedRow struct {
	Entity    domain.Entity          `json:"entity"`
	ID        string                 `json:"id"`
	Changes   []domain.Change        `json:"changes"`
	Fields    map[string]storedField `json:"fields"`
	Deleted   *storedVersion         `json:"deleted,omitempty"`
	Conflicts []merge.Conflict       `json:"conflicts,omitempty"`
}

// storedField is a field as stored: {"value":…,"version":…}, or (implied) the bare index
// of the change whose patch holds its value.
type storedField struct {
	Value   json.RawMessage `json:"value"`
	Version storedVersion   `json:"version"`
	implied bool
}

// storedFieldObject is storedField's object form, for encoding/json.
type storedFieldObject struct {
	Value   json.RawMessage `json:"value"`
	Version storedVersion   `json:"version"`
}

func (f storedField) MarshalJSON() ([]byte, error) {
	if f.implied {
		return f.Version.MarshalJSON()
	}
	return json.Marshal(storedFieldObject{f.Value, f.Version})
}

func (f *storedField) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		*f = storedField{implied: true}
		return f.Version.UnmarshalJSON(b)
	}
	var o storedFieldObject
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*f = storedField{Value: o.Value, Version: o.Version}
	return nil
}

// valueImplied reports whether a field k with value v and version change ci (-1: none of
// them) is stored as the bare index: its value is that change's patch value, byte for byte.
func valueImplied(cs []domain.Change, ci int, k string, v json.RawMessage) bool {
	if ci < 0 {
		return false
	}
	pv, ok := cs[ci].Patch[k]
	return ok && pv != nil && v != nil && bytes.Equal(pv, v)
}

// storedVersion is a version as stored: the object, or (isRef) the index of a change.
type storedVersion struct {
	merge.Version
	ref   int
	isRef bool
}

// versionOf returns v in stored form for a row with changes cs.
func versionOf(cs []domain.Change, v merge.Version) storedVersion {
	i := changeIndex(cs, v)
	return storedVersion{Version: v, ref: i, isRef: i >= 0}
}

// MarshalJSON writes the stored form: storedFormOf encodes with encoding/json through it
// (encodeRow's fallback, and the tests' reference).
func (v storedVersion) MarshalJSON() ([]byte, error) {
	if v.isRef {
		return strconv.AppendInt(nil, int64(v.ref), 10), nil
	}
	return json.Marshal(v.Version)
}

func (v *storedVersion) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		n, err := strconv.Atoi(string(b))
		if err != nil {
			return fmt.Errorf("version reference %s: %w", b, err)
		}
		v.ref, v.isRef = n, true
		return nil
	}
	v.isRef = false
	return json.Unmarshal(b, &v.Version)
}

// resolve returns the version v stands for in a row with changes cs.
func (v storedVersion) resolve(cs []domain.Change) (merge.Version, error) {
	if !v.isRef {
		return v.Version, nil
	}
	if v.ref >= len(cs) {
		return merge.Version{}, fmt.Errorf("version refers to change %d of %d", v.ref, len(cs))
	}
	return merge.Version{HLC: cs[v.ref].HLC, Change: cs[v.ref].ID}, nil
}

// decodeState decodes a stored state (either form) into the row it stores.
func decodeState(b []byte) (merge.Row, error) {
	var s storedRow
	if err := json.Unmarshal(b, &s); err != nil {
		return merge.Row{}, err
	}
	r := merge.Row{Entity: s.Entity, ID: s.ID, Changes: s.Changes, Conflicts: s.Conflicts}
	if s.Fields != nil {
		r.Fields = make(map[string]merge.Field, len(s.Fields))
		for k, f := range s.Fields {
			ver, err := f.Version.resolve(s.Changes)
			if err != nil {
				return merge.Row{}, fmt.Errorf("field %q: %w", k, err)
			}
			v := f.Value
			if f.implied {
				if v = s.Changes[f.Version.ref].Patch[k]; v == nil {
					return merge.Row{}, fmt.Errorf("field %q: change %d has no value for it", k, f.Version.ref)
				}
			}
			r.Fields[k] = merge.Field{Value: v, Version: ver}
		}
	}
	if s.Deleted != nil {
		ver, err := s.Deleted.resolve(s.Changes)
		if err != nil {
			return merge.Row{}, fmt.Errorf("deleted: %w", err)
		}
		r.Deleted = &ver
	}
	return r, nil
}

// changeIndex returns the index of the change in cs that v is the version of, or -1. Later
// changes are tried first: a field's version is usually among a row's latest.
func changeIndex(cs []domain.Change, v merge.Version) int {
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].ID == v.Change && cs[i].HLC == v.HLC {
			return i
		}
	}
	return -1
}

// storedFormOf returns r in the stored form's shape, for encoding/json to write: what
// encodeRow's output must equal byte for byte.
func storedFormOf(r merge.Row) storedRow {
	s := storedRow{Entity: r.Entity, ID: r.ID, Changes: r.Changes, Conflicts: r.Conflicts}
	if r.Fields != nil {
		s.Fields = make(map[string]storedField, len(r.Fields))
		for k, f := range r.Fields {
			v := versionOf(r.Changes, f.Version)
			s.Fields[k] = storedField{Value: f.Value, Version: v, implied: valueImplied(r.Changes, v.ref, k, f.Value)}
		}
	}
	if r.Deleted != nil {
		d := versionOf(r.Changes, *r.Deleted)
		s.Deleted = &d
	}
	return s
}
