package customer

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// The spec's example values; every one of them must pass unchanged.
const (
	specPartnerID  = "25521a6f-b8d1-414b-8575-545430f076fd"
	specIndustryID = "e4c81004-1a4c-477f-97e3-b67022e9a351"
	specCustomerID = "e4c81004-1a4c-477f-97e3-b67022e9a351"
)

func specContact() ContactInfo {
	return ContactInfo{
		BusinessName:  "ACME Corporation Inc.",
		SecondaryName: "ACME Co.",
		PhoneNumber:   "+14165551212",
		AddressLine1:  "1 Yonge St",
		AddressLine2:  "Suite 1204",
		PostalCode:    "M5E 1E5",
		Province:      "ON",
		Country:       "CA",
	}
}

// spec returns the spec's contact info with edit applied.
func spec(edit func(*ContactInfo)) ContactInfo {
	c := specContact()
	if edit != nil {
		edit(&c)
	}
	return c
}

// errorFields returns the fields of the user errors in err, in order, and
// checks that each is a BAD_USER_INPUT error with a message.
func errorFields(t *testing.T, err error) []string {
	t.Helper()
	var fields []string
	for _, e := range AsErrors(err) {
		if e.Code != CodeInvalid {
			t.Errorf("error %q has code %s, want %s", e, e.Code, CodeInvalid)
		}
		if e.Message == "" {
			t.Errorf("error for %q has no message", e.Field)
		}
		fields = append(fields, e.Field)
	}
	return fields
}

// checkInvalid asserts that err is one BAD_USER_INPUT error for field whose
// message contains wantMsg, and returns it.
func checkInvalid(t *testing.T, err error, field, wantMsg string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a %s error", err, field)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(%v, ErrInvalid) = false, want true", err)
	}
	if e.Field != field {
		t.Errorf("field = %q, want %q (error %q)", e.Field, field, e)
	}
	if !strings.Contains(e.Message, wantMsg) {
		t.Errorf("message = %q, want it to contain %q", e.Message, wantMsg)
	}
	return e
}

func TestNormalizeID(t *testing.T) {
	tests := []struct{ in, want string }{
		{specPartnerID, specPartnerID},
		{"25521A6F-B8D1-414B-8575-545430F076FD", specPartnerID},
		{"  25521a6f-b8d1-414b-8575-545430f076fd\n", specPartnerID},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeID(tt.in); got != tt.want {
			t.Errorf("NormalizeID(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if err := ValidateID("id", NormalizeID(tt.in)); tt.want != "" && err != nil {
			t.Errorf("ValidateID(NormalizeID(%q)) = %v, want nil", tt.in, err)
		}
	}
}

func TestValidateID(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		wantMsg string // "" means valid
	}{
		{"spec partner id", specPartnerID, ""},
		{"spec industry and customer id", specIndustryID, ""},
		{"version 7", "01890a5d-ac96-774b-bcce-b302099a8057", ""},
		{"version 1", "c232ab00-9414-11ec-b3c8-9f6bdeced846", ""},
		{"max UUID", "ffffffff-ffff-ffff-ffff-ffffffffffff", ""},
		{"empty", "", "is required"},
		{"upper case", "25521A6F-B8D1-414B-8575-545430F076FD", "lower case"},
		{"one upper-case digit", "25521a6f-b8d1-414b-8575-545430f076fD", "lower case"},
		{"nil UUID", nilUUID, "nil UUID"},
		{"no hyphens", "25521a6fb8d1414b8575545430f076fd", "36 characters, got 32"},
		{"braces", "{25521a6f-b8d1-414b-8575-545430f076fd}", "36 characters"},
		{"urn", "urn:uuid:25521a6f-b8d1-414b-8575-545430f076fd", "36 characters"},
		{"leading space", " 25521a6f-b8d1-414b-8575-545430f076f", "hex digits"},
		{"trailing newline", "25521a6f-b8d1-414b-8575-545430f076fd\n", "36 characters"},
		{"not hex", "g5521a6f-b8d1-414b-8575-545430f076fd", "hex digits"},
		{"misplaced hyphen", "25521a6fb-8d1-414b-8575-545430f076fd", "joined by hyphens"},
		{"hyphen instead of digit", "25521a6f-b8d1-414b-8575-545430f076-d", "hex digits"},
		{"non-ASCII, 36 bytes", "25521a6f-b8d1-414b-8575-545430f076é", "hex digits"},
		{"malformed UTF-8", "25521a6f-b8d1-414b-8575-545430f076\xff\xfe", "hex digits"},
		{"very long", strings.Repeat("a", 1<<20), "36 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateID("partnerId", tt.id)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("ValidateID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			e := checkInvalid(t, err, "partnerId", tt.wantMsg)
			if !strings.Contains(e.Message, exampleUUID) {
				t.Errorf("message = %q, want it to show an example UUID", e.Message)
			}
		})
	}
}

func TestValidateSpace(t *testing.T) {
	tests := []struct {
		name    string
		space   string
		wantMsg string // "" means valid
	}{
		{"spec", "acme", ""},
		{"two characters", "ab", ""},
		{"forty characters", strings.Repeat("a", 40), ""},
		{"digits", "acme2", ""},
		{"letter then digit", "a1", ""},
		{"single hyphens", "acme-co-2", ""},
		{"contains a reserved word", "acme-admin", ""},
		{"reserved word as prefix", "apiary", ""},
		{"empty", "", "is required"},
		{"one character", "a", "it has 1 characters"},
		{"forty-one characters", strings.Repeat("a", 41), "it has 41 characters"},
		{"very long", strings.Repeat("a", 1<<20), "characters"},
		{"upper case", "Acme", "upper-case"},
		{"starts with a digit", "1acme", "does not start with a letter"},
		{"starts with a hyphen", "-acme", "does not start with a letter"},
		{"ends with a hyphen", "acme-", "ends with a hyphen"},
		{"double hyphen", "acme--co", "two hyphens in a row"},
		{"underscore", "acme_co", "other than a-z"},
		{"dot", "acme.co", "other than a-z"},
		{"space inside", "acme co", "other than a-z"},
		{"leading space", " acme", "other than a-z"},
		{"accented letter", "açme", "other than a-z"},
		{"malformed UTF-8", "acme\xff", "other than a-z"},
		{"control character", "acme\x00", "other than a-z"},
		{"reserved admin", "admin", `"admin" is reserved`},
		{"reserved api", "api", "reserved"},
		{"reserved www", "www", "reserved"},
		{"reserved textkit", "textkit", "reserved"},
		{"reserved null", "null", "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSpace(tt.space)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("ValidateSpace(%q) = %v, want nil", tt.space, err)
				}
				return
			}
			_ = checkInvalid(t, err, "space", tt.wantMsg)
		})
	}
}

func TestReservedSpacesAreOtherwiseValid(t *testing.T) {
	// A reserved word that broke the slug rules would never reach the
	// reserved check, and its entry would be dead.
	for word := range reservedSpaces {
		err := ValidateSpace(word)
		_ = checkInvalid(t, err, "space", "reserved")
	}
}

func TestNormalizeLabel(t *testing.T) {
	tests := []struct {
		name    string
		label   string
		want    string
		wantMsg string // "" means valid
	}{
		{"spec", "ACME Co.", "ACME Co.", ""},
		{"trimmed", "  ACME Co.\t\n", "ACME Co.", ""},
		{"non-breaking spaces trimmed", "\u00a0ACME\u00a0", "ACME", ""},
		{"one character", "A", "A", ""},
		{"100 runes", strings.Repeat("é", 100), strings.Repeat("é", 100), ""},
		{"emoji and joiners", "ACME 👩‍💻", "ACME 👩‍💻", ""},
		{"non-Latin", "株式会社アクメ", "株式会社アクメ", ""},
		{"inner spaces kept", "ACME  Co", "ACME  Co", ""},
		{"empty", "", "", "is required"},
		{"only spaces", " \t ", "", "is required"},
		{"101 runes", strings.Repeat("é", 101), "", "at most 100 characters, got 101"},
		{"very long", strings.Repeat("a", 1<<20), "", "at most 100 characters"},
		{"malformed UTF-8", "ACME\xff", "", "valid UTF-8"},
		{"truncated UTF-8", "ACME \xe2\x82", "", "valid UTF-8"},
		{"tab inside", "ACME\tCo", "", "control characters"},
		{"newline inside", "ACME\nCo", "", "control characters"},
		{"NUL", "ACME\x00", "", "control characters"},
		{"DEL", "ACME\x7f", "", "control characters"},
		{"C1 control", "ACME\u0090Co", "", "control characters"},
		{"line separator", "ACME\u2028Co", "", "control characters"},
		{"right-to-left override", "ACME\u202eoC", "", "control characters"},
		{"first strong isolate", "ACME\u2068Co", "", "control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeLabel(tt.label)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("NormalizeLabel(%q) error = %v, want nil", tt.label, err)
				}
				if got != tt.want {
					t.Errorf("NormalizeLabel(%q) = %q, want %q", tt.label, got, tt.want)
				}
				return
			}
			_ = checkInvalid(t, err, "label", tt.wantMsg)
			if got != "" {
				t.Errorf("NormalizeLabel(%q) = %q with an error, want \"\"", tt.label, got)
			}
		})
	}
}

func TestValidateExpectedVersion(t *testing.T) {
	tests := []struct {
		name  string
		v     *int64
		valid bool
	}{
		{"absent means any", nil, true},
		{"zero", ptr[int64](0), true},
		{"positive", ptr[int64](42), true},
		{"largest", ptr[int64](math.MaxInt64), true},
		{"minus one", ptr[int64](-1), false},
		{"smallest", ptr[int64](math.MinInt64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateExpectedVersion(tt.v)
			if tt.valid {
				if err != nil {
					t.Fatalf("ValidateExpectedVersion = %v, want nil", err)
				}
				return
			}
			_ = checkInvalid(t, err, "expectedVersion", "0 or more")
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestContactInfoNormalizeSpecExamples(t *testing.T) {
	first := specContact()
	second := spec(func(c *ContactInfo) { c.SecondaryName = "ACME Corp." })
	for _, in := range []ContactInfo{first, second} {
		got, err := in.Normalize()
		if err != nil {
			t.Fatalf("Normalize(%+v) error = %v, want nil", in, err)
		}
		if got != in {
			t.Errorf("Normalize(%+v) = %+v, want it unchanged", in, got)
		}
	}
}

func TestContactInfoNormalize(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name    string
		in      ContactInfo
		want    ContactInfo // when wantErr is empty
		wantErr []string
		wantMsg string // in the first error
	}{
		// Text fields.
		{name: "text trimmed",
			in: spec(func(c *ContactInfo) {
				c.BusinessName, c.SecondaryName = " ACME Corporation Inc. ", "\tACME Co.\n"
				c.AddressLine1, c.AddressLine2 = "  1 Yonge St", "Suite 1204  "
			}),
			want: specContact()},
		{name: "optional fields empty",
			in:   spec(func(c *ContactInfo) { c.SecondaryName, c.AddressLine2 = "", "" }),
			want: spec(func(c *ContactInfo) { c.SecondaryName, c.AddressLine2 = "", "" })},
		{name: "optional fields blank",
			in:   spec(func(c *ContactInfo) { c.SecondaryName, c.AddressLine2 = "   ", "\t" }),
			want: spec(func(c *ContactInfo) { c.SecondaryName, c.AddressLine2 = "", "" })},
		{name: "200 runes",
			in: spec(func(c *ContactInfo) {
				c.BusinessName, c.SecondaryName = strings.Repeat("é", 200), strings.Repeat("é", 200)
				c.AddressLine1, c.AddressLine2 = strings.Repeat("é", 200), strings.Repeat("é", 200)
			}),
			want: spec(func(c *ContactInfo) {
				c.BusinessName, c.SecondaryName = strings.Repeat("é", 200), strings.Repeat("é", 200)
				c.AddressLine1, c.AddressLine2 = strings.Repeat("é", 200), strings.Repeat("é", 200)
			})},
		{name: "businessName missing", in: spec(func(c *ContactInfo) { c.BusinessName = " " }),
			wantErr: []string{"businessName"}, wantMsg: "is required"},
		{name: "businessName too long", in: spec(func(c *ContactInfo) { c.BusinessName = long(201) }),
			wantErr: []string{"businessName"}, wantMsg: "at most 200 characters"},
		{name: "businessName malformed UTF-8", in: spec(func(c *ContactInfo) { c.BusinessName = "ACME\xc3" }),
			wantErr: []string{"businessName"}, wantMsg: "valid UTF-8"},
		{name: "secondaryName control character", in: spec(func(c *ContactInfo) { c.SecondaryName = "ACME\x1bCo" }),
			wantErr: []string{"secondaryName"}, wantMsg: "control characters"},
		{name: "secondaryName too long", in: spec(func(c *ContactInfo) { c.SecondaryName = long(201) }),
			wantErr: []string{"secondaryName"}, wantMsg: "at most 200"},
		{name: "addressLine1 missing", in: spec(func(c *ContactInfo) { c.AddressLine1 = "" }),
			wantErr: []string{"addressLine1"}, wantMsg: "is required"},
		{name: "addressLine1 very long", in: spec(func(c *ContactInfo) { c.AddressLine1 = long(1 << 20) }),
			wantErr: []string{"addressLine1"}, wantMsg: "at most 200"},
		{name: "addressLine2 line break", in: spec(func(c *ContactInfo) { c.AddressLine2 = "Suite\r\n1204" }),
			wantErr: []string{"addressLine2"}, wantMsg: "control characters"},
		{name: "addressLine2 too long", in: spec(func(c *ContactInfo) { c.AddressLine2 = long(201) }),
			wantErr: []string{"addressLine2"}, wantMsg: "at most 200"},

		// Phone numbers.
		{name: "phone with spaces, parentheses and hyphens",
			in: spec(func(c *ContactInfo) { c.PhoneNumber = "+1 (416) 555-1212" }), want: specContact()},
		{name: "phone with dots", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+1.416.555.1212" }), want: specContact()},
		{name: "phone trimmed", in: spec(func(c *ContactInfo) { c.PhoneNumber = " +14165551212 " }), want: specContact()},
		{name: "phone UK",
			in:   spec(func(c *ContactInfo) { c.PhoneNumber = "+44 20 7183 8750" }),
			want: spec(func(c *ContactInfo) { c.PhoneNumber = "+442071838750" })},
		{name: "phone 8 digits",
			in:   spec(func(c *ContactInfo) { c.PhoneNumber = "+4930 1234" }),
			want: spec(func(c *ContactInfo) { c.PhoneNumber = "+49301234" })},
		{name: "phone 15 digits",
			in:   spec(func(c *ContactInfo) { c.PhoneNumber = "+491234567890123" }),
			want: spec(func(c *ContactInfo) { c.PhoneNumber = "+491234567890123" })},
		{name: "phone Twilio test number",
			in:   spec(func(c *ContactInfo) { c.PhoneNumber = "+15005550006" }),
			want: spec(func(c *ContactInfo) { c.PhoneNumber = "+15005550006" })},
		{name: "phone missing", in: spec(func(c *ContactInfo) { c.PhoneNumber = "" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "is required: an E.164 number such as +14165551212"},
		{name: "phone only plus", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "must be an E.164 number such as +14165551212"},
		{name: "phone without plus", in: spec(func(c *ContactInfo) { c.PhoneNumber = "1 416 555 0000" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "start with +"},
		{name: "phone with 00 prefix", in: spec(func(c *ContactInfo) { c.PhoneNumber = "0014165550000" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "start with +"},
		{name: "phone with letters", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+1-800-FLOWERS" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "letters are not allowed"},
		{name: "phone with extension", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+1 416 555 0000 x12" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "letters are not allowed"},
		{name: "phone with second plus", in: spec(func(c *ContactInfo) { c.PhoneNumber = "++14165550000" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "only digits after the +"},
		{name: "phone with slash", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+1 416/555 0000" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "only digits after the +"},
		{name: "phone with full-width digits", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+１４１６５５５００００" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "only digits after the +"},
		{name: "phone malformed UTF-8", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+1416555\xff0000" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "only digits after the +"},
		{name: "phone 7 digits", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+4930123" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "8 to 15 digits after the +, got 7"},
		{name: "phone 16 digits", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+4912345678901234" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "8 to 15 digits after the +, got 16"},
		{name: "phone very long", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+" + strings.Repeat("9", 1<<20) }),
			wantErr: []string{"phoneNumber"}, wantMsg: "at most 15 digits"},
		{name: "phone country code 0", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+04165550000" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "do not start with 0"},
		{name: "phone +1 with a digit missing", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+1416555000" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "10 digits after the 1, got 9"},
		{name: "phone +1 with a digit too many", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+141655500001" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "10 digits after the 1, got 11"},
		{name: "phone +1 area code 1xx", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+11165550000" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "area codes"},
		{name: "phone +1 exchange 0xx", in: spec(func(c *ContactInfo) { c.PhoneNumber = "+14160550000" }),
			wantErr: []string{"phoneNumber"}, wantMsg: "exchange codes"},

		// Countries.
		{name: "country lower case", in: spec(func(c *ContactInfo) { c.Country = "ca" }), want: specContact()},
		{name: "country trimmed", in: spec(func(c *ContactInfo) { c.Country = " Ca " }), want: specContact()},
		{name: "country missing", in: spec(func(c *ContactInfo) { c.Country = "" }),
			wantErr: []string{"country"}, wantMsg: "is required"},
		{name: "country alpha-3", in: spec(func(c *ContactInfo) { c.Country = "CAN" }),
			wantErr: []string{"country"}, wantMsg: "two letters such as CA or US"},
		{name: "country digits", in: spec(func(c *ContactInfo) { c.Country = "12" }),
			wantErr: []string{"country"}, wantMsg: "two letters"},
		{name: "country non-ASCII", in: spec(func(c *ContactInfo) { c.Country = "ÇA" }),
			wantErr: []string{"country"}, wantMsg: "two letters"},
		{name: "country long s is not S", in: spec(func(c *ContactInfo) { c.Country = "uſ" }),
			wantErr: []string{"country"}, wantMsg: "two letters"},
		{name: "country UK is reserved", in: spec(func(c *ContactInfo) { c.Country = "uk" }),
			wantErr: []string{"country"}, wantMsg: "UK is not assigned (use GB for the United Kingdom)"},
		{name: "country XK is user-assigned", in: spec(func(c *ContactInfo) { c.Country = "XK" }),
			wantErr: []string{"country"}, wantMsg: "not assigned"},
		{name: "country ZZ", in: spec(func(c *ContactInfo) { c.Country = "ZZ" }),
			wantErr: []string{"country"}, wantMsg: "not assigned"},

		// Canadian provinces and postal codes.
		{name: "CA province lower case", in: spec(func(c *ContactInfo) { c.Province = " on " }), want: specContact()},
		{name: "CA postal code lower case without space",
			in: spec(func(c *ContactInfo) { c.PostalCode = "m5e1e5" }), want: specContact()},
		{name: "CA postal code extra spaces",
			in: spec(func(c *ContactInfo) { c.PostalCode = " M5E  1E5 " }), want: specContact()},
		{name: "CA Ottawa",
			in:   spec(func(c *ContactInfo) { c.PostalCode = "k1a 0b1" }),
			want: spec(func(c *ContactInfo) { c.PostalCode = "K1A 0B1" })},
		{name: "CA Montreal",
			in:   spec(func(c *ContactInfo) { c.Province, c.PostalCode = "QC", "H2X 1Y4" }),
			want: spec(func(c *ContactInfo) { c.Province, c.PostalCode = "QC", "H2X 1Y4" })},
		{name: "CA Nunavut",
			in:   spec(func(c *ContactInfo) { c.Province, c.PostalCode = "NU", "X0A 0H0" }),
			want: spec(func(c *ContactInfo) { c.Province, c.PostalCode = "NU", "X0A 0H0" })},
		{name: "CA Northwest Territories",
			in:   spec(func(c *ContactInfo) { c.Province, c.PostalCode = "NT", "X1A 2L9" }),
			want: spec(func(c *ContactInfo) { c.Province, c.PostalCode = "NT", "X1A 2L9" })},
		{name: "CA province missing", in: spec(func(c *ContactInfo) { c.Province = "" }),
			wantErr: []string{"province"}, wantMsg: "is required when country is CA: one of AB, BC"},
		{name: "CA province spelled out", in: spec(func(c *ContactInfo) { c.Province = "Ontario" }),
			wantErr: []string{"province"}, wantMsg: "one of AB, BC, MB, NB, NL, NS, NT, NU, ON, PE, QC, SK, YT"},
		{name: "CA province is a US state", in: spec(func(c *ContactInfo) { c.Province = "NY" }),
			wantErr: []string{"province"}, wantMsg: "Canadian province"},
		{name: "CA postal code missing", in: spec(func(c *ContactInfo) { c.PostalCode = "" }),
			wantErr: []string{"postalCode"}, wantMsg: "is required: a Canadian postal code such as M5E 1E5"},
		{name: "CA postal code too short", in: spec(func(c *ContactInfo) { c.PostalCode = "K1A 0B" }),
			wantErr: []string{"postalCode"}, wantMsg: "letter, digit, letter"},
		{name: "CA postal code with hyphen", in: spec(func(c *ContactInfo) { c.PostalCode = "M5E-1E5" }),
			wantErr: []string{"postalCode"}, wantMsg: "letter, digit, letter"},
		{name: "CA postal code a ZIP", in: spec(func(c *ContactInfo) { c.PostalCode = "90210" }),
			wantErr: []string{"postalCode"}, wantMsg: "such as M5E 1E5"},
		{name: "CA postal code digits swapped", in: spec(func(c *ContactInfo) { c.PostalCode = "5ME E15" }),
			wantErr: []string{"postalCode"}, wantMsg: "letter, digit, letter"},
		{name: "CA postal code letter O", in: spec(func(c *ContactInfo) { c.PostalCode = "M5E 1O5" }),
			wantErr: []string{"postalCode"}, wantMsg: "D, F, I, O, Q or U"},
		{name: "CA postal code letter D first", in: spec(func(c *ContactInfo) { c.PostalCode = "D5E 1E5" }),
			wantErr: []string{"postalCode"}, wantMsg: "D, F, I, O, Q or U"},
		{name: "CA postal code W first", in: spec(func(c *ContactInfo) { c.PostalCode = "W5E 1E5" }),
			wantErr: []string{"postalCode"}, wantMsg: "do not start with W or Z"},
		{name: "CA postal code Z first", in: spec(func(c *ContactInfo) { c.PostalCode = "Z5E 1E5" }),
			wantErr: []string{"postalCode"}, wantMsg: "do not start with W or Z"},
		{name: "CA postal code W inside", in: spec(func(c *ContactInfo) { c.Province, c.PostalCode = "AB", "T2W 1Z5" }),
			want: spec(func(c *ContactInfo) { c.Province, c.PostalCode = "AB", "T2W 1Z5" })},
		{name: "CA postal code in another province",
			in:      spec(func(c *ContactInfo) { c.Province = "QC" }),
			wantErr: []string{"postalCode"}, wantMsg: "does not match province QC: postal codes in QC start with G, H or J"},
		{name: "CA postal code of ON with BC",
			in:      spec(func(c *ContactInfo) { c.Province = "bc" }),
			wantErr: []string{"postalCode"}, wantMsg: "postal codes in BC start with V"},
		{name: "CA province and postal code both wrong",
			in:      spec(func(c *ContactInfo) { c.Province, c.PostalCode = "Ontario", "M5E" }),
			wantErr: []string{"postalCode", "province"}},
		{name: "CA postal code not matched against an invalid province",
			in:      spec(func(c *ContactInfo) { c.Province = "XX" }),
			wantErr: []string{"province"}},

		// US states and ZIP codes.
		{name: "US state and ZIP",
			in: spec(func(c *ContactInfo) {
				c.Country, c.Province, c.PostalCode = "us", "ny", "10001"
			}),
			want: spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "NY", "10001" })},
		{name: "US ZIP+4",
			in:   spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "DC", " 20500-0003 " }),
			want: spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "DC", "20500-0003" })},
		{name: "US territory",
			in:   spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "PR", "00901" }),
			want: spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "PR", "00901" })},
		{name: "US military",
			in:   spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "AE", "09001" }),
			want: spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "AE", "09001" })},
		{name: "US province missing",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "", "10001" }),
			wantErr: []string{"province"}, wantMsg: "is required when country is US"},
		{name: "US province a Canadian one",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "ON", "10001" }),
			wantErr: []string{"province"}, wantMsg: "USPS code"},
		{name: "US province spelled out",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "New York", "10001" }),
			wantErr: []string{"province"}, wantMsg: "USPS code"},
		{name: "US ZIP missing",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "NY", "" }),
			wantErr: []string{"postalCode"}, wantMsg: "is required: a US ZIP code"},
		{name: "US ZIP 4 digits",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "NY", "1000" }),
			wantErr: []string{"postalCode"}, wantMsg: "such as 12345 or 12345-6789"},
		{name: "US ZIP+4 without hyphen",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "NY", "100011234" }),
			wantErr: []string{"postalCode"}, wantMsg: "US ZIP code"},
		{name: "US ZIP+3",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "US", "NY", "10001-123" }),
			wantErr: []string{"postalCode"}, wantMsg: "US ZIP code"},
		{name: "US ZIP Canadian",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province = "US", "NY" }),
			wantErr: []string{"postalCode"}, wantMsg: "US ZIP code"},

		// Elsewhere.
		{name: "GB postcode upper-cased and collapsed",
			in: spec(func(c *ContactInfo) {
				c.Country, c.Province, c.PostalCode = "GB", " Greater London ", " sw1a   1aa "
			}),
			want: spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "GB", "Greater London", "SW1A 1AA" })},
		{name: "province optional elsewhere",
			in:   spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "DE", "", "10115" }),
			want: spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "DE", "", "10115" })},
		{name: "province 100 runes elsewhere",
			in: spec(func(c *ContactInfo) {
				c.Country, c.Province, c.PostalCode = "FR", strings.Repeat("é", 100), "75001"
			}),
			want: spec(func(c *ContactInfo) {
				c.Country, c.Province, c.PostalCode = "FR", strings.Repeat("é", 100), "75001"
			})},
		{name: "postal code with hyphen and 16 characters elsewhere",
			in:   spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "PL", "", "00-950 abcdefghi" }),
			want: spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "PL", "", "00-950 ABCDEFGHI" })},
		{name: "province too long elsewhere",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "FR", long(101), "75001" }),
			wantErr: []string{"province"}, wantMsg: "at most 100 characters"},
		{name: "province control character elsewhere",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "FR", "Île-de\x00France", "75001" }),
			wantErr: []string{"province"}, wantMsg: "control characters"},
		{name: "no postal code elsewhere (Hong Kong has none)",
			in:   spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "HK", "", " " }),
			want: spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "HK", "", "" })},
		{name: "postal code too long elsewhere",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "FR", "", long(17) }),
			wantErr: []string{"postalCode"}, wantMsg: "1 to 16 letters"},
		{name: "postal code only a hyphen elsewhere",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "FR", "", "-" }),
			wantErr: []string{"postalCode"}, wantMsg: "1 to 16 letters"},
		{name: "postal code with underscore elsewhere",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "FR", "", "75_001" }),
			wantErr: []string{"postalCode"}, wantMsg: "1 to 16 letters"},
		{name: "postal code non-ASCII elsewhere",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "FR", "", "75ÖÖ1" }),
			wantErr: []string{"postalCode"}, wantMsg: "1 to 16 letters"},
		{name: "postal code with tab elsewhere",
			in:      spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "FR", "", "75\t001" }),
			wantErr: []string{"postalCode"}, wantMsg: "1 to 16 letters"},
		{name: "invalid country checks province and postal code loosely",
			in:      spec(func(c *ContactInfo) { c.Country = "ZZ" }),
			wantErr: []string{"country"}},

		// Every bad field at once, in input order.
		{name: "every field wrong",
			in: ContactInfo{
				BusinessName:  "",
				SecondaryName: "ACME\x00",
				PhoneNumber:   "call us",
				AddressLine1:  "\xff",
				AddressLine2:  long(201),
				PostalCode:    "#1",
				Province:      long(101),
				Country:       "Canada",
			},
			wantErr: []string{"businessName", "secondaryName", "phoneNumber", "addressLine1", "addressLine2",
				"postalCode", "province", "country"}},
		{name: "zero value",
			in:      ContactInfo{},
			wantErr: []string{"businessName", "phoneNumber", "addressLine1", "country"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Normalize()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Normalize error = %v, want nil", err)
				}
				if got != tt.want {
					t.Errorf("Normalize = %+v, want %+v", got, tt.want)
				}
				again, err := got.Normalize()
				if err != nil || again != got {
					t.Errorf("Normalize(Normalize(x)) = %+v, %v; want %+v, nil", again, err, got)
				}
				return
			}
			if got != (ContactInfo{}) {
				t.Errorf("Normalize = %+v with an error, want the zero ContactInfo", got)
			}
			var many ValidationErrors
			if !errors.As(err, &many) {
				t.Fatalf("Normalize error = %T %v, want ValidationErrors", err, err)
			}
			if gotFields := errorFields(t, err); !slices.Equal(gotFields, tt.wantErr) {
				t.Errorf("error fields = %q, want %q (%v)", gotFields, tt.wantErr, err)
			}
			if !strings.Contains(many[0].Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", many[0].Message, tt.wantMsg)
			}
			assertNoPII(t, tt.in, err)
		})
	}
}

// assertNoPII checks that no error message quotes a contact field's value:
// contact info is personal data, and errors end up in logs.
func assertNoPII(t *testing.T, in ContactInfo, err error) {
	t.Helper()
	values := []string{in.BusinessName, in.SecondaryName, in.PhoneNumber, in.AddressLine1,
		in.AddressLine2, in.PostalCode}
	for _, e := range AsErrors(err) {
		for _, v := range values {
			if v = strings.TrimSpace(v); len(v) >= 4 && strings.Contains(e.Message, v) {
				t.Errorf("message %q quotes the input %q", e.Message, v)
			}
		}
	}
}

func TestCountryTable(t *testing.T) {
	if got, want := len(assignedCountries), 249; got != want {
		t.Errorf("assigned country codes = %d, want %d", got, want)
	}
	for code := range assignedCountries {
		if len(code) != 2 || asciiUpper(code) != code || !isASCIILetter(code[0]) || !isASCIILetter(code[1]) {
			t.Errorf("country code %q is not two upper-case letters", code)
		}
	}
	for code := range countryHints {
		if _, ok := assignedCountries[code]; ok {
			t.Errorf("hint for %s, which is assigned and never rejected", code)
		}
	}
	if got, want := len(caPostalPrefixes), 13; got != want {
		t.Errorf("Canadian provinces = %d, want %d", got, want)
	}
	if got, want := len(usProvinces), 50+1+6+3; got != want {
		t.Errorf("US provinces = %d, want %d", got, want)
	}
	// Every Canadian first letter Canada Post uses belongs to exactly one
	// province, except X (NT and NU).
	owners := map[rune][]string{}
	for province, letters := range caPostalPrefixes {
		for _, l := range letters {
			owners[l] = append(owners[l], province)
			if strings.ContainsRune(caPostalForbidden+caPostalForbiddenFirst, l) {
				t.Errorf("%s uses first letter %c, which Canada Post does not", province, l)
			}
		}
	}
	for l, ps := range owners {
		if len(ps) > 1 && l != 'X' {
			t.Errorf("first letter %c belongs to %v", l, ps)
		}
	}
	if got, want := len(owners), 18; got != want {
		t.Errorf("first letters in use = %d, want %d (ABCEGHJKLMNPRSTVXY)", got, want)
	}
}

func TestLetterList(t *testing.T) {
	tests := []struct{ in, want string }{
		{"V", "V"},
		{"GH", "G or H"},
		{"KLMNP", "K, L, M, N or P"},
	}
	for _, tt := range tests {
		if got := letterList(tt.in); got != tt.want {
			t.Errorf("letterList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzContactInfoNormalize(f *testing.F) {
	add := func(c ContactInfo) {
		f.Add(c.BusinessName, c.SecondaryName, c.PhoneNumber, c.AddressLine1, c.AddressLine2,
			c.PostalCode, c.Province, c.Country)
	}
	add(specContact())
	add(ContactInfo{})
	add(spec(func(c *ContactInfo) { c.PhoneNumber, c.PostalCode, c.Province = "+1 (416) 555-1212", "m5e1e5", "on" }))
	add(spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "us", "ny", "10001-1234" }))
	add(spec(func(c *ContactInfo) { c.Country, c.Province, c.PostalCode = "gb", " London ", " sw1a  1aa" }))
	add(spec(func(c *ContactInfo) { c.BusinessName, c.AddressLine2 = "\xff\u202e", "a\u2028b" }))
	fields := map[string]bool{"businessName": true, "secondaryName": true, "phoneNumber": true,
		"addressLine1": true, "addressLine2": true, "postalCode": true, "province": true, "country": true}

	f.Fuzz(func(t *testing.T, business, secondary, phone, line1, line2, postal, province, country string) {
		in := ContactInfo{business, secondary, phone, line1, line2, postal, province, country}
		got, err := in.Normalize()
		if err != nil {
			var many ValidationErrors
			if !errors.As(err, &many) || len(many) == 0 {
				t.Fatalf("error %T %v, want non-empty ValidationErrors", err, err)
			}
			for _, e := range many {
				if e.Code != CodeInvalid || !fields[e.Field] || e.Message == "" {
					t.Fatalf("bad field error %+v", e)
				}
			}
			return
		}
		again, err := got.Normalize()
		if err != nil {
			t.Fatalf("Normalize(%+v) = %v after it normalized %+v", got, err, in)
		}
		if again != got {
			t.Fatalf("Normalize is not a fixed point: %+v → %+v", got, again)
		}
	})
}
