package stacktest_test

// The crypto-shredding promise, end to end: a customer's contact info
// carries a unique string (the canary); once the customer's key is
// destroyed — at termination with NO_RETENTION, or when a TEMPORARY period
// runs out — the canary is found nowhere, in none of the shapes a copy may
// take (plain, JSON-escaped, base64 at any alignment in either alphabet,
// hex, URL-encoded; see stacktest.Needles): not in any Redis key or Redis'
// append-only file, not in any message or header of any JetStream stream
// (the dead letters included) nor in JetStream's files, not in any log,
// not in the Twilio emulator, and not in anything the API answers after
// (an idempotent replay, command(id), the history). And what is stored no
// longer decrypts.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/retention"
	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault"
)

func TestCanaryContactInfoIsShredded(t *testing.T) {
	t.Run("NO_RETENTION", func(t *testing.T) { canaryScenario(t, false) })
	t.Run("TEMPORARY", func(t *testing.T) { canaryScenario(t, true) })
}

// areaReplay is where the API's answers after the destruction are scanned.
const areaReplay = "api answers after destruction"

const contactQuery = `query($id: ID!) { customer(id: $id) { contactInfo { businessName secondaryName addressLine1 addressLine2 } contactInfoStatus } }`

func canaryScenario(t *testing.T, temporary bool) {
	// Retention's clock: advanced past the TEMPORARY period once the
	// destruction is scheduled.
	var skew atomic.Int64
	var s *stacktest.Stack
	if temporary {
		s = stacktest.Start(t, stacktest.Options{NoKeyKeeper: true, TwilioState: true})
		s.StartRetention(t, func(c *retention.Config) {
			c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		})
	} else {
		s = stacktest.Start(t, stacktest.Options{Retention: true, TwilioState: true})
	}
	ctx := context.Background()
	canary := stacktest.NewCanary()
	sc := stacktest.NewScanner(canary)
	var commandIDs []string

	// Registration, through GraphQL.
	r := s.Do(s.PartnerKey, `mutation($in: RegisterCustomerInput!) { registerCustomer(input: $in) { response customerId commandId } }`,
		map[string]any{"in": map[string]any{"space": "canary-co", "partnerId": stacktest.PartnerID, "industryId": stacktest.IndustryID, "label": "Canary Co"}})
	var reg struct {
		RegisterCustomer struct {
			Response              bool
			CustomerID, CommandID string
		}
	}
	mustDecode(t, r, &reg)
	if !reg.RegisterCustomer.Response {
		t.Fatalf("register: %s", r.Raw)
	}
	id := reg.RegisterCustomer.CustomerID
	commandIDs = append(commandIDs, reg.RegisterCustomer.CommandID)

	// Activation and contact info, through GraphQL (with an
	// Idempotency-Key: its response is kept too).
	contact := map[string]any{
		"id": id, "businessName": canary + " Inc.", "secondaryName": canary, "phoneNumber": "+14165551212",
		"addressLine1": "1 " + canary + " St", "addressLine2": "Suite " + canary, "postalCode": "M5E 1E5", "province": "ON", "country": "CA",
	}
	const updateMutation = `mutation($id: ID!, $ci: UpdateCustomerContactInfoInput!) { activateCustomer(input: {id: $id}) updateCustomerContactInfo(input: $ci) }`
	updateVars := map[string]any{"id": id, "ci": contact}
	updateKey := "canary-update-" + uuid.NewString()
	r = s.Do(s.PartnerKey, updateMutation, updateVars, "Idempotency-Key", updateKey)
	if len(r.Errors) > 0 || !strings.Contains(string(r.Raw), `"updateCustomerContactInfo":true`) {
		t.Fatalf("activate + update: %s", r.Raw)
	}
	// A contact info update the gateway refuses (postal code of another
	// country): nothing is published, but the request went through the
	// gateway.
	bad := map[string]any{}
	for k, v := range contact {
		bad[k] = v
	}
	bad["postalCode"] = "90210"
	r = s.Do(s.PartnerKey, `mutation($ci: UpdateCustomerContactInfoInput!) { updateCustomerContactInfo(input: $ci) }`, map[string]any{"ci": bad})
	if len(r.Errors) == 0 || !strings.Contains(string(r.Raw), "postalCode") {
		t.Fatalf("an update with a US postal code in Canada was not refused: %s", r.Raw)
	}

	// A partner publishing straight onto NATS sends plaintext: applied …
	direct := trustCommand(command.UpdateContactInfo, id, "", command.ContactInfoPayload{ContactInfo: &customer.ContactInfo{
		BusinessName: canary + " Direct", SecondaryName: canary, PhoneNumber: "+14165551212", AddressLine1: "2 " + canary + " Ave",
		PostalCode: "M5E 1E5", Province: "ON", Country: "CA",
	}})
	if o := publishAndWait(t, s, command.CommandSubject(stacktest.PartnerID, id), direct); o.Status != command.Applied {
		t.Fatalf("direct update: %+v", o)
	}
	commandIDs = append(commandIDs, direct.ID)
	// … and rejected (a US postal code in Canada), so dead-lettered.
	rejected := trustCommand(command.UpdateContactInfo, id, "", command.ContactInfoPayload{ContactInfo: &customer.ContactInfo{
		BusinessName: canary + " Rejected", PhoneNumber: "+14165551212", AddressLine1: "3 " + canary + " Rd",
		PostalCode: "90210", Province: "ON", Country: "CA",
	}})
	o := publishAndWait(t, s, command.CommandSubject(stacktest.PartnerID, id), rejected)
	if o.Status != command.Rejected || len(o.Errors) == 0 || !strings.Contains(o.Errors[0].Field, "postalCode") {
		t.Fatalf("direct update with a US postal code in Canada: %+v", o)
	}
	commandIDs = append(commandIDs, rejected.ID)
	js, err := jetstream.New(s.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	inDLQ := false
	for _, m := range streamMessages(t, js, natsbus.DeadLetterStream, command.DeadLetterSubject(stacktest.PartnerID)) {
		inDLQ = inDLQ || m.Headers().Get(natsbus.HeaderOriginalMsgID) == rejected.ID
	}
	if !inDLQ {
		t.Fatalf("the rejected command is not in %s: the test would not scan a dead letter", natsbus.DeadLetterStream)
	}

	// While the key lives the owner reads the contact info back, here
	// with an Idempotency-Key: the answer the gateway keeps for it holds
	// the plaintext, and the scanner sees it there (it can find what is).
	queryKey := "canary-query-" + uuid.NewString()
	r = s.Do(s.PartnerKey, contactQuery, map[string]any{"id": id}, "Idempotency-Key", queryKey)
	if !strings.Contains(string(r.Data["customer"]), "AVAILABLE") || !strings.Contains(string(r.Data["customer"]), "Direct") {
		t.Fatalf("contact info before termination: %s", r.Raw)
	}
	control := stacktest.NewScanner(canary)
	if len(control.Scan("control", "contact info before termination", r.Raw)) == 0 {
		t.Fatalf("the scanner does not find the canary in the contact info it was read back in: %s", r.Raw)
	}
	c, err := s.Store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sealed := c.ContactCiphertext()

	// Termination.
	retentionInput := map[string]any{"strategy": "NO_RETENTION", "period": 12}
	if temporary {
		retentionInput = map[string]any{"strategy": "TEMPORARY", "period": 1}
	}
	r = s.Do(s.PartnerKey, `mutation($in: TerminateCustomerInput!) { terminateCustomer(input: $in) { response commandId } }`,
		map[string]any{"in": map[string]any{"id": id, "retention": retentionInput}})
	var term struct {
		TerminateCustomer struct {
			Response  bool
			CommandID string
		}
	}
	mustDecode(t, r, &term)
	if !term.TerminateCustomer.Response {
		t.Fatalf("terminate: %s", r.Raw)
	}
	commandIDs = append(commandIDs, term.TerminateCustomer.CommandID)

	if temporary {
		// Scheduled a month out; not destroyed while retention's clock
		// has not reached it; then the clock jumps past it.
		var key keyView
		testenv.Eventually(t, 15*time.Second, func() error {
			if key = readKey(t, s, id); key.EncryptionKey.Status != "SCHEDULED" {
				return fmt.Errorf("the key is %s, want its destruction SCHEDULED", key.EncryptionKey.Status)
			}
			return nil
		})
		at, err := time.Parse(time.RFC3339, key.EncryptionKey.ScheduledDestroyAt)
		if err != nil || at.Before(time.Now().Add(27*24*time.Hour)) {
			t.Fatalf("scheduledDestroyAt %q (%v): want about a month from now", key.EncryptionKey.ScheduledDestroyAt, err)
		}
		time.Sleep(3 * 200 * time.Millisecond) // three sweeps
		if key = readKey(t, s, id); key.EncryptionKey.Status != "SCHEDULED" || key.ContactInfoStatus != "AVAILABLE" {
			t.Fatalf("before the period ran out: key %s, contact info %s", key.EncryptionKey.Status, key.ContactInfoStatus)
		}
		skew.Store(int64(time.Until(at) + time.Hour))
	}
	testenv.Eventually(t, 15*time.Second, func() error {
		if st := readKey(t, s, id).EncryptionKey.Status; st != "DESTROYED" {
			return fmt.Errorf("the key is %s, want it DESTROYED", st)
		}
		return nil
	})
	r = s.Do(s.PartnerKey, contactQuery, map[string]any{"id": id})
	fresh := string(r.Data["customer"])
	if fresh != `{"contactInfo":null,"contactInfoStatus":"DESTROYED"}` {
		t.Errorf("after destruction the contact info must read as destroyed, not fail: %s", r.Raw)
	}

	// The stored ciphertext no longer decrypts, for any service.
	for _, tok := range []string{s.Tokens.Gateway, s.Vault.RootToken} {
		if _, err := s.Vault.Client(t, tok).Decrypt(ctx, id, sealed); !errors.Is(err, vault.ErrKeyNotFound) {
			t.Errorf("decrypt after destruction: %v, want ErrKeyNotFound", err)
		}
	}

	// What the API answers now. The query replayed with its
	// Idempotency-Key answers as a fresh request does, not with the old
	// plaintext.
	r = s.Do(s.PartnerKey, contactQuery, map[string]any{"id": id}, "Idempotency-Key", queryKey)
	sc.Scan(areaReplay, "the contact info query replayed with its Idempotency-Key", r.Raw)
	if got := string(r.Data["customer"]); got != fresh {
		t.Errorf("the contact info query replayed with its Idempotency-Key answers %s; a fresh one answers %s", r.Raw, fresh)
	}
	r = s.Do(s.PartnerKey, updateMutation, updateVars, "Idempotency-Key", updateKey)
	sc.Scan(areaReplay, "the update replayed with its Idempotency-Key", r.Raw)
	r = s.Do(s.PartnerKey, `query($id: ID!) { customer(id: $id) { id partnerId industryId space label status version twilioSubaccountSid
		contactInfo { businessName secondaryName phoneNumber addressLine1 addressLine2 postalCode province country } contactInfoStatus
		retention { strategy period } encryptionKey { status scheduledDestroyAt destroyedAt }
		createdAt updatedAt activatedAt terminatedAt history { version event at actor commandId } } }`, map[string]any{"id": id})
	sc.Scan(areaReplay, "the customer with its history", r.Raw)
	var hist struct {
		Customer struct {
			History []struct{ CommandID string }
		}
	}
	mustDecode(t, r, &hist)
	for _, h := range hist.Customer.History {
		commandIDs = append(commandIDs, h.CommandID) // activation and GraphQL update
	}
	if len(hist.Customer.History) < 5 {
		t.Errorf("history of %d entries, want register, activate, 2 updates, terminate: %s", len(hist.Customer.History), r.Raw)
	}
	sort.Strings(commandIDs)
	commandIDs = compactStrings(commandIDs)
	for _, cid := range commandIDs {
		r = s.Do(s.PartnerKey, `query($id: ID!) { command(id: $id) { id state type customerId customerVersion errors { field message code } processedAt } }`, map[string]any{"id": cid})
		if string(r.Data["command"]) == "null" || len(r.Errors) > 0 {
			t.Errorf("command(%s): %s", cid, r.Raw)
		}
		sc.Scan(areaReplay, "command("+cid+")", r.Raw)
	}

	// Every store, file and log.
	s.ScanEverywhere(t, sc)
	for _, area := range []string{areaReplay, stacktest.AreaRedisKeys, stacktest.AreaRedisFiles, stacktest.AreaStreams,
		stacktest.AreaStreamConfig, stacktest.AreaStreamFiles, stacktest.AreaLogs, stacktest.AreaTwilio, stacktest.AreaTwilioFiles} {
		if sc.Items(area) == 0 {
			t.Errorf("nothing scanned in %s: the scan proves nothing", area)
		}
	}
	t.Logf("scanned %d needles in %s", len(sc.Needles()), sc.Summary())
	reportFindings(t, sc.Findings())
}

// reportFindings fails t with one line per place the canary was found,
// with every encoding found there.
func reportFindings(t *testing.T, findings []stacktest.Finding) {
	t.Helper()
	byPlace := map[string][]string{}
	var places []string
	for _, f := range findings {
		p := f.Area + ": " + f.Place
		if byPlace[p] == nil {
			places = append(places, p)
		}
		byPlace[p] = append(byPlace[p], f.Encoding)
	}
	for _, p := range places {
		t.Errorf("the canary outlived its key in %s, as %s", p, strings.Join(byPlace[p], ", "))
	}
}

type keyView struct {
	EncryptionKey struct {
		Status             string
		ScheduledDestroyAt string
	}
	ContactInfoStatus string
}

func readKey(t *testing.T, s *stacktest.Stack, id string) keyView {
	t.Helper()
	r := s.Do(s.PartnerKey, `query($id: ID!) { customer(id: $id) { encryptionKey { status scheduledDestroyAt } contactInfoStatus } }`, map[string]any{"id": id})
	var v struct{ Customer keyView }
	mustDecode(t, r, &v)
	return v.Customer
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if v != "" && (i == 0 || v != s[i-1]) {
			out = append(out, v)
		}
	}
	return out
}

func mustDecode(t *testing.T, r *stacktest.Response, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %s", r.Raw)
	}
	b, _ := json.Marshal(r.Data)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
