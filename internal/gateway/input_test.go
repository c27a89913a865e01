package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/gateway"
)

// Hostile or broken input gets a clear error: a 4xx (or a GraphQL error)
// with extensions.code and a message that says what is wrong, and never
// runs anything.
func TestMalformedInputGetsClearErrors(t *testing.T) {
	h := newHarness(t, unlimitedRate)
	const id = docsCustomerID
	activate := func(ev string) string {
		return `mutation { activateCustomer(input: {id: "` + id + `", expectedVersion: ` + ev + `}) }`
	}
	const regVar = `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response } }`
	cases := []struct {
		name, method, contentType, body string
		status                          int
		code, message                   string
	}{
		// Malformed UTF-8.
		{name: "invalid UTF-8 in the body", body: "{\"query\": \"{ viewer { role } }\xff\"}",
			status: 400, code: "BAD_REQUEST", message: "not valid UTF-8 (first bad byte at offset 30)"},
		{name: "invalid UTF-8 in a GET parameter", method: "GET", body: "query=%7B%20viewer%20%7B%20role%20%7D%20%7D%ff",
			status: 400, code: "BAD_REQUEST", message: `parameter "query" is not valid UTF-8`},
		{name: "charset other than UTF-8", contentType: "application/json; charset=latin1", body: body(`{ viewer { role } }`, nil),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE", message: "must be UTF-8"},

		// Huge numbers.
		{name: "huge integer literal", body: body(activate("123456789012345678901234567890"), nil),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "the integer 123456789012345678901234567890 is too large"},
		{name: "huge Int variable", body: body(`query($n: Int) { customers(first: $n) { nodes { id } } }`, map[string]any{"n": jsonNumber("123456789012345678901234567890")}),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "variable $n: 123456789012345678901234567890 is not a valid Int"},
		{name: "1e400 as Int", body: body(`query($n: Int) { customers(first: $n) { nodes { id } } }`, map[string]any{"n": jsonNumber("1e400")}),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "variable $n: 1e400 is not a valid Int"},
		{name: "fraction as Int", body: body(`query($n: Int) { customers(first: $n) { nodes { id } } }`, map[string]any{"n": 2.5}),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "variable $n: 2.5 is not a valid Int"},
		{name: "Int literal over 32 bits", body: body(`{ customers(first: 99999999999) { nodes { id } } }`, nil),
			status: 200, code: "BAD_USER_INPUT", message: "first: must be between 1 and 100"},
		{name: "huge number nested in an input", body: body(`mutation($in: TerminateCustomerInput!) { terminateCustomer(input: $in) { response } }`,
			map[string]any{"in": map[string]any{"id": id, "retention": map[string]any{"strategy": "TEMPORARY", "period": jsonNumber("1e400")}}}),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "variable $in.retention.period: 1e400 is not a valid Int"},
		{name: "string as Int", body: body(`query($n: Int) { customers(first: $n) { nodes { id } } }`, map[string]any{"n": "ten"}),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: `variable $n: "ten" is not a valid Int`},
		{name: "huge expectedVersion variable", body: body(`mutation($v: ExpectedVersion) { activateCustomer(input: {id: "`+id+`", expectedVersion: $v}) }`, map[string]any{"v": jsonNumber("1e400")}),
			status: 200, code: "BAD_USER_INPUT", message: "expectedVersion: must be ANY or a non-negative integer version"},

		// Nulls where values are required.
		{name: "null input literal", body: body(`mutation { registerCustomer(input: null) { response } }`, nil),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: `Expected value of type "RegisterCustomerInput!", found null`},
		{name: "null input variable", body: body(regVar, map[string]any{"in": nil}),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "cannot be null"},
		{name: "null required field in a variable", body: body(regVar, map[string]any{"in": map[string]any{"space": nil, "partnerId": "p", "industryId": "i", "label": "l"}}),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "cannot be null"},
		{name: "null required field literal", body: body(`mutation { registerCustomer(input: {space: null, partnerId: "p", industryId: "i", label: "l"}) { response } }`, nil),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: `Expected value of type "String!", found null`},
		{name: "null query", body: `{"query": null}`, status: 400, code: "BAD_REQUEST", message: `no "query"`},

		// Unknown enum values.
		{name: "unknown enum literal", body: body(`{ customers(status: ACTIV) { nodes { id } } }`, nil),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: `Value "ACTIV" does not exist in "CustomerStatus" enum`},
		{name: "unknown enum variable", body: body(`query($s: CustomerStatus) { customers(status: $s) { nodes { id } } }`, map[string]any{"s": "ACTIV"}),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "ACTIV is not a valid CustomerStatus"},
		{name: "unknown retention strategy", body: body(`mutation { terminateCustomer(input: {id: "`+id+`", retention: {strategy: FOREVER}}) { response } }`, nil),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: `Value "FOREVER" does not exist in "RetentionStrategy!" enum`},

		// Duplicate keys.
		{name: "duplicate key in the body", body: `{"query": "{ viewer { role } }", "query": "{ viewer { name } }"}`,
			status: 400, code: "BAD_REQUEST", message: `duplicate key "query" in the top-level object`},
		{name: "duplicate key in variables", body: `{"query": "` + jsonEscape(regVar) + `", "variables": {"in": {"space": "a", "space": "b"}}}`,
			status: 400, code: "BAD_REQUEST", message: `duplicate key "space" in variables.in`},
		{name: "duplicate GET parameter", method: "GET", body: "query=%7B%20viewer%20%7B%20role%20%7D%20%7D&query=x",
			status: 400, code: "BAD_REQUEST", message: `parameter "query" is given 2 times`},
		{name: "duplicate field in a GraphQL input object", body: body(`mutation { registerCustomer(input: {space: "a", space: "b", partnerId: "p", industryId: "i", label: "l"}) { response } }`, nil),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: `There can be only one input field named "space"`},
		{name: "duplicate argument", body: body(`{ customer(id: "a", id: "b") { id } }`, nil),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: `There can be only one argument named "id"`},
		{name: "duplicate variable", body: body(`query($a: ID!, $a: ID!) { customer(id: $a) { id } }`, nil),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: `There can be only one variable named "$a"`},

		// Shapes that are not one GraphQL request.
		{name: "empty body", body: ``, status: 400, code: "BAD_REQUEST", message: "empty"},
		{name: "not JSON", body: `query { viewer { role } }`, status: 400, code: "BAD_REQUEST", message: "must be a JSON object"},
		{name: "JSON string", body: `"{ viewer { role } }"`, status: 400, code: "BAD_REQUEST", message: "must be a JSON object"},
		{name: "truncated JSON", body: `{"query": "{ viewer { role } }"`, status: 400, code: "BAD_REQUEST", message: "unexpected end of JSON input (at byte 31)"},
		{name: "data after the object", body: `{"query": "{ viewer { role } }"} {}`, status: 400, code: "BAD_REQUEST", message: "unexpected data after the JSON value"},
		{name: "query not a string", body: `{"query": 5}`, status: 400, code: "BAD_REQUEST", message: `"query" must be a string`},
		{name: "variables not an object", body: `{"query": "{ viewer { role } }", "variables": "{}"}`, status: 400, code: "BAD_REQUEST", message: `"variables" must be a JSON object or null`},
		{name: "deeply nested variables", body: `{"query": "{ viewer { role } }", "variables": {"a": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`,
			status: 400, code: "BAD_REQUEST", message: "exceeded max depth"},
		{name: "batch", body: `[{"query": "{ viewer { role } }"}]`, status: 400, code: "BATCHING_NOT_SUPPORTED", message: "one operation per request"},
		{name: "empty batch", body: ` []`, status: 400, code: "BATCHING_NOT_SUPPORTED", message: "one operation per request"},
		{name: "text/plain", contentType: "text/plain", body: body(`{ viewer { role } }`, nil), status: 415, code: "UNSUPPORTED_MEDIA_TYPE", message: "Content-Type: application/json"},
		{name: "PUT", method: "PUT", body: body(`{ viewer { role } }`, nil), status: 405, code: "METHOD_NOT_ALLOWED", message: "PUT is not allowed"},
		{name: "GET without query", method: "GET", body: "", status: 400, code: "BAD_REQUEST", message: "no query"},
		{name: "GET with a bad escape", method: "GET", body: "query=%zz", status: 400, code: "BAD_REQUEST", message: "malformed"},
		{name: "empty query", body: `{"query": ""}`, status: 400, code: "BAD_REQUEST", message: `no "query"`},
		{name: "blank query", body: `{"query": " "}`, status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "no operation provided"},
		{name: "unknown operation name", body: `{"query": "query A { viewer { role } }", "operationName": "B"}`, status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "operation B not found"},
		{name: "subscription", body: body(`subscription { viewer { role } }`, nil), status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "subscription"},
		{name: "Int literal over 100", body: body(`{ customers(first: 101) { nodes { id } } }`, nil),
			status: 200, code: "BAD_USER_INPUT", message: "first: must be between 1 and 100"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, ct := tc.method, tc.contentType
			if method == "" {
				method = http.MethodPost
			}
			if ct == "" {
				ct = "application/json"
			}
			var req *http.Request
			if method == http.MethodGet {
				req = httptest.NewRequest(method, "/graphql?"+tc.body, nil)
			} else {
				req = httptest.NewRequest(method, "/graphql", strings.NewReader(tc.body))
				req.Header.Set("Content-Type", ct)
			}
			req.Header.Set("Authorization", "Bearer "+h.PartnerKey)
			before := h.Pub.calls.Load()
			r := serve(h.handler, req)
			said := false
			for _, e := range r.Errors {
				said = said || strings.Contains(e.Message, tc.message)
			}
			if r.Status != tc.status || r.Code() != tc.code || !said {
				t.Fatalf("got %d %s, want %d %s %q", r.Status, r.Raw, tc.status, tc.code, tc.message)
			}
			for _, e := range r.Errors {
				if c, _ := e.Extensions["code"].(string); c == "" || e.Message == "" {
					t.Errorf("an error without a code or message: %s", r.Raw)
				}
			}
			if h.Pub.calls.Load() != before {
				t.Errorf("a command was published")
			}
			noLeak(t, r.Raw)
		})
	}
}

type jsonNumber string

func (n jsonNumber) MarshalJSON() ([]byte, error) { return []byte(n), nil }

func jsonEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`)
}

// unlimitedRate lifts the rate limit for tests that send many requests.
func unlimitedRate(c *gateway.Config) {
	c.RateLimits = gateway.RateLimits{PartnerRate: 1e9, PartnerBurst: 1 << 30, OperatorRate: 1e9, OperatorBurst: 1 << 30}
}
