package snapshot

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/wire"
)

// Chunk is one verified chunk of rows.
type Chunk struct {
	Index int   // 1, 2, … within the stream
	Rows  []Row // in key order, validated and normalized
}

// Checkpoint is where a reader stands after its last verified chunk: what a client stores
// with the rows it has applied (in one local transaction), to resume after a cut. It is
// plain JSON.
type Checkpoint struct {
	Header Header `json:"header"`
	// Offset is the byte offset just after the last verified line (header or chunk): an HTTP
	// Range request for the same stream resumes there (Resume).
	Offset int64 `json:"offset"`
	// Chunks and Rows count what was verified so far.
	Chunks int   `json:"chunks"`
	Rows   int64 `json:"rows"`
	// Last is the key of the last row received ("" if none yet): a new stream with
	// "after=Last" resumes there too (Continues).
	Last string `json:"last"`
	// Sum is the running checksum after the last verified line.
	Sum string `json:"sum"`
	// Complete is set once the trailer is verified.
	Complete bool `json:"complete"`
}

// Continues checks that a new stream with header h, requested with "after=cp.Last", carries
// on where cp stopped: same zones, After equal to Last. Its cursor may be later than cp's:
// the client keeps the lower cursor and pulls the log from there (a change it already has is
// a no-op for merge). Returns CodeInvalid otherwise.
func (cp Checkpoint) Continues(h Header) error {
	if !equalStrings(h.Zones, cp.Header.Zones) {
		return domain.FieldErrorf("zones", "the resumed snapshot is for other zones")
	}
	if h.After != cp.Last {
		return domain.FieldErrorf("after", "the resumed snapshot starts after %q, not %q", truncate(h.After, 80), truncate(cp.Last, 80))
	}
	return nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Reader reads one snapshot stream and returns only what it has verified. The first error is
// sticky. Errors: CodeInvalid for a malformed or inconsistent stream, CodeTooLarge over a
// limit, *ChecksumError for corrupted bytes, ErrTruncated (wrapped) when the input ends before
// the trailer, and the underlying reader's errors, wrapped.
type Reader struct {
	br   *bufio.Reader
	lim  Limits
	h    Header
	off  int64 // bytes consumed
	cp   Checkpoint
	sum  [sha256.Size]byte
	prev Key
	err  error
	// names interns strings that repeat from row to row (fastChunk).
	names map[string]string
}

// NewReader reads and validates the header of the stream r.
func NewReader(r io.Reader, lim Limits) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, 64<<10), lim: lim.withDefaults()}
	line, err := rd.readLine()
	if err != nil {
		return nil, err
	}
	sum, err := rd.verify(line, 0, "header", 0)
	if err != nil {
		return nil, err
	}
	data, err := decodeEnvelope(line, TypeHeader)
	if err != nil {
		return nil, fmt.Errorf("snapshot header: %w", err)
	}
	var d struct {
		Header
		Sum string `json:"sum"`
	}
	if err := strictUnmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("snapshot header: %w", err)
	}
	rd.h = d.Header
	if err := checkHeader(rd.h, rd.lim); err != nil {
		return nil, fmt.Errorf("snapshot header: %w", err)
	}
	rd.prev, _ = ParseKey(rd.h.After)
	rd.sum = sum
	rd.cp = Checkpoint{Header: rd.h, Offset: rd.off, Last: rd.h.After, Sum: hex.EncodeToString(rd.sum[:])}
	return rd, nil
}

// Resume continues the stream of cp from r, which must hold the same stream's bytes from
// cp.Offset on (the body of an HTTP Range request "bytes=<Offset>-", with If-Range so the
// hub answers the whole new stream instead if it changed; such a stream fails verification
// here with a *ChecksumError or CodeInvalid, and the client starts over or resumes by key).
func Resume(r io.Reader, cp Checkpoint, lim Limits) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, 64<<10), lim: lim.withDefaults(), h: cp.Header, off: cp.Offset, cp: cp}
	if err := checkHeader(cp.Header, rd.lim); err != nil {
		return nil, fmt.Errorf("resume snapshot: %w", err)
	}
	sum, err := hex.DecodeString(cp.Sum)
	if err != nil || len(sum) != sha256.Size || cp.Offset <= 0 || cp.Chunks < 0 || cp.Rows < 0 || cp.Rows > cp.Header.Rows {
		return nil, domain.Errorf(domain.CodeInvalid, "resume snapshot: invalid checkpoint")
	}
	copy(rd.sum[:], sum)
	if rd.prev, err = ParseKey(cp.Last); err != nil {
		return nil, fmt.Errorf("resume snapshot: %w", err)
	}
	if cp.Complete {
		rd.err = io.EOF
	}
	return rd, nil
}

// Header returns the stream's header.
func (r *Reader) Header() Header { return r.h }

// Checkpoint returns the position after the last verified chunk (or the header).
func (r *Reader) Checkpoint() Checkpoint { return r.cp }

// Next returns the next verified chunk, or io.EOF once the trailer is verified and the
// input has ended.
func (r *Reader) Next() (Chunk, error) {
	if r.err != nil {
		return Chunk{}, r.err
	}
	ch, err := r.next()
	if err != nil {
		r.err = err
	}
	return ch, err
}

// Every line ends with its checksum: `,"sum":"<64 lowercase hex>"}}`.
const (
	sumOpen      = `,"sum":"`
	sumClose     = `"}}`
	sumSuffixLen = len(sumOpen) + 2*sha256.Size + len(sumClose)
)

// verify checks the running checksum of a line (its last member, over the previous sum and
// every byte before the member) and returns the new sum. what and chunk name the line in a
// *ChecksumError.
func (r *Reader) verify(line []byte, start int64, what string, chunk int) ([sha256.Size]byte, error) {
	n := len(line)
	if n < sumSuffixLen || string(line[n-sumSuffixLen:n-sumSuffixLen+len(sumOpen)]) != sumOpen || string(line[n-len(sumClose):]) != sumClose {
		return [sha256.Size]byte{}, domain.Errorf(domain.CodeInvalid, "snapshot line at byte %d does not end with its checksum", start)
	}
	sum := chain(r.sum, line[:n-sumSuffixLen])
	if string(line[n-sumSuffixLen+len(sumOpen):n-len(sumClose)]) != hex.EncodeToString(sum[:]) {
		return sum, &ChecksumError{Line: what, Chunk: chunk, Offset: start}
	}
	return sum, nil
}

func (r *Reader) next() (Chunk, error) {
	start := r.off
	line, err := r.readLine()
	if err != nil {
		return Chunk{}, err
	}
	// Verify before decoding: nothing from corrupted bytes is interpreted. Whether the line
	// is the trailer decides only how a mismatch is reported.
	what := "chunk"
	if bytes.HasPrefix(line, []byte(`{"v":1,"type":"`+TypeTrailer+`"`)) {
		what = "trailer"
	}
	sum, err := r.verify(line, start, what, r.cp.Chunks+1)
	if err != nil {
		return Chunk{}, err
	}
	if r.names == nil {
		r.names = map[string]string{}
	}
	index, last, rows, ok := fastChunk(line, r.names)
	if !ok {
		if index, last, rows, err = r.decodeLine(line, start, sum); err != nil {
			return Chunk{}, err
		}
	}
	return r.chunk(index, last, rows, sum)
}

// decodeLine decodes a chunk line with encoding/json, strictly; a trailer line ends the
// stream (io.EOF once verified).
func (r *Reader) decodeLine(line []byte, start int64, sum [sha256.Size]byte) (int, string, []Row, error) {
	var env struct {
		V    int             `json:"v"`
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := strictUnmarshal(line, &env); err != nil {
		return 0, "", nil, fmt.Errorf("snapshot line at byte %d: %w", start, err)
	}
	switch {
	case env.V != wire.Version:
		return 0, "", nil, domain.FieldErrorf("v", "unsupported snapshot version %d", env.V)
	case env.Type == TypeTrailer:
		return 0, "", nil, r.trailer(env.Data, sum)
	case env.Type != TypeChunk:
		return 0, "", nil, domain.FieldErrorf("type", "expected a %s or %s line at byte %d", TypeChunk, TypeTrailer, start)
	}
	var d struct {
		Index int             `json:"index"`
		Last  string          `json:"last"`
		Rows  json.RawMessage `json:"rows"`
		Sum   string          `json:"sum"`
	}
	if err := strictUnmarshal(env.Data, &d); err != nil {
		return 0, "", nil, fmt.Errorf("snapshot chunk at byte %d: %w", start, err)
	}
	if d.Index != r.cp.Chunks+1 {
		return 0, "", nil, domain.FieldErrorf("index", "snapshot chunk %d where %d was expected", d.Index, r.cp.Chunks+1)
	}
	var rows []Row
	if err := strictUnmarshal(d.Rows, &rows); err != nil {
		return 0, "", nil, fmt.Errorf("snapshot chunk %d: %w", d.Index, err)
	}
	return d.Index, d.Last, rows, nil
}

// chunk checks the decoded rows of chunk index, whose line ended with sum, and moves the
// checkpoint past them.
func (r *Reader) chunk(index int, last string, rows []Row, sum [sha256.Size]byte) (Chunk, error) {
	d := struct {
		Index int
		Last  string
	}{index, last}
	if d.Index != r.cp.Chunks+1 {
		return Chunk{}, domain.FieldErrorf("index", "snapshot chunk %d where %d was expected", d.Index, r.cp.Chunks+1)
	}
	if len(rows) == 0 || len(rows) > r.lim.MaxChunkRows {
		return Chunk{}, domain.FieldErrorf("rows", "a snapshot chunk holds 1 to %d rows", r.lim.MaxChunkRows)
	}
	if r.cp.Rows+int64(len(rows)) > r.h.Rows {
		return Chunk{}, domain.FieldErrorf("rows", "more rows than the header's %d", r.h.Rows)
	}
	prev := r.prev
	for i := range rows {
		if err := checkRow(&rows[i], prev, r.h, r.lim); err != nil {
			return Chunk{}, fmt.Errorf("snapshot chunk %d: %w", d.Index, err)
		}
		prev = rows[i].Key()
	}
	if d.Last != prev.String() {
		return Chunk{}, domain.FieldErrorf("last", "snapshot chunk %d: last is not its last row", d.Index)
	}
	r.sum, r.prev = sum, prev
	r.cp.Offset, r.cp.Chunks, r.cp.Rows = r.off, d.Index, r.cp.Rows+int64(len(rows))
	r.cp.Last, r.cp.Sum = prev.String(), hex.EncodeToString(sum[:])
	return Chunk{Index: d.Index, Rows: rows}, nil
}

func (r *Reader) trailer(data json.RawMessage, sum [sha256.Size]byte) error {
	var d struct {
		Rows   int64  `json:"rows"`
		Chunks int    `json:"chunks"`
		Sum    string `json:"sum"`
	}
	if err := strictUnmarshal(data, &d); err != nil {
		return fmt.Errorf("snapshot trailer: %w", err)
	}
	if d.Chunks != r.cp.Chunks || d.Rows != r.cp.Rows || d.Rows != r.h.Rows {
		return domain.Errorf(domain.CodeInvalid, "snapshot trailer: %d rows in %d chunks received, trailer says %d in %d, header %d",
			r.cp.Rows, r.cp.Chunks, d.Rows, d.Chunks, r.h.Rows)
	}
	if _, err := r.br.ReadByte(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("read snapshot: %w", err)
		}
		return domain.Errorf(domain.CodeInvalid, "data after the snapshot trailer")
	}
	r.sum = sum
	r.cp.Offset, r.cp.Sum, r.cp.Complete = r.off, hex.EncodeToString(sum[:]), true
	return io.EOF
}

// readLine returns the next line without its newline. A line must end in '\n'.
func (r *Reader) readLine() ([]byte, error) {
	var line []byte
	for {
		frag, err := r.br.ReadSlice('\n')
		line = append(line, frag...)
		if int64(len(line)) > r.lim.MaxLineBytes+1 {
			return nil, domain.Errorf(domain.CodeTooLarge, "snapshot line at byte %d is longer than %d bytes", r.off, r.lim.MaxLineBytes)
		}
		switch {
		case err == nil:
			r.off += int64(len(line))
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("%w at byte %d", ErrTruncated, r.off+int64(len(line)))
		default:
			return nil, fmt.Errorf("read snapshot: %w", err)
		}
	}
}

// decodeEnvelope checks a line is a version-1 envelope of type typ and returns its data.
func decodeEnvelope(line []byte, typ string) (json.RawMessage, error) {
	var env struct {
		V    int             `json:"v"`
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := strictUnmarshal(line, &env); err != nil {
		return nil, err
	}
	if env.V != wire.Version {
		return nil, domain.FieldErrorf("v", "unsupported snapshot version %d", env.V)
	}
	if env.Type != typ {
		return nil, domain.FieldErrorf("type", "expected a %s line", typ)
	}
	return env.Data, nil
}

// strictUnmarshal decodes one JSON value into v, refusing unknown fields, null or missing
// data and trailing bytes, with user-safe CodeInvalid errors.
func strictUnmarshal(b []byte, v any) error {
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return domain.Errorf(domain.CodeInvalid, "missing data")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return domain.Errorf(domain.CodeInvalid, "malformed json at byte %d", se.Offset)
		case errors.As(err, &te):
			return domain.FieldErrorf(te.Field, "wrong json type for %q", truncate(te.Field, 40))
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return domain.Errorf(domain.CodeInvalid, "truncated json")
		}
		return domain.Errorf(domain.CodeInvalid, "invalid json: %s", truncate(err.Error(), 120))
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Errorf(domain.CodeInvalid, "unexpected data after the json value")
	}
	return nil
}
