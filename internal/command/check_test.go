package command_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
)

const (
	partnerID  = "25521a6f-b8d1-414b-8575-545430f076fd"
	otherID    = "7d3c9a52-5c1e-4d4f-9a38-2f3a1b0c9d11"
	customerID = "3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93"
)

func mustDecode(t *testing.T, data string) *command.Command {
	t.Helper()
	c, err := command.Decode([]byte(data))
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, data)
	}
	return c
}

// TestCheckSubject: the subject a command arrives on must name the body's
// partner and customer, as published or as mapped onto a partition.
func TestCheckSubject(t *testing.T) {
	cases := []struct {
		name, subject, field string
	}{
		{"no subject (not from NATS)", "", ""},
		{"as published", "customers.cmd." + partnerID + "." + customerID, ""},
		{"as mapped onto a partition", "customers.cmdp.7." + partnerID + "." + customerID, ""},
		{"another partner's subject", "customers.cmd." + otherID + "." + customerID, "partnerId"},
		{"another customer's subject", "customers.cmd." + partnerID + "." + otherID, "customerId"},
		{"partition subject of another partner", "customers.cmdp.7." + otherID + "." + customerID, "partnerId"},
		{"upper-case subject ids", "customers.cmd." + strings.ToUpper(partnerID) + "." + customerID, "partnerId"},
		{"too few tokens", "customers.cmd." + partnerID, "subject"},
		{"too many tokens", "customers.cmd." + partnerID + "." + customerID + ".x", "subject"},
		{"another prefix", "customers.evt." + partnerID + "." + customerID, "subject"},
		{"partition subject without partition", "customers.cmdp." + partnerID + "." + customerID, "subject"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := command.Check(mustDecode(t, envelope+`}`), tc.subject)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if got := fields(err); !slices.Equal(got, []string{tc.field}) {
				t.Fatalf("fields %q, want [%s]: %v", got, tc.field, err)
			}
		})
	}
}

// TestCheckReportsEveryProblem: a partner fixes everything at once.
func TestCheckReportsEveryProblem(t *testing.T) {
	c := mustDecode(t, `{"version":2,"id":"nope","type":"customer.explode","customerId":"","partnerId":"25521A6F-B8D1-414B-8575-545430F076FD","expectedVersion":-3}`)
	_, err := command.Check(c, "customers.cmd."+partnerID+"."+customerID)
	want := []string{"version", "id", "type", "customerId", "partnerId", "expectedVersion", "partnerId"}
	if got := fields(err); !slices.Equal(got, want) {
		t.Fatalf("fields %q, want %q: %v", got, want, err)
	}
	for _, typ := range command.Types {
		if !strings.Contains(err.Error(), string(typ)) {
			t.Errorf("the unknown type error does not list %s: %v", typ, err)
		}
	}

	c = mustDecode(t, contact(`{"businessName":" ","phoneNumber":"999","addressLine1":"","postalCode":"ZZZ","province":"XX","country":"CA"}`))
	_, err = command.Check(c, "")
	want = []string{
		"payload.contactInfo.businessName", "payload.contactInfo.phoneNumber", "payload.contactInfo.addressLine1",
		"payload.contactInfo.province",
	}
	got := fields(err)
	for _, f := range want {
		if !slices.Contains(got, f) {
			t.Errorf("fields %q lack %s: %v", got, f, err)
		}
	}
	if strings.Contains(err.Error(), "999") {
		t.Errorf("a rejection quotes contact info: %v", err)
	}
}

// TestCheckNormalises: what Check returns is what the provisioner stores.
func TestCheckNormalises(t *testing.T) {
	chk, err := command.Check(mustDecode(t, register(`{"space":"acme","industryId":"e4c81004-1a4c-477f-97e3-b67022e9a351","label":"  ACME Co.  "}`)), "")
	if err != nil {
		t.Fatal(err)
	}
	if chk.Register.Label != "ACME Co." {
		t.Errorf("label %q, want it trimmed", chk.Register.Label)
	}

	chk, err = command.Check(mustDecode(t, contact(`{"businessName":" ACME ","phoneNumber":"+1 (416) 555-1212","addressLine1":"1 Yonge St","postalCode":"m5e1e5","province":"on","country":"ca"}`)), "")
	if err != nil {
		t.Fatal(err)
	}
	want := customer.ContactInfo{BusinessName: "ACME", PhoneNumber: "+14165551212", AddressLine1: "1 Yonge St", PostalCode: "M5E 1E5", Province: "ON", Country: "CA"}
	if chk.Contact == nil || *chk.Contact != want || chk.Sealed != "" {
		t.Errorf("contact %+v sealed %q, want %+v", chk.Contact, chk.Sealed, want)
	}

	const sealed = "vault:v1:8SDd3WHDOjf7mq69CyCqYjBXAiQQAVZRkFM13ok481zoCmHnSeDX9vyf7w=="
	chk, err = command.Check(mustDecode(t, strings.Replace(contact(`null`), `"contactInfo":null`, `"sealed":"`+sealed+`"`, 1)), "")
	if err != nil {
		t.Fatal(err)
	}
	if chk.Sealed != sealed || chk.Contact != nil {
		t.Errorf("sealed %q contact %v, want the ciphertext passed through", chk.Sealed, chk.Contact)
	}
}

// TestCheckRetention: period is required and bounded for TEMPORARY only,
// and accepted and ignored otherwise (the spec sends NO_RETENTION with
// period 12).
func TestCheckRetention(t *testing.T) {
	cases := []struct {
		retention string
		want      customer.Retention
		field     string
	}{
		{`{"strategy":"NO_RETENTION","period":12}`, customer.Retention{Strategy: customer.NoRetention}, ""},
		{`{"strategy":"NO_RETENTION","period":-5}`, customer.Retention{Strategy: customer.NoRetention}, ""},
		{`{"strategy":"INDEFINITE","period":100000}`, customer.Retention{Strategy: customer.Indefinite}, ""},
		{`{"strategy":"INDEFINITE"}`, customer.Retention{Strategy: customer.Indefinite}, ""},
		{`{"strategy":"TEMPORARY","period":1}`, customer.Retention{Strategy: customer.Temporary, Period: 1}, ""},
		{`{"strategy":"TEMPORARY","period":120}`, customer.Retention{Strategy: customer.Temporary, Period: 120}, ""},
		{`{"strategy":"TEMPORARY","period":0}`, customer.Retention{}, "payload.retention.period"},
		{`{"strategy":"TEMPORARY","period":121}`, customer.Retention{}, "payload.retention.period"},
		{`{"strategy":"TEMPORARY"}`, customer.Retention{}, "payload.retention.period"},
		// GraphQL accepts expectedVersion inside retention (the spec's
		// example puts it there); the wire format does not.
		{`{"strategy":"TEMPORARY","period":6,"expectedVersion":3}`, customer.Retention{}, "payload.retention.expectedVersion"},
		{`{}`, customer.Retention{}, "payload.retention.strategy"},
	}
	for _, tc := range cases {
		chk, err := command.Check(mustDecode(t, terminate(tc.retention)), "")
		if tc.field != "" {
			if got := fields(err); !slices.Equal(got, []string{tc.field}) {
				t.Errorf("%s: fields %q, want [%s]: %v", tc.retention, got, tc.field, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.retention, err)
			continue
		}
		if chk.Retention != tc.want {
			t.Errorf("%s: retention %+v, want %+v", tc.retention, chk.Retention, tc.want)
		}
	}
}

// TestCheckPayloadless: activate and deactivate take no payload.
func TestCheckPayloadless(t *testing.T) {
	for _, typ := range []string{"customer.activate", "customer.deactivate"} {
		base := strings.Replace(envelope, "customer.activate", typ, 1)
		for payload, field := range map[string]string{
			``:                   "",
			`,"payload":null`:    "",
			`,"payload":{}`:      "",
			`,"payload":{"a":1}`: "payload",
			`,"payload":[]`:      "payload",
			`,"payload":""`:      "payload",
			`,"payload":0`:       "payload",
			`,"payload":false`:   "payload",
		} {
			_, err := command.Check(mustDecode(t, base+payload+`}`), "")
			if field == "" && err != nil {
				t.Errorf("%s%s: %v", typ, payload, err)
			}
			if field != "" && !slices.Equal(fields(err), []string{field}) {
				t.Errorf("%s%s: fields %q, want [%s]: %v", typ, payload, fields(err), field, err)
			}
		}
	}
}

// TestCheckContactInfoForms: exactly one of contactInfo and sealed.
func TestCheckContactInfoForms(t *testing.T) {
	base := contact(`null`)
	cases := map[string]string{
		`"contactInfo":` + goodContact:                               "",
		`"sealed":"vault:v2:AAAA"`:                                   "",
		`"contactInfo":` + goodContact + `,"sealed":"vault:v1:AAAA"`: "payload",
		`"sealed":"plain text"`:                                      "payload.sealed",
		`"sealed":""`:                                                "payload.contactInfo",
		`"contactInfo":null`:                                         "payload.contactInfo",
		`"contactInfo":{}`:                                           "payload.contactInfo.businessName",
	}
	for body, field := range cases {
		_, err := command.Check(mustDecode(t, strings.Replace(base, `"contactInfo":null`, body, 1)), "")
		if field == "" && err != nil {
			t.Errorf("%s: %v", body, err)
		}
		if field != "" && !slices.Contains(fields(err), field) {
			t.Errorf("%s: fields %q, want %s: %v", body, fields(err), field, err)
		}
	}
}

func TestSealedContactInfoIsAcceptedOnlyFromTheGateway(t *testing.T) {
	c := &command.Command{
		Version: 1, ID: "0b8f6c0e-1111-4a1a-9a1a-000000000009", Type: command.UpdateContactInfo,
		CustomerID: "0b8f6c0e-1111-4a1a-9a1a-000000000001", PartnerID: "25521a6f-b8d1-414b-8575-545430f076fd",
		Payload: command.MustPayload(command.ContactInfoPayload{Sealed: "vault:v1:abc"}),
	}
	if _, err := command.Check(c, command.GatewaySubject(c.PartnerID, c.CustomerID)); err != nil {
		t.Fatalf("from the gateway: %v", err)
	}
	mapped := "customers.cmdp.3." + c.PartnerID + "." + c.CustomerID + ".gw"
	if _, err := command.Check(c, mapped); err != nil {
		t.Fatalf("from the gateway, as mapped: %v", err)
	}
	_, err := command.Check(c, command.CommandSubject(c.PartnerID, c.CustomerID))
	if got := fields(err); len(got) != 1 || got[0] != "payload.sealed" {
		t.Fatalf("from a partner: %v, want a payload.sealed error", err)
	}
}
