package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/textkit/customers/internal/customer"
)

// MaxSize is the largest command accepted, in bytes.
const MaxSize = 64 << 10

// Decode parses a command strictly: valid UTF-8, one JSON object, no
// duplicate keys, no unknown fields, no trailing data. The error is a
// *customer.Error that says what is wrong, in terms a partner can act on.
// Decode does not validate the values; Validate does.
func Decode(data []byte) (*Command, error) {
	var c Command
	if err := decodeStrict(data, &c, ""); err != nil {
		return nil, err
	}
	return &c, nil
}

// DecodePayload parses the command's payload into v with the same strictness.
func (c *Command) DecodePayload(v any) error {
	if len(c.Payload) == 0 || bytes.Equal(bytes.TrimSpace(c.Payload), []byte("null")) {
		return customer.Invalid("payload", "is required for %s", c.Type)
	}
	return decodeStrict(c.Payload, v, "payload.")
}

func decodeStrict(data []byte, v any, prefix string) error {
	field := strings.TrimSuffix(prefix, ".")
	if len(data) > MaxSize {
		return customer.Invalid(field, "is %d bytes; the limit is %d", len(data), MaxSize)
	}
	if !utf8.Valid(data) {
		return customer.Invalid(field, "is not valid UTF-8")
	}
	if err := checkDuplicateKeys(data, prefix); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, prefix)
	}
	if _, err := dec.Token(); err != io.EOF {
		return customer.Invalid(field, "has data after the JSON object")
	}
	return nil
}

// jsonError turns encoding/json's errors into field errors.
func jsonError(err error, prefix string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return customer.Invalid(strings.TrimSuffix(prefix, "."), "is not valid JSON: %s at byte %d", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		f := prefix + typ.Field
		if typ.Field == "" {
			f = strings.TrimSuffix(prefix, ".")
		}
		return customer.Invalid(f, "must be %s, not a JSON %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return customer.Invalid(strings.TrimSuffix(prefix, "."), "is empty or truncated JSON")
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name := strings.Trim(rest, `"`)
		return customer.Invalid(prefix+name, "is not a field of this message (wire version %d)", WireVersion)
	}
	return customer.Invalid(strings.TrimSuffix(prefix, "."), "cannot be decoded: %s", strings.TrimPrefix(msg, "json: "))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64", "int32":
		return "an integer"
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "a boolean"
	case "ptr":
		return "a value"
	}
	return "a " + k
}

// checkDuplicateKeys walks the JSON tokens and reports the first object key
// that appears twice in one object: encoding/json would silently keep the
// last one, and a partner's bug should not be guessed at.
func checkDuplicateKeys(data []byte, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		keys   map[string]bool
		path   string
		object bool
		expect bool // next string token in an object is a key
	}
	var stack []*frame
	path := strings.TrimSuffix(prefix, ".")
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // syntax errors are reported by the real decode
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expect {
			if key, ok := tok.(string); ok {
				if top.keys[key] {
					return customer.Invalid(join(top.path, key), "appears twice in one object")
				}
				top.keys[key] = true
				top.expect = false
				path = join(top.path, key)
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, path: path, object: true, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{path: path})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			top = stack[len(stack)-1]
			if top.object {
				top.expect = true
			}
			path = top.path
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Encode returns the command's JSON with the wire version set.
func Encode(c *Command) ([]byte, error) {
	if c.Version == 0 {
		c.Version = WireVersion
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command %s: %w", c.ID, err)
	}
	return b, nil
}

// MustPayload marshals a payload value for Command.Payload.
func MustPayload(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("command payload %T cannot be marshalled: %v", v, err))
	}
	return b
}
