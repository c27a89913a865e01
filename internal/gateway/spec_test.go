package gateway_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

// docsCustomerID is the customer the docs' examples act on.
const docsCustomerID = "e4c81004-1a4c-477f-97e3-b67022e9a351"

func TestSpecExamplesWorkAsWritten(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{})
	ex := testenv.DocsExamples(t)
	// The dev stack registers the customer the examples act on (scripts/up.sh).
	r := s.Do(s.PartnerKey, `mutation { registerCustomer(input: {id: "`+docsCustomerID+`", space: "docs-example", partnerId: "`+stacktest.PartnerID+`", industryId: "`+stacktest.IndustryID+`", label: "Docs example customer"}) { response userErrors { field message } } }`, nil)
	if !strings.Contains(string(r.Raw), `"response":true`) {
		t.Fatalf("register the docs' customer: %s", r.Raw)
	}

	// 1. registerCustomer (space acme).
	r = s.Do(s.PartnerKey, ex[0], nil)
	wantData(t, r, `{"registerCustomer":{"userErrors":[]}}`)

	// 2. activateCustomer + updateCustomerContactInfo, joined, with :any.
	r = s.Do(s.PartnerKey, ex[1], nil)
	wantData(t, r, `{"activateCustomer":true,"updateCustomerContactInfo":true}`)

	// 3. updateCustomerContactInfo alone.
	r = s.Do(s.PartnerKey, ex[2], nil)
	wantData(t, r, `{"updateCustomerContactInfo":true}`)

	// 4. deactivateCustomer.
	r = s.Do(s.PartnerKey, ex[3], nil)
	wantData(t, r, `{"deactivateCustomer":true}`)

	// 5. terminateCustomer: the example misses a closing brace; the error
	// says where, and where the unclosed object starts.
	r = s.Do(s.PartnerKey, ex[4], nil)
	if len(r.Errors) != 1 || r.Data != nil {
		t.Fatalf("terminate example: %s", r.Raw)
	}
	e := r.Errors[0]
	if e.Extensions["code"] != "GRAPHQL_PARSE_FAILED" || !strings.Contains(e.Message, "line 8, column 2") || !strings.Contains(e.Message, "'{' opened at line 2, column 26 is not closed") {
		t.Fatalf("terminate example error %q %v, want the position and the unclosed brace", e.Message, e.Extensions)
	}

	// After the examples the customer reads back as the docs' data left it.
	r = s.Do(s.PartnerKey, `{ customer(id: "`+docsCustomerID+`") { status version contactInfoStatus contactInfo { businessName secondaryName phoneNumber postalCode province country } history { version event } } }`, nil)
	var got struct {
		Customer struct {
			Status, ContactInfoStatus string
			Version                   int
			ContactInfo               map[string]string
			History                   []struct {
				Version int
				Event   string
			}
		}
	}
	decode(t, r, &got)
	c := got.Customer
	if c.Status != "DEACTIVATED" || c.Version != 5 || c.ContactInfoStatus != "AVAILABLE" || c.ContactInfo["secondaryName"] != "ACME Corp." || c.ContactInfo["postalCode"] != "M5E 1E5" {
		t.Fatalf("customer after the examples: %s", r.Raw)
	}
	if len(c.History) != 5 || c.History[4].Event != "customer.deactivated" {
		t.Fatalf("history: %+v", c.History)
	}

	// The fixed terminate example (closing brace added) terminates.
	fixed := strings.Replace(ex[4], "}) {", "}}) {", 1)
	r = s.Do(s.PartnerKey, fixed, nil)
	wantData(t, r, `{"terminateCustomer":{"response":true}}`)
}

func wantData(t *testing.T, r *stacktest.Response, want string) {
	t.Helper()
	if len(r.Errors) > 0 || r.Data == nil {
		t.Fatalf("got errors %s, want data %s", r.Raw, want)
	}
	got, _ := json.Marshal(r.Data)
	var a, b any
	_ = json.Unmarshal(got, &a)
	_ = json.Unmarshal([]byte(want), &b)
	ga, _ := json.Marshal(a)
	gb, _ := json.Marshal(b)
	if string(ga) != string(gb) {
		t.Fatalf("got data %s, want %s", ga, gb)
	}
}

func decode(t *testing.T, r *stacktest.Response, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %s", r.Raw)
	}
	b, _ := json.Marshal(r.Data)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
