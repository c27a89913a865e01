package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/testenv"
)

// register registers a customer in space as key's partner and returns
// its id. On a stack with a short mutation timeout (the timeout tests'
// 300 ms) a registration on a loaded machine may answer TIMEOUT with its command id:
// register then waits for that command to apply, as a client would.
func register(t *testing.T, s *stacktest.Stack, key, space string) string {
	t.Helper()
	r := s.Do(key, `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response customerId version commandId userErrors { field message code } } }`,
		map[string]any{"in": map[string]any{"space": space, "partnerId": stacktest.PartnerID, "industryId": stacktest.IndustryID, "label": "Co " + space}})
	var got struct {
		RegisterCustomer struct {
			Response   bool
			CustomerID string
			Version    int
			CommandID  string
			UserErrors []map[string]any
		}
	}
	if len(r.Errors) == 1 && r.Errors[0].Extensions["code"] == "TIMEOUT" {
		if cmdID, _ := r.Errors[0].Extensions["commandId"].(string); cmdID != "" {
			return appliedCustomer(t, s, key, cmdID)
		}
	}
	decode(t, r, &got)
	if !got.RegisterCustomer.Response || got.RegisterCustomer.Version != 1 || got.RegisterCustomer.CommandID == "" {
		t.Fatalf("register %s: %s", space, r.Raw)
	}
	return got.RegisterCustomer.CustomerID
}

// appliedCustomer waits until command cmdID is applied and returns its
// customer's id.
func appliedCustomer(t *testing.T, s *stacktest.Stack, key, cmdID string) string {
	t.Helper()
	var got struct {
		Command struct {
			State      string
			CustomerID string
		}
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		r := s.Do(key, `{ command(id: "`+cmdID+`") { state customerId } }`, nil)
		decode(t, r, &got)
		if got.Command.State != "APPLIED" {
			return fmt.Errorf("registration %s: %s", cmdID, r.Raw)
		}
		return nil
	})
	return got.Command.CustomerID
}

// errorOf returns the single GraphQL error's code and field.
func errorOf(t *testing.T, r *stacktest.Response) (code, field string) {
	t.Helper()
	if len(r.Errors) == 0 {
		t.Fatalf("no error in %s", r.Raw)
	}
	code, _ = r.Errors[0].Extensions["code"].(string)
	field, _ = r.Errors[0].Extensions["field"].(string)
	return code, field
}

func TestMutationErrorsCarryCodeAndField(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	id := register(t, s, s.PartnerKey, "errors-co")
	cases := []struct {
		name, query, code, field string
	}{
		{"stale version", `mutation { activateCustomer(input: {id: "` + id + `", expectedVersion: 7}) }`, "VERSION_CONFLICT", "expectedVersion"},
		{"bad expected version", `mutation { activateCustomer(input: {id: "` + id + `", expectedVersion: "soon"}) }`, "BAD_USER_INPUT", "expectedVersion"},
		{"invalid transition", `mutation { deactivateCustomer(input: {id: "` + id + `"}) }`, "INVALID_TRANSITION", ""},
		{"unknown customer", `mutation { activateCustomer(input: {id: "` + uuid.NewString() + `"}) }`, "NOT_FOUND", ""},
		{"malformed id", `mutation { activateCustomer(input: {id: "nope"}) }`, "BAD_USER_INPUT", "id"},
		{"bad phone", `mutation { updateCustomerContactInfo(input: {id: "` + id + `", businessName: "B", phoneNumber: "555", addressLine1: "1 A St", postalCode: "M5E 1E5", province: "ON", country: "CA"}) }`, "BAD_USER_INPUT", "phoneNumber"},
		{"contact info before activation", `mutation { updateCustomerContactInfo(input: {id: "` + id + `", businessName: "B", phoneNumber: "+14165551212", addressLine1: "1 A St", postalCode: "M5E 1E5", province: "ON", country: "CA"}) }`, "INVALID_TRANSITION", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(s.PartnerKey, tc.query, nil)
			code, field := errorOf(t, r)
			if code != tc.code || field != tc.field {
				t.Fatalf("got code %q field %q (%s), want %q %q", code, field, r.Raw, tc.code, tc.field)
			}
		})
	}
	// The exact version applies; the version moved by one.
	r := s.Do(s.PartnerKey, `mutation { activateCustomer(input: {id: "`+id+`", expectedVersion: 1}) }`, nil)
	wantData(t, r, `{"activateCustomer":true}`)
}

func TestRegisterReportsUserErrors(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	register(t, s, s.PartnerKey, "taken")
	cases := []struct {
		name  string
		key   func() string
		input map[string]any
		want  []string // field:code
	}{
		{"space taken", func() string { return s.PartnerKey }, map[string]any{"space": "taken", "partnerId": stacktest.PartnerID, "industryId": stacktest.IndustryID, "label": "X"}, []string{"space:CONFLICT"}},
		{"everything wrong", func() string { return s.PartnerKey }, map[string]any{"space": "Not A Slug", "partnerId": stacktest.PartnerID, "industryId": "nope", "label": ""}, []string{"industryId:BAD_USER_INPUT", "space:BAD_USER_INPUT", "label:BAD_USER_INPUT"}},
		{"unknown industry", func() string { return s.PartnerKey }, map[string]any{"space": "fresh", "partnerId": stacktest.PartnerID, "industryId": uuid.NewString(), "label": "X"}, []string{"industryId:BAD_USER_INPUT"}},
		{"another partner's id", func() string { return s.OtherPartnerKey }, map[string]any{"space": "fresh", "partnerId": stacktest.PartnerID, "industryId": stacktest.IndustryID, "label": "X"}, []string{"partnerId:FORBIDDEN"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(tc.key(), `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response userErrors { field message code } } }`, map[string]any{"in": tc.input})
			var got struct {
				RegisterCustomer struct {
					Response   bool
					UserErrors []struct{ Field, Message, Code string }
				}
			}
			decode(t, r, &got)
			if got.RegisterCustomer.Response {
				t.Fatalf("registered: %s", r.Raw)
			}
			var fields []string
			for _, e := range got.RegisterCustomer.UserErrors {
				if e.Message == "" {
					t.Fatalf("empty message in %s", r.Raw)
				}
				fields = append(fields, e.Field+":"+e.Code)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.Join(fields, " "), w) {
					t.Fatalf("user errors %v lack %s (%s)", fields, w, r.Raw)
				}
			}
		})
	}
}

func TestPartnersSeeOnlyTheirOwnCustomers(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	id := register(t, s, s.PartnerKey, "private-co")
	other := s.OtherPartnerKey
	missing := uuid.NewString()

	for _, q := range []string{
		`{ customer(id: "%s") { id } }`,
	} {
		mine := s.Do(other, fmt.Sprintf(q, id), nil)
		none := s.Do(other, fmt.Sprintf(q, missing), nil)
		if string(mine.Raw) != string(none.Raw) {
			t.Fatalf("another partner's customer reads %s, a missing one %s", mine.Raw, none.Raw)
		}
	}
	r := s.Do(other, `{ customerBySpace(space: "private-co") { id } }`, nil)
	wantData(t, r, `{"customerBySpace":null}`)
	r = s.Do(other, `{ customers(first: 10) { nodes { id } } }`, nil)
	wantData(t, r, `{"customers":{"nodes":[]}}`)
	r = s.Do(other, `{ customers(first: 10, partnerId: "`+stacktest.PartnerID+`") { nodes { id } } }`, nil)
	wantData(t, r, `{"customers":{"nodes":[]}}`)
	for _, q := range []string{
		`mutation { activateCustomer(input: {id: "%s"}) }`,
		`mutation { deactivateCustomer(input: {id: "%s"}) }`,
		`mutation { updateCustomerContactInfo(input: {id: "%s", businessName: "B", phoneNumber: "+14165551212", addressLine1: "1 A St", postalCode: "M5E 1E5", province: "ON", country: "CA"}) }`,
	} {
		mine := s.Do(other, fmt.Sprintf(q, id), nil)
		none := s.Do(other, fmt.Sprintf(q, missing), nil)
		if strings.ReplaceAll(string(mine.Raw), id, missing) != string(none.Raw) {
			t.Fatalf("mutation on another partner's customer answers %s, on a missing one %s", mine.Raw, none.Raw)
		}
		if code, _ := errorOf(t, mine); code != "NOT_FOUND" {
			t.Fatalf("code %s", code)
		}
	}
	mine := s.Do(other, `mutation { terminateCustomer(input: {id: "`+id+`", retention: {strategy: INDEFINITE}}) { response userErrors { code message } } }`, nil)
	none := s.Do(other, `mutation { terminateCustomer(input: {id: "`+missing+`", retention: {strategy: INDEFINITE}}) { response userErrors { code message } } }`, nil)
	if strings.ReplaceAll(string(mine.Raw), id, missing) != string(none.Raw) {
		t.Fatalf("terminate of another partner's customer answers %s, of a missing one %s", mine.Raw, none.Raw)
	}
	// The owner and operators see it.
	for _, key := range []string{s.PartnerKey, s.OperatorKey} {
		r := s.Do(key, `{ customer(id: "`+id+`") { id status } }`, nil)
		if !strings.Contains(string(r.Raw), id) {
			t.Fatalf("owner/operator cannot see the customer: %s", r.Raw)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	id := register(t, s, s.PartnerKey, "idem-co")
	q := `mutation { activateCustomer(input: {id: "` + id + `"}) }`
	first := s.Do(s.PartnerKey, q, nil, "Idempotency-Key", "k-1")
	wantData(t, first, `{"activateCustomer":true}`)
	again := s.Do(s.PartnerKey, q, nil, "Idempotency-Key", "k-1")
	if string(again.Raw) != string(first.Raw) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %s (header %q), want the first response", again.Raw, again.Header.Get("Idempotent-Replayed"))
	}
	r := s.Do(s.PartnerKey, `{ customer(id: "`+id+`") { version } }`, nil)
	wantData(t, r, `{"customer":{"version":2}}`)
	// The same key with another request is refused.
	other := s.Do(s.PartnerKey, `mutation { deactivateCustomer(input: {id: "`+id+`"}) }`, nil, "Idempotency-Key", "k-1")
	if other.Status != http.StatusUnprocessableEntity {
		t.Fatalf("reused key: %d %s", other.Status, other.Raw)
	}
	if code, _ := errorOf(t, other); code != "IDEMPOTENCY_KEY_REUSED" {
		t.Fatalf("code %s", code)
	}
	// Keys belong to their API key: another caller's same key is separate.
	r = s.Do(s.OtherPartnerKey, q, nil, "Idempotency-Key", "k-1")
	if code, _ := errorOf(t, r); code != "NOT_FOUND" {
		t.Fatalf("other caller with the same key: %s", r.Raw)
	}
}

func TestTimeoutCarriesTheCommandIDAndTheCommandStillRuns(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{NoProvisioner: true, MutationTimeout: 300 * time.Millisecond})
	stop := s.StartProvisioner(t)
	id := register(t, s, s.PartnerKey, "slow-co")
	stop()
	r := s.Do(s.PartnerKey, `mutation { activateCustomer(input: {id: "`+id+`"}) }`, nil)
	code, _ := errorOf(t, r)
	cmdID, _ := r.Errors[0].Extensions["commandId"].(string)
	if code != "TIMEOUT" || cmdID == "" {
		t.Fatalf("got %s, want TIMEOUT with a commandId", r.Raw)
	}
	r = s.Do(s.PartnerKey, `{ command(id: "`+cmdID+`") { state type customerId } }`, nil)
	wantData(t, r, `{"command":{"state":"PENDING","type":"customer.activate","customerId":"`+id+`"}}`)
	s.StartProvisioner(t)
	testenv.Eventually(t, 20*time.Second, func() error {
		r = s.Do(s.PartnerKey, `{ command(id: "`+cmdID+`") { state customerVersion errors { code } } }`, nil)
		if !strings.Contains(string(r.Raw), "APPLIED") {
			return fmt.Errorf("command never applied: %s", r.Raw)
		}
		return nil
	})
	wantData(t, r, `{"command":{"state":"APPLIED","customerVersion":2,"errors":[]}}`)
	// Another partner cannot look the command up.
	r = s.Do(s.OtherPartnerKey, `{ command(id: "`+cmdID+`") { state } }`, nil)
	wantData(t, r, `{"command":null}`)
}

func TestCustomersPagination(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		want[register(t, s, s.PartnerKey, fmt.Sprintf("page-%d", i))] = true
	}
	seen := map[string]bool{}
	after := ""
	for pages := 0; ; pages++ {
		vars := map[string]any{"after": nil}
		if after != "" {
			vars["after"] = after
		}
		r := s.Do(s.PartnerKey, `query($after: String) { customers(first: 2, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, vars)
		var got struct {
			Customers struct {
				Edges []struct {
					Cursor string
					Node   struct{ ID string }
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
			}
		}
		decode(t, r, &got)
		for _, e := range got.Customers.Edges {
			if seen[e.Node.ID] {
				t.Fatalf("customer %s on two pages", e.Node.ID)
			}
			seen[e.Node.ID] = true
		}
		if !got.Customers.PageInfo.HasNextPage {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		after = got.Customers.PageInfo.EndCursor
	}
	if len(seen) != len(want) {
		t.Fatalf("saw %d customers, want %d", len(seen), len(want))
	}
	r := s.Do(s.PartnerKey, `{ customers(first: 2, after: "garbage") { nodes { id } } }`, nil)
	if code, field := errorOf(t, r); code != "BAD_USER_INPUT" || field != "after" {
		t.Fatalf("bad cursor: %s", r.Raw)
	}
	r = s.Do(s.PartnerKey, `{ customers(first: 5, status: ACTIVE) { nodes { id } } }`, nil)
	wantData(t, r, `{"customers":{"nodes":[]}}`)
}

func TestUnauthenticatedRequestsAreRefused(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	for _, key := range []string{"", "tk_000000000000_" + strings.Repeat("0", 48), "Basic abc"} {
		r := s.Do(key, `{ viewer { role } }`, nil)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("key %q: status %d %s", key, r.Status, r.Raw)
		}
		if code, _ := errorOf(t, r); code != "UNAUTHENTICATED" {
			t.Fatalf("code %s", code)
		}
	}
	r := s.Do(s.PartnerKey, `{ viewer { role partnerId } }`, nil)
	wantData(t, r, `{"viewer":{"role":"PARTNER","partnerId":"`+stacktest.PartnerID+`"}}`)
}
