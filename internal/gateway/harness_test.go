package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/textkit/customers/internal/access"
	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/gateway"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/redisstore/redistest"
	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/testenv"
)

// harness is the gateway over a real Redis (API keys, reference data,
// customers) with hand-written fakes for the command bus and Vault. It is
// cheap enough to build per test and fast enough to fuzz, and its
// publisher counts the commands a request set in motion: a request
// refused before execution publishes none.
type harness struct {
	t     testing.TB
	Store *redisstore.Store
	Redis *testenv.Redis
	Pub   *fakePublisher
	Logs  *testenv.Buffer
	// Keys: two of the docs' partner, one of the other partner, one operator.
	PartnerKey, PartnerKey2, OtherPartnerKey, OperatorKey string

	outcomes *gateway.Outcomes
	handler  http.Handler
}

// newHarness starts Redis and a gateway whose Config mutate may change.
func newHarness(t testing.TB, mutate func(*gateway.Config)) *harness {
	t.Helper()
	rdb, srv := redistest.Start(t, testenv.WithRedisConfig("appendfsync", "no"))
	h := &harness{t: t, Store: redisstore.New(rdb), Redis: srv, Logs: &testenv.Buffer{}}
	ctx := context.Background()
	for _, p := range []redisstore.Partner{{ID: stacktest.PartnerID, Name: "Docs partner"}, {ID: stacktest.OtherPartnerID, Name: "Other partner"}} {
		if err := h.Store.PutPartner(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Store.PutIndustry(ctx, redisstore.Industry{ID: stacktest.IndustryID, Name: "Retail"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, k := range []struct {
		dst       *string
		name      string
		role      access.Role
		partnerID string
	}{
		{&h.PartnerKey, "docs partner", access.RolePartner, stacktest.PartnerID},
		{&h.PartnerKey2, "docs partner, second key", access.RolePartner, stacktest.PartnerID},
		{&h.OtherPartnerKey, "other partner", access.RolePartner, stacktest.OtherPartnerID},
		{&h.OperatorKey, "ops", access.RoleOperator, ""},
	} {
		_, full, err := access.Issue(ctx, h.Store, k.name, k.role, k.partnerID, now)
		if err != nil {
			t.Fatal(err)
		}
		*k.dst = full
	}
	h.outcomes = gateway.NewOutcomesForTest(h.Store)
	h.Pub = &fakePublisher{outcomes: h.outcomes}
	h.handler = h.newHandler(mutate)
	return h
}

// newHandler returns another gateway over the same Redis and fakes.
func (h *harness) newHandler(mutate func(*gateway.Config)) http.Handler {
	h.t.Helper()
	cfg := gateway.Config{
		Store: h.Store, Publisher: h.Pub, Outcomes: h.outcomes, Keys: fakeKeys{},
		Logger:          slog.New(slog.NewJSONHandler(h.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		IsKeyMissing:    func(err error) bool { return errors.Is(err, errNoKey) },
		MutationTimeout: 5 * time.Second, KeyWait: time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return gw.Handler()
}

// result is one HTTP response of the gateway.
type result struct {
	Status int
	Header http.Header
	Raw    []byte
	// HasData reports whether the body has a "data" member: a request
	// refused before execution has none (GraphQL spec, Response).
	HasData bool
	Data    json.RawMessage
	Errors  []gqlError
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the first error's extensions.code.
func (r *result) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// Message is the first error's message.
func (r *result) Message() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Message
}

// serve runs req through handler and decodes the response; a body that is
// not a JSON object is left undecoded (Raw) for the caller to judge.
func serve(handler http.Handler, req *http.Request) *result {
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	r := &result{Status: rec.Code, Header: rec.Header(), Raw: rec.Body.Bytes()}
	var top map[string]json.RawMessage
	if json.Unmarshal(r.Raw, &top) == nil {
		r.Data, r.HasData = top["data"]
		_ = json.Unmarshal(top["errors"], &r.Errors)
	}
	return r
}

// post sends body as a JSON POST with key and extra header pairs.
func (h *harness) post(handler http.Handler, key, body string, headers ...string) *result {
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return serve(handler, req)
}

// do sends a query with variables to the harness's gateway.
func (h *harness) do(key, query string, vars map[string]any, headers ...string) *result {
	return h.doWith(h.handler, key, query, vars, headers...)
}

func (h *harness) doWith(handler http.Handler, key, query string, vars map[string]any, headers ...string) *result {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.post(handler, key, string(body), headers...)
}

// fakePublisher answers every command at once with an APPLIED outcome,
// unless hook fails it first. It counts the commands.
type fakePublisher struct {
	outcomes *gateway.Outcomes
	calls    atomic.Int64
	hook     atomic.Pointer[func(context.Context, *command.Command) error]
}

func (p *fakePublisher) PublishCommand(ctx context.Context, c *command.Command) error {
	p.calls.Add(1)
	if hook := p.hook.Load(); hook != nil {
		if err := (*hook)(ctx, c); err != nil {
			return err
		}
	}
	p.outcomes.Deliver(&command.Outcome{
		Version: 1, CommandID: c.ID, Type: c.Type, CustomerID: c.CustomerID, PartnerID: c.PartnerID,
		Status: command.Applied, CustomerVersion: 1, ProcessedAt: time.Now().UTC(),
	})
	return nil
}

// setHook makes every publish call f first; f's error fails the publish.
func (p *fakePublisher) setHook(f func(context.Context, *command.Command) error) { p.hook.Store(&f) }

var errNoKey = errors.New("fake vault: no such key")

// fakeKeys is Vault transit that "encrypts" with base64.
type fakeKeys struct{}

func (fakeKeys) Encrypt(_ context.Context, _ string, plaintext []byte) (string, error) {
	return "fake:" + base64.StdEncoding.EncodeToString(plaintext), nil
}

func (fakeKeys) Decrypt(_ context.Context, _ string, ciphertext string) ([]byte, error) {
	s, ok := strings.CutPrefix(ciphertext, "fake:")
	if !ok {
		return nil, errNoKey
	}
	return base64.StdEncoding.DecodeString(s)
}

func (fakeKeys) KeyStatus(context.Context, string) (bool, error) { return true, nil }

// logLines returns the JSON log records that carry request id rid.
func logLines(logs, rid string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["request_id"] == rid {
			out = append(out, rec)
		}
	}
	return out
}

// registerQuery is a registerCustomer mutation of the docs' partner.
func registerQuery(space, selection string) string {
	return `mutation { registerCustomer(input: {space: "` + space + `", partnerId: "` + stacktest.PartnerID +
		`", industryId: "` + stacktest.IndustryID + `", label: "Co ` + space + `"}) ` + selection + ` }`
}
