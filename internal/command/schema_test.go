package command_test

// The public contract, checked three ways: the JSON Schema files partners
// validate against (docs/schemas), the provisioner's own decoder and
// checker (command.Decode, command.Check), and the examples partners copy
// (testdata and docs/commands.md). A change to any of them that breaks the
// agreement fails here.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
)

const (
	schemaDir = "../../docs/schemas"
	docPath   = "../../docs/commands.md"
)

// allEvents lists every EventType; allCodes every error code an outcome may
// carry. They are written out here so that a new one fails the enum tests
// until the schema (and the doc) know it too.
var (
	allEvents = []command.EventType{
		command.Registered, command.Activated, command.ContactInfoUpdated, command.Deactivated, command.Terminated,
		command.KeyCreated, command.KeyScheduled, command.KeyDestroyed,
	}
	allCodes = []customer.Code{
		customer.CodeInvalid, customer.CodeNotFound, customer.CodeVersionConflict, customer.CodeInvalidTransition,
		customer.CodeConflict, customer.CodeForbidden, customer.CodeUnauthenticated, customer.CodeUnavailable,
		customer.CodeTimeout, customer.CodeInternal,
	}
)

type schemas struct {
	command, outcome, event, deadLetter *jsonschema.Schema
}

var (
	schemaOnce sync.Once
	loaded     schemas
	loadErr    error
)

// loadSchemas compiles the four schema files, asserting formats
// (date-time), as a strict partner-side validator would.
func loadSchemas(t testing.TB) schemas {
	t.Helper()
	schemaOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		c.AssertFormat()
		compile := func(name string) *jsonschema.Schema {
			if loadErr != nil {
				return nil
			}
			path, err := filepath.Abs(filepath.Join(schemaDir, name))
			if err != nil {
				loadErr = err
				return nil
			}
			s, err := c.Compile(path)
			if err != nil {
				loadErr = err
			}
			return s
		}
		loaded = schemas{command: compile("command.v1.json"), outcome: compile("outcome.v1.json"), event: compile("event.v1.json"),
			deadLetter: compile("deadletter.v1.json")}
	})
	if loadErr != nil {
		t.Fatalf("compile schemas: %v", loadErr)
	}
	return loaded
}

// validate checks data against s; the error says where and why.
func validate(s *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// fields returns the field of every error in err.
func fields(err error) []string {
	var out []string
	for _, e := range customer.AsErrors(err) {
		out = append(out, e.Field)
	}
	return out
}

// decodeAndCheck runs the provisioner's own validation of a command
// received on subject.
func decodeAndCheck(data []byte, subject string) (*command.Checked, error) {
	c, err := command.Decode(data)
	if err != nil {
		return nil, err
	}
	return command.Check(c, subject)
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no examples in testdata/%s", dir)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = b
	}
	return out
}

func TestSchemaFilesAreStrictDraft202012(t *testing.T) {
	loadSchemas(t)
	for _, name := range []string{"command.v1.json", "outcome.v1.json", "event.v1.json", "deadletter.v1.json"} {
		b, err := os.ReadFile(filepath.Join(schemaDir, name))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema is %v, want draft 2020-12", name, doc["$schema"])
		}
		if doc["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties must be false, like the decoder's DisallowUnknownFields", name)
		}
	}
}

// TestValidExamples: every valid example passes the schema and the
// provisioner, and together they cover every command type and both forms
// of contact info.
func TestValidExamples(t *testing.T) {
	s := loadSchemas(t)
	seen := map[command.Type]bool{}
	var plaintext, sealed bool
	for name, data := range readDir(t, "valid") {
		t.Run(name, func(t *testing.T) {
			if err := validate(s.command, data); err != nil {
				t.Errorf("schema rejects a valid command: %v", err)
			}
			c, err := command.Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			for _, subject := range []string{"", subjectFor(c)} {
				chk, err := command.Check(c, subject)
				if err != nil {
					t.Fatalf("Check(subject %q): %v", subject, err)
				}
				seen[chk.Type] = true
				plaintext = plaintext || chk.Contact != nil
				sealed = sealed || chk.Sealed != ""
			}
		})
	}
	for _, typ := range command.Types {
		if !seen[typ] {
			t.Errorf("testdata/valid has no %s example", typ)
		}
	}
	if !plaintext || !sealed {
		t.Errorf("testdata/valid needs both a plaintext (%v) and a sealed (%v) contact info example", plaintext, sealed)
	}
}

// invalidField is the field the provisioner names for each invalid
// example: every file needs an entry, so a new example states what it
// proves.
var invalidField = map[string]string{
	"activate-with-payload":                   "payload",
	"contact-info-and-sealed":                 "payload",
	"contact-info-bad-phone":                  "payload.contactInfo.phoneNumber",
	"contact-info-ca-without-province":        "payload.contactInfo.province",
	"contact-info-control-character":          "payload.contactInfo.businessName",
	"contact-info-missing":                    "payload.contactInfo",
	"contact-info-null":                       "payload.contactInfo",
	"contact-info-number-for-string":          "payload.contactInfo.phoneNumber",
	"contact-info-unknown-field":              "payload.contactInfo.email",
	"deactivate-with-array-payload":           "payload",
	"fractional-expected-version":             "expectedVersion",
	"huge-expected-version":                   "expectedVersion",
	"missing-id":                              "id",
	"missing-partner-id":                      "partnerId",
	"missing-type":                            "type",
	"negative-expected-version":               "expectedVersion",
	"nil-customer-id":                         "customerId",
	"not-an-object":                           "",
	"null":                                    "",
	"null-id":                                 "id",
	"register-bad-industry-id":                "payload.industryId",
	"register-bad-space":                      "payload.space",
	"register-missing-label":                  "payload.label",
	"register-missing-payload":                "payload",
	"register-null-payload":                   "payload",
	"register-payload-not-an-object":          "payload",
	"register-reserved-space":                 "payload.space",
	"sealed-not-vault-ciphertext":             "payload.sealed",
	"terminate-lowercase-strategy":            "payload.retention.strategy",
	"terminate-missing-retention":             "payload.retention.strategy",
	"terminate-period-not-an-integer":         "payload.retention.period",
	"terminate-temporary-period-out-of-range": "payload.retention.period",
	"terminate-temporary-without-period":      "payload.retention.period",
	"terminate-unknown-strategy":              "payload.retention.strategy",
	"unknown-field":                           "priority",
	"unknown-payload-field":                   "payload.partnerId",
	"unknown-type":                            "type",
	"uppercase-id":                            "id",
	"wrong-type-expected-version":             "expectedVersion",
	"wrong-type-version":                      "version",
	"wrong-version":                           "version",
}

// TestInvalidExamples: every invalid example is rejected by the schema
// and by the provisioner, which names the field at fault.
func TestInvalidExamples(t *testing.T) {
	s := loadSchemas(t)
	files := readDir(t, "invalid")
	for name := range invalidField {
		if _, ok := files[name]; !ok {
			t.Errorf("invalidField names %s, which is not in testdata/invalid", name)
		}
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			want, ok := invalidField[name]
			if !ok {
				t.Fatalf("add testdata/invalid/%s.json to invalidField with the field it is rejected for", name)
			}
			if err := validate(s.command, data); err == nil {
				t.Error("schema accepts an invalid command")
			}
			_, err := decodeAndCheck(data, "")
			if err == nil {
				t.Fatal("Decode and Check accept an invalid command")
			}
			if customer.ErrorCode(err) != customer.CodeInvalid {
				t.Errorf("code %s, want %s: %v", customer.ErrorCode(err), customer.CodeInvalid, err)
			}
			if got := fields(err); !slices.Contains(got, want) {
				t.Errorf("fields %q, want %q among them: %v", got, want, err)
			}
		})
	}
}

func enumOf(t *testing.T, file string, path ...string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(schemaDir, file))
	if err != nil {
		t.Fatal(err)
	}
	var node any
	if err := json.Unmarshal(b, &node); err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		m, ok := node.(map[string]any)
		if !ok {
			t.Fatalf("%s: no %s in %v", file, p, path)
		}
		node = m[p]
	}
	list, ok := node.([]any)
	if !ok {
		t.Fatalf("%s: %v is not an enum list", file, path)
	}
	out := make([]string, len(list))
	for i, v := range list {
		out[i], _ = v.(string)
	}
	sort.Strings(out)
	return out
}

func sorted[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	sort.Strings(out)
	return out
}

// TestSchemaEnumsMatchGo keeps the schemas' closed lists equal to the Go
// constants.
func TestSchemaEnumsMatchGo(t *testing.T) {
	var commandEvents []command.EventType
	for _, typ := range command.Types {
		commandEvents = append(commandEvents, command.EventOf(typ))
	}
	strategies := []customer.Strategy{customer.NoRetention, customer.Temporary, customer.Indefinite}
	statuses := []customer.Status{customer.StatusRegistered, customer.StatusActive, customer.StatusDeactivated, customer.StatusTerminated}
	cases := []struct {
		file string
		path []string
		want []string
	}{
		{"command.v1.json", []string{"properties", "type", "enum"}, sorted(command.Types)},
		{"command.v1.json", []string{"$defs", "terminatePayload", "properties", "retention", "properties", "strategy", "enum"}, sorted(strategies)},
		{"outcome.v1.json", []string{"properties", "status", "enum"}, sorted([]command.OutcomeStatus{command.Applied, command.Rejected})},
		{"outcome.v1.json", []string{"properties", "event", "enum"}, sorted(commandEvents)},
		{"outcome.v1.json", []string{"$defs", "error", "properties", "code", "enum"}, sorted(allCodes)},
		{"event.v1.json", []string{"properties", "type", "enum"}, sorted(allEvents)},
		{"event.v1.json", []string{"properties", "status", "enum"}, sorted(statuses)},
		{"event.v1.json", []string{"properties", "retention", "properties", "strategy", "enum"}, sorted(strategies)},
		{"deadletter.v1.json", []string{"properties", "type", "enum"}, sorted(command.Types)},
		{"deadletter.v1.json", []string{"$defs", "error", "properties", "code", "enum"}, sorted(allCodes)},
	}
	for _, tc := range cases {
		if got := enumOf(t, tc.file, tc.path...); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: enum %q, Go has %q", tc.file, strings.Join(tc.path, "."), got, tc.want)
		}
	}
}

var processedAt = time.Date(2026, 3, 2, 15, 4, 6, 123456789, time.UTC)

// outcomesLikeTheProvisioner builds the outcomes the provisioner publishes:
// applied ones per type, rejections from the real checker for every
// invalid example, one per error code, and those of bad messages (unknown
// type, no usable id, a subject token that is not a UUID).
func outcomesLikeTheProvisioner(t *testing.T) map[string]*command.Outcome {
	const p, c = "25521a6f-b8d1-414b-8575-545430f076fd", "3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93"
	out := map[string]*command.Outcome{}
	for i, typ := range command.Types {
		out["applied "+string(typ)] = &command.Outcome{
			Version: command.WireVersion, CommandID: "0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b01", Type: typ,
			CustomerID: c, PartnerID: p, Status: command.Applied, CustomerVersion: int64(i + 1),
			Event: command.EventOf(typ), ProcessedAt: processedAt,
		}
	}
	for name, data := range readDir(t, "invalid") {
		_, err := decodeAndCheck(data, "")
		out["rejected "+name] = &command.Outcome{
			Version: command.WireVersion, CommandID: "0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b01", Type: command.Activate,
			CustomerID: c, PartnerID: p, Status: command.Rejected, Errors: customer.AsErrors(err), ProcessedAt: processedAt,
		}
	}
	for _, code := range allCodes {
		out["rejected "+string(code)] = &command.Outcome{
			Version: command.WireVersion, CommandID: "0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b01", Type: command.Terminate,
			CustomerID: c, PartnerID: p, Status: command.Rejected,
			Errors: []*customer.Error{customer.Errorf(code, "because")}, ProcessedAt: processedAt,
		}
	}
	out["bad message: unknown type"] = &command.Outcome{
		Version: command.WireVersion, CommandID: "0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b01", Type: "customer.delete",
		CustomerID: c, PartnerID: p, Status: command.Rejected,
		Errors: []*customer.Error{customer.Invalid("type", "unknown")}, ProcessedAt: processedAt,
	}
	out["bad message: no usable id"] = &command.Outcome{
		Version: command.WireVersion, CommandID: "seq-42", CustomerID: "not-a-uuid", PartnerID: p, Status: command.Rejected,
		Errors: []*customer.Error{customer.Invalid("", "is not valid JSON")}, ProcessedAt: processedAt,
	}
	return out
}

func TestOutcomesMatchSchema(t *testing.T) {
	s := loadSchemas(t)
	for name, o := range outcomesLikeTheProvisioner(t) {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(s.outcome, b); err != nil {
			t.Errorf("%s: %s\n%v", name, b, err)
		}
	}
	// And the schema is not a rubber stamp.
	for name, doc := range map[string]string{
		"applied with errors":    `{"version":1,"commandId":"x","type":"customer.activate","customerId":"c","partnerId":"p","status":"APPLIED","customerVersion":2,"event":"customer.activated","errors":[{"code":"INTERNAL","message":"m"}],"processedAt":"2026-03-02T15:04:06Z"}`,
		"rejected without why":   `{"version":1,"commandId":"x","status":"REJECTED","processedAt":"2026-03-02T15:04:06Z"}`,
		"unknown status":         `{"version":1,"commandId":"x","status":"DONE","processedAt":"2026-03-02T15:04:06Z"}`,
		"unknown error code":     `{"version":1,"commandId":"x","status":"REJECTED","errors":[{"code":"OOPS","message":"m"}],"processedAt":"2026-03-02T15:04:06Z"}`,
		"unknown field":          `{"version":1,"commandId":"x","status":"REJECTED","errors":[{"code":"INTERNAL","message":"m"}],"processedAt":"2026-03-02T15:04:06Z","retried":true}`,
		"processedAt not a time": `{"version":1,"commandId":"x","status":"REJECTED","errors":[{"code":"INTERNAL","message":"m"}],"processedAt":"yesterday"}`,
	} {
		if err := validate(s.outcome, []byte(doc)); err == nil {
			t.Errorf("outcome schema accepts %s: %s", name, doc)
		}
	}
}

// TestDeadLettersMatchSchema: the dead letter of every invalid example, as
// the provisioner builds it, fits the schema, and the schema has no room
// for the message itself.
func TestDeadLettersMatchSchema(t *testing.T) {
	s := loadSchemas(t)
	const p, c = "25521a6f-b8d1-414b-8575-545430f076fd", "3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93"
	subject := command.PartitionSubject(7, p, c)
	for name, data := range readDir(t, "invalid") {
		cmd, err := decodeAndCheck(data, "")
		o := &command.Outcome{Version: command.WireVersion, CommandID: "0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b01", CustomerID: c, PartnerID: p,
			Status: command.Rejected, Errors: customer.AsErrors(err), ProcessedAt: processedAt}
		if cmd != nil {
			o.Type = cmd.Type
		}
		dl := command.NewDeadLetter(o, subject, o.CommandID, 42, len(data), processedAt)
		b, err := json.Marshal(dl)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(s.deadLetter, b); err != nil {
			t.Errorf("%s: %s\n%v", name, b, err)
		}
	}
	unknown := &command.Outcome{Version: command.WireVersion, CommandID: "seq-9", Type: "customer.delete", PartnerID: p, CustomerID: c,
		Status: command.Rejected, Errors: []*customer.Error{customer.Invalid("type", "unknown")}}
	dl := command.NewDeadLetter(unknown, subject+".gw", "", 9, 120, processedAt)
	if dl.Type != "" || dl.Reason != "BAD_USER_INPUT: type: unknown" {
		t.Errorf("dead letter of an unknown type: type %q, reason %q", dl.Type, dl.Reason)
	}
	if b, _ := json.Marshal(dl); validate(s.deadLetter, b) != nil {
		t.Errorf("dead letter of an unknown type does not fit the schema: %s", b)
	}
	for name, doc := range map[string]string{
		"the body":        `{"version":1,"commandId":"x","subject":"s","reason":"r","errors":[{"code":"BAD_USER_INPUT","message":"m"}],"size":2,"deadLetteredAt":"2026-03-02T15:04:06Z","data":"{}"}`,
		"no errors":       `{"version":1,"commandId":"x","subject":"s","reason":"r","errors":[],"size":2,"deadLetteredAt":"2026-03-02T15:04:06Z"}`,
		"an unknown type": `{"version":1,"commandId":"x","type":"customer.delete","subject":"s","reason":"r","errors":[{"code":"BAD_USER_INPUT","message":"m"}],"size":2,"deadLetteredAt":"2026-03-02T15:04:06Z"}`,
		"no size":         `{"version":1,"commandId":"x","subject":"s","reason":"r","errors":[{"code":"BAD_USER_INPUT","message":"m"}],"deadLetteredAt":"2026-03-02T15:04:06Z"}`,
	} {
		if err := validate(s.deadLetter, []byte(doc)); err == nil {
			t.Errorf("dead letter schema accepts %s: %s", name, doc)
		}
	}
}

// eventsLikeTheServices builds the events the provisioner (one per applied
// command) and retention (key lifecycle) publish.
func eventsLikeTheServices(t *testing.T) map[string]*command.Event {
	const p, c = "25521a6f-b8d1-414b-8575-545430f076fd", "3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93"
	const cmd = "0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b09"
	status := map[command.Type]customer.Status{
		command.Register: customer.StatusRegistered, command.Activate: customer.StatusActive,
		command.Deactivate: customer.StatusDeactivated, command.Terminate: customer.StatusTerminated,
	}
	out := map[string]*command.Event{}
	for i, typ := range command.Types {
		e := &command.Event{
			Version: command.WireVersion, ID: cmd, Type: command.EventOf(typ), CustomerID: c, PartnerID: p,
			CustomerVersion: int64(i + 1), CommandID: cmd, Actor: "nats:" + p, OccurredAt: processedAt, Status: status[typ],
		}
		if typ != command.Terminate {
			out[string(e.Type)] = e
			continue
		}
		for _, in := range []struct {
			strategy string
			period   int
		}{{"NO_RETENTION", 12}, {"TEMPORARY", 6}, {"INDEFINITE", 0}} {
			r, err := customer.NewRetention(in.strategy, &in.period)
			if err != nil {
				t.Fatal(err)
			}
			e := *e
			e.Retention = &r
			out[string(e.Type)+" "+in.strategy] = &e
		}
	}
	at := processedAt.AddDate(0, 6, 0)
	out["key created"] = &command.Event{Version: command.WireVersion, ID: "key-created-" + c, Type: command.KeyCreated,
		CustomerID: c, PartnerID: p, CommandID: cmd, OccurredAt: processedAt}
	out["key scheduled"] = &command.Event{Version: command.WireVersion, ID: "key-scheduled-" + c, Type: command.KeyScheduled,
		CustomerID: c, PartnerID: p, CommandID: cmd, OccurredAt: processedAt, Reason: "TEMPORARY retention of 6 months", At: at}
	out["key destroyed, partner unknown"] = &command.Event{Version: command.WireVersion, ID: "key-destroyed-" + c, Type: command.KeyDestroyed,
		CustomerID: c, PartnerID: "unknown", OccurredAt: at, Reason: "TEMPORARY retention of 6 months", At: at}
	return out
}

func TestEventsMatchSchema(t *testing.T) {
	s := loadSchemas(t)
	for name, e := range eventsLikeTheServices(t) {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(s.event, b); err != nil {
			t.Errorf("%s: %s\n%v", name, b, err)
		}
	}
	// Personal data has no place in an event, not even sealed.
	for name, doc := range map[string]string{
		"contact info":                 `{"version":1,"id":"i","type":"customer.contactInfoUpdated","customerId":"3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93","partnerId":"25521a6f-b8d1-414b-8575-545430f076fd","customerVersion":3,"commandId":"c","actor":"a","occurredAt":"2026-03-02T15:04:06Z","contactInfo":{"phoneNumber":"+14165551212"}}`,
		"sealed contact info":          `{"version":1,"id":"i","type":"customer.contactInfoUpdated","customerId":"3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93","partnerId":"25521a6f-b8d1-414b-8575-545430f076fd","customerVersion":3,"commandId":"c","actor":"a","occurredAt":"2026-03-02T15:04:06Z","sealed":"vault:v1:AAAA"}`,
		"terminated without retention": `{"version":1,"id":"i","type":"customer.terminated","customerId":"3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93","partnerId":"25521a6f-b8d1-414b-8575-545430f076fd","customerVersion":3,"commandId":"c","actor":"a","occurredAt":"2026-03-02T15:04:06Z","status":"TERMINATED"}`,
	} {
		if err := validate(s.event, []byte(doc)); err == nil {
			t.Errorf("event schema accepts %s: %s", name, doc)
		}
	}
}

var fence = regexp.MustCompile("(?ms)^```json[^\\n]*\\n(.*?)^```")

// docExamples returns the fenced ```json blocks of docs/commands.md.
func docExamples(t *testing.T) (doc string, blocks []string) {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("read %s: %v", docPath, err)
	}
	for _, m := range fence.FindAllStringSubmatch(string(b), -1) {
		blocks = append(blocks, m[1])
	}
	return string(b), blocks
}

// decodeStrictly decodes data into v rejecting unknown fields, so a doc
// example cannot show a field the Go type lacks.
func decodeStrictly(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// TestDocExamples validates every JSON example in docs/commands.md, so the
// doc cannot rot: commands against the schema and the provisioner (on the
// subject their ids name), outcomes and events against their schemas and
// Go types. Every ```json block must be one of the three.
func TestDocExamples(t *testing.T) {
	s := loadSchemas(t)
	doc, blocks := docExamples(t)
	if len(blocks) < 10 {
		t.Fatalf("docs/commands.md has %d json examples; expected one per command type and more", len(blocks))
	}
	types := map[string]bool{}
	var sealed, plaintext bool
	for i, block := range blocks {
		data := []byte(block)
		var probe map[string]any
		if err := json.Unmarshal(data, &probe); err != nil {
			t.Errorf("example %d is not a JSON object: %v\n%s", i+1, err, block)
			continue
		}
		_, isOutcome := probe["commandId"]
		_, hasStatus := probe["status"]
		_, isEvent := probe["occurredAt"]
		_, isDeadLetter := probe["deadLetteredAt"]
		switch {
		case isDeadLetter:
			if err := validate(s.deadLetter, data); err != nil {
				t.Errorf("dead letter example %d: %v\n%s", i+1, err, block)
			}
			var d command.DeadLetter
			if err := decodeStrictly(data, &d); err != nil {
				t.Errorf("dead letter example %d does not fit command.DeadLetter: %v", i+1, err)
			}
			types["dead letter"] = true
		case isEvent:
			if err := validate(s.event, data); err != nil {
				t.Errorf("event example %d: %v\n%s", i+1, err, block)
			}
			var e command.Event
			if err := decodeStrictly(data, &e); err != nil {
				t.Errorf("event example %d does not fit command.Event: %v", i+1, err)
			}
			types["event "+string(e.Type)] = true
		case isOutcome && hasStatus && probe["processedAt"] != nil:
			if err := validate(s.outcome, data); err != nil {
				t.Errorf("outcome example %d: %v\n%s", i+1, err, block)
			}
			var o command.Outcome
			if err := decodeStrictly(data, &o); err != nil {
				t.Errorf("outcome example %d does not fit command.Outcome: %v", i+1, err)
			}
			types["outcome "+string(o.Status)] = true
			for _, e := range o.Errors {
				if e.Field != "" && !strings.Contains(doc, "`"+e.Field+"`") {
					t.Errorf("outcome example %d names field %s, which the doc does not mention", i+1, e.Field)
				}
			}
		default:
			if err := validate(s.command, data); err != nil {
				t.Errorf("command example %d: %v\n%s", i+1, err, block)
			}
			c, err := command.Decode(data)
			if err != nil {
				t.Errorf("command example %d: Decode: %v\n%s", i+1, err, block)
				continue
			}
			chk, err := command.Check(c, subjectFor(c))
			if err != nil {
				t.Errorf("command example %d: Check: %v\n%s", i+1, err, block)
				continue
			}
			types["command "+string(c.Type)] = true
			sealed = sealed || chk.Sealed != ""
			plaintext = plaintext || chk.Contact != nil
		}
	}
	for _, typ := range command.Types {
		if !types["command "+string(typ)] {
			t.Errorf("docs/commands.md has no example of %s", typ)
		}
	}
	for _, want := range []string{"outcome APPLIED", "outcome REJECTED", "event " + string(command.Registered), "dead letter"} {
		if !types[want] {
			t.Errorf("docs/commands.md has no %s example", want)
		}
	}
	if !sealed || !plaintext {
		t.Errorf("docs/commands.md needs a plaintext (%v) and a sealed (%v) contact info example", plaintext, sealed)
	}
}

// TestDocNamesTheContract checks that the doc mentions every name a
// partner can meet on the wire.
func TestDocNamesTheContract(t *testing.T) {
	doc, _ := docExamples(t)
	var names []string
	for _, typ := range command.Types {
		names = append(names, string(typ))
	}
	for _, e := range allEvents {
		names = append(names, string(e))
	}
	for _, c := range allCodes {
		names = append(names, string(c))
	}
	names = append(names,
		command.CommandPrefix, command.OutcomePrefix, command.EventPrefix, command.KeyEventPrefix, command.DeadLetterPrefix,
		"Nats-Msg-Id", "_INBOX_partner-25521a6f", "partner-25521a6f",
		"CUSTOMER_COMMANDS", "CUSTOMER_EVENTS", "CUSTOMER_DLQ",
		"Textkit-Dlq-Reason", "Textkit-Original-Subject", "Textkit-Original-Msg-Id", "Textkit-Original-Stream-Seq",
		"65536", "72 hours", "7 days", "10 minutes",
		"deadletter.v1.json", "maximum messages per subject exceeded", "maximum bytes exceeded", "69632",
	)
	for _, n := range names {
		if !strings.Contains(doc, n) {
			t.Errorf("docs/commands.md does not mention %s", n)
		}
	}
}

// TestDecodeErrorsAreFieldErrors: whatever is wrong with a message, the
// rejection is a BAD_USER_INPUT error a partner can act on, never an
// INTERNAL one.
func TestDecodeErrorsAreFieldErrors(t *testing.T) {
	for name, data := range readDir(t, "invalid") {
		_, err := decodeAndCheck(data, "")
		var ce *customer.Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: %T is not a *customer.Error", name, err)
		}
	}
}

// subjectFor is where a valid command comes from: sealed contact info only
// ever comes from the gateway, everything else may come from a partner.
func subjectFor(c *command.Command) string {
	if strings.Contains(string(c.Payload), `"sealed"`) {
		return command.GatewaySubject(c.PartnerID, c.CustomerID)
	}
	return command.CommandSubject(c.PartnerID, c.CustomerID)
}
