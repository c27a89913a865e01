// Package strictjson walks JSON text token by token and reports every
// object key with where it is and whether its object already has it, so
// callers can refuse duplicate keys (decoders disagree on which one wins)
// in their own words. Walking tokens keeps deep nesting off the stack.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Step is one step of a path into a JSON value: the key of an object
// member, or the index of an array element.
type Step struct {
	Key     string
	Index   int
	InArray bool // the step is Index, not Key
}

// Key is one object key met by Walk.
type Key struct {
	// Path leads from the top-level value to the object holding the key.
	// It is valid only during the call.
	Path []Step
	// Name is the key as written.
	Name string
	// Twice reports that the object already has this key (compared
	// case-insensitively with Options.FoldCase); First is that earlier
	// key as written.
	Twice bool
	First string
}

// Options choose how Walk compares keys and what input it accepts.
type Options struct {
	// FoldCase counts keys that differ only in letter case as the same key
	// (encoding/json matches field names so).
	FoldCase bool
	// Stream accepts several top-level values one after another, walking
	// them all, instead of reporting the second as KindTrailing.
	Stream bool
}

// Kind says what is wrong with malformed input.
type Kind int

// Kinds of malformed input.
const (
	KindSyntax    Kind = iota + 1 // not JSON; Err has the decoder's words
	KindTruncated                 // the input ends inside a value
	KindEmpty                     // no value at all
	KindTrailing                  // data after the first value
)

// Error is malformed input found by Walk, with the byte offset where the
// walk stopped.
type Error struct {
	Kind   Kind
	Offset int64
	Err    error // the decoder's error, for KindSyntax
}

func (e *Error) Error() string {
	switch e.Kind {
	case KindTruncated:
		return fmt.Sprintf("unexpected end of JSON input (at byte %d)", e.Offset)
	case KindEmpty:
		return "no JSON value"
	case KindTrailing:
		return fmt.Sprintf("unexpected data after the JSON value (at byte %d)", e.Offset)
	}
	return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(e.Err.Error(), "json: "), e.Offset)
}

// Unwrap returns the decoder's error, if any.
func (e *Error) Unwrap() error { return e.Err }

type frame struct {
	step      Step
	obj       bool
	keys      map[string]string // key as compared → key as written
	expectKey bool              // the next string token is a key
}

// Walk reads data and calls visit for every object key, in order. It
// stops at the first error visit returns and returns it; malformed input
// is an *Error.
func Walk(data []byte, opts Options, visit func(Key) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	values := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			switch {
			case len(stack) > 0:
				return &Error{Kind: KindTruncated, Offset: dec.InputOffset()}
			case values == 0:
				return &Error{Kind: KindEmpty, Offset: dec.InputOffset()}
			}
			return nil
		}
		if err != nil {
			return &Error{Kind: KindSyntax, Offset: dec.InputOffset(), Err: err}
		}
		if len(stack) == 0 {
			if values > 0 && !opts.Stream {
				return &Error{Kind: KindTrailing, Offset: dec.InputOffset()}
			}
			values++
		}
		if key, ok := tok.(string); ok && len(stack) > 0 && stack[len(stack)-1].obj && stack[len(stack)-1].expectKey {
			if err := enter(stack, key, opts, visit); err != nil {
				return err
			}
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]string{}, expectKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{step: Step{InArray: true}})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		afterValue(stack)
	}
}

// enter records key in the innermost object and reports it to visit.
func enter(stack []*frame, key string, opts Options, visit func(Key) error) error {
	top := stack[len(stack)-1]
	same := key
	if opts.FoldCase {
		same = strings.ToLower(key)
	}
	k := Key{Path: pathOf(stack), Name: key}
	if first, dup := top.keys[same]; dup {
		k.Twice, k.First = true, first
	} else {
		top.keys[same] = key
	}
	top.step = Step{Key: key}
	top.expectKey = false
	return visit(k)
}

// pathOf is the path to the innermost container.
func pathOf(stack []*frame) []Step {
	path := make([]Step, 0, len(stack)-1)
	for _, f := range stack[:len(stack)-1] {
		path = append(path, f.step)
	}
	return path
}

// afterValue moves the innermost container past one value.
func afterValue(stack []*frame) {
	if len(stack) == 0 {
		return
	}
	top := stack[len(stack)-1]
	if top.obj {
		top.expectKey = true
	} else {
		top.step.Index++
	}
}
