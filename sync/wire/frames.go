package wire

import (
	"io"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
)

// FrameChanges carries a run of changes from the hub's log, in Seq order, without gaps in the
// caller's scope. Cursor is the position to resume after: at least the last change's Seq.
type FrameChanges struct {
	Changes []domain.Change `json:"changes"`
	Cursor  int64           `json:"cursor"`
}

// FrameReady tells a stream client that catch-up is complete: every change in its scope up to
// Cursor has been sent, and what follows are live deltas.
type FrameReady struct {
	Cursor int64 `json:"cursor"`
}

// FrameHeartbeat is sent when the stream has been idle. Cursor is the client's position as
// the hub sees it (the last change sent, or the last Seq scanned with nothing in scope); Time
// is the hub's wall clock, which clients compare with their own to warn about skew.
type FrameHeartbeat struct {
	Cursor int64     `json:"cursor"`
	Time   time.Time `json:"time"`
}

// FrameAck is sent by a stream client after it has durably applied changes through Cursor.
// The hub uses it for lag metrics only: the client's own cursor is what resumes a stream.
type FrameAck struct {
	Cursor int64 `json:"cursor"`
}

// FrameError is the last frame before the hub closes a stream on purpose (bad frame from the
// client, lost scope, slow subscriber). Code is a domain.Code; Retry tells the client whether
// reconnecting from its cursor can succeed.
type FrameError struct {
	Code   domain.Code `json:"code"`
	Detail string      `json:"detail"`
	Field  string      `json:"field,omitempty"`
	Retry  bool        `json:"retry"`
}

// PushRequest is the body of POST /api/sync/push: a batch of changes made at (or relayed by)
// Node, in the order they were made. The batch is handled in one transaction; re-sending a
// change ID is a no-op.
type PushRequest struct {
	Node    string          `json:"node"`
	Changes []domain.Change `json:"changes"`
}

// ResultStatus is what the hub did with one pushed change.
type ResultStatus string

const (
	// Accepted: appended to the log at Seq.
	Accepted ResultStatus = "accepted"
	// Duplicate: the ID was already in the log at Seq; nothing changed.
	Duplicate ResultStatus = "duplicate"
	// Clamped: appended at Seq, but its clock was too far ahead of the hub's and was replaced
	// by HLC; the origin must record the new clock for the change.
	Clamped ResultStatus = "clamped"
	// Rejected: not appended (Code, Error say why); re-sending it will be judged again.
	Rejected ResultStatus = "rejected"
)

// Result is the outcome for one pushed change, in request order.
type Result struct {
	ID     string       `json:"id"`
	Status ResultStatus `json:"status"`
	Seq    int64        `json:"seq,omitempty"`
	HLC    string       `json:"hlc,omitempty"`
	Code   domain.Code  `json:"code,omitempty"`
	Error  string       `json:"error,omitempty"`
}

// PushResponse answers a push: one Result per change, the hub's log head Cursor after the
// commit, and the hub's clock HLC, which the client feeds to its own clock's Update.
type PushResponse struct {
	Results []Result `json:"results"`
	Cursor  int64    `json:"cursor"`
	HLC     string   `json:"hlc,omitempty"`
}

// PullResponse answers GET /api/sync/pull: changes after the request's cursor in Seq order,
// the cursor to ask from next, and whether more are waiting now.
type PullResponse struct {
	Changes    []domain.Change `json:"changes"`
	NextCursor int64           `json:"next_cursor"`
	HasMore    bool            `json:"has_more"`
}

func (*FrameChanges) FrameType() Type   { return TypeChanges }
func (*FrameReady) FrameType() Type     { return TypeReady }
func (*FrameHeartbeat) FrameType() Type { return TypeHeartbeat }
func (*FrameAck) FrameType() Type       { return TypeAck }
func (*FrameError) FrameType() Type     { return TypeError }
func (*PushRequest) FrameType() Type    { return TypePush }
func (*PushResponse) FrameType() Type   { return TypePushResult }
func (*PullResponse) FrameType() Type   { return TypePullResponse }

func (f *FrameChanges) WriteTo(w io.Writer) (int64, error)   { return writeTo(w, f) }
func (f *FrameReady) WriteTo(w io.Writer) (int64, error)     { return writeTo(w, f) }
func (f *FrameHeartbeat) WriteTo(w io.Writer) (int64, error) { return writeTo(w, f) }
func (f *FrameAck) WriteTo(w io.Writer) (int64, error)       { return writeTo(w, f) }
func (f *FrameError) WriteTo(w io.Writer) (int64, error)     { return writeTo(w, f) }
func (f *PushRequest) WriteTo(w io.Writer) (int64, error)    { return writeTo(w, f) }
func (f *PushResponse) WriteTo(w io.Writer) (int64, error)   { return writeTo(w, f) }
func (f *PullResponse) WriteTo(w io.Writer) (int64, error)   { return writeTo(w, f) }

// NewErrorFrame describes err for a client: its code, user-safe message and field. Internal
// errors get a generic text and Retry true, as do CodeUnavailable and CodeTooManyRequests.
func NewErrorFrame(err error) *FrameError {
	code := domain.ErrorCode(err)
	if code == "" {
		code = domain.CodeInternal
	}
	return &FrameError{
		Code:   code,
		Detail: domain.ErrorMessage(err),
		Field:  domain.ErrorField(err),
		Retry:  code == domain.CodeInternal || code == domain.CodeUnavailable || code == domain.CodeTooManyRequests,
	}
}

// Err returns the frame as a *domain.Error, so a client handles stream errors like any other.
func (f *FrameError) Err() error {
	return &domain.Error{Code: f.Code, Message: f.Detail, Field: f.Field}
}

func checkCursor(field string, c int64) error {
	if c < 0 {
		return domain.FieldErrorf(field, "%s must not be negative", field)
	}
	return nil
}

func (f *FrameChanges) check(lim *Limits) error {
	if len(f.Changes) == 0 {
		return domain.FieldErrorf("changes", "a changes frame needs at least one change")
	}
	if err := checkChanges(f.Changes, lim, fromHub); err != nil {
		return err
	}
	if err := checkCursor("cursor", f.Cursor); err != nil {
		return err
	}
	if f.Cursor < f.Changes[len(f.Changes)-1].Seq {
		return domain.FieldErrorf("cursor", "cursor is before the last change")
	}
	return nil
}

func (f *FrameReady) check(*Limits) error { return checkCursor("cursor", f.Cursor) }
func (f *FrameAck) check(*Limits) error   { return checkCursor("cursor", f.Cursor) }

func (f *FrameHeartbeat) check(*Limits) error {
	f.Time = f.Time.UTC()
	if !validTime(f.Time) {
		return domain.FieldErrorf("time", "time must be a time between 1970 and 9999")
	}
	return checkCursor("cursor", f.Cursor)
}

var knownCodes = map[domain.Code]bool{
	domain.CodeInvalid: true, domain.CodeNotFound: true, domain.CodeConflict: true,
	domain.CodeUnauthorized: true, domain.CodeForbidden: true, domain.CodeTooManyRequests: true,
	domain.CodeTooLarge: true, domain.CodeUnavailable: true, domain.CodeInternal: true,
}

func (f *FrameError) check(*Limits) error {
	if !knownCodes[f.Code] {
		return domain.FieldErrorf("code", "unknown error code %q", truncate(string(f.Code), 40))
	}
	if err := checkText("detail", f.Detail, 1, 1000); err != nil {
		return err
	}
	return checkText("field", f.Field, 0, 200)
}

func (f *PushRequest) check(lim *Limits) error {
	if !hlc.ValidNode(f.Node) {
		return domain.FieldErrorf("node", "node must be 1 to %d printable ascii characters without spaces", hlc.MaxNodeLen)
	}
	if len(f.Changes) == 0 {
		return domain.FieldErrorf("changes", "a push needs at least one change")
	}
	return checkChanges(f.Changes, lim, fromOrigin)
}

func (f *PushResponse) check(lim *Limits) error {
	if lim != nil && len(f.Results) > lim.MaxChanges {
		return domain.Errorf(domain.CodeTooLarge, "more than %d results", lim.MaxChanges)
	}
	if f.Results == nil {
		f.Results = []Result{}
	}
	seen := make(map[string]bool, len(f.Results))
	for i := range f.Results {
		r := &f.Results[i]
		field := func(name string) string { return "results[" + itoa(i) + "]." + name }
		if !domain.ValidID(r.ID) {
			return domain.FieldErrorf(field("id"), "invalid ulid")
		}
		if seen[r.ID] {
			return domain.FieldErrorf(field("id"), "change %s appears twice", r.ID)
		}
		seen[r.ID] = true
		switch r.Status {
		case Accepted, Duplicate, Clamped:
			if r.Seq <= 0 {
				return domain.FieldErrorf(field("seq"), "an %s change needs a positive seq", r.Status)
			}
			if r.Code != "" || r.Error != "" {
				return domain.FieldErrorf(field("error"), "only a rejected change has an error")
			}
		case Rejected:
			if r.Seq != 0 {
				return domain.FieldErrorf(field("seq"), "a rejected change has no seq")
			}
			if !knownCodes[r.Code] {
				return domain.FieldErrorf(field("code"), "unknown error code %q", truncate(string(r.Code), 40))
			}
			if err := checkText(field("error"), r.Error, 1, 1000); err != nil {
				return err
			}
		default:
			return domain.FieldErrorf(field("status"), "unknown result status %q", truncate(string(r.Status), 40))
		}
		if r.Status == Clamped {
			if _, err := hlc.Parse(r.HLC); err != nil {
				return domain.FieldErrorf(field("hlc"), "a clamped change needs its new hlc")
			}
		} else if r.HLC != "" {
			return domain.FieldErrorf(field("hlc"), "only a clamped change has a new hlc")
		}
	}
	if f.HLC != "" {
		if _, err := hlc.Parse(f.HLC); err != nil {
			return domain.FieldErrorf("hlc", "invalid hlc")
		}
	}
	return checkCursor("cursor", f.Cursor)
}

func (f *PullResponse) check(lim *Limits) error {
	if f.Changes == nil {
		f.Changes = []domain.Change{}
	}
	if err := checkChanges(f.Changes, lim, fromHub); err != nil {
		return err
	}
	if err := checkCursor("next_cursor", f.NextCursor); err != nil {
		return err
	}
	if n := len(f.Changes); n > 0 && f.NextCursor < f.Changes[n-1].Seq {
		return domain.FieldErrorf("next_cursor", "next_cursor is before the last change")
	}
	return nil
}

// itoa formats a non-negative index for field names.
func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}
