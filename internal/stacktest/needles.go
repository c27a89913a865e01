package stacktest

// A canary is a unique string planted in a customer's contact info; after
// the customer's key is destroyed it must be found nowhere. A copy may have
// been stored in many shapes (JSON-escaped, base64'd inside a larger blob,
// hex, URL-encoded), so it is searched for in every such shape: its
// needles. The Scanner records where each needle turns up and how much it
// scanned, so that an empty result can be told from a scan of nothing.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/textkit/customers/internal/testenv"
)

// NewCanary returns a unique string to plant in contact info. Around 64
// random bits in letters and digits it carries characters whose encodings
// differ from encoder to encoder: "<", "&" and ">" (\u003c, \u0026 and
// \u003e in Go's encoding/json, raw in most others), a double quote (\")
// and a non-ASCII letter (é: two bytes in UTF-8, \u00e9 where a JSON
// encoder escapes non-ASCII). Contact info keeps it verbatim: its text
// fields are only trimmed.
func NewCanary() string {
	return "Cnry" + testenv.RandomHex(8) + `<&"é>` + testenv.RandomHex(8)
}

// Needle is one shape of a canary to search for.
type Needle struct {
	// Encoding names the shape, e.g. "plain", "json-ascii",
	// "base64url@2(json)" (the URL-safe base64 of the canary's JSON
	// escaping when it starts at byte 2 mod 3 of the encoded blob) or
	// "hex-upper(plain) of run 1" (a shape of the canary's first run of
	// letters and digits).
	Encoding string
	// Bytes is what a copy in that shape contains.
	Bytes []byte
}

// minRun is the shortest run of ASCII letters and digits of a canary that
// gets needles of its own.
const minRun = 12

// Needles returns every shape of canary that a stored copy contains,
// whatever surrounds it.
//
// The text forms are: plain; JSON-escaped as Go's encoding/json does it
// (HTML characters as \u003c…), without HTML escaping, with every
// character outside printable ASCII and the HTML ones \u-escaped (lower-
// and upper-case hex), and escaped twice (a JSON document inside a JSON
// string); URL query-escaped; lower-cased and upper-cased. Each text form
// is searched for as is, in hex (lower and upper case), and in base64,
// standard and URL-safe alphabets, at each of the three alignments: the
// characters fully determined by the canary's own bytes when it starts at
// byte offset 0, 1 or 2 (mod 3) of the encoded blob.
//
// Each run of at least 12 ASCII letters and digits in canary gets the same
// needles, so that an escaping of the other characters foreseen by none of
// the text forms still leaves a run to find. Base64 split into lines is not
// searched for.
func Needles(canary string) []Needle {
	var out []Needle
	seen := map[string]bool{}
	add := func(of, encoding string, b []byte) {
		if len(b) == 0 || seen[string(b)] {
			return
		}
		seen[string(b)] = true
		out = append(out, Needle{Encoding: encoding + of, Bytes: b})
	}
	addAll := func(of, s string) {
		for _, f := range textForms(s) {
			add(of, f.name, f.text)
		}
		for _, f := range textForms(s) {
			add(of, "hex-lower("+f.name+")", []byte(hex.EncodeToString(f.text)))
			add(of, "hex-upper("+f.name+")", []byte(strings.ToUpper(hex.EncodeToString(f.text))))
			for _, alpha := range []struct {
				name string
				enc  *base64.Encoding
			}{{"base64", base64.RawStdEncoding}, {"base64url", base64.RawURLEncoding}} {
				for k := 0; k < 3; k++ {
					add(of, fmt.Sprintf("%s@%d(%s)", alpha.name, k, f.name), base64Inner(alpha.enc, f.text, k))
				}
			}
		}
	}
	addAll("", canary)
	for i, r := range alnumRuns(canary, minRun) {
		addAll(fmt.Sprintf(" of run %d", i+1), r)
	}
	return out
}

type textForm struct {
	name string
	text []byte
}

func textForms(s string) []textForm {
	goJSON := jsonEscape(s, true)
	return []textForm{
		{"plain", []byte(s)},
		{"json", []byte(goJSON)},
		{"json-nohtml", []byte(jsonEscape(s, false))},
		{"json-ascii", []byte(jsonASCII(s, "%04x"))},
		{"json-ascii-upper", []byte(jsonASCII(s, "%04X"))},
		{"json-in-json", []byte(jsonEscape(goJSON, true))},
		{"url", []byte(url.QueryEscape(s))},
		{"lower", []byte(strings.ToLower(s))},
		{"upper", []byte(strings.ToUpper(s))},
	}
}

// jsonEscape returns s as encoding/json writes it inside a string, without
// the quotes. JSON escaping is per character, so this is what any JSON
// document holding s contains.
func jsonEscape(s string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(s); err != nil {
		panic(err) // a string always encodes
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// jsonASCII escapes s as JSON with every character outside printable
// ASCII, and < > & ', as \u escapes (UTF-16, hex digits in format).
func jsonASCII(s, format string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r > 0x7e || strings.ContainsRune("<>&'", r):
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				fmt.Fprintf(&b, `\u`+format+`\u`+format, r1, r2)
			} else {
				fmt.Fprintf(&b, `\u`+format, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// base64Inner returns the characters of enc's encoding of a blob holding b
// at byte offset k (mod 3) that depend on b's bits alone: character i
// covers bits 6i to 6i+6 of the blob, b covers bits 8k to 8(k+len(b)).
func base64Inner(enc *base64.Encoding, b []byte, k int) []byte {
	blob := append(make([]byte, k), b...)
	s := enc.EncodeToString(blob)
	start := (8*k + 5) / 6
	end := 8 * (k + len(b)) / 6
	if end-start < minRun {
		return nil
	}
	return []byte(s[start:end])
}

// alnumRuns returns the runs of at least n ASCII letters and digits in s,
// when s has other characters too (a canary made only of them is its own
// run).
func alnumRuns(s string, n int) []string {
	var runs []string
	start := -1
	for i := 0; i <= len(s); i++ {
		alnum := i < len(s) && ('a' <= s[i] && s[i] <= 'z' || 'A' <= s[i] && s[i] <= 'Z' || '0' <= s[i] && s[i] <= '9')
		switch {
		case alnum && start < 0:
			start = i
		case !alnum && start >= 0:
			if i-start >= n && !(start == 0 && i == len(s)) {
				runs = append(runs, s[start:i])
			}
			start = -1
		}
	}
	return runs
}

// Finding is a needle found somewhere.
type Finding struct {
	// Area is the kind of place ("redis keys", "jetstream messages", …).
	Area string
	// Place says exactly where: a Redis key, a stream and sequence, a file.
	Place string
	// Encoding is the needle's (Needle.Encoding).
	Encoding string
}

func (f Finding) String() string { return f.Area + ": " + f.Place + ": " + f.Encoding }

// Scanner searches for a canary's needles and remembers what it found and
// how many items of each area it scanned. It is safe for concurrent use.
type Scanner struct {
	needles []Needle

	mu       sync.Mutex
	findings []Finding
	found    map[Finding]bool
	items    map[string]int
	bytes    map[string]int
}

// NewScanner returns a scanner for the needles of canary.
func NewScanner(canary string) *Scanner {
	return NewNeedleScanner(Needles(canary))
}

// NewNeedleScanner returns a scanner for needles.
func NewNeedleScanner(needles []Needle) *Scanner {
	return &Scanner{needles: needles, found: map[Finding]bool{}, items: map[string]int{}, bytes: map[string]int{}}
}

// Needles returns the scanner's needles.
func (s *Scanner) Needles() []Needle { return s.needles }

// Scan searches b, which is place in area, for every needle; it counts b
// as one item of area and returns what it found there.
func (s *Scanner) Scan(area, place string, b []byte) []Finding {
	var got []Finding
	for _, n := range s.needles {
		if bytes.Contains(b, n.Bytes) {
			got = append(got, Finding{Area: area, Place: place, Encoding: n.Encoding})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[area]++
	s.bytes[area] += len(b)
	for _, f := range got {
		if !s.found[f] {
			s.found[f] = true
			s.findings = append(s.findings, f)
		}
	}
	return got
}

// Findings returns everything found so far, in the order found.
func (s *Scanner) Findings() []Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Finding(nil), s.findings...)
}

// Items returns how many items of area were scanned.
func (s *Scanner) Items(area string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items[area]
}

// Summary describes what was scanned, area by area: items and bytes.
func (s *Scanner) Summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	areas := make([]string, 0, len(s.items))
	for a := range s.items {
		areas = append(areas, a)
	}
	sort.Strings(areas)
	parts := make([]string, 0, len(areas))
	for _, a := range areas {
		parts = append(parts, fmt.Sprintf("%s: %d items, %d bytes", a, s.items[a], s.bytes[a]))
	}
	return strings.Join(parts, "; ")
}
