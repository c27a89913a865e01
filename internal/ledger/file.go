package ledger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Writer appends records to a ledger file. It is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	f   *os.File
	buf *bufio.Writer
	err error
}

// Open creates (or truncates) the ledger file at path and writes h as its
// first line. Kind and Version of h are filled in.
func Open(path string, h Header) (*Writer, error) {
	h.Kind, h.Version = KindHeader, Version
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("ledger header: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	w := &Writer{f: f, buf: bufio.NewWriter(f)}
	if err := w.writeLine(h); err != nil {
		_ = f.Close() // the write error is the one to report
		return nil, err
	}
	return w, nil
}

// Append writes one record and flushes it to the file. Kind is filled in;
// a record that does not validate is refused. After a write error every
// later Append returns that error.
func (w *Writer) Append(r Record) error {
	r.Kind = KindCommand
	if err := r.Validate(); err != nil {
		return fmt.Errorf("ledger record %d: %w", r.Seq, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writeLine(r)
}

// writeLine writes v as one JSON line and flushes; w.mu is held (or w is
// not shared yet).
func (w *Writer) writeLine(v any) error {
	if w.err != nil {
		return w.err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode ledger line: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.buf.Write(b); err != nil {
		w.err = fmt.Errorf("write ledger: %w", err)
		return w.err
	}
	if err := w.buf.Flush(); err != nil {
		w.err = fmt.Errorf("write ledger: %w", err)
	}
	return w.err
}

// Close syncs the file to disk and closes it.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return w.err
	}
	err := errors.Join(w.buf.Flush(), w.f.Sync(), w.f.Close())
	w.f = nil
	if err != nil {
		return fmt.Errorf("close ledger: %w", err)
	}
	return w.err
}

// Read reads a whole ledger file.
func Read(path string) (Header, []Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, fmt.Errorf("open ledger: %w", err)
	}
	defer func() { _ = f.Close() }() // read only
	h, recs, err := Decode(f)
	if err != nil {
		return h, recs, fmt.Errorf("ledger %s: %w", path, err)
	}
	return h, recs, nil
}

// Decode reads a ledger from r: the header line, then command lines. A
// last line without its newline (the writer was killed while writing it)
// is ignored; any other malformed line is an error naming its line number.
func Decode(r io.Reader) (Header, []Record, error) {
	var h Header
	var recs []Record
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if n == 1 {
				return h, nil, errors.New("empty ledger: no header line")
			}
			return h, recs, nil // a partial last line is dropped
		}
		if err != nil {
			return h, recs, fmt.Errorf("read line %d: %w", n, err)
		}
		if n == 1 {
			if err := decodeHeader(line, &h); err != nil {
				return h, nil, fmt.Errorf("line 1: %w", err)
			}
			continue
		}
		var rec Record
		if err := strict(line, &rec); err != nil {
			return h, recs, fmt.Errorf("line %d: %w", n, err)
		}
		if err := rec.Validate(); err != nil {
			return h, recs, fmt.Errorf("line %d: %w", n, err)
		}
		recs = append(recs, rec)
	}
}

func decodeHeader(line []byte, h *Header) error {
	if err := strict(line, h); err != nil {
		return err
	}
	return h.Validate()
}

// strict decodes one JSON object, refusing unknown fields.
func strict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}
