package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/gateway"
	"github.com/textkit/customers/internal/stacktest"
)

// Each limit refuses an operation before anything runs: the response has
// no "data" member and the fake command bus saw no command. The same
// gateway accepts (and runs) the operation just within the limit, so the
// refusal is the limit's doing.
func TestLimitsRefuseBeforeExecution(t *testing.T) {
	h := newHarness(t, nil)
	sel := func(n int, f string) string { return strings.TrimSpace(strings.Repeat(f+" ", n)) }
	aliases := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(" a" + string(rune('a'+i)) + ": response")
		}
		return b.String()
	}
	// F spreads G twice; G selects four fields: 8 fields per ...F.
	const frags = ` fragment F on RegisterCustomerPayload { ...G ...G } fragment G on RegisterCustomerPayload { response customerId version commandId }`
	cases := []struct {
		name           string
		limits         gateway.Limits
		over, within   string // request bodies
		status         int
		code           string
		message        string
		withinExecutes bool // within publishes a command
	}{
		{
			name:   "body size",
			limits: gateway.Limits{MaxBodyBytes: 1024},
			over:   body(registerQuery("big", `{ response }`), map[string]any{"pad": strings.Repeat("x", 1024)}),
			within: body(registerQuery("small", `{ response }`), nil),
			status: http.StatusRequestEntityTooLarge, code: "REQUEST_TOO_LARGE", message: "larger than 1024 bytes", withinExecutes: true,
		},
		{
			name:   "batch",
			over:   "[" + body(registerQuery("batch-a", `{ response }`), nil) + "," + body(registerQuery("batch-b", `{ response }`), nil) + "]",
			within: body(registerQuery("batch-c", `{ response }`), nil),
			status: http.StatusBadRequest, code: "BATCHING_NOT_SUPPORTED", message: "one operation per request", withinExecutes: true,
		},
		{
			// registerQuery has 24 tokens besides its selection.
			name:   "tokens",
			limits: gateway.Limits{MaxTokens: 50},
			over:   body(registerQuery("tokens-a", `{ `+sel(40, "response")+` }`), nil),
			within: body(registerQuery("tokens-b", `{ `+sel(2, "response")+` }`), nil),
			status: http.StatusUnprocessableEntity, code: "TOKEN_LIMIT_EXCEEDED", message: "more than 50 tokens", withinExecutes: true,
		},
		{
			name:   "depth",
			limits: gateway.Limits{MaxDepth: 3},
			over:   body(registerQuery("depth-a", `{ customer { history { version } } }`), nil),
			within: body(registerQuery("depth-b", `{ customer { id } }`), nil),
			status: http.StatusUnprocessableEntity, code: "DEPTH_LIMIT_EXCEEDED", message: "more than 3 levels", withinExecutes: true,
		},
		{
			name:   "depth through fragments",
			limits: gateway.Limits{MaxDepth: 3},
			over:   body(registerQuery("depthf-a", `{ ...P }`)+` fragment P on RegisterCustomerPayload { customer { ...C } } fragment C on Customer { history { version } }`, nil),
			within: body(registerQuery("depthf-b", `{ ...P }`)+` fragment P on RegisterCustomerPayload { customer { id } }`, nil),
			status: http.StatusUnprocessableEntity, code: "DEPTH_LIMIT_EXCEEDED", message: "more than 3 levels", withinExecutes: true,
		},
		{
			name:   "aliases",
			limits: gateway.Limits{MaxAliases: 3},
			over:   body(registerQuery("alias-a", `{`+aliases(4)+` }`), nil),
			within: body(registerQuery("alias-b", `{`+aliases(3)+` }`), nil),
			status: http.StatusUnprocessableEntity, code: "ALIAS_LIMIT_EXCEEDED", message: "more than 3 aliases", withinExecutes: true,
		},
		{
			// registerCustomer + 2 × 8 fields = 17 through fragments.
			name:   "fields through fragments",
			limits: gateway.Limits{MaxFields: 16},
			over:   body(registerQuery("fields-a", `{ ...F ...F }`)+frags, nil),
			within: body(registerQuery("fields-b", `{ ...F }`)+frags, nil),
			status: http.StatusUnprocessableEntity, code: "FIELD_LIMIT_EXCEEDED", message: "more than 16 fields", withinExecutes: true,
		},
		{
			name:   "complexity",
			limits: gateway.Limits{MaxComplexity: 10},
			over:   body(registerQuery("cx-a", `{ response customer { id space label status version partnerId industryId createdAt updatedAt } }`), nil),
			within: body(registerQuery("cx-b", `{ response customer { id } }`), nil),
			status: http.StatusUnprocessableEntity, code: "COMPLEXITY_LIMIT_EXCEEDED", message: "exceeds the limit of 10", withinExecutes: true,
		},
		{
			name:   "mutations per request",
			limits: gateway.Limits{MaxMutations: 2},
			over: body(`mutation { a: registerCustomer(input: {space: "mut-a", partnerId: "`+stacktest.PartnerID+`", industryId: "`+stacktest.IndustryID+`", label: "A"}) { response }`+
				` b: registerCustomer(input: {space: "mut-b", partnerId: "`+stacktest.PartnerID+`", industryId: "`+stacktest.IndustryID+`", label: "B"}) { response }`+
				` c: registerCustomer(input: {space: "mut-c", partnerId: "`+stacktest.PartnerID+`", industryId: "`+stacktest.IndustryID+`", label: "C"}) { response } }`, nil),
			within: body(`mutation { a: registerCustomer(input: {space: "mut-d", partnerId: "`+stacktest.PartnerID+`", industryId: "`+stacktest.IndustryID+`", label: "D"}) { response }`+
				` b: registerCustomer(input: {space: "mut-e", partnerId: "`+stacktest.PartnerID+`", industryId: "`+stacktest.IndustryID+`", label: "E"}) { response } }`, nil),
			status: http.StatusUnprocessableEntity, code: "MUTATION_LIMIT_EXCEEDED", message: "at most 2 mutations", withinExecutes: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			handler := h.newHandler(func(c *gateway.Config) { c.Limits = tc.limits })
			before := h.Pub.calls.Load()
			r := h.post(handler, h.PartnerKey, tc.over)
			if r.Status != tc.status || r.Code() != tc.code || !strings.Contains(r.Message(), tc.message) {
				t.Fatalf("over the limit: got %d %s, want %d %s %q", r.Status, r.Raw, tc.status, tc.code, tc.message)
			}
			if r.HasData || h.Pub.calls.Load() != before {
				t.Fatalf("over the limit: something ran (data member: %v, commands published: %d): %s", r.HasData, h.Pub.calls.Load()-before, r.Raw)
			}
			r = h.post(handler, h.PartnerKey, tc.within)
			if r.Status != http.StatusOK || len(r.Errors) > 0 || !r.HasData {
				t.Fatalf("within the limit: got %d %s, want data", r.Status, r.Raw)
			}
			if tc.withinExecutes && h.Pub.calls.Load() == before {
				t.Fatalf("within the limit: no command was published: %s", r.Raw)
			}
		})
	}
}

// body is a JSON POST body.
func body(query string, vars map[string]any) string {
	m := map[string]any{"query": query}
	if vars != nil {
		m["variables"] = vars
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Pages of customers cost their page size times their selection, so a
// large page of rich customers is refused while a small one runs.
func TestComplexityMultipliesPageSize(t *testing.T) {
	h := newHarness(t, nil)
	rich := `nodes { id partnerId industryId space label status version twilioSubaccountSid contactInfoStatus createdAt updatedAt activatedAt terminatedAt contactInfo { businessName phoneNumber country } encryptionKey { status } history { version event } }`
	r := h.do(h.PartnerKey, `{ customers(first: 100) { `+rich+` } }`, nil)
	if r.Status != http.StatusUnprocessableEntity || r.Code() != "COMPLEXITY_LIMIT_EXCEEDED" || r.HasData {
		t.Fatalf("first: 100: got %d %s, want COMPLEXITY_LIMIT_EXCEEDED", r.Status, r.Raw)
	}
	r = h.do(h.PartnerKey, `query($n: Int) { customers(first: $n) { `+rich+` } }`, map[string]any{"n": 100})
	if r.Code() != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("first: $n = 100: got %d %s, want COMPLEXITY_LIMIT_EXCEEDED", r.Status, r.Raw)
	}
	r = h.do(h.PartnerKey, `{ customers(first: 10) { `+rich+` } }`, nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("first: 10: got %d %s, want data", r.Status, r.Raw)
	}
}

// An exponential fragment expansion (each level spreading the next twice)
// is refused by the field limit without being expanded.
func TestFragmentBombIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	var b strings.Builder
	b.WriteString(`query { ...L0 }`)
	const levels = 40 // 2^40 fields if expanded
	for i := range levels {
		b.WriteString(" fragment L" + strconv.Itoa(i) + " on Query { ...L" + strconv.Itoa(i+1) + " ...L" + strconv.Itoa(i+1) + " }")
	}
	b.WriteString(" fragment L" + strconv.Itoa(levels) + " on Query { viewer { role } }")
	r := h.do(h.PartnerKey, b.String(), nil)
	if r.Code() != "FIELD_LIMIT_EXCEEDED" || r.HasData {
		t.Fatalf("got %d %s, want FIELD_LIMIT_EXCEEDED", r.Status, r.Raw)
	}
	// A fragment cycle is a validation error, not a hang or a crash.
	r = h.do(h.PartnerKey, `query { ...A } fragment A on Query { viewer { role } ...B } fragment B on Query { ...A }`, nil)
	if r.Code() != "GRAPHQL_VALIDATION_FAILED" || r.HasData {
		t.Fatalf("cycle: got %d %s, want GRAPHQL_VALIDATION_FAILED", r.Status, r.Raw)
	}
}

// GET runs queries only; a mutation over GET is refused before it runs.
func TestGETRunsQueriesOnly(t *testing.T) {
	h := newHarness(t, nil)
	get := func(q string) *result {
		req := httptest.NewRequest(http.MethodGet, "/graphql?query="+url.QueryEscape(q), nil)
		req.Header.Set("Authorization", "Bearer "+h.PartnerKey)
		return serve(h.handler, req)
	}
	r := get(`{ viewer { role } }`)
	if r.Status != http.StatusOK || string(r.Data) != `{"viewer":{"role":"PARTNER"}}` {
		t.Fatalf("GET query: %d %s", r.Status, r.Raw)
	}
	r = get(registerQuery("via-get", `{ response }`))
	if r.Status != http.StatusMethodNotAllowed || r.Code() != "METHOD_NOT_ALLOWED" || r.HasData || h.Pub.calls.Load() != 0 {
		t.Fatalf("GET mutation: %d %s (commands %d)", r.Status, r.Raw, h.Pub.calls.Load())
	}
	long := httptest.NewRequest(http.MethodGet, "/graphql?query="+url.QueryEscape(`{ viewer { role } }`+strings.Repeat(" ", gateway.DefaultMaxBodyBytes)), nil)
	long.Header.Set("Authorization", "Bearer "+h.PartnerKey)
	if r := serve(h.handler, long); r.Status != http.StatusRequestURITooLong || r.Code() != "REQUEST_TOO_LARGE" {
		t.Fatalf("long GET: %d %s", r.Status, r.Raw)
	}
}

func TestIntrospectionOnlyInDev(t *testing.T) {
	h := newHarness(t, nil)
	dev := h.newHandler(func(c *gateway.Config) { c.Dev = true })
	for _, q := range []string{`{ __schema { queryType { name } } }`, `{ __type(name: "Customer") { name } }`, `query { ...Q } fragment Q on Query { __schema { queryType { name } } }`} {
		r := h.do(h.PartnerKey, q, nil)
		if r.Status != http.StatusUnprocessableEntity || r.Code() != "INTROSPECTION_DISABLED" || r.HasData {
			t.Errorf("%s without dev: got %d %s, want INTROSPECTION_DISABLED", q, r.Status, r.Raw)
		}
	}
	r := h.do(h.PartnerKey, `{ __typename viewer { role } }`, nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("__typename without dev: %d %s", r.Status, r.Raw)
	}
	r = h.doWith(dev, h.PartnerKey, `{ __schema { queryType { name } } }`, nil)
	if r.Status != http.StatusOK || string(r.Data) != `{"__schema":{"queryType":{"name":"Query"}}}` {
		t.Errorf("introspection in dev: %d %s", r.Status, r.Raw)
	}
	// A full introspection query, as dev tools send, passes the limits in dev.
	r = h.doWith(dev, h.PartnerKey, introspectionQuery, nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("full introspection in dev: %d %.300s", r.Status, r.Raw)
	}
}

// Field suggestions ("Did you mean …?") reveal the schema to whoever
// guesses: only the dev profile gives them.
func TestFieldSuggestionsOnlyInDev(t *testing.T) {
	h := newHarness(t, nil)
	dev := h.newHandler(func(c *gateway.Config) { c.Dev = true })
	for _, q := range []string{
		`{ customr(id: "x") { id } }`,
		`{ customers(frist: 2) { nodes { id } } }`,
		`{ customers(status: ACTIV) { nodes { id } } }`,
		`{ customer(id: "x") { stat } }`,
		`mutation { registerCustomer(input: {spac: "a", partnerId: "x", industryId: "y", label: "l"}) { response } }`,
	} {
		r := h.do(h.PartnerKey, q, nil)
		if r.Code() != "GRAPHQL_VALIDATION_FAILED" || strings.Contains(string(r.Raw), "Did you mean") || r.HasData {
			t.Errorf("%s: got %s, want a validation error without suggestions", q, r.Raw)
		}
		r = h.doWith(dev, h.PartnerKey, q, nil)
		if r.Code() != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(string(r.Raw), "Did you mean") {
			t.Errorf("%s in dev: got %s, want a suggestion", q, r.Raw)
		}
	}
}

// The whole request has a deadline, and so has the publish: a mutation
// stuck on the command bus ends, settled, with UNAVAILABLE and its command
// id (final: see TestAnUnacknowledgedPublishIsSettled), not a hung
// connection.
func TestRequestTimeout(t *testing.T) {
	h := newHarness(t, nil)
	handler := h.newHandler(func(c *gateway.Config) {
		c.MutationTimeout = 10 * time.Millisecond
		c.Limits = gateway.Limits{MaxMutations: 1, RequestTimeout: 200 * time.Millisecond}
	})
	sawDeadline := make(chan bool, 1)
	h.Pub.setHook(func(ctx context.Context, _ *command.Command) error {
		_, ok := ctx.Deadline()
		sawDeadline <- ok
		<-ctx.Done()
		return ctx.Err()
	})
	r := h.post(handler, h.PartnerKey, body(registerQuery("slow", `{ response }`), nil))
	if !<-sawDeadline {
		t.Fatal("the publisher's context has no deadline")
	}
	if r.Code() != "UNAVAILABLE" || r.Errors[0].Extensions["commandId"] == nil {
		t.Fatalf("got %d %s, want UNAVAILABLE with the command id", r.Status, r.Raw)
	}
}

func TestLimitsConfig(t *testing.T) {
	h := newHarness(t, nil)
	base := func() gateway.Config {
		return gateway.Config{Store: h.Store, Publisher: h.Pub, Outcomes: gateway.NewOutcomesForTest(h.Store), Keys: fakeKeys{},
			IsKeyMissing: func(err error) bool { return errors.Is(err, errNoKey) }}
	}
	c := base()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := gateway.Limits{MaxBodyBytes: 64 << 10, MaxTokens: 2000, MaxDepth: 10, MaxAliases: 30, MaxFields: 500,
		MaxComplexity: 2000, MaxMutations: 5, RequestTimeout: 60 * time.Second}
	if c.Limits != want {
		t.Errorf("defaults %+v, want %+v", c.Limits, want)
	}
	if c.RateLimits != (gateway.RateLimits{PartnerRate: 20, PartnerBurst: 40, OperatorRate: 100, OperatorBurst: 200, UnauthenticatedRate: 1, UnauthenticatedBurst: 20}) {
		t.Errorf("rate defaults %+v", c.RateLimits)
	}
	for name, mutate := range map[string]func(*gateway.Config){
		"request timeout too short": func(c *gateway.Config) {
			c.MutationTimeout = 10 * time.Second
			c.Limits.RequestTimeout = 30 * time.Second
		},
		"negative depth": func(c *gateway.Config) { c.Limits.MaxDepth = -1 },
		"negative rate":  func(c *gateway.Config) { c.RateLimits.PartnerRate = -1 },
	} {
		c := base()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c.Limits)
		}
	}
}

// introspectionQuery is the query GraphiQL sends (graphql-js
// getIntrospectionQuery), the deepest a dev tool asks.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`
