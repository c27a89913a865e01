package load

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/ledger"
)

// What the client was told decides what the checker may expect: an error
// only when nothing can have been applied, else TIMEOUT (unknown).
func TestPublishFailed(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want ledger.Answer
		code string
	}{
		{nats.ErrMaxPayload, ledger.Error, "NOT_SENT"},
		{fmt.Errorf("publish: %w", nats.ErrConnectionClosed), ledger.Error, "NOT_SENT"},
		{&jetstream.APIError{Code: 503, Description: "maximum messages per subject exceeded"}, ledger.Error, "PUBLISH_REFUSED"},
		{jetstream.ErrNoStreamResponse, ledger.Error, "NO_STREAM"},
		{nats.ErrTimeout, ledger.Timeout, "PUBLISH_UNCONFIRMED"},
		{errors.New("nats: connection reset"), ledger.Timeout, "PUBLISH_UNCONFIRMED"},
	} {
		r := publishFailed(Result{}, tc.err)
		if r.Answer != tc.want || r.Code != tc.code {
			t.Errorf("%v: %s %s, want %s %s", tc.err, r.Answer, r.Code, tc.want, tc.code)
		}
	}
}

func TestGraphQLAnswers(t *testing.T) {
	refused := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	if r := transportResult(fmt.Errorf("post: %w", refused), false); r.Answer != ledger.Error || r.Code != "CONNECTION_REFUSED" {
		t.Errorf("refused connection: %+v", r)
	}
	if r := transportResult(fmt.Errorf("post: %w", refused), true); r.Answer != ledger.Timeout {
		t.Errorf("a refused resend of a request already written must be unknown: %+v", r)
	}
	if r := transportResult(errors.New("unexpected EOF"), true); r.Answer != ledger.Timeout {
		t.Errorf("a connection lost mid-request must be unknown: %+v", r)
	}
	for code, want := range map[string]ledger.Answer{
		"TIMEOUT": ledger.Timeout, "VERSION_CONFLICT": ledger.Rejected, "INVALID_TRANSITION": ledger.Rejected,
		"RATE_LIMITED": ledger.Error, "UNAVAILABLE": ledger.Error, "INTERNAL": ledger.Error, "": ledger.Error,
	} {
		e := &gqlError{Message: "m"}
		e.Extensions.Code, e.Extensions.CommandID = code, "c1"
		r := errorResult(e)
		if r.Answer != want || r.CommandID != "c1" {
			t.Errorf("code %q: %+v, want %s", code, r, want)
		}
	}
	v := `{"response":false,"version":null,"commandId":"c2","userErrors":[{"message":"taken","code":"CONFLICT"}]}`
	if r := dataResult([]byte(v), true); r.Answer != ledger.Rejected || r.Code != "CONFLICT" || r.CommandID != "c2" {
		t.Errorf("payload with a user error: %+v", r)
	}
	v = `{"response":true,"version":4,"commandId":"c3","userErrors":[]}`
	if r := dataResult([]byte(v), true); r.Answer != ledger.Applied || *r.CustomerVersion != 4 || r.CommandID != "c3" {
		t.Errorf("applied payload: %+v", r)
	}
	if r := dataResult([]byte("true"), false); r.Answer != ledger.Applied {
		t.Errorf("true: %+v", r)
	}
	resp := &gqlResponse{Errors: []gqlError{{Message: "slow down"}}}
	resp.Errors[0].Extensions.Code = "RATE_LIMITED"
	g := &graphQLTarget{}
	step := Step{Ops: []Op{{Type: ledger.Activate}, {Type: ledger.UpdateContactInfo}}}
	for _, r := range g.results(step, resp, 429) {
		if r.Answer != ledger.Error || r.Code != "RATE_LIMITED" || !r.Retryable {
			t.Errorf("a request refused as a whole: %+v", r)
		}
	}
}

func TestGraphQLRequest(t *testing.T) {
	g := &graphQLTarget{partnerID: "p", industryID: "i"}
	q, vars := g.request(Step{Ops: []Op{
		{Type: ledger.Activate, CustomerID: "c"},
		{Type: ledger.UpdateContactInfo, CustomerID: "c", Contact: contact(1)},
		{Type: ledger.Terminate, CustomerID: "c", Retention: "TEMPORARY", Period: 6},
	}})
	want := "mutation($i0: ActivateCustomerInput!, $i1: UpdateCustomerContactInfoInput!, $i2: TerminateCustomerInput!) " +
		"{ activateCustomer(input: $i0) updateCustomerContactInfo(input: $i1) terminateCustomer(input: $i2)" + payloadSelection + " }"
	if q != want {
		t.Errorf("query\n%s\nwant\n%s", q, want)
	}
	if r := vars["i2"].(map[string]any)["retention"].(map[string]any); r["strategy"] != "TEMPORARY" || r["period"] != 6 {
		t.Errorf("retention %v", r)
	}
	if c := vars["i1"].(map[string]any); c["country"] != "CA" || c["postalCode"] != "M5E 1E5" {
		t.Errorf("contact %v", c)
	}
}
