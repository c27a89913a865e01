package customer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Rejections name the field in the GraphQL input's spelling and say what is
// expected. Messages about contact info never quote the value: it is
// personal data, and errors end up in logs, outcomes and dead letters.

const (
	exampleUUID  = "25521a6f-b8d1-414b-8575-545430f076fd"
	nilUUID      = "00000000-0000-0000-0000-000000000000"
	examplePhone = "+14165551212"

	minSpaceLen    = 2
	maxSpaceLen    = 40
	maxLabelLen    = 100
	maxNameLen     = 200 // businessName, secondaryName
	maxAddressLen  = 200 // addressLine1, addressLine2
	maxProvinceLen = 100 // free-text provinces outside CA and US
	maxPostalLen   = 16  // postal codes outside CA and US
	minPhoneDigits = 8
	maxPhoneDigits = 15 // E.164's limit, country code included
)

// reservedSpaces are slugs no customer may take: they name our own hosts,
// paths and brands (a space may become a subdomain or a URL segment), or
// they are what a buggy client sends when it has no value ("null").
var reservedSpaces = codeSet(
	"admin administrator api app auth graphql help internal login mail root",
	"statflo static status support system textkit twilio www",
	"null undefined",
)

// NormalizeID trims surrounding white space and lower-cases id. Callers
// apply it to ids that come from outside before ValidateID, which accepts
// only the canonical form, so that one customer's id is byte-identical in
// Redis keys, Vault key names and Twilio friendly names.
func NormalizeID(id string) string {
	return strings.ToLower(strings.TrimSpace(id))
}

// ValidateID checks that id is a UUID in canonical form: 36 characters,
// lowercase hex digits in groups of 8-4-4-4-12 joined by hyphens. Any
// version and variant is accepted, because partners mint ids with their own
// tools; the nil UUID is not, because it is what an unset id becomes. field
// names the input field in errors ("id", "partnerId", …).
func ValidateID(field, id string) error {
	const expect = "must be a UUID such as " + exampleUUID
	if id == "" {
		return Invalid(field, "is required: a UUID such as %s", exampleUUID)
	}
	if len(id) != 36 {
		return Invalid(field, "%s: 36 characters, got %d", expect, utf8.RuneCountInString(id))
	}
	upper := false
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return Invalid(field, "%s: groups of 8, 4, 4, 4 and 12 hex digits joined by hyphens", expect)
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			upper = true
		default:
			return Invalid(field, "%s: only hex digits 0-9, a-f and hyphens", expect)
		}
	}
	if upper {
		return Invalid(field, "%s: hex digits in lower case", expect)
	}
	if id == nilUUID {
		return Invalid(field, "%s: the nil UUID is not an id", expect)
	}
	return nil
}

// ValidateSpace checks a customer's space: a lowercase slug of 2 to 40
// characters made of a-z, 0-9 and single hyphens between them, starting
// with a letter. A few words are reserved (see reservedSpaces): admin,
// administrator, api, app, auth, graphql, help, internal, login, mail,
// root, statflo, static, status, support, system, textkit, twilio, www,
// null and undefined.
func ValidateSpace(space string) error {
	const field = "space"
	const expect = "must be a lowercase slug of 2 to 40 letters a-z, digits and single hyphens, starting with a letter, such as acme"
	if space == "" {
		return Invalid(field, "is required: a lowercase slug such as acme")
	}
	var upper, other bool
	for _, r := range space {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '-':
		case 'A' <= r && r <= 'Z':
			upper = true
		default:
			other = true
		}
	}
	switch {
	case other:
		return Invalid(field, "%s: it has characters other than a-z, 0-9 and hyphens", expect)
	case upper:
		return Invalid(field, "%s: it has upper-case letters", expect)
	case len(space) < minSpaceLen || len(space) > maxSpaceLen:
		return Invalid(field, "%s: it has %d characters", expect, len(space))
	case space[0] < 'a' || space[0] > 'z':
		return Invalid(field, "%s: it does not start with a letter", expect)
	case space[len(space)-1] == '-':
		return Invalid(field, "%s: it ends with a hyphen", expect)
	case strings.Contains(space, "--"):
		return Invalid(field, "%s: it has two hyphens in a row", expect)
	}
	if _, ok := reservedSpaces[space]; ok {
		return Invalid(field, "%q is reserved; choose another slug", space)
	}
	return nil
}

// NormalizeLabel returns label without surrounding white space, or an error
// unless it is 1 to 100 characters of valid UTF-8 without control
// characters.
func NormalizeLabel(label string) (string, error) {
	return normalizeText("label", label, true, maxLabelLen)
}

// ValidateExpectedVersion checks an optional expected version: nil means
// any version; otherwise it must be 0 or more (0 is a customer no command
// has changed since registration).
func ValidateExpectedVersion(v *int64) error {
	if v == nil || *v >= 0 {
		return nil
	}
	return Invalid("expectedVersion", "must be a version number of 0 or more, or ANY for any version; got %d", *v)
}

// Normalize returns c with every field in canonical form: text trimmed,
// phone number in E.164, country, Canadian and US provinces and postal
// codes in upper case. When fields are wrong it returns ValidationErrors
// naming every one of them, in input order, and a zero ContactInfo.
func (c ContactInfo) Normalize() (ContactInfo, error) {
	var (
		out  ContactInfo
		errs ValidationErrors
		err  error
	)
	out.BusinessName, err = normalizeText("businessName", c.BusinessName, true, maxNameLen)
	errs.Add(err)
	out.SecondaryName, err = normalizeText("secondaryName", c.SecondaryName, false, maxNameLen)
	errs.Add(err)
	out.PhoneNumber, err = normalizePhone(c.PhoneNumber)
	errs.Add(err)
	out.AddressLine1, err = normalizeText("addressLine1", c.AddressLine1, true, maxAddressLen)
	errs.Add(err)
	out.AddressLine2, err = normalizeText("addressLine2", c.AddressLine2, false, maxAddressLen)
	errs.Add(err)

	// The postal code depends on the province and both on the country, so
	// they are worked out in reverse but reported in input order.
	var countryErr, provinceErr, postalErr error
	out.Country, countryErr = normalizeCountry(c.Country)
	out.Province, provinceErr = normalizeProvince(out.Country, c.Province)
	out.PostalCode, postalErr = normalizePostalCode(out.Country, out.Province, c.PostalCode)
	errs.Add(postalErr)
	errs.Add(provinceErr)
	errs.Add(countryErr)

	if err := errs.Err(); err != nil {
		return ContactInfo{}, err
	}
	return out, nil
}

// normalizeText trims s and checks that it is valid UTF-8 of at most maxLen
// characters without control characters; "" is an error only if required.
func normalizeText(field, s string, required bool, maxLen int) (string, error) {
	if !utf8.ValidString(s) {
		return "", Invalid(field, "must be valid UTF-8 text")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		if required {
			return "", Invalid(field, "is required: 1 to %d characters", maxLen)
		}
		return "", nil
	}
	n := 0
	for _, r := range s {
		if isControl(r) {
			return "", Invalid(field, "must be text of at most %d characters without control characters such as line breaks or tabs", maxLen)
		}
		n++
	}
	if n > maxLen {
		return "", Invalid(field, "must be at most %d characters, got %d", maxLen, n)
	}
	return s, nil
}

// isControl reports whether r is a control character (Unicode Cc), a line
// or paragraph separator, or a bidirectional embedding, override or isolate.
// The last ones are invisible and make text display differently from what
// it contains (the "Trojan Source" trick), which has no place in a name or
// an address.
func isControl(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u2028', r == '\u2029':
		return true
	case '\u202A' <= r && r <= '\u202E', '\u2066' <= r && r <= '\u2069':
		return true
	}
	return false
}

// normalizePhone returns s as an E.164 number: "+", a country code not
// starting with 0, 8 to 15 digits in all. Spaces, dots, hyphens and
// parentheses are dropped, so "+1 (416) 555-1212" becomes "+14165551212".
// Numbers in the North American plan (country code 1) must also have the
// 10-digit shape it prescribes, because a dropped digit is the commonest
// typo and still passes the generic length check.
func normalizePhone(s string) (string, error) {
	const field = "phoneNumber"
	const expect = "must be an E.164 number such as " + examplePhone
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Invalid(field, "is required: an E.164 number such as %s", examplePhone)
	}
	if s[0] != '+' {
		return "", Invalid(field, "%s: start with + and the country code", expect)
	}
	digits := make([]byte, 0, maxPhoneDigits+1)
	for _, r := range s[1:] {
		switch {
		case '0' <= r && r <= '9':
			if len(digits) > maxPhoneDigits {
				return "", Invalid(field, "%s: at most %d digits", expect, maxPhoneDigits)
			}
			digits = append(digits, byte(r))
		case r == ' ' || r == '.' || r == '-' || r == '(' || r == ')':
		case unicode.IsLetter(r):
			return "", Invalid(field, "%s: letters are not allowed", expect)
		default:
			return "", Invalid(field, "%s: only digits after the +, optionally grouped with spaces, dots, hyphens or parentheses", expect)
		}
	}
	switch {
	case len(digits) < minPhoneDigits || len(digits) > maxPhoneDigits:
		return "", Invalid(field, "%s: %d to %d digits after the +, got %d", expect, minPhoneDigits, maxPhoneDigits, len(digits))
	case digits[0] == '0':
		return "", Invalid(field, "%s: country codes do not start with 0", expect)
	case digits[0] == '1' && len(digits) != 11:
		return "", Invalid(field, "%s: numbers with country code 1 have 10 digits after the 1, got %d", expect, len(digits)-1)
	case digits[0] == '1' && digits[1] < '2':
		return "", Invalid(field, "%s: area codes after +1 do not start with 0 or 1", expect)
	case digits[0] == '1' && digits[4] < '2':
		return "", Invalid(field, "%s: exchange codes (the 3 digits after the area code) do not start with 0 or 1", expect)
	}
	return "+" + string(digits), nil
}

// normalizeCountry returns s as an assigned ISO 3166-1 alpha-2 code in
// upper case.
func normalizeCountry(s string) (string, error) {
	const field = "country"
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Invalid(field, "is required: an ISO 3166-1 alpha-2 code such as CA or US")
	}
	if len(s) != 2 || !isASCIILetter(s[0]) || !isASCIILetter(s[1]) {
		return "", Invalid(field, "must be an ISO 3166-1 alpha-2 code: two letters such as CA or US")
	}
	s = asciiUpper(s)
	if _, ok := assignedCountries[s]; !ok {
		msg := "must be an assigned ISO 3166-1 alpha-2 code such as CA or US; " + s + " is not assigned"
		if hint, ok := countryHints[s]; ok {
			msg += " (" + hint + ")"
		}
		return "", Invalid(field, "%s", msg)
	}
	return s, nil
}

// normalizeProvince returns s as a province or state code in upper case
// when country is CA or US, where it is required, and as optional trimmed
// free text elsewhere. country is "" when it was invalid; the province is
// then checked as free text, since which rule applies is unknown.
func normalizeProvince(country, s string) (string, error) {
	const field = "province"
	switch country {
	case countryCanada:
		code := asciiUpper(strings.TrimSpace(s))
		if code == "" {
			return "", Invalid(field, "is required when country is CA: one of %s", caProvinceList)
		}
		if _, ok := caPostalPrefixes[code]; !ok {
			return "", Invalid(field, "must be a Canadian province or territory code when country is CA: one of %s", caProvinceList)
		}
		return code, nil
	case countryUnitedStates:
		code := asciiUpper(strings.TrimSpace(s))
		if code == "" {
			return "", Invalid(field, "is required when country is US: a two-letter USPS code such as NY")
		}
		if _, ok := usProvinces[code]; !ok {
			return "", Invalid(field, "must be a two-letter USPS code when country is US: a state such as NY, DC, a territory (AS, GU, MP, PR, VI, UM) or a military code (AA, AE, AP)")
		}
		return code, nil
	}
	return normalizeText(field, s, false, maxProvinceLen)
}

// normalizePostalCode returns s in the canonical form for country: Canadian
// "A1A 1A1" whose first letter belongs to province, US ZIP "12345" or
// "12345-6789", and elsewhere none (many countries have no postal codes)
// or 1 to 16 letters, digits, spaces and hyphens, upper-cased with runs of
// spaces collapsed. province is "" when it was
// invalid, and the match is then not checked.
func normalizePostalCode(country, province, s string) (string, error) {
	const field = "postalCode"
	s = strings.TrimSpace(s)
	switch country {
	case countryCanada:
		const expect = "must be a Canadian postal code such as M5E 1E5"
		if s == "" {
			return "", Invalid(field, "is required: a Canadian postal code such as M5E 1E5")
		}
		code := asciiUpper(strings.ReplaceAll(s, " ", ""))
		if len(code) != 6 || !isASCIILetter(code[0]) || !isDigit(code[1]) || !isASCIILetter(code[2]) ||
			!isDigit(code[3]) || !isASCIILetter(code[4]) || !isDigit(code[5]) {
			return "", Invalid(field, "%s: letter, digit, letter, space, digit, letter, digit", expect)
		}
		if strings.ContainsAny(code, caPostalForbidden) {
			return "", Invalid(field, "%s: Canada Post does not use the letters D, F, I, O, Q or U", expect)
		}
		if strings.IndexByte(caPostalForbiddenFirst, code[0]) >= 0 {
			return "", Invalid(field, "%s: Canadian postal codes do not start with W or Z", expect)
		}
		if prefixes, ok := caPostalPrefixes[province]; ok && strings.IndexByte(prefixes, code[0]) < 0 {
			return "", Invalid(field, "does not match province %s: postal codes in %s start with %s", province, province, letterList(prefixes))
		}
		return code[:3] + " " + code[3:], nil
	case countryUnitedStates:
		if s == "" {
			return "", Invalid(field, "is required: a US ZIP code such as 12345 or 12345-6789")
		}
		if !isZIP(s) {
			return "", Invalid(field, "must be a US ZIP code such as 12345 or 12345-6789")
		}
		return s, nil
	}
	if s == "" {
		// Many countries (Hong Kong, the UAE, …) have no postal codes.
		return "", nil
	}
	alnum := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isASCIILetter(c) || isDigit(c):
			alnum = true
		case c == ' ' || c == '-':
		default:
			return "", Invalid(field, "must be 1 to %d letters, digits, spaces or hyphens", maxPostalLen)
		}
	}
	s = asciiUpper(strings.Join(strings.Fields(s), " "))
	if !alnum || len(s) > maxPostalLen {
		return "", Invalid(field, "must be 1 to %d letters, digits, spaces or hyphens", maxPostalLen)
	}
	return s, nil
}

// isZIP reports whether s is "12345" or "12345-6789".
func isZIP(s string) bool {
	if len(s) != 5 && len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 5 {
			if s[i] != '-' {
				return false
			}
			continue
		}
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool       { return '0' <= c && c <= '9' }
func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// asciiUpper upper-cases ASCII letters only. strings.ToUpper would also map
// look-alikes such as "ſ" (long s) to "S", letting non-ASCII input pass
// checks meant for ASCII codes.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
