package ledger_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/ledger"
)

func header() ledger.Header {
	return ledger.Header{
		StartedAt:       time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC),
		Target:          ledger.ViaGraphQL,
		Mix:             "lifecycle",
		PartnerID:       "25521a6f-b8d1-414b-8575-545430f076fd",
		MutationTimeout: ledger.Duration{Duration: 10 * time.Second},
	}
}

func record(seq int64) ledger.Record {
	t0 := time.Date(2026, 12, 1, 10, 0, 1, 0, time.UTC).Add(time.Duration(seq) * time.Millisecond)
	v := int64(3)
	return ledger.Record{
		Seq: seq, Worker: int(seq % 4), Via: ledger.ViaGraphQL,
		CustomerID: "3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93", PartnerID: "25521a6f-b8d1-414b-8575-545430f076fd",
		Type: ledger.Activate, CommandID: "0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b01", IdempotencyKey: "k",
		Field: "activateCustomer", ExpectedVersion: &v,
		IntendedAt: t0, SentAt: t0.Add(time.Millisecond), AnsweredAt: t0.Add(5 * time.Millisecond),
		Answer: ledger.Applied, CustomerVersion: &v, Ordered: true,
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	w, err := ledger.Open(path, header())
	if err != nil {
		t.Fatal(err)
	}
	var want []ledger.Record
	for i := int64(1); i <= 3; i++ {
		r := record(i)
		if i == 2 {
			r.Type, r.Retention, r.DestroyAt = ledger.Terminate, "TEMPORARY", r.SentAt.Add(24*time.Hour)
			r.Answer, r.Code, r.Retryable, r.CustomerVersion, r.ExpectedVersion = ledger.Timeout, "TIMEOUT", true, nil, nil
		}
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
		r.Kind = ledger.KindCommand
		want = append(want, r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h, got, err := ledger.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	wh := header()
	wh.Kind, wh.Version = ledger.KindHeader, ledger.Version
	if !reflect.DeepEqual(h, wh) {
		t.Errorf("header = %+v, want %+v", h, wh)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records = %+v\nwant %+v", got, want)
	}
	if l := got[0].Latency(); l != 5*time.Millisecond {
		t.Errorf("latency = %v, want 5ms", l)
	}
}

// TestWireNames pins the JSON names of the contract (briefs: ledger.md).
func TestWireNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	w, err := ledger.Open(path, header())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(record(1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), b)
	}
	for _, s := range []string{`"kind":"header"`, `"version":1`, `"startedAt":"2026-12-01T10:00:00.123456789Z"`,
		`"target":"graphql"`, `"mix":"lifecycle"`, `"partnerId":"25521a6f-`, `"mutationTimeout":"10s"`} {
		if !strings.Contains(lines[0], s) {
			t.Errorf("header %s lacks %s", lines[0], s)
		}
	}
	for _, s := range []string{`"kind":"command"`, `"seq":1`, `"worker":1`, `"via":"graphql"`, `"customerId":"3f0c8a4e-`,
		`"type":"ACTIVATE"`, `"commandId":"0b7e6a3c-`, `"idempotencyKey":"k"`, `"field":"activateCustomer"`,
		`"expectedVersion":3`, `"intendedAt":"`, `"sentAt":"`, `"answeredAt":"`, `"answer":"APPLIED"`, `"code":""`,
		`"retryable":false`, `"customerVersion":3`, `"ordered":true`} {
		if !strings.Contains(lines[1], s) {
			t.Errorf("record %s lacks %s", lines[1], s)
		}
	}
	if strings.Contains(lines[1], "destroyAt") || strings.Contains(lines[1], "retention") {
		t.Errorf("record %s carries unset optional fields", lines[1])
	}
}

func TestConcurrentAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	w, err := ledger.Open(path, header())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if err := w.Append(record(int64(g*50 + i + 1))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, recs, err := ledger.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, r := range recs {
		seen[r.Seq] = true
	}
	if len(recs) != 400 || len(seen) != 400 {
		t.Errorf("%d records, %d distinct seqs; want 400 each", len(recs), len(seen))
	}
}

func TestAppendRefusesInvalid(t *testing.T) {
	w, err := ledger.Open(filepath.Join(t.TempDir(), "l"), header())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	for name, mutate := range map[string]func(*ledger.Record){
		"no seq":      func(r *ledger.Record) { r.Seq = 0 },
		"bad via":     func(r *ledger.Record) { r.Via = "http" },
		"bad type":    func(r *ledger.Record) { r.Type = "customer.activate" },
		"bad answer":  func(r *ledger.Record) { r.Answer = "OK" },
		"no customer": func(r *ledger.Record) { r.CustomerID = "" },
		"no times":    func(r *ledger.Record) { r.SentAt = time.Time{} },
	} {
		r := record(1)
		mutate(&r)
		if err := w.Append(r); err == nil {
			t.Errorf("%s: Append accepted %+v", name, r)
		}
	}
	if _, err := ledger.Open(filepath.Join(t.TempDir(), "l"), ledger.Header{Target: "smtp"}); err == nil {
		t.Error("Open accepted a header with a bad target and no start time")
	}
}

func TestDecodeErrors(t *testing.T) {
	good := `{"kind":"header","version":1,"startedAt":"2026-12-01T10:00:00Z","target":"nats","mix":"hot","partnerId":"p","mutationTimeout":"10s"}` + "\n"
	rec := `{"kind":"command","seq":1,"worker":0,"via":"nats","customerId":"c","partnerId":"p","type":"REGISTER","commandId":"x","intendedAt":"2026-12-01T10:00:00Z","sentAt":"2026-12-01T10:00:00Z","answeredAt":"2026-12-01T10:00:01Z","answer":"REJECTED","code":"VERSION_CONFLICT","retryable":false,"ordered":false}`
	for name, tc := range map[string]struct {
		in      string
		wantErr string
		wantN   int
	}{
		"empty":           {"", "no header", 0},
		"not a header":    {rec + "\n", "line 1", 0},
		"bad version":     {strings.Replace(good, `"version":1`, `"version":2`, 1), "version 2", 0},
		"bad duration":    {strings.Replace(good, `"10s"`, `"ten"`, 1), "duration", 0},
		"unknown field":   {good + strings.Replace(rec, `"seq"`, `"sq":1,"seq"`, 1) + "\n", "line 2", 0},
		"garbage":         {good + "{\n", "line 2", 0},
		"partial last":    {good + rec + "\n" + rec[:40], "", 1},
		"header only":     {good, "", 0},
		"two records":     {good + rec + "\n" + rec + "\n", "", 2},
		"bad answer line": {good + strings.Replace(rec, "REJECTED", "NOPE", 1) + "\n", "unknown answer", 0},
	} {
		_, recs, err := ledger.Decode(strings.NewReader(tc.in))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.wantErr)
		case tc.wantErr == "" && len(recs) != tc.wantN:
			t.Errorf("%s: %d records, want %d", name, len(recs), tc.wantN)
		}
	}
	if _, _, err := ledger.Read(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read of a missing file: %v", err)
	}
}

func TestTypes(t *testing.T) {
	for _, c := range command.Types {
		lt := ledger.FromCommand(c)
		if !lt.Known() || lt.Command() != c {
			t.Errorf("%s -> %q -> %q", c, lt, lt.Command())
		}
	}
	if ledger.FromCommand("customer.x") != "" || ledger.Type("X").Command() != "" {
		t.Error("unknown types map to something")
	}
}
