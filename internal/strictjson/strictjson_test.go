package strictjson_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/strictjson"
)

// keys lists what Walk reports, one "path name" (with "!first" for a
// repeat) per key, and the error.
func keys(data string, opts strictjson.Options) ([]string, error) {
	var got []string
	err := strictjson.Walk([]byte(data), opts, func(k strictjson.Key) error {
		var p []string
		for _, s := range k.Path {
			if s.InArray {
				p = append(p, fmt.Sprintf("[%d]", s.Index))
			} else {
				p = append(p, s.Key)
			}
		}
		e := strings.Join(p, "/") + " " + k.Name
		if k.Twice {
			e += "!" + k.First
		}
		got = append(got, e)
		return nil
	})
	return got, err
}

func TestWalkPathsAndRepeats(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts strictjson.Options
		want string
	}{
		{"flat", `{"a":1,"b":"x"}`, strictjson.Options{}, " a, b"},
		{"nested", `{"a":{"b":[1,{"c":2}]}}`, strictjson.Options{}, " a,a b,a/b/[1] c"},
		{"repeat", `{"a":1,"a":2}`, strictjson.Options{}, " a, a!a"},
		{"case differs", `{"a":1,"A":2}`, strictjson.Options{}, " a, A"},
		{"case folded", `{"a":1,"A":2}`, strictjson.Options{FoldCase: true}, " a, A!a"},
		{"same key in sibling objects", `[{"a":1},{"a":2}]`, strictjson.Options{}, "[0] a,[1] a"},
		{"stream", `{"a":1} {"a":1,"a":2}`, strictjson.Options{Stream: true}, " a, a, a!a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keys(tt.in, tt.opts)
			if err != nil {
				t.Fatalf("Walk(%s): %v", tt.in, err)
			}
			if g := strings.Join(got, ","); g != tt.want {
				t.Fatalf("Walk(%s) keys %q, want %q", tt.in, g, tt.want)
			}
		})
	}
}

func TestWalkMalformed(t *testing.T) {
	tests := []struct {
		in   string
		kind strictjson.Kind
		msg  string
	}{
		{`{"a":1`, strictjson.KindTruncated, "unexpected end of JSON input (at byte 6)"},
		{``, strictjson.KindEmpty, "no JSON value"},
		{`{} {}`, strictjson.KindTrailing, "unexpected data after the JSON value (at byte 4)"},
		{`{"a" 1}`, strictjson.KindSyntax, "after object key"},
	}
	for _, tt := range tests {
		_, err := keys(tt.in, strictjson.Options{})
		var se *strictjson.Error
		if !errors.As(err, &se) || se.Kind != tt.kind || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Walk(%q) = %v, want kind %d containing %q", tt.in, err, tt.kind, tt.msg)
		}
	}
}

func TestWalkStopsAtVisitError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := strictjson.Walk([]byte(`{"a":1,"b":2}`), strictjson.Options{}, func(strictjson.Key) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Walk returned %v after %d keys, want stop after 1", err, n)
	}
}
