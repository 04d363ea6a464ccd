package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/wire"
)

// Writer writes one snapshot stream: NewWriter, Write each row in key order, Close. Rows are
// validated as a Reader would (so a hub never sends what its replicas refuse) and grouped
// into chunks of at most ChunkRows rows and about ChunkBytes bytes. The first error is
// sticky: the stream is then unusable, and the server should end the response abnormally so
// the client sees a truncated stream and resumes.
type Writer struct {
	// ChunkRows is the most rows in one chunk (default 256, at most Limits.MaxChunkRows).
	ChunkRows int
	// ChunkBytes is the size at which a chunk is closed (default 256 KiB). Smaller chunks
	// lose less on a cut; larger ones cost fewer lines.
	ChunkBytes int
	// Limits are the reader's limits the stream must respect (zero: DefaultLimits).
	Limits Limits

	w       io.Writer
	h       Header
	started bool
	closed  bool
	err     error
	sum     [sha256.Size]byte
	index   int
	rows    int64
	prev    Key
	pend    [][]byte // encoded rows of the open chunk
	pendLen int
}

// NewWriter returns a writer of a stream with header h to w. Set its exported fields before
// the first Write; the header is written then (or by Close, for an empty snapshot).
func NewWriter(w io.Writer, h Header) *Writer {
	return &Writer{w: w, h: h}
}

func (w *Writer) start() error {
	if w.started {
		return nil
	}
	w.started = true
	w.Limits = w.Limits.withDefaults()
	if w.ChunkRows <= 0 {
		w.ChunkRows = 256
	}
	w.ChunkRows = min(w.ChunkRows, w.Limits.MaxChunkRows)
	if w.ChunkBytes <= 0 {
		w.ChunkBytes = 256 << 10
	}
	if err := checkHeader(w.h, w.Limits); err != nil {
		return fmt.Errorf("snapshot header: %w", err)
	}
	w.h.Zones = slices.Clone(w.h.Zones)
	var err error
	if w.prev, err = ParseKey(w.h.After); err != nil {
		return err
	}
	data, err := marshal(w.h)
	if err != nil {
		return fmt.Errorf("encode snapshot header: %w", err)
	}
	return w.writeSummed(TypeHeader, data[:len(data)-1]) // data's object stays open for the sum
}

// Write adds row r, which must come after the previous row (and after the header's After)
// in key order and pass the Reader's validation. r is not modified.
func (w *Writer) Write(r Row) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return fmt.Errorf("write snapshot row: writer is closed")
	}
	if w.err = w.start(); w.err != nil {
		return w.err
	}
	w.err = w.write(r)
	return w.err
}

func (w *Writer) write(r Row) error {
	if w.rows >= w.h.Rows {
		return fmt.Errorf("write snapshot row %s: more rows than the header's %d", r.Key(), w.h.Rows)
	}
	r.Changes = slices.Clone(r.Changes)
	for i := range r.Changes {
		r.Changes[i].Patch = maps.Clone(r.Changes[i].Patch)
		r.Changes[i].Base = maps.Clone(r.Changes[i].Base)
	}
	if err := checkRow(&r, w.prev, w.h, w.Limits); err != nil {
		return fmt.Errorf("write snapshot row: %w", err)
	}
	b, err := marshal(r)
	if err != nil {
		return fmt.Errorf("encode snapshot row %s: %w", r.Key(), err)
	}
	// A line holds the rows plus at most ~300 bytes of envelope, index, key and sum.
	if int64(len(b))+300+2*int64(len(r.ID)) > w.Limits.MaxLineBytes {
		return domain.Errorf(domain.CodeTooLarge, "row %s is larger than a snapshot line may be", truncate(r.Key().String(), 80))
	}
	if len(w.pend) > 0 && (len(w.pend) >= w.ChunkRows || w.pendLen+len(b) > w.ChunkBytes ||
		int64(w.pendLen+len(b))+300+2*int64(len(r.ID)) > w.Limits.MaxLineBytes) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	w.pend = append(w.pend, b)
	w.pendLen += len(b) + 1
	w.prev = r.Key()
	w.rows++
	return nil
}

// Flush ends the open chunk, if any, and writes it: a server calls it before flushing the
// HTTP response, so what the client has received is a run of complete chunks.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.err = w.start(); w.err != nil {
		return w.err
	}
	w.err = w.flush()
	return w.err
}

func (w *Writer) flush() error {
	if len(w.pend) == 0 {
		return nil
	}
	rows := make([]byte, 0, w.pendLen+2)
	rows = append(rows, '[')
	rows = append(rows, bytes.Join(w.pend, []byte{','})...)
	rows = append(rows, ']')
	w.index++
	last, _ := marshal(w.prev.String())
	var data bytes.Buffer
	data.WriteString(`{"index":` + strconv.Itoa(w.index) + `,"last":`)
	data.Write(last)
	data.WriteString(`,"rows":`)
	data.Write(rows)
	w.pend, w.pendLen = w.pend[:0], 0
	return w.writeSummed(TypeChunk, data.Bytes())
}

// writeSummed writes a line: the envelope with data, whose last member is "sum", the running
// checksum over the previous sum (32 zero bytes for the header) and every byte of the line
// before the member.
func (w *Writer) writeSummed(typ string, data []byte) error {
	prefix := envelope(typ, data)
	prefix = prefix[:len(prefix)-1] // reopen the envelope: data's object is still open
	w.sum = chain(w.sum, prefix)
	line := append(prefix, `,"sum":"`+hex.EncodeToString(w.sum[:])+`"}}`...)
	return w.writeLine(line)
}

// Close writes the last chunk and the trailer. It fails if fewer rows were written than the
// header announced. Close does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	if w.err = w.start(); w.err != nil {
		return w.err
	}
	if w.err = w.flush(); w.err != nil {
		return w.err
	}
	if w.rows != w.h.Rows {
		w.err = fmt.Errorf("close snapshot: %d rows written, header says %d", w.rows, w.h.Rows)
		return w.err
	}
	w.closed = true
	data := `{"rows":` + strconv.FormatInt(w.rows, 10) + `,"chunks":` + strconv.Itoa(w.index)
	w.err = w.writeSummed(TypeTrailer, []byte(data))
	return w.err
}

func (w *Writer) writeLine(line []byte) error {
	if _, err := w.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// envelope returns the line {"v":1,"type":typ,"data":data}.
func envelope(typ string, data []byte) []byte {
	b := make([]byte, 0, len(data)+48)
	b = append(b, `{"v":`+strconv.Itoa(wire.Version)+`,"type":"`+typ+`","data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// chain is the running checksum: SHA-256 of the previous sum and the bytes of a line before
// its sum member.
func chain(prev [sha256.Size]byte, rows []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(rows)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// marshal is compact JSON without HTML escaping and without a trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
