package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/strictjson"
)

// MaxSize is the largest command accepted, in bytes.
const MaxSize = 64 << 10

// Decode parses a command strictly: valid UTF-8, one JSON object, no
// duplicate keys, no unknown fields, no trailing data. The error is a
// *customer.Error that says what is wrong, in terms a partner can act on.
// Decode does not validate the values; Validate does.
func Decode(data []byte) (*Command, error) {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] != '{' {
		return nil, customer.Invalid("", "must be an object: a command is one JSON object")
	}
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
	unknown, all, err := checkKeys(data, prefix)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, prefix, append(unknown, longestFirst(all)...))
	}
	if _, err := dec.Token(); err != io.EOF {
		return customer.Invalid(field, "has data after the JSON object")
	}
	return nil
}

// jsonError turns encoding/json's errors into field errors.
func jsonError(err error, prefix string, paths []string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tim *time.ParseError
	switch {
	case errors.As(err, &tim):
		// The only time in the wire format is the envelope's issuedAt.
		return customer.Invalid(prefix+"issuedAt", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
	case errors.As(err, &syn):
		return customer.Invalid(strings.TrimSuffix(prefix, "."), "is not valid JSON: %s at byte %d", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		f := prefix + typ.Field
		if typ.Field == "" {
			f = strings.TrimSuffix(prefix, ".")
		}
		// encoding/json's Value is the kind of value received, sometimes
		// followed by the value itself ("number 9223372036854775808" for
		// an integer that overflows): keep the kind only, so that no
		// value received is ever quoted back.
		kind, _, _ := strings.Cut(typ.Value, " ")
		return customer.Invalid(f, "must be %s, not a JSON %s", jsonKind(typ.Type.Kind().String()), kind)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return customer.Invalid(strings.TrimSuffix(prefix, "."), "is empty or truncated JSON")
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name := strings.Trim(rest, `"`)
		// encoding/json does not say where the field is: find the first key
		// of that name that is not a known field.
		field := prefix + name
		for _, p := range paths {
			if p == name || strings.HasSuffix(p, "."+name) {
				field = p
				break
			}
		}
		return customer.Invalid(field, "is not a field of this message (wire version %d)", WireVersion)
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

// checkKeys reports the first object key that appears twice in one
// object (encoding/json would silently keep the last one), compared
// case-insensitively because encoding/json also matches field names
// case-insensitively; and a key that is a known field name in the wrong
// case. It returns the paths of the keys that are not a known field name,
// and of all keys, so an unknown field can be reported where it is.
// Malformed JSON is left to the real decode to report.
func checkKeys(data []byte, prefix string) (unknown, all []string, err error) {
	base := strings.TrimSuffix(prefix, ".")
	err = strictjson.Walk(data, strictjson.Options{FoldCase: true, Stream: true}, func(k strictjson.Key) error {
		at := join(fieldPath(base, k.Path), k.Name)
		if k.Twice {
			if k.First == k.Name {
				return customer.Invalid(at, "appears twice in one object")
			}
			return customer.Invalid(at, "appears twice in one object (as %q and %q)", k.First, k.Name)
		}
		all = append(all, at)
		if canonical, known := knownFields[strings.ToLower(k.Name)]; !known {
			unknown = append(unknown, at)
		} else if canonical != k.Name {
			return customer.Invalid(at, "must be spelled %q (names are case-sensitive)", canonical)
		}
		return nil
	})
	var ce *customer.Error
	if errors.As(err, &ce) {
		return nil, nil, ce
	}
	return unknown, all, nil
}

// fieldPath is the field path of the object at path: its keys joined
// with dots after base; array indices are left out.
func fieldPath(base string, path []strictjson.Step) string {
	for _, s := range path {
		if !s.InArray {
			base = join(base, s.Key)
		}
	}
	return base
}

// longestFirst orders paths deepest first: a known name in the wrong
// place is most likely the nested one.
func longestFirst(paths []string) []string {
	out := slices.Clone(paths)
	slices.SortStableFunc(out, func(a, b string) int { return strings.Count(b, ".") - strings.Count(a, ".") })
	return out
}

// knownFields maps every JSON field name of the wire types, lower-cased,
// to its spelling.
var knownFields = func() map[string]string {
	m := map[string]string{}
	var walk func(t reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			m[strings.ToLower(name)] = name
			walk(f.Type)
		}
	}
	for _, v := range []any{Command{}, RegisterPayload{}, ContactInfoPayload{}, TerminatePayload{}} {
		walk(reflect.TypeOf(v))
	}
	return m
}()

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Encode returns the command's JSON with the wire version set.
func Encode(c *Command) ([]byte, error) {
	cp := *c
	if cp.Version == 0 {
		cp.Version = WireVersion
	}
	b, err := json.Marshal(&cp)
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
