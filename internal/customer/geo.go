package customer

import "strings"

// The tables below are data, not logic: they change when ISO or Canada Post
// change, and a reviewer should be able to check them against the source at
// a glance.

// assignedCountries holds every officially assigned ISO 3166-1 alpha-2 code
// (249 codes, ISO 3166 Maintenance Agency). Exceptionally reserved codes
// (UK, EU, …) and user-assigned ones (XK for Kosovo, …) are left out on
// purpose: an address must name a country every downstream system knows.
var assignedCountries = codeSet(
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ",
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ",
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ",
	"DE DJ DK DM DO DZ",
	"EC EE EG EH ER ES ET",
	"FI FJ FK FM FO FR",
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY",
	"HK HM HN HR HT HU",
	"ID IE IL IM IN IO IQ IR IS IT",
	"JE JM JO JP",
	"KE KG KH KI KM KN KP KR KW KY KZ",
	"LA LB LC LI LK LR LS LT LU LV LY",
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ",
	"NA NC NE NF NG NI NL NO NP NR NU NZ",
	"OM",
	"PA PE PF PG PH PK PL PM PN PR PS PT PW PY",
	"QA",
	"RE RO RS RU RW",
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ",
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ",
	"UA UG UM US UY UZ",
	"VA VC VE VG VI VN VU",
	"WF WS",
	"YE YT",
	"ZA ZM ZW",
)

// countryHints names the right code for reserved codes people commonly type.
var countryHints = map[string]string{
	"UK": "use GB for the United Kingdom",
	"EU": "use the member state's code, such as FR or DE",
}

// Country codes whose addresses get province and postal-code checks.
const (
	countryCanada       = "CA"
	countryUnitedStates = "US"
)

// caPostalPrefixes maps each Canadian province and territory to the first
// letters of its postal codes (Canada Post's forward sortation areas).
// NT and NU share X; telling them apart needs the full FSA (X0A–X0C are
// Nunavut), which we do not check.
var caPostalPrefixes = map[string]string{
	"AB": "T",
	"BC": "V",
	"MB": "R",
	"NB": "E",
	"NL": "A",
	"NS": "B",
	"NT": "X",
	"NU": "X",
	"ON": "KLMNP",
	"PE": "C",
	"QC": "GHJ",
	"SK": "S",
	"YT": "Y",
}

// caProvinceList is the message form of the Canadian codes.
const caProvinceList = "AB, BC, MB, NB, NL, NS, NT, NU, ON, PE, QC, SK, YT"

// usProvinces holds the USPS codes accepted as a US "province": the 50
// states, DC, the inhabited territories plus the Minor Outlying Islands,
// and the three military "states" used for APO/FPO/DPO mail.
var usProvinces = codeSet(
	"AK AL AR AZ CA CO CT DE FL GA HI IA ID IL IN KS KY LA MA MD ME MI MN MO MS MT",
	"NC ND NE NH NJ NM NV NY OH OK OR PA RI SC SD TN TX UT VA VT WA WI WV WY",
	"DC",
	"AS GU MP PR VI UM",
	"AA AE AP",
)

// caPostalForbidden are letters Canada Post never uses in postal codes,
// because they are easily confused with digits or each other in OCR and
// handwriting; caPostalForbiddenFirst may additionally not lead one.
const (
	caPostalForbidden      = "DFIOQU"
	caPostalForbiddenFirst = "WZ"
)

func codeSet(rows ...string) map[string]struct{} {
	set := make(map[string]struct{})
	for _, row := range rows {
		for _, code := range strings.Fields(row) {
			set[code] = struct{}{}
		}
	}
	return set
}

// letterList returns letters as a message list: "K, L, M, N or P".
func letterList(letters string) string {
	if len(letters) == 1 {
		return letters
	}
	parts := strings.Split(letters, "")
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}
