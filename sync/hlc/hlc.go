// Package hlc is a hybrid logical clock: physical wall time in milliseconds, a logical counter
// for events within one millisecond (or while the wall clock lags a remote clock), and the node
// id as a final tie-break, so that every timestamp a node makes is unique and the order of any
// two timestamps respects causality: a change made after seeing another sorts after it.
//
// Sync merges fields last-writer-wins in this order. The text form has fixed-width fields, so
// comparing two encoded timestamps as strings (in Go, SQL or JavaScript) gives the clock order.
//
// A clock that runs far ahead would let its node win every conflict for as long as it is
// ahead; Update refuses remote timestamps more than MaxSkew ahead of the local wall clock and
// returns a *SkewError, which the hub turns into a clamp (see sync/PROTOCOL.md).
package hlc

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/aiff/aiff/domain"
)

const (
	// MaxWall is the largest wall time a timestamp can carry (48 bits of milliseconds, as in a
	// ULID: the year 10889).
	MaxWall = 1<<48 - 1
	// MaxNodeLen is the longest node id in bytes.
	MaxNodeLen = 64
	// DefaultMaxSkew is how far ahead of local wall time a remote clock may be before Update
	// refuses it.
	DefaultMaxSkew = time.Minute

	wallDigits    = 12 // hex digits of Wall
	logicalDigits = 8  // hex digits of Logical
	// EncodedMinLen is the length of an encoding with a one-byte node.
	EncodedMinLen = wallDigits + 1 + logicalDigits + 1 + 1
)

// Timestamp is one reading of a hybrid logical clock. The zero value is not valid (it has no
// node); use IsZero to test for "no clock".
type Timestamp struct {
	Wall    int64  // unix milliseconds, 0..MaxWall
	Logical uint32 // counter within Wall
	Node    string // id of the node that made the reading: 1..MaxNodeLen bytes of printable ASCII, no space
}

// IsZero reports whether t is the zero Timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// Time returns the wall part of t as a UTC time.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.Wall).UTC() }

// Compare returns -1, 0 or +1 as t sorts before, equal to or after u: by Wall, then Logical,
// then Node byte-wise. It agrees with comparing t.String() and u.String().
func (t Timestamp) Compare(u Timestamp) int {
	switch {
	case t.Wall < u.Wall:
		return -1
	case t.Wall > u.Wall:
		return 1
	case t.Logical < u.Logical:
		return -1
	case t.Logical > u.Logical:
		return 1
	}
	return strings.Compare(t.Node, u.Node)
}

// Less reports whether t sorts before u.
func (t Timestamp) Less(u Timestamp) bool { return t.Compare(u) < 0 }

// Validate returns CodeInvalid (field "hlc") if t cannot be encoded.
func (t Timestamp) Validate() error {
	if t.Wall < 0 || t.Wall > MaxWall {
		return domain.FieldErrorf("hlc", "hlc wall time out of range")
	}
	if !ValidNode(t.Node) {
		return domain.FieldErrorf("hlc", "hlc node must be 1 to %d printable ascii characters without spaces", MaxNodeLen)
	}
	return nil
}

// ValidNode reports whether s can be a node id: 1..MaxNodeLen bytes in '!'..'~'.
func ValidNode(s string) bool {
	if len(s) == 0 || len(s) > MaxNodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}

// String encodes t as "WWWWWWWWWWWW-LLLLLLLL-node": Wall and Logical in fixed-width lowercase
// hex. Encodings sort byte-wise in clock order. String never fails: an invalid t is formatted
// as it is, and Parse rejects the result.
func (t Timestamp) String() string {
	// By hand rather than with fmt: the hub stamps and compares clocks for every change.
	b := make([]byte, wallDigits+1+logicalDigits+1, wallDigits+1+logicalDigits+1+len(t.Node))
	putHex(b[:wallDigits], uint64(t.Wall)&MaxWall)
	b[wallDigits] = '-'
	putHex(b[wallDigits+1:wallDigits+1+logicalDigits], uint64(t.Logical))
	b[wallDigits+1+logicalDigits] = '-'
	return string(append(b, t.Node...))
}

// putHex writes v into b as len(b) lowercase hex digits, zero-padded (v must fit).
func putHex(b []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
}

// MarshalText implements encoding.TextMarshaler; it fails for an invalid t.
func (t Timestamp) MarshalText() ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return []byte(t.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (t *Timestamp) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Parse decodes the String form strictly: exact widths, lowercase hex, a valid node. Anything
// it accepts encodes back to exactly s. Errors are CodeInvalid with field "hlc".
func Parse(s string) (Timestamp, error) {
	bad := func() (Timestamp, error) {
		return Timestamp{}, domain.FieldErrorf("hlc", "invalid hlc %q", truncate(s, 100))
	}
	if len(s) < EncodedMinLen || s[wallDigits] != '-' || s[wallDigits+1+logicalDigits] != '-' {
		return bad()
	}
	w, ok := parseHex(s[:wallDigits])
	if !ok || w > MaxWall {
		return bad()
	}
	l, ok := parseHex(s[wallDigits+1 : wallDigits+1+logicalDigits])
	if !ok || l > math.MaxUint32 {
		return bad()
	}
	t := Timestamp{Wall: int64(w), Logical: uint32(l), Node: s[wallDigits+1+logicalDigits+1:]}
	if !ValidNode(t.Node) {
		return bad()
	}
	return t, nil
}

func parseHex(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// SkewError is returned by Update when a remote timestamp is further ahead of the local wall
// clock than MaxSkew. The clock is left unchanged. It unwraps to a CodeInvalid *domain.Error
// (field "hlc") so that an API reports it as bad input.
type SkewError struct {
	Remote Timestamp
	Local  time.Time     // local wall time when the remote timestamp was seen
	Ahead  time.Duration // how far Remote is ahead of Local
	Max    time.Duration // the clock's MaxSkew
}

func (e *SkewError) Error() string {
	return fmt.Sprintf("clock of node %s is %s ahead, more than the allowed %s", e.Remote.Node, e.Ahead, e.Max)
}

// Unwrap returns the domain error an API shows for the skew.
func (e *SkewError) Unwrap() error {
	return &domain.Error{Code: domain.CodeInvalid, Field: "hlc", Message: e.Error()}
}

// Clock makes timestamps for one node. Set the exported fields before first use; the methods
// are safe for concurrent use.
type Clock struct {
	Node string // this node's id, stamped into every timestamp
	// Wall reads physical time (default time.Now); tests inject a fake to simulate drift.
	Wall func() time.Time
	// MaxSkew bounds how far ahead of Wall a remote timestamp may be (Update returns a
	// *SkewError beyond it). Zero or negative disables the bound.
	MaxSkew time.Duration

	mu   sync.Mutex
	last Timestamp // Wall and Logical of the last reading; Node unused
}

// NewClock returns a clock for node with time.Now and DefaultMaxSkew.
func NewClock(node string) *Clock {
	return &Clock{Node: node, Wall: time.Now, MaxSkew: DefaultMaxSkew}
}

func (c *Clock) wallMillis() int64 {
	f := c.Wall
	if f == nil {
		f = time.Now
	}
	return min(max(f().UnixMilli(), 0), MaxWall)
}

// Now returns a timestamp for a local event. Successive calls return strictly increasing
// timestamps even if the wall clock stands still or steps back.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := c.wallMillis()
	if pt > c.last.Wall {
		c.last = Timestamp{Wall: pt}
	} else {
		c.tick(c.last.Wall, uint64(c.last.Logical)+1)
	}
	return Timestamp{Wall: c.last.Wall, Logical: c.last.Logical, Node: c.Node}
}

// tick sets last to (w, l), carrying a logical overflow into the wall part.
func (c *Clock) tick(w int64, l uint64) {
	if l > math.MaxUint32 {
		w, l = w+1, 0
	}
	c.last = Timestamp{Wall: w, Logical: uint32(l)}
}

// Update merges a timestamp received from another node and returns a local timestamp after
// both it and every earlier local reading, so an event caused by the message sorts after it.
// It returns CodeInvalid for an invalid remote, and a *SkewError (changing nothing) when
// remote is more than MaxSkew ahead of the local wall clock.
func (c *Clock) Update(remote Timestamp) (Timestamp, error) {
	if err := remote.Validate(); err != nil {
		return Timestamp{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := c.wallMillis()
	if c.MaxSkew > 0 && remote.Wall-pt > c.MaxSkew.Milliseconds() {
		return Timestamp{}, &SkewError{
			Remote: remote,
			Local:  time.UnixMilli(pt).UTC(),
			Ahead:  time.Duration(remote.Wall-pt) * time.Millisecond,
			Max:    c.MaxSkew,
		}
	}
	last := c.last
	w := max(last.Wall, remote.Wall, pt)
	switch {
	case w == last.Wall && w == remote.Wall:
		c.tick(w, uint64(max(last.Logical, remote.Logical))+1)
	case w == last.Wall:
		c.tick(w, uint64(last.Logical)+1)
	case w == remote.Wall:
		c.tick(w, uint64(remote.Logical)+1)
	default:
		c.last = Timestamp{Wall: w}
	}
	return Timestamp{Wall: c.last.Wall, Logical: c.last.Logical, Node: c.Node}, nil
}

// Observe moves the clock forward to at least t without a skew check and without making a
// reading. A node calls it at start-up with the largest timestamp it has stored, so that a
// restart with a clock that stepped back never reuses a timestamp.
func (c *Clock) Observe(t Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Wall > c.last.Wall || t.Wall == c.last.Wall && t.Logical > c.last.Logical {
		c.last = Timestamp{Wall: min(max(t.Wall, 0), MaxWall), Logical: t.Logical}
	}
}

// Last returns the most recent reading (or observed time), with this clock's node; the zero
// Timestamp before any.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.IsZero() {
		return Timestamp{}
	}
	return Timestamp{Wall: c.last.Wall, Logical: c.last.Logical, Node: c.Node}
}
