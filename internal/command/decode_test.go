package command_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
)

// envelope is a valid activate command's fields before the closing brace;
// cases append to it.
const envelope = `{"version":1,"id":"0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b02","type":"customer.activate",` +
	`"customerId":"3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93","partnerId":"25521a6f-b8d1-414b-8575-545430f076fd"`

// register is a valid register command with payload p.
func register(p string) string {
	return `{"version":1,"id":"0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b01","type":"customer.register",` +
		`"customerId":"3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93","partnerId":"25521a6f-b8d1-414b-8575-545430f076fd","payload":` + p + `}`
}

// contact is a valid updateContactInfo command with contact info ci.
func contact(ci string) string {
	return `{"version":1,"id":"0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b04","type":"customer.updateContactInfo",` +
		`"customerId":"3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93","partnerId":"25521a6f-b8d1-414b-8575-545430f076fd","payload":{"contactInfo":` + ci + `}}`
}

func terminate(retention string) string {
	return `{"version":1,"id":"0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b09","type":"customer.terminate",` +
		`"customerId":"3f0c8a4e-6b1d-4c2a-9e57-0d8b2f6a1c93","partnerId":"25521a6f-b8d1-414b-8575-545430f076fd","payload":{"retention":` + retention + `}}`
}

const goodContact = `{"businessName":"ACME","phoneNumber":"+14165551212","addressLine1":"1 Yonge St","postalCode":"M5E 1E5","province":"ON","country":"CA"}`

// pad returns a valid activate command padded with white space to exactly n bytes.
func pad(n int) []byte {
	b := []byte(envelope + "}")
	return append(b[:len(b)-1], append(bytes.Repeat([]byte(" "), n-len(b)), '}')...)
}

// TestDecodeAndCheck: the strict decoding rules and the field each
// rejection names. stage says who rejects: "decode", "check", or "" (accepted).
func TestDecodeAndCheck(t *testing.T) {
	cases := []struct {
		name  string
		data  string
		stage string
		field string
		msg   string // part of the message
	}{
		{"valid", envelope + `}`, "", "", ""},
		{"valid with trailing white space", envelope + "}\n\t \r\n", "", "", ""},

		// Malformed UTF-8, wherever it is.
		{"bad UTF-8 in a value", envelope + ",\"actor\":\"\xff\xfe\"}", "decode", "", "UTF-8"},
		{"bad UTF-8 in a key", envelope + ",\"\xc3\x28\":1}", "decode", "", "UTF-8"},
		{"bad UTF-8 in the payload", register(`{"space":"acme","industryId":"e4c81004-1a4c-477f-97e3-b67022e9a351","label":"AC` + "\xed\xa0\x80" + `ME"}`), "decode", "", "UTF-8"},
		{"overlong encoding", envelope + ",\"actor\":\"\xc0\xaf\"}", "decode", "", "UTF-8"},
		{"escaped lone surrogate is valid JSON", envelope + `,"actor":"\ud800"}`, "", "", ""},

		// Not one JSON object.
		{"empty", ``, "decode", "", "empty or truncated"},
		{"only white space", "  \n", "decode", "", "empty or truncated"},
		{"truncated", envelope, "decode", "", "truncated"},
		{"syntax error", envelope + `,}`, "decode", "", "not valid JSON"},
		{"array", `[` + envelope + `}]`, "decode", "", "must be an object"},
		{"string", `"customer.activate"`, "decode", "", "must be an object"},
		{"number", `1`, "decode", "", "must be an object"},

		// Trailing data.
		{"second object", envelope + `}{}`, "decode", "", "data after the JSON object"},
		{"second command", envelope + `}` + envelope + `}`, "decode", "", "data after the JSON object"},
		{"trailing garbage", envelope + `} x`, "decode", "", "data after the JSON object"},
		{"trailing bracket", envelope + `}]`, "decode", "", "data after the JSON object"},
		{"trailing number", envelope + `} 1`, "decode", "", "data after the JSON object"},

		// Duplicate keys, at any depth.
		{"duplicate top-level key", envelope + `,"id":"0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b03"}`, "decode", "id", "appears twice"},
		{"duplicate version", `{"version":1,` + envelope[1:] + `}`, "decode", "version", "appears twice"},
		{"duplicate payload key", register(`{"space":"acme","space":"other","industryId":"e4c81004-1a4c-477f-97e3-b67022e9a351","label":"A"}`), "decode", "payload.space", "appears twice"},
		{"duplicate nested key", contact(`{"businessName":"A","phoneNumber":"+14165551212","phoneNumber":"+14165551213","addressLine1":"1 Yonge St","postalCode":"M5E 1E5","province":"ON","country":"CA"}`), "decode", "payload.contactInfo.phoneNumber", "appears twice"},
		{"duplicate key after a nested object", strings.Replace(terminate(`{"strategy":"TEMPORARY","period":6}`), `6}}}`, `6},"retention":{}}}`, 1), "decode", "payload.retention", "appears twice"},
		{"duplicate key in an object in an array", envelope + `,"payload":[{"a":1},{"b":1,"b":2}]}`, "decode", "payload.b", "appears twice"},
		{"same key in sibling objects is no duplicate", envelope + `,"payload":[{"a":1},{"a":1}]}`, "check", "payload", "must be empty"},
		{"same key at different depths is no duplicate", envelope + `,"payload":{"payload":{"payload":1}}}`, "check", "payload", "must be empty"},
		{"a value equal to a key is no duplicate", envelope + `,"actor":"id"}`, "", "", ""},

		// Unknown fields.
		{"unknown top-level field", envelope + `,"priority":"high"}`, "decode", "priority", "not a field"},
		{"unknown payload field", register(`{"space":"acme","industryId":"e4c81004-1a4c-477f-97e3-b67022e9a351","label":"A","partnerId":"x"}`), "check", "payload.partnerId", "not a field"},

		// Types and huge numbers.
		{"version as a string", `{"version":"1"` + envelope[12:] + `}`, "decode", "version", "must be an integer"},
		{"expectedVersion at the int64 limit", envelope + `,"expectedVersion":9223372036854775807}`, "", "", ""},
		{"expectedVersion over the int64 limit", envelope + `,"expectedVersion":9223372036854775808}`, "decode", "expectedVersion", "must be an integer"},
		{"expectedVersion far over the limit", envelope + `,"expectedVersion":` + strings.Repeat("9", 400) + `}`, "decode", "expectedVersion", "must be an integer"},
		{"expectedVersion under the int64 limit", envelope + `,"expectedVersion":-9223372036854775809}`, "decode", "expectedVersion", "must be an integer"},
		{"expectedVersion in exponent form", envelope + `,"expectedVersion":1e3}`, "decode", "expectedVersion", "must be an integer"},
		{"expectedVersion 1e400", envelope + `,"expectedVersion":1e400}`, "decode", "expectedVersion", "must be an integer"},
		{"expectedVersion with a fraction", envelope + `,"expectedVersion":1.0}`, "decode", "expectedVersion", "must be an integer"},
		{"expectedVersion as a string", envelope + `,"expectedVersion":"1"}`, "decode", "expectedVersion", "must be an integer"},
		{"expectedVersion negative", envelope + `,"expectedVersion":-1}`, "check", "expectedVersion", "0 or more"},
		{"expectedVersion zero", envelope + `,"expectedVersion":0}`, "", "", ""},
		{"period over the int limit", terminate(`{"strategy":"NO_RETENTION","period":9223372036854775808}`), "check", "payload.retention.period", "must be an integer"},
		{"payload as a string", register(`"acme"`), "check", "payload", "must be an object"},
		{"phone number as a number", contact(`{"businessName":"A","phoneNumber":14165551212,"addressLine1":"1 Yonge St","postalCode":"M5E 1E5","province":"ON","country":"CA"}`), "check", "payload.contactInfo.phoneNumber", "must be a string"},
		{"issuedAt not RFC 3339", envelope + `,"issuedAt":"2026-03-02"}`, "decode", "issuedAt", "RFC 3339"},

		// null where a value is required.
		{"null command", `null`, "decode", "", "must be an object"},
		{"null version", `{"version":null` + envelope[12:] + `}`, "check", "version", "must be 1"},
		{"null id", strings.Replace(envelope, `"id":"0b7e6a3c-1f2d-4e5a-8b9c-0d1e2f3a4b02"`, `"id":null`, 1) + `}`, "check", "id", "is required"},
		{"null type", strings.Replace(envelope, `"type":"customer.activate"`, `"type":null`, 1) + `}`, "check", "type", "unknown command type"},
		{"null register payload", register(`null`), "check", "payload", "is required"},
		{"null contact info", contact(`null`), "check", "payload.contactInfo", "is required"},
		{"null required contact field", contact(strings.Replace(goodContact, `"+14165551212"`, `null`, 1)), "check", "payload.contactInfo.phoneNumber", "is required"},
		{"null retention", terminate(`null`), "check", "payload.retention.strategy", "is required"},
		{"null strategy", terminate(`{"strategy":null}`), "check", "payload.retention.strategy", "is required"},
		{"null TEMPORARY period", terminate(`{"strategy":"TEMPORARY","period":null}`), "check", "payload.retention.period", "is required"},
		{"null expectedVersion means any", envelope + `,"expectedVersion":null}`, "", "", ""},
		{"null activate payload", envelope + `,"payload":null}`, "", "", ""},

		// Unknown enum values.
		{"unknown type", strings.Replace(envelope, `customer.activate`, `customer.delete`, 1) + `}`, "check", "type", "unknown command type"},
		{"type in the wrong case", strings.Replace(envelope, `customer.activate`, `CUSTOMER.ACTIVATE`, 1) + `}`, "check", "type", "unknown command type"},
		{"unknown strategy", terminate(`{"strategy":"FOREVER"}`), "check", "payload.retention.strategy", "one of NO_RETENTION, TEMPORARY or INDEFINITE"},
		{"strategy in lower case", terminate(`{"strategy":"no_retention"}`), "check", "payload.retention.strategy", "spelled exactly in upper case"},
		{"strategy with white space", terminate(`{"strategy":" INDEFINITE"}`), "check", "payload.retention.strategy", "spelled exactly"},
		{"strategy as a number", terminate(`{"strategy":1}`), "check", "payload.retention.strategy", "must be a string"},

		// The 64 KiB limit.
		{"exactly 64 KiB", string(pad(command.MaxSize)), "", "", ""},
		{"one byte over 64 KiB", string(pad(command.MaxSize + 1)), "decode", "", "the limit is 65536"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := command.Decode([]byte(tc.data))
			stage := "decode"
			if err == nil {
				stage = "check"
				_, err = command.Check(c, "")
			}
			if err == nil {
				stage = ""
			}
			if stage != tc.stage {
				t.Fatalf("rejected at %q (%v), want at %q", stage, err, tc.stage)
			}
			if err == nil {
				return
			}
			var ce *customer.Error
			if !errors.As(err, &ce) || customer.ErrorCode(err) != customer.CodeInvalid {
				t.Errorf("error %T %v is not a BAD_USER_INPUT *customer.Error", err, err)
			}
			if got := fields(err); !slices.Contains(got, tc.field) {
				t.Errorf("fields %q, want %q: %v", got, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

// TestDecodeKeepsNoPartialResult: a rejected message yields no command.
func TestDecodeKeepsNoPartialResult(t *testing.T) {
	if c, err := command.Decode([]byte(envelope + `,"priority":1}`)); err == nil || c != nil {
		t.Fatalf("Decode = %v, %v; want nil and an error", c, err)
	}
}

// TestEncodeDecodeRoundTrip: what Encode writes, Decode reads back the same.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	for name, data := range readDir(t, "valid") {
		c, err := command.Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := command.Encode(c)
		if err != nil {
			t.Fatalf("%s: Encode: %v", name, err)
		}
		back, err := command.Decode(b)
		if err != nil {
			t.Fatalf("%s: re-encoded command does not decode: %v\n%s", name, err, b)
		}
		if why := sameCommand(c, back); why != "" {
			t.Errorf("%s: %s", name, why)
		}
	}
}

// sameCommand reports how a and b differ ("" when they are the same
// command): the payload compared as JSON values, the time as an instant.
func sameCommand(a, b *command.Command) string {
	if !a.IssuedAt.Equal(b.IssuedAt) {
		return "issuedAt " + a.IssuedAt.String() + " became " + b.IssuedAt.String()
	}
	if !sameJSON(a.Payload, b.Payload) {
		return "payload " + string(a.Payload) + " became " + string(b.Payload)
	}
	x, y := *a, *b
	x.IssuedAt, x.Payload, y.Payload = y.IssuedAt, nil, nil
	if !reflect.DeepEqual(x, y) {
		return "fields differ"
	}
	return ""
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// FuzzDecode: Decode never panics, rejects with a field error, and a
// command it accepts re-encodes (Encode) and decodes to the same value.
// Check must not panic on whatever Decode accepts either.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		paths, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(envelope + `,"payload":[{"a":{"b":[1,{"c":2,"c":3}]}}]}`))
	f.Add([]byte(envelope + `,"issuedAt":"2026-03-02T15:04:05.123456789+05:30"}`))
	f.Add([]byte("{\"version\":1,\"actor\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := command.Decode(data)
		if err != nil {
			var ce *customer.Error
			if !errors.As(err, &ce) || ce.Code != customer.CodeInvalid {
				t.Fatalf("Decode error %T %v is not a BAD_USER_INPUT *customer.Error", err, err)
			}
			return
		}
		_, _ = command.Check(c, "")
		_, _ = command.Check(c, command.CommandSubject(c.PartnerID, c.CustomerID))

		orig := *c
		b, err := command.Encode(c)
		if err != nil {
			t.Fatalf("a decoded command does not encode: %v", err)
		}
		if len(b) > command.MaxSize {
			// Encode escapes <, > and & (\u003c): a command near the
			// limit can grow past it. Nothing to compare.
			return
		}
		back, err := command.Decode(b)
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v\nin:  %q\nout: %q", err, data, b)
		}
		// Encode sets the wire version of a command that has none.
		if orig.Version == 0 {
			orig.Version = command.WireVersion
		}
		if why := sameCommand(&orig, back); why != "" {
			t.Fatalf("round trip changed the command: %s\nin:  %q\nout: %q", why, data, b)
		}
	})
}

func TestMalformedIssuedAtNamesTheField(t *testing.T) {
	_, err := command.Decode([]byte(`{"version":1,"issuedAt":"yesterday"}`))
	if got := fields(err); len(got) != 1 || got[0] != "issuedAt" || !strings.Contains(err.Error(), "RFC 3339") {
		t.Fatalf("got %v (fields %v), want an issuedAt error asking for RFC 3339", err, got)
	}
}

// TestRejectionsNeverQuoteTheValuesReceived: whatever is wrong with a contact
// info value, the errors (which outcomes, logs and dead letters keep) name
// the field and what is expected, never the value received.
func TestRejectionsNeverQuoteTheValuesReceived(t *testing.T) {
	const digits = "2895550173"
	const word = "Zqxcanary"
	field := func(name, value string) string {
		return strings.Replace(goodContact, `"`+name+`":`+map[string]string{
			"businessName": `"ACME"`, "phoneNumber": `"+14165551212"`, "addressLine1": `"1 Yonge St"`,
			"postalCode": `"M5E 1E5"`, "province": `"ON"`, "country": `"CA"`,
		}[name], `"`+name+`":`+value, 1)
	}
	cases := map[string]string{
		"phone number as a number":        field("phoneNumber", "1"+digits),
		"phone number as a float":         field("phoneNumber", "1"+digits+".5"),
		"phone number too short":          field("phoneNumber", `"+1`+digits[:5]+`"`),
		"phone number too long":           field("phoneNumber", `"+1`+digits+digits+`"`),
		"phone number with letters":       field("phoneNumber", `"+1`+digits+word+`"`),
		"phone number without a plus":     field("phoneNumber", `"`+digits+`"`),
		"phone number with area 0":        field("phoneNumber", `"+10`+digits[1:]+`"`),
		"business name as a number":       field("businessName", digits),
		"business name as an array":       field("businessName", `["`+word+`"]`),
		"business name as an object":      field("businessName", `{"`+word+`":1}`),
		"business name too long":          field("businessName", `"`+strings.Repeat(word, 30)+`"`),
		"business name with a newline":    field("businessName", `"`+word+`\n`+word+`"`),
		"address as a number":             field("addressLine1", digits),
		"address as a boolean":            field("addressLine1", "true"),
		"postal code in another shape":    field("postalCode", `"`+word+`"`),
		"postal code as a number":         field("postalCode", digits),
		"postal code of another province": field("postalCode", `"H2X 1Y4"`),
		"province unknown":                field("province", `"`+word+`"`),
		"country unknown":                 field("country", `"`+word+`"`),
		"a bare word as a value":          field("businessName", word),
		"a bare number as a value":        field("businessName", digits+"x"),
	}
	bodies := map[string]string{
		// Not contact info, but the same rule: encoding/json quotes an
		// overflowing number in its error.
		"expectedVersion overflowing": envelope + `,"expectedVersion":9` + digits + digits + `}`,
		"period overflowing":          terminate(`{"strategy":"TEMPORARY","period":9` + digits + digits + `}`),
	}
	for name, ci := range cases {
		bodies[name] = contact(ci)
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			_, err := decodeAndCheck([]byte(body), "")
			if err == nil {
				t.Fatalf("accepted %s", body)
			}
			for _, e := range customer.AsErrors(err) {
				for _, secret := range []string{digits, digits[:5], word, strings.ToLower(word), "H2X"} {
					if strings.Contains(e.Message, secret) || strings.Contains(e.Field, secret) {
						t.Errorf("error %q quotes the value received (%s)", e, secret)
					}
				}
			}
		})
	}
}
