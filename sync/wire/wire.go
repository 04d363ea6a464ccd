// Package wire is the sync protocol's typed frames and their encoding: what edges, devices and
// the hub exchange over HTTP (push, pull) and WebSocket (stream). Every message is one JSON
// envelope {"v":1,"type":"…","data":{…}}, optionally gzip-compressed, and decoding is strict:
// unknown fields, unknown versions or types, oversized frames, invalid ULIDs, clocks, entities,
// ops or patch fields are refused with a *domain.Error (CodeInvalid, or CodeTooLarge for size
// and count limits) before anything reaches a store. sync/PROTOCOL.md is the specification.
package wire

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/aiff/aiff/domain"
)

// Version is the protocol version this package speaks. A frame with another "v" is refused;
// a future version that changes meaning gets a new number (and WebSocket subprotocol).
const Version = 1

// Subprotocol is the WebSocket subprotocol name a stream client must offer.
const Subprotocol = "aiff.sync.v1"

// Type names a frame kind; it is the envelope's "type".
type Type string

const (
	TypeChanges      Type = "changes"       // stream: a run of changes from the hub's log
	TypeReady        Type = "ready"         // stream: catch-up is done, live deltas follow
	TypeHeartbeat    Type = "heartbeat"     // stream: idle keep-alive with the hub's head
	TypeAck          Type = "ack"           // stream, client to hub: applied through a cursor
	TypeError        Type = "error"         // stream: the hub is closing the stream for a reason
	TypePush         Type = "push"          // POST /api/sync/push body
	TypePushResult   Type = "push_result"   // POST /api/sync/push response
	TypePullResponse Type = "pull_response" // GET /api/sync/pull response
)

// Frame is one protocol message. Each concrete frame type is a pointer (*FrameChanges, …).
type Frame interface {
	// FrameType is the envelope type of the frame.
	FrameType() Type
	// WriteTo writes the frame's uncompressed JSON envelope (io.WriterTo).
	WriteTo(w io.Writer) (int64, error)
	// check validates and normalizes the frame; lim nil skips count limits (encoding).
	check(lim *Limits) error
}

// Limits bound what a decoder accepts. Zero fields take the defaults.
type Limits struct {
	MaxFrameBytes  int64 // uncompressed JSON bytes of one frame (and compressed input bytes)
	MaxChanges     int   // changes (or results) in one frame
	MaxPatchFields int   // fields in one change's patch (and base)
	MaxValueBytes  int   // bytes of one patch value
}

// DefaultLimits are used for zero Limits fields.
var DefaultLimits = Limits{
	MaxFrameBytes:  8 << 20,
	MaxChanges:     1000,
	MaxPatchFields: 64,
	MaxValueBytes:  64 << 10,
}

func (l Limits) withDefaults() Limits {
	if l.MaxFrameBytes <= 0 {
		l.MaxFrameBytes = DefaultLimits.MaxFrameBytes
	}
	if l.MaxChanges <= 0 {
		l.MaxChanges = DefaultLimits.MaxChanges
	}
	if l.MaxPatchFields <= 0 {
		l.MaxPatchFields = DefaultLimits.MaxPatchFields
	}
	if l.MaxValueBytes <= 0 {
		l.MaxValueBytes = DefaultLimits.MaxValueBytes
	}
	return l
}

// envelope is the outer JSON object of every frame.
type envelope struct {
	V    int             `json:"v"`
	Type Type            `json:"type"`
	Data json.RawMessage `json:"data"`
}

// frameTypes are the types newFrame knows.
var frameTypes = []Type{TypeChanges, TypeReady, TypeHeartbeat, TypeAck, TypeError, TypePush, TypePushResult, TypePullResponse}

// newFrame returns an empty frame of type t, or nil for an unknown type.
func newFrame(t Type) Frame {
	switch t {
	case TypeChanges:
		return &FrameChanges{}
	case TypeReady:
		return &FrameReady{}
	case TypeHeartbeat:
		return &FrameHeartbeat{}
	case TypeAck:
		return &FrameAck{}
	case TypeError:
		return &FrameError{}
	case TypePush:
		return &PushRequest{}
	case TypePushResult:
		return &PushResponse{}
	case TypePullResponse:
		return &PullResponse{}
	}
	return nil
}

// Marshal validates f and returns its JSON envelope (no trailing newline). HTML characters are
// not escaped, so a frame decodes and re-encodes to the same bytes.
func Marshal(f Frame) ([]byte, error) {
	if f == nil {
		return nil, errors.New("marshal frame: nil frame")
	}
	if err := f.check(nil); err != nil {
		return nil, fmt.Errorf("marshal %s frame: %w", f.FrameType(), err)
	}
	data, err := marshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("marshal %s frame: %w", f.FrameType(), err)
	}
	// The envelope is written by hand: encoding data again as a RawMessage would scan and
	// copy the whole frame a second time. These are the bytes encoding/json writes for
	// envelope (frame types are plain ASCII words).
	head, ok := envelopeHeads[f.FrameType()]
	if !ok {
		head = envelopeHead(f.FrameType())
	}
	b := make([]byte, 0, len(head)+len(data)+1)
	return append(append(append(b, head...), data...), '}'), nil
}

// envelopeHead is the start of a frame of type t as Marshal writes it, up to its data.
func envelopeHead(t Type) string {
	return `{"v":` + strconv.Itoa(Version) + `,"type":"` + string(t) + `","data":`
}

// envelopeHeads holds envelopeHead of every frame type, made once rather than per frame.
var envelopeHeads = func() map[Type]string {
	m := make(map[Type]string, len(frameTypes))
	for _, t := range frameTypes {
		m[t] = envelopeHead(t)
	}
	return m
}()

func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// WriteFrame writes f's JSON envelope to w, gzip-compressed when compress is true.
func WriteFrame(w io.Writer, f Frame, compress bool) (int64, error) {
	b, err := Marshal(f)
	if err != nil {
		return 0, err
	}
	if compress {
		if b, err = Gzip(b); err != nil {
			return 0, err
		}
	}
	n, err := w.Write(b)
	return int64(n), err
}

// Gzip compresses an encoded frame. The hub compresses pull responses and stream frames for
// clients that accept it; clients may compress push requests.
func Gzip(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b)/8 + 64) // JSON frames of changes compress 10 to 30 times
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("gzip frame: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip frame: %w", err)
	}
	return buf.Bytes(), nil
}

// gzipWriters reuses compressors: each holds most of a megabyte of state, which a stream
// of frames would otherwise allocate and collect once per frame. The level stays the
// default: edges behind slow links pay for every byte.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// IsGzip reports whether b starts with the gzip magic number. A JSON frame never does, so
// readers detect compression from the bytes themselves.
func IsGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// ReadFrame reads one frame (all of r) and decodes it strictly with DecodeFrame. Gzip input is
// detected and decompressed; both the input and the decompressed JSON are bounded by
// lim.MaxFrameBytes, so a compression bomb fails with CodeTooLarge without being inflated.
func ReadFrame(r io.Reader, lim Limits) (Frame, error) {
	lim = lim.withDefaults()
	fr := frameReaders.Get().(*frameReader)
	defer fr.put()
	raw := &countingReader{r: io.LimitReader(r, lim.MaxFrameBytes+1)}
	fr.br.Reset(raw)
	head, _ := fr.br.Peek(2)
	zipped := IsGzip(head)
	var src io.Reader = fr.br
	if zipped {
		if err := fr.gunzip(fr.br); err != nil {
			return nil, tooLargeOr(raw, lim, domain.Errorf(domain.CodeInvalid, "invalid gzip frame"))
		}
		src = fr.zr
	}
	if _, err := fr.buf.ReadFrom(io.LimitReader(src, lim.MaxFrameBytes+1)); err != nil {
		if zipped {
			return nil, tooLargeOr(raw, lim, domain.Errorf(domain.CodeInvalid, "invalid gzip frame"))
		}
		return nil, fmt.Errorf("read frame: %w", err)
	}
	b := fr.buf.Bytes()
	if int64(len(b)) > lim.MaxFrameBytes {
		return nil, errTooLarge(lim)
	}
	if err := tooLargeOr(raw, lim, nil); err != nil {
		return nil, err
	}
	// Nothing DecodeFrame returns refers to b (patch values are copied out, encoding/json
	// copies what it keeps), so the buffer goes back to the pool for the next frame.
	return DecodeFrame(b, lim)
}

// frameReader is what ReadFrame needs per frame, pooled: a hub reading a push and an edge
// reading its stream would otherwise allocate a growing buffer for every frame (and zero
// it), and a decompressor with its tables for every gzipped one.
type frameReader struct {
	br  *bufio.Reader
	zr  *gzip.Reader // nil until the first gzipped frame
	buf bytes.Buffer
}

// maxPooledFrame bounds the buffers kept for reuse: a rare huge frame is not held forever.
const maxPooledFrame = 4 << 20

var frameReaders = sync.Pool{New: func() any { return &frameReader{br: bufio.NewReader(nil)} }}

// gunzip makes fr.zr read the gzip stream in r.
func (fr *frameReader) gunzip(r io.Reader) error {
	if fr.zr == nil {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		fr.zr = zr
		return nil
	}
	return fr.zr.Reset(r)
}

func (fr *frameReader) put() {
	fr.br.Reset(nil)
	if fr.zr != nil {
		fr.zr.Close()
	}
	if fr.buf.Cap() > maxPooledFrame {
		return
	}
	fr.buf.Reset()
	frameReaders.Put(fr)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// tooLargeOr returns CodeTooLarge if more input than the limit was read, else err.
func tooLargeOr(raw *countingReader, lim Limits, err error) error {
	if raw.n > lim.MaxFrameBytes {
		return errTooLarge(lim)
	}
	return err
}

func errTooLarge(lim Limits) error {
	return domain.Errorf(domain.CodeTooLarge, "frame is larger than %d bytes", lim.MaxFrameBytes)
}

// DecodeFrame decodes one uncompressed JSON envelope strictly: exactly the fields of the
// envelope and of the frame type (case-insensitive names, as encoding/json), nothing after the
// object, version Version, a known type, and a frame that passes validation. Patch values are
// compacted and times normalized to UTC, so Marshal(DecodeFrame(b)) is canonical. Errors are
// CodeInvalid, or CodeTooLarge for limits.
func DecodeFrame(b []byte, lim Limits) (Frame, error) {
	lim = lim.withDefaults()
	if int64(len(b)) > lim.MaxFrameBytes {
		return nil, errTooLarge(lim)
	}
	if f, ok := decodeCanonical(b, &lim); ok {
		return f, nil
	}
	return decodeGeneral(b, lim)
}

// decodeGeneral is DecodeFrame for any envelope: decoded, then its data decoded again.
func decodeGeneral(b []byte, lim Limits) (Frame, error) {
	var env envelope
	if err := strictUnmarshal(b, &env); err != nil {
		return nil, err
	}
	if env.V != Version {
		return nil, domain.FieldErrorf("v", "unsupported sync protocol version %d (this node speaks %d)", env.V, Version)
	}
	f := newFrame(env.Type)
	if f == nil {
		return nil, domain.FieldErrorf("type", "unknown frame type %q", truncate(string(env.Type), 40))
	}
	if len(env.Data) == 0 || bytes.Equal(env.Data, []byte("null")) {
		return nil, domain.FieldErrorf("data", "%s frame has no data", env.Type)
	}
	if err := strictUnmarshal(env.Data, f); err != nil {
		return nil, err
	}
	if err := f.check(&lim); err != nil {
		return nil, err
	}
	return f, nil
}

// decodeCanonical decodes b in one pass when its envelope has exactly the bytes Marshal
// writes (every AIFF node's frames): the data is then the bytes between the head and the
// final brace, decoded straight into the frame, instead of the envelope being decoded first
// and its data copied and decoded again. Frames that carry changes are decoded without
// reflection when they are exactly as Marshal writes them (fastFrame). ok is false for any other input, and for a frame
// that fails to decode or validate, so that DecodeFrame's general path gives the answer and
// the error exactly as before.
func decodeCanonical(b []byte, lim *Limits) (Frame, bool) {
	if !bytes.HasPrefix(b, []byte(`{"v":`)) {
		return nil, false
	}
	for _, t := range frameTypes {
		head := envelopeHeads[t]
		if len(b) <= len(head) || string(b[:len(head)]) != head || b[len(b)-1] != '}' {
			continue
		}
		data := b[len(head) : len(b)-1]
		f, fast := fastFrame(t, data)
		if !fast {
			f = newFrame(t)
			if bytes.Equal(bytes.TrimSpace(data), []byte("null")) || strictUnmarshal(data, f) != nil {
				return nil, false
			}
		}
		if f.check(lim) != nil {
			return nil, false
		}
		return f, true
	}
	return nil, false
}

// ReadAs reads a frame with ReadFrame and requires it to be of type T, returning CodeInvalid
// otherwise: a hub handler reads a push with ReadAs[*wire.PushRequest](r.Body, lim).
func ReadAs[T Frame](r io.Reader, lim Limits) (T, error) {
	var zero T
	f, err := ReadFrame(r, lim)
	if err != nil {
		return zero, err
	}
	t, ok := f.(T)
	if !ok {
		return zero, domain.FieldErrorf("type", "expected a %s frame, got %s", zero.FrameType(), f.FrameType())
	}
	return t, nil
}

// strictUnmarshal decodes one JSON value into v, refusing unknown fields and trailing data,
// and translates decoder errors into user-safe CodeInvalid messages.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Errorf(domain.CodeInvalid, "unexpected data after the frame")
	}
	return nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var de *domain.Error
	switch {
	case errors.As(err, &de):
		return de
	case errors.As(err, &se):
		return domain.Errorf(domain.CodeInvalid, "malformed json at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return domain.FieldErrorf(te.Field, "%s must be a %s", te.Field, jsonKind(te.Type.String()))
		}
		return domain.Errorf(domain.CodeInvalid, "wrong json type: expected %s", jsonKind(te.Type.String()))
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return domain.Errorf(domain.CodeInvalid, "truncated json")
	}
	// Remaining decoder errors (unknown field, bad time text) carry no internal detail but
	// may echo input, so they are shortened.
	return domain.Errorf(domain.CodeInvalid, "invalid frame: %s", truncate(err.Error(), 120))
}

func jsonKind(goType string) string {
	switch goType {
	case "string", "wire.Type", "domain.Entity", "domain.Op", "domain.Code", "wire.ResultStatus":
		return "string"
	case "int", "int64", "uint32":
		return "integer"
	case "bool":
		return "boolean"
	case "time.Time":
		return "RFC 3339 time string"
	}
	if len(goType) > 2 && goType[:2] == "[]" {
		return "array"
	}
	if len(goType) > 3 && goType[:3] == "map" {
		return "object"
	}
	return "object"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// writeTo is the shared WriteTo of every frame type.
func writeTo(w io.Writer, f Frame) (int64, error) { return WriteFrame(w, f, false) }

// validTime reports whether t (in UTC) can be encoded as JSON and is a plausible event time.
func validTime(t time.Time) bool {
	return !t.IsZero() && t.Year() >= 1970 && t.Year() <= 9999
}
