package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/ledger"
)

// graphQLTarget sends each step as one GraphQL request (its ops as the
// request's mutation fields, in order) with a fresh Idempotency-Key.
type graphQLTarget struct {
	url, apiKey, partnerID, industryID string
	client                             *http.Client
}

func newGraphQLTarget(cfg *Config) *graphQLTarget {
	tr := &http.Transport{MaxIdleConns: cfg.concurrency() * 2, MaxIdleConnsPerHost: cfg.concurrency() * 2, IdleConnTimeout: time.Minute}
	return &graphQLTarget{
		url: cfg.GraphQLURL, apiKey: cfg.APIKey, partnerID: cfg.PartnerID, industryID: cfg.IndustryID,
		// The gateway answers a mutation within its timeout; the client
		// waits longer, so a slow answer is the gateway's to report.
		client: &http.Client{Transport: tr, Timeout: 2*cfg.MutationTimeout + 15*time.Second},
	}
}

func (g *graphQLTarget) Name() string { return ledger.ViaGraphQL }

func (g *graphQLTarget) Close() error {
	g.client.CloseIdleConnections()
	return nil
}

// fields is the GraphQL mutation field of each command type and whether it
// returns a payload (register, terminate) rather than a Boolean.
var fields = map[ledger.Type]struct {
	name, input string
	payload     bool
}{
	ledger.Register:          {"registerCustomer", "RegisterCustomerInput", true},
	ledger.Activate:          {"activateCustomer", "ActivateCustomerInput", false},
	ledger.Deactivate:        {"deactivateCustomer", "DeactivateCustomerInput", false},
	ledger.UpdateContactInfo: {"updateCustomerContactInfo", "UpdateCustomerContactInfoInput", false},
	ledger.Terminate:         {"terminateCustomer", "TerminateCustomerInput", true},
}

const payloadSelection = " { response customerId version commandId userErrors { field message code } }"

// request builds the GraphQL request of a step.
func (g *graphQLTarget) request(step Step) (query string, vars map[string]any) {
	var params, sel []string
	vars = map[string]any{}
	for i, op := range step.Ops {
		f := fields[op.Type]
		v := fmt.Sprintf("i%d", i)
		params = append(params, "$"+v+": "+f.input+"!")
		s := f.name + "(input: $" + v + ")"
		if f.payload {
			s += payloadSelection
		}
		sel = append(sel, s)
		vars[v] = g.input(op)
	}
	return "mutation(" + strings.Join(params, ", ") + ") { " + strings.Join(sel, " ") + " }", vars
}

// input is an op's GraphQL input object.
func (g *graphQLTarget) input(op Op) map[string]any {
	in := map[string]any{"id": op.CustomerID}
	if op.ExpectedVersion != nil {
		in["expectedVersion"] = *op.ExpectedVersion
	}
	switch op.Type {
	case ledger.Register:
		delete(in, "expectedVersion")
		in["space"], in["partnerId"], in["industryId"], in["label"] = op.Space, g.partnerID, g.industryID, op.Label
	case ledger.UpdateContactInfo:
		c := op.Contact
		in["businessName"], in["phoneNumber"], in["addressLine1"] = c.BusinessName, c.PhoneNumber, c.AddressLine1
		in["postalCode"], in["province"], in["country"] = c.PostalCode, c.Province, c.Country
	case ledger.Terminate:
		r := map[string]any{"strategy": op.Retention}
		if op.Period > 0 {
			r["period"] = op.Period
		}
		in["retention"] = r
	}
	return in
}

// gqlError is one GraphQL error of a response.
type gqlError struct {
	Message    string `json:"message"`
	Path       []any  `json:"path"`
	Extensions struct {
		Code      string `json:"code"`
		CommandID string `json:"commandId"`
	} `json:"extensions"`
}

// gqlPayload is a register or terminate payload.
type gqlPayload struct {
	Response   bool    `json:"response"`
	CustomerID *string `json:"customerId"`
	Version    *int64  `json:"version"`
	CommandID  *string `json:"commandId"`
	UserErrors []struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"userErrors"`
}

type gqlResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
}

func (g *graphQLTarget) Send(ctx context.Context, step Step) []Result {
	key := uuid.NewString()
	query, vars := g.request(step)
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return g.all(step, Result{Answer: ledger.Error, Code: "CLIENT", Message: err.Error()})
	}
	sent := time.Now()
	resp, status, err := g.post(ctx, key, body)
	answered := time.Now()
	var out []Result
	if err != nil {
		out = g.all(step, transportResult(err))
	} else {
		out = g.results(step, resp, status)
	}
	for i := range out {
		out[i].IdempotencyKey, out[i].Field = key, fields[step.Ops[i].Type].name
		out[i].SentAt, out[i].AnsweredAt = sent, answered
	}
	return out
}

// post sends one request and decodes its response.
func (g *graphQLTarget) post(ctx context.Context, key string, body []byte) (*gqlResponse, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+g.apiKey)
	req.Header.Set("Idempotency-Key", key)
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = resp.Body.Close() }() // the body is read in full below
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	var r gqlResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("HTTP %d, not a GraphQL response: %.200s", resp.StatusCode, b)
	}
	return &r, resp.StatusCode, nil
}

// transportResult is the answer when the request got no response: a
// connection that was never made sent nothing (ERROR); any other failure
// may have happened after the gateway published (TIMEOUT: unknown).
func transportResult(err error) Result {
	var op *net.OpError
	if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial") {
		return Result{Answer: ledger.Error, Code: "CONNECTION_REFUSED", Message: err.Error(), Retryable: true}
	}
	return Result{Answer: ledger.Timeout, Code: "TRANSPORT", Message: err.Error(), Retryable: true}
}

func (g *graphQLTarget) all(step Step, r Result) []Result {
	out := make([]Result, len(step.Ops))
	for i := range out {
		out[i] = r
	}
	return out
}

// results reads each op's answer from a response.
func (g *graphQLTarget) results(step Step, resp *gqlResponse, status int) []Result {
	out := make([]Result, len(step.Ops))
	for i, op := range step.Ops {
		name := fields[op.Type].name
		if e := errorFor(resp.Errors, name); e != nil {
			out[i] = errorResult(e)
			continue
		}
		raw, ok := resp.Data[name]
		if !ok || string(raw) == "null" {
			out[i] = Result{Answer: ledger.Error, Code: fmt.Sprintf("HTTP_%d", status), Message: "no answer for " + name}
			continue
		}
		out[i] = dataResult(raw, fields[op.Type].payload)
	}
	return out
}

// errorFor returns the error for a field: one whose path starts with it,
// else one without a path (the whole request failed).
func errorFor(errs []gqlError, field string) *gqlError {
	var general *gqlError
	for i, e := range errs {
		if len(e.Path) == 0 {
			if general == nil {
				general = &errs[i]
			}
			continue
		}
		if s, _ := e.Path[0].(string); s == field {
			return &errs[i]
		}
	}
	return general
}

func errorResult(e *gqlError) Result {
	r := Result{Code: e.Extensions.Code, Message: e.Message, CommandID: e.Extensions.CommandID}
	r.Answer = answerOf(r.Code)
	r.Retryable = retryable(r.Code)
	if r.Code == "" {
		r.Code = "UNKNOWN"
	}
	return r
}

// answerOf maps an error code to what the client was told: TIMEOUT leaves
// the outcome unknown; the domain's refusals are rejections; everything
// else (RATE_LIMITED, UNAVAILABLE, INTERNAL, limits, …) is an error.
func answerOf(code string) ledger.Answer {
	switch code {
	case "TIMEOUT":
		return ledger.Timeout
	case "BAD_USER_INPUT", "NOT_FOUND", "VERSION_CONFLICT", "INVALID_TRANSITION", "CONFLICT", "FORBIDDEN":
		return ledger.Rejected
	}
	return ledger.Error
}

func retryable(code string) bool {
	switch code {
	case "TIMEOUT", "UNAVAILABLE", "RATE_LIMITED", "TRANSPORT", "CONNECTION_REFUSED":
		return true
	}
	return false
}

// dataResult reads a field's data: true, or a payload.
func dataResult(raw json.RawMessage, payload bool) Result {
	if !payload {
		var ok bool
		if err := json.Unmarshal(raw, &ok); err != nil || !ok {
			return Result{Answer: ledger.Error, Code: "UNKNOWN", Message: "unexpected answer " + string(raw)}
		}
		return Result{Answer: ledger.Applied}
	}
	var p gqlPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return Result{Answer: ledger.Error, Code: "UNKNOWN", Message: "unexpected payload " + string(raw)}
	}
	r := Result{CustomerVersion: p.Version}
	if p.CommandID != nil {
		r.CommandID = *p.CommandID
	}
	switch {
	case p.Response:
		r.Answer = ledger.Applied
	case len(p.UserErrors) > 0:
		r.Code, r.Message = p.UserErrors[0].Code, p.UserErrors[0].Message
		r.Answer, r.Retryable = answerOf(r.Code), retryable(r.Code)
	default:
		r.Answer, r.Code = ledger.Error, "UNKNOWN"
	}
	return r
}
