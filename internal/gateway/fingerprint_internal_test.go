package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"
)

// The Idempotency-Key fingerprint is keyed with the caller's API key: the
// same request from the same caller always matches, and what Redis stores
// is not a plain hash of a body that may carry contact info.
func TestRequestFingerprintIsKeyedWithTheCallersAPIKey(t *testing.T) {
	body := []byte(`{"query":"mutation { updateCustomerContactInfo(input: {businessName: \"Guessable Inc\"}) }"}`)
	req := func(key string) string {
		r := httptest.NewRequest("POST", "/graphql", strings.NewReader(string(body)))
		r.Header.Set("Authorization", "Bearer "+key)
		return requestFingerprint(r, body)
	}
	a, again, b := req("tk_a_1"), req("tk_a_1"), req("tk_b_2")
	if a != again {
		t.Fatalf("the same request gives %s and %s", a, again)
	}
	if a == b {
		t.Fatal("two callers' fingerprints of the same request are equal: not keyed")
	}
	plain := sha256.Sum256(append([]byte("POST\n\n"), body...))
	if a == hex.EncodeToString(plain[:]) {
		t.Fatal("the fingerprint is a plain SHA-256 of the request")
	}
	other := httptest.NewRequest("POST", "/graphql", strings.NewReader("{}"))
	other.Header.Set("Authorization", "Bearer tk_a_1")
	if requestFingerprint(other, []byte("{}")) == a {
		t.Fatal("two requests share a fingerprint")
	}
}
