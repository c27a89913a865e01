package gateway

import "testing"

func TestRewriteAnyAtom(t *testing.T) {
	cases := []struct {
		name, in, want string
		changed        bool
	}{
		{"docs spelling", `activateCustomer(input: { id: "x" expectedVersion: :any })`, `activateCustomer(input: { id: "x" expectedVersion: ANY })`, true},
		{"no space", `{expectedVersion::any}`, `{expectedVersion:ANY}`, true},
		{"newline and comma", "expectedVersion:\n,  :any,", "expectedVersion:\n,  ANY,", true},
		{"two fields", `a(expectedVersion: :any) b(expectedVersion: :any)`, `a(expectedVersion: ANY) b(expectedVersion: ANY)`, true},
		{"inside a string", `{label: "expectedVersion: :any"}`, `{label: "expectedVersion: :any"}`, false},
		{"inside a string with escapes", `{label: "\"expectedVersion: :any"}`, `{label: "\"expectedVersion: :any"}`, false},
		{"inside a block string", `{label: """expectedVersion: :any"""}`, `{label: """expectedVersion: :any"""}`, false},
		{"inside a comment", "# expectedVersion: :any\n{a}", "# expectedVersion: :any\n{a}", false},
		{"other field", `{period: :any}`, `{period: :any}`, false},
		{"longer atom", `{expectedVersion: :anything}`, `{expectedVersion: :anything}`, false},
		{"name prefix", `{myexpectedVersion: :any}`, `{myexpectedVersion: :any}`, false},
		{"name suffix", `{expectedVersions: :any}`, `{expectedVersions: :any}`, false},
		{"already ANY", `{expectedVersion: ANY}`, `{expectedVersion: ANY}`, false},
		{"a variable", `{expectedVersion: $v}`, `{expectedVersion: $v}`, false},
		{"string after field is not a name", `{"expectedVersion": :any}`, `{"expectedVersion": :any}`, false},
		{"unterminated string", `{a: "expectedVersion: :any`, `{a: "expectedVersion: :any`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := RewriteAnyAtom(tc.in)
			if got != tc.want || changed != tc.changed {
				t.Fatalf("RewriteAnyAtom(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
			}
		})
	}
}

func FuzzRewriteAnyAtom(f *testing.F) {
	for _, s := range []string{`expectedVersion: :any`, `"a" # b` + "\n" + `"""c"""`, `{x: :any}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, changed := RewriteAnyAtom(s)
		if !changed && got != s {
			t.Fatalf("unchanged rewrite altered %q into %q", s, got)
		}
		if changed && len(got) != len(s)-1 {
			// ":any" (4 bytes) becomes "ANY" (3): one byte per rewrite.
			if (len(s) - len(got)) <= 0 {
				t.Fatalf("rewrite of %q grew it to %q", s, got)
			}
		}
		again, _ := RewriteAnyAtom(got)
		if again != got {
			t.Fatalf("rewrite is not idempotent: %q then %q", got, again)
		}
	})
}
