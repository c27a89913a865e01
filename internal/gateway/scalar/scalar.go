// Package scalar holds the gateway's hand-written GraphQL scalars, which
// gqlgen.yml binds (the generated types live in package model).
package scalar

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/textkit/customers/internal/customer"
)

// ExpectedVersion is the ExpectedVersion scalar: nil Version means ANY.
type ExpectedVersion struct {
	Version *int64
}

// Any is the ExpectedVersion that accepts any version.
var Any = ExpectedVersion{}

// UnmarshalGQL accepts ANY (as an enum-like literal or a string) or a
// non-negative integer.
func (e *ExpectedVersion) UnmarshalGQL(v any) error {
	switch x := v.(type) {
	case string:
		if x == "ANY" {
			*e = Any
			return nil
		}
		if n, err := strconv.ParseInt(x, 10, 64); err == nil && n >= 0 {
			*e = ExpectedVersion{Version: &n}
			return nil
		}
	case json.Number:
		if n, err := x.Int64(); err == nil && n >= 0 {
			*e = ExpectedVersion{Version: &n}
			return nil
		}
	case int:
		if x >= 0 {
			n := int64(x)
			*e = ExpectedVersion{Version: &n}
			return nil
		}
	case int64:
		if x >= 0 {
			*e = ExpectedVersion{Version: &x}
			return nil
		}
	case float64:
		if x >= 0 && x == float64(int64(x)) && x < 1<<53 {
			n := int64(x)
			*e = ExpectedVersion{Version: &n}
			return nil
		}
	case nil:
		*e = Any
		return nil
	}
	return customer.Invalid("expectedVersion", "must be ANY or a non-negative integer version, got %s", describe(v))
}

func describe(v any) string {
	s := fmt.Sprintf("%v", v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	switch v.(type) {
	case string:
		return strconv.Quote(s)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case bool:
		return "a boolean"
	}
	return s
}

// MarshalGQL writes ANY or the number.
func (e ExpectedVersion) MarshalGQL(w io.Writer) {
	if e.Version == nil {
		// graphql.Marshaler has no error result: gqlgen reports write failures itself
		_, _ = io.WriteString(w, strconv.Quote("ANY"))
		return
	}
	_, _ = io.WriteString(w, strconv.FormatInt(*e.Version, 10))
}
