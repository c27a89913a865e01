package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/testenv"
)

// FuzzGraphQLRequest drives the whole HTTP handler (request id, timeout,
// authentication, rate limit, body checks, Idempotency-Key, the :any
// rewrite, parsing, validation, limits and execution against a real Redis
// and fake command bus and Vault) with arbitrary requests. Whatever comes
// in, the gateway must not panic, must answer JSON whose errors all carry
// a code, and must not answer 5xx other than 503.
//
// mode picks the request's shape (mode%4: 0 a JSON body built from query
// and extra as variables, 1 query as the raw body, 2 a GET with query and
// extra as variables, 3 a JSON body with extra spliced in raw as the
// variables); mode&4 adds an Idempotency-Key, mode&8 uses an operator key.
func FuzzGraphQLRequest(f *testing.F) {
	h := newHarness(f, unlimitedRate)
	for _, ex := range testenv.DocsExamples(f) {
		for mode := range uint8(16) {
			f.Add(mode, ex, "")
		}
		f.Add(uint8(3), ex, `{"id": "`+docsCustomerID+`"}`)
	}
	for _, seed := range []struct {
		mode         uint8
		query, extra string
	}{
		{0, `{ viewer { role name partnerId } partners { id name } industries { id } }`, ``},
		{0, `query($id: ID!) { customer(id: $id) { id status version contactInfo { businessName } contactInfoStatus encryptionKey { status } history { version } } }`, `{"id": "` + docsCustomerID + `"}`},
		{0, `query($n: Int, $s: CustomerStatus) { customers(first: $n, status: $s) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, `{"n": 5, "s": "ACTIVE"}`},
		{0, `query($id: ID!) { command(id: $id) { id state errors { field message code } } }`, `{"id": "` + docsCustomerID + `"}`},
		{0, `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response userErrors { field message code } customer { id } } }`,
			`{"in": {"space": "fuzz", "partnerId": "` + stacktest.PartnerID + `", "industryId": "` + stacktest.IndustryID + `", "label": "Fuzz"}}`},
		{8, `mutation { upsertPartner(input: {id: "` + stacktest.OtherPartnerID + `", name: "Other"}) { id name } }`, ``},
		{1, `[{"query": "{ viewer { role } }"}]`, ``},
		{1, `{"query": "{ viewer { role } }", "query": "x"}`, ``},
		{1, "{\"query\": \"\xff\"}", ``},
		{3, `{ viewer { role } }`, `{"a": 1e400, "a": [[[[]]]]}`},
		{2, `{ __schema { types { name } } }`, ``},
		{0, `query { ...A } fragment A on Query { ...B ...B } fragment B on Query { viewer { role } }`, ``},
		{0, `{ customers(first: 99999999999999999999999) { nodes { id } } }`, ``},
		{0, `mutation { terminateCustomer(input: {id: "x", retention: {strategy: FOREVER, period: null}}) { response } }`, ``},
	} {
		f.Add(seed.mode, seed.query, seed.extra)
	}
	f.Fuzz(func(t *testing.T, mode uint8, query, extra string) {
		key := h.PartnerKey
		if mode&8 != 0 {
			key = h.OperatorKey
		}
		req := fuzzRequest(mode, query, extra)
		req.Header.Set("Authorization", "Bearer "+key)
		if mode&4 != 0 {
			req.Header.Set("Idempotency-Key", "fuzz-"+string('a'+rune(mode>>4)))
		}
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		checkFuzzResponse(t, rec)
	})
}

func fuzzRequest(mode uint8, query, extra string) *http.Request {
	switch mode % 4 {
	case 1:
		return jsonPOST(query)
	case 2:
		v := url.Values{"query": {query}}
		if extra != "" {
			v.Set("variables", extra)
		}
		return httptest.NewRequest(http.MethodGet, "/graphql?"+v.Encode(), nil)
	case 3:
		q, _ := json.Marshal(query)
		return jsonPOST(`{"query": ` + string(q) + `, "variables": ` + extra + `}`)
	default:
		m := map[string]any{"query": query}
		var vars map[string]any
		if json.Unmarshal([]byte(extra), &vars) == nil {
			m["variables"] = vars
		}
		b, _ := json.Marshal(m)
		return jsonPOST(string(b))
	}
}

func jsonPOST(body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// checkFuzzResponse holds a response to the gateway's promises about any
// request at all.
func checkFuzzResponse(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	raw := rec.Body.Bytes()
	if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", rec.Code, raw)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q: %s", ct, raw)
	}
	var resp struct {
		Data   *json.RawMessage `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("status %d, body is not a JSON object (%v): %q", rec.Code, err, raw)
	}
	if resp.Data == nil && len(resp.Errors) == 0 {
		t.Fatalf("status %d, neither data nor errors: %s", rec.Code, raw)
	}
	if rec.Code != http.StatusOK && len(resp.Errors) == 0 {
		t.Fatalf("status %d without an error: %s", rec.Code, raw)
	}
	for _, e := range resp.Errors {
		if c, _ := e.Extensions["code"].(string); c == "" || e.Message == "" {
			t.Fatalf("error without a code or message: %s", raw)
		}
		if c, _ := e.Extensions["code"].(string); c == "INTERNAL" {
			t.Fatalf("internal error: %s", raw)
		}
	}
	if strings.Contains(string(raw), "goroutine ") {
		t.Fatalf("stack trace in the response: %s", raw)
	}
}
