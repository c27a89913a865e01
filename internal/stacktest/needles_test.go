package stacktest_test

// The canary scanner itself: each shape a copy may take is found when
// planted, so that a canary test that finds nothing means nothing is there.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/stacktest"
)

// testCanary is NewCanary's shape plus "ÿÿÿÿ" (C3 BF repeated), whose bits
// give base64 character 63 at every alignment, so that the standard and
// URL-safe alphabets differ.
const testCanary = "Cnry0123456789abcdef" + `<&"é>` + "fedcba9876543210ÿÿÿÿ"

// scanOne scans doc with a fresh scanner and returns the encodings found.
func scanOne(t *testing.T, canary string, doc []byte) []string {
	t.Helper()
	sc := stacktest.NewScanner(canary)
	var got []string
	for _, f := range sc.Scan("test", "doc", doc) {
		got = append(got, f.Encoding)
	}
	return got
}

func wantFound(t *testing.T, what string, doc []byte, encoding string) {
	t.Helper()
	got := scanOne(t, testCanary, doc)
	for _, e := range got {
		if e == encoding {
			return
		}
	}
	t.Errorf("%s: %s not found; found %q in %q", what, encoding, got, doc)
}

func TestNeedlesFindEveryPlantedEncoding(t *testing.T) {
	c := testCanary
	wantFound(t, "plain", []byte("xx"+c+"yy"), "plain")
	wantFound(t, "hex", []byte("xx"+hex.EncodeToString([]byte("ab"+c+"cd"))+"yy"), "hex-lower(plain)")
	wantFound(t, "HEX", []byte("xx"+strings.ToUpper(hex.EncodeToString([]byte("ab"+c+"cd")))+"yy"), "hex-upper(plain)")
	wantFound(t, "lower", []byte("xx"+strings.ToLower(c)+"yy"), "lower")
	wantFound(t, "upper", []byte("xx"+strings.ToUpper(c)+"yy"), "upper")
	wantFound(t, "url", []byte(url.Values{"FriendlyName": {"xx" + c + "yy"}}.Encode()), "url")

	// JSON, as Go writes it (HTML characters escaped), without HTML
	// escaping, all non-ASCII escaped (lower and upper case), twice.
	goJSON, _ := json.Marshal(map[string]string{"businessName": "xx" + c + "yy"})
	wantFound(t, "encoding/json", goJSON, "json")
	if bytes.Contains(goJSON, []byte(c)) {
		t.Fatalf("the canary is plain in Go's JSON (%s): the JSON needles would prove nothing", goJSON)
	}
	var noHTML bytes.Buffer
	enc := json.NewEncoder(&noHTML)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"businessName": "xx" + c + "yy"})
	wantFound(t, "JSON without HTML escaping", noHTML.Bytes(), "json-nohtml")
	ascii := `{"b":"xxCnry0123456789abcdef\u003c\u0026\"\u00e9\u003efedcba9876543210\u00ff\u00ff\u00ff\u00ffyy"}`
	wantFound(t, "JSON, ASCII only", []byte(ascii), "json-ascii")
	wantFound(t, "JSON, ASCII only, upper-case hex", []byte(`"xxCnry0123456789abcdef\u003C\u0026\"\u00E9\u003Efedcba9876543210\u00FF\u00FF\u00FF\u00FFyy"`), "json-ascii-upper")
	twice, _ := json.Marshal(map[string]string{"body": string(goJSON)})
	wantFound(t, "JSON in a JSON string", twice, "json-in-json")

	// Base64 inside a longer blob, at every offset, both alphabets, with
	// and without padding.
	for _, alpha := range []struct {
		name string
		enc  *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64", base64.RawStdEncoding}, {"base64url", base64.URLEncoding}, {"base64url", base64.RawURLEncoding}} {
		for off := 0; off < 6; off++ {
			for tail := 0; tail < 3; tail++ {
				blob := alpha.enc.EncodeToString([]byte(strings.Repeat("x", off) + c + strings.Repeat("y", tail)))
				wantFound(t, fmt.Sprintf("%s at offset %d, %d bytes after", alpha.name, off, tail), []byte("<"+blob+">"),
					fmt.Sprintf("%s@%d(plain)", alpha.name, off%3))
			}
		}
	}
	// Base64 of JSON: a response body kept as []byte in a JSON record.
	rec, _ := json.Marshal(struct {
		Status int
		Body   []byte
	}{200, goJSON})
	found := false
	for _, e := range scanOne(t, c, rec) {
		found = found || strings.HasPrefix(e, "base64@") && strings.HasSuffix(e, "(json)")
	}
	if !found {
		t.Errorf("base64 of JSON in a JSON record not found: %s", rec)
	}
	// Hex of the JSON escaping.
	wantFound(t, "hex of JSON", []byte(hex.EncodeToString(goJSON)), "hex-lower(json)")
}

// An escaping no full text form foresees (non-ASCII escaped, HTML
// characters not, as Python's json.dumps writes) is still found through
// the runs of letters and digits.
func TestNeedlesFindRunsOfAnUnforeseenEscaping(t *testing.T) {
	doc := []byte(`{"b": "Cnry0123456789abcdef<&\"\u00e9>fedcba9876543210\u00ff\u00ff\u00ff\u00ff"}`)
	got := scanOne(t, testCanary, doc)
	var full, runs int
	for _, e := range got {
		if strings.Contains(e, " of run ") {
			runs++
		} else {
			full++
		}
	}
	if full != 0 || runs == 0 {
		t.Errorf("found %q: want only runs", got)
	}
	// Base64 of that document: the runs' base64 needles.
	b64 := base64.StdEncoding.EncodeToString(append([]byte("x"), doc...))
	if got := scanOne(t, testCanary, []byte(b64)); len(got) == 0 {
		t.Errorf("base64 of an unforeseen escaping not found")
	}
}

func TestNeedlesFindNothingElse(t *testing.T) {
	c := stacktest.NewCanary()
	other := stacktest.NewCanary()
	if c == other {
		t.Fatal("two canaries are equal")
	}
	// Another canary in every shape the first one is searched in.
	var doc bytes.Buffer
	for _, n := range stacktest.Needles(other) {
		doc.Write(n.Bytes)
		doc.WriteByte('\n')
	}
	// The canary with every 8th character changed, and cut into pieces
	// shorter than a run.
	near := []byte(c)
	for i := 6; i < len(near); i += 8 {
		near[i] = '!'
	}
	doc.Write(near)
	doc.WriteByte('\n')
	for i := 0; i < len(c); i += minRunTest - 1 {
		doc.WriteString(c[i:min(i+minRunTest-1, len(c))] + " ")
	}
	if got := scanOne(t, c, doc.Bytes()); len(got) != 0 {
		t.Errorf("found %q in what holds no copy of the canary", got)
	}
	// And the needles themselves are each found.
	for _, n := range stacktest.Needles(c) {
		if len(n.Bytes) < minRunTest {
			t.Errorf("needle %s is only %d bytes: too short to be unique", n.Encoding, len(n.Bytes))
		}
		if got := scanOne(t, c, append([]byte("<"), append(n.Bytes, '>')...)); len(got) == 0 {
			t.Errorf("needle %s not found", n.Encoding)
		}
	}
}

const minRunTest = 12

func TestScannerCountsWhatItScanned(t *testing.T) {
	c := stacktest.NewCanary()
	sc := stacktest.NewScanner(c)
	sc.Scan("a", "one", []byte("nothing"))
	sc.Scan("a", "two", []byte("x"+c))
	sc.Scan("a", "two", []byte("x"+c)) // the same finding once
	sc.Scan("b", "three", nil)
	if sc.Items("a") != 3 || sc.Items("b") != 1 || sc.Items("c") != 0 {
		t.Errorf("items a=%d b=%d c=%d, want 3 1 0", sc.Items("a"), sc.Items("b"), sc.Items("c"))
	}
	// The canary, and each of its runs, once.
	got := sc.Findings()
	if len(got) != 3 || got[0].Encoding != "plain" || got[1].Encoding != "plain of run 1" || got[2].Encoding != "plain of run 2" {
		t.Errorf("findings %v, want plain, plain of run 1, plain of run 2", got)
	}
	for _, f := range got {
		if f.Area != "a" || f.Place != "two" {
			t.Errorf("finding %v, want in a: two", f)
		}
	}
	if s := sc.Summary(); !strings.Contains(s, "a: 3 items") || !strings.Contains(s, "b: 1 items, 0 bytes") {
		t.Errorf("summary %q", s)
	}
}
