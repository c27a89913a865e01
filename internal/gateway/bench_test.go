package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/stacktest"
)

// benchCustomer registers and activates a customer with contact info
// through the API, and returns its id.
func benchCustomer(b *testing.B, s *stacktest.Stack) string {
	b.Helper()
	r := s.Do(s.PartnerKey, `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response customerId userErrors { field message } } }`,
		map[string]any{"in": map[string]any{"space": "bench-co", "partnerId": stacktest.PartnerID, "industryId": stacktest.IndustryID, "label": "Bench Co."}})
	mustOK(b, r, "register")
	var got struct {
		Response   bool
		CustomerID string
	}
	if err := json.Unmarshal(r.Data["registerCustomer"], &got); err != nil || !got.Response {
		b.Fatalf("register: %s", r.Raw)
	}
	id := got.CustomerID
	r = s.Do(s.PartnerKey, `mutation { activateCustomer(input: {id: "`+id+`"})
		updateCustomerContactInfo(input: {id: "`+id+`", businessName: "ACME Corporation Inc.", secondaryName: "ACME Co.",
			phoneNumber: "+14165551212", addressLine1: "1 Yonge St", addressLine2: "Suite 1204",
			postalCode: "M5E 1E5", province: "ON", country: "CA"}) }`, nil)
	mustOK(b, r, "activate and update contact info")
	if string(r.Data["activateCustomer"]) != "true" || string(r.Data["updateCustomerContactInfo"]) != "true" {
		b.Fatalf("activate and update contact info: %s", r.Raw)
	}
	return id
}

// mustOK fails the benchmark on a GraphQL error.
func mustOK(b *testing.B, r *stacktest.Response, what string) {
	if len(r.Errors) > 0 || r.Status != 200 {
		b.Fatalf("%s: %d %s", what, r.Status, r.Raw)
	}
}

// BenchmarkGatewayMutation is the full path of a mutation answered when
// complete: HTTP, auth, GraphQL, publish onto JetStream, the provisioner
// (Redis, Vault, Twilio emulator), the outcome back. One op is a
// deactivate/activate round trip: two requests, four Twilio calls.
func BenchmarkGatewayMutation(b *testing.B) {
	s := stacktest.Start(b, stacktest.Options{})
	id := benchCustomer(b, s)
	deactivate := `mutation { deactivateCustomer(input: {id: "` + id + `"}) }`
	activate := `mutation { activateCustomer(input: {id: "` + id + `"}) }`
	b.ReportAllocs()
	for b.Loop() {
		r := s.Do(s.PartnerKey, deactivate, nil)
		mustOK(b, r, "deactivate")
		r = s.Do(s.PartnerKey, activate, nil)
		mustOK(b, r, "activate")
	}
}

// BenchmarkGatewayQuery is a customer read with its contact info (decrypted
// through Vault) and history, over HTTP.
func BenchmarkGatewayQuery(b *testing.B) {
	s := stacktest.Start(b, stacktest.Options{})
	id := benchCustomer(b, s)
	query := `{ customer(id: "` + id + `") { id status version twilioSubaccountSid
		contactInfo { businessName secondaryName phoneNumber addressLine1 addressLine2 postalCode province country }
		contactInfoStatus encryptionKey { status } history { version event at actor commandId } } }`
	r := s.Do(s.PartnerKey, query, nil)
	mustOK(b, r, "query")
	if !strings.Contains(string(r.Raw), `"phoneNumber":"+14165551212"`) || !strings.Contains(string(r.Raw), `"contactInfoStatus":"AVAILABLE"`) {
		b.Fatalf("query: %s", r.Raw)
	}
	b.ReportAllocs()
	for b.Loop() {
		mustOK(b, s.Do(s.PartnerKey, query, nil), "query")
	}
}
