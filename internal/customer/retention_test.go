package customer

import (
	"testing"
	"time"
)

func TestNewRetention(t *testing.T) {
	tests := []struct {
		name      string
		strategy  string
		period    *int
		want      Retention
		wantField string // "" means valid
		wantMsg   string
	}{
		{name: "spec example: NO_RETENTION with period 12", strategy: "NO_RETENTION", period: ptr(12),
			want: Retention{Strategy: NoRetention}},
		{name: "NO_RETENTION without period", strategy: "NO_RETENTION", want: Retention{Strategy: NoRetention}},
		{name: "NO_RETENTION ignores a negative period", strategy: "NO_RETENTION", period: ptr(-5),
			want: Retention{Strategy: NoRetention}},
		{name: "NO_RETENTION ignores a huge period", strategy: "NO_RETENTION", period: ptr(1000),
			want: Retention{Strategy: NoRetention}},
		{name: "INDEFINITE without period", strategy: "INDEFINITE", want: Retention{Strategy: Indefinite}},
		{name: "INDEFINITE ignores the period", strategy: "INDEFINITE", period: ptr(12),
			want: Retention{Strategy: Indefinite}},
		{name: "INDEFINITE ignores a zero period", strategy: "INDEFINITE", period: ptr(0),
			want: Retention{Strategy: Indefinite}},
		{name: "TEMPORARY 1 month", strategy: "TEMPORARY", period: ptr(1),
			want: Retention{Strategy: Temporary, Period: 1}},
		{name: "TEMPORARY 12 months", strategy: "TEMPORARY", period: ptr(12),
			want: Retention{Strategy: Temporary, Period: 12}},
		{name: "TEMPORARY 120 months", strategy: "TEMPORARY", period: ptr(120),
			want: Retention{Strategy: Temporary, Period: 120}},
		{name: "TEMPORARY without period", strategy: "TEMPORARY",
			wantField: "retention.period", wantMsg: "is required for TEMPORARY: a number of months from 1 to 120"},
		{name: "TEMPORARY 0 months", strategy: "TEMPORARY", period: ptr(0),
			wantField: "retention.period", wantMsg: "from 1 to 120 for TEMPORARY, got 0"},
		{name: "TEMPORARY negative", strategy: "TEMPORARY", period: ptr(-1),
			wantField: "retention.period", wantMsg: "got -1"},
		{name: "TEMPORARY 121 months", strategy: "TEMPORARY", period: ptr(121),
			wantField: "retention.period", wantMsg: "got 121"},
		{name: "strategy missing", strategy: "", period: ptr(12),
			wantField: "retention.strategy", wantMsg: "is required: one of NO_RETENTION, TEMPORARY or INDEFINITE"},
		{name: "strategy unknown", strategy: "DELETE",
			wantField: "retention.strategy", wantMsg: "must be one of NO_RETENTION, TEMPORARY or INDEFINITE"},
		{name: "strategy lower case", strategy: "temporary", period: ptr(12),
			wantField: "retention.strategy", wantMsg: "spelled exactly in upper case"},
		{name: "strategy with spaces", strategy: " INDEFINITE ",
			wantField: "retention.strategy", wantMsg: "spelled exactly"},
		{name: "strategy malformed UTF-8", strategy: "TEMPORARY\xff",
			wantField: "retention.strategy", wantMsg: "one of NO_RETENTION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewRetention(tt.strategy, tt.period)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("NewRetention error = %v, want nil", err)
				}
				if got != tt.want {
					t.Errorf("NewRetention = %+v, want %+v", got, tt.want)
				}
				return
			}
			_ = checkInvalid(t, err, tt.wantField, tt.wantMsg)
			if got != (Retention{}) {
				t.Errorf("NewRetention = %+v with an error, want the zero Retention", got)
			}
		})
	}
}

func TestRetentionDestroyAt(t *testing.T) {
	date := func(y int, m time.Month, d, hh, mm, ss, ns int) time.Time {
		return time.Date(y, m, d, hh, mm, ss, ns, time.UTC)
	}
	// A fixed zone, so the test needs no tz database.
	toronto := time.FixedZone("EST", -5*60*60)
	temporary := func(months int) Retention { return Retention{Strategy: Temporary, Period: months} }
	tests := []struct {
		name       string
		r          Retention
		terminated time.Time
		want       time.Time
		wantOK     bool
	}{
		{"NO_RETENTION: at termination", Retention{Strategy: NoRetention},
			date(2025, 3, 14, 15, 9, 26, 535), date(2025, 3, 14, 15, 9, 26, 535), true},
		{"NO_RETENTION: in UTC", Retention{Strategy: NoRetention},
			time.Date(2025, 3, 14, 10, 0, 0, 0, toronto), date(2025, 3, 14, 15, 0, 0, 0), true},
		{"INDEFINITE: kept", Retention{Strategy: Indefinite}, date(2025, 1, 1, 0, 0, 0, 0), time.Time{}, false},
		{"TEMPORARY: same day next month", temporary(1),
			date(2025, 3, 14, 15, 9, 26, 535), date(2025, 4, 14, 15, 9, 26, 535), true},
		{"TEMPORARY: Jan 31 + 1 clamps to Feb 28", temporary(1),
			date(2025, 1, 31, 23, 59, 59, 999999999), date(2025, 2, 28, 23, 59, 59, 999999999), true},
		{"TEMPORARY: Jan 31 + 1 in a leap year is Feb 29", temporary(1),
			date(2024, 1, 31, 8, 0, 0, 0), date(2024, 2, 29, 8, 0, 0, 0), true},
		{"TEMPORARY: Jan 29 + 1 in a common year clamps", temporary(1),
			date(2025, 1, 29, 0, 0, 0, 0), date(2025, 2, 28, 0, 0, 0, 0), true},
		{"TEMPORARY: 2100 is not a leap year", temporary(1),
			date(2100, 1, 31, 0, 0, 0, 0), date(2100, 2, 28, 0, 0, 0, 0), true},
		{"TEMPORARY: 2000 was a leap year", temporary(1),
			date(2000, 1, 30, 0, 0, 0, 0), date(2000, 2, 29, 0, 0, 0, 0), true},
		{"TEMPORARY: Feb 29 + 12 is Feb 28", temporary(12),
			date(2024, 2, 29, 12, 0, 0, 0), date(2025, 2, 28, 12, 0, 0, 0), true},
		{"TEMPORARY: Feb 29 + 48 is Feb 29", temporary(48),
			date(2024, 2, 29, 12, 0, 0, 0), date(2028, 2, 29, 12, 0, 0, 0), true},
		{"TEMPORARY: Feb 28 + 1 stays the 28th", temporary(1),
			date(2025, 2, 28, 0, 0, 0, 0), date(2025, 3, 28, 0, 0, 0, 0), true},
		{"TEMPORARY: Mar 31 + 1 clamps to Apr 30", temporary(1),
			date(2025, 3, 31, 6, 30, 0, 0), date(2025, 4, 30, 6, 30, 0, 0), true},
		{"TEMPORARY: Aug 31 + 1 clamps to Sep 30", temporary(1),
			date(2025, 8, 31, 0, 0, 0, 0), date(2025, 9, 30, 0, 0, 0, 0), true},
		{"TEMPORARY: Dec 15 + 1 is next January", temporary(1),
			date(2025, 12, 15, 10, 0, 0, 0), date(2026, 1, 15, 10, 0, 0, 0), true},
		{"TEMPORARY: Dec 31 + 2 clamps to next February", temporary(2),
			date(2025, 12, 31, 10, 0, 0, 0), date(2026, 2, 28, 10, 0, 0, 0), true},
		{"TEMPORARY: Nov 30 + 14 crosses a year", temporary(14),
			date(2025, 11, 30, 0, 0, 0, 0), date(2027, 1, 30, 0, 0, 0, 0), true},
		{"TEMPORARY: 12 months", temporary(12),
			date(2025, 6, 1, 0, 0, 0, 0), date(2026, 6, 1, 0, 0, 0, 0), true},
		{"TEMPORARY: 120 months", temporary(120),
			date(2025, 1, 15, 9, 45, 0, 0), date(2035, 1, 15, 9, 45, 0, 0), true},
		{"TEMPORARY: 120 months from Feb 29", temporary(120),
			date(2024, 2, 29, 0, 0, 0, 0), date(2034, 2, 28, 0, 0, 0, 0), true},
		{"TEMPORARY: calendar in UTC, not local", temporary(1),
			time.Date(2025, 1, 31, 22, 0, 0, 0, toronto), date(2025, 3, 1, 3, 0, 0, 0), true},
		{"TEMPORARY: period 0 is kept", temporary(0), date(2025, 1, 1, 0, 0, 0, 0), time.Time{}, false},
		{"TEMPORARY: period 121 is kept", temporary(121), date(2025, 1, 1, 0, 0, 0, 0), time.Time{}, false},
		{"unknown strategy is kept", Retention{Strategy: "DELETE"}, date(2025, 1, 1, 0, 0, 0, 0), time.Time{}, false},
		{"zero Retention is kept", Retention{}, date(2025, 1, 1, 0, 0, 0, 0), time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.r.DestroyAt(tt.terminated)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Fatalf("DestroyAt(%v) = %v, %t; want %v, %t", tt.terminated, got, ok, tt.want, tt.wantOK)
			}
			if ok && got.Location() != time.UTC {
				t.Errorf("DestroyAt location = %v, want UTC", got.Location())
			}
		})
	}
}

// TestRetentionDestroyAtEveryDay checks the calendar arithmetic for every
// day of a leap year and its neighbours and every allowed period: exactly
// Period months later, same day clamped to the month's end, same time.
func TestRetentionDestroyAtEveryDay(t *testing.T) {
	start := time.Date(2023, 1, 1, 13, 14, 15, 16, time.UTC)
	for day := start; day.Year() < 2026; day = day.AddDate(0, 0, 1) {
		for months := MinRetentionMonths; months <= MaxRetentionMonths; months++ {
			got, ok := Retention{Strategy: Temporary, Period: months}.DestroyAt(day)
			if !ok {
				t.Fatalf("DestroyAt(%v) for %d months not ok", day, months)
			}
			monthsBetween := (got.Year()-day.Year())*12 + int(got.Month()) - int(day.Month())
			lastDay := time.Date(got.Year(), got.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
			if monthsBetween != months || got.Day() != min(day.Day(), lastDay) {
				t.Fatalf("DestroyAt(%v) for %d months = %v", day, months, got)
			}
			if got.Hour() != 13 || got.Minute() != 14 || got.Second() != 15 || got.Nanosecond() != 16 {
				t.Fatalf("DestroyAt(%v) for %d months = %v, time of day changed", day, months, got)
			}
		}
	}
}
