package customer

import (
	"strings"
	"time"
)

// MinRetentionMonths and MaxRetentionMonths bound a TEMPORARY retention
// period, in calendar months (120 months is ten years).
const (
	MinRetentionMonths = 1
	MaxRetentionMonths = 120
)

// NewRetention checks a termination's retention input (fields
// retention.strategy and retention.period) and returns it in canonical form.
// strategy must be NO_RETENTION, TEMPORARY or INDEFINITE, spelled exactly.
// period is required for TEMPORARY, from MinRetentionMonths to
// MaxRetentionMonths. For NO_RETENTION and INDEFINITE the period is accepted
// and ignored, whatever its value, even out of range or negative: the spec's
// own example sends period: 12 with NO_RETENTION, and a value that means
// nothing cannot be wrong. The result's Period is 0 unless TEMPORARY.
func NewRetention(strategy string, period *int) (Retention, error) {
	const expect = "one of NO_RETENTION, TEMPORARY or INDEFINITE"
	switch s := Strategy(strategy); s {
	case NoRetention, Indefinite:
		return Retention{Strategy: s}, nil
	case Temporary:
		if period == nil {
			return Retention{}, Invalid("retention.period", "is required for TEMPORARY: a number of months from %d to %d",
				MinRetentionMonths, MaxRetentionMonths)
		}
		if *period < MinRetentionMonths || *period > MaxRetentionMonths {
			return Retention{}, Invalid("retention.period", "must be a number of months from %d to %d for TEMPORARY, got %d",
				MinRetentionMonths, MaxRetentionMonths, *period)
		}
		return Retention{Strategy: Temporary, Period: *period}, nil
	case "":
		return Retention{}, Invalid("retention.strategy", "is required: %s", expect)
	}
	if up := Strategy(strings.ToUpper(strings.TrimSpace(strategy))); up == NoRetention || up == Temporary || up == Indefinite {
		return Retention{}, Invalid("retention.strategy", "must be %s, spelled exactly in upper case", expect)
	}
	return Retention{}, Invalid("retention.strategy", "must be %s", expect)
}

// DestroyAt returns when the customer's encryption key is to be destroyed,
// in UTC, for a customer terminated at terminatedAt: at once for
// NO_RETENTION; Period calendar months later for TEMPORARY, on the same day
// of the month and at the same time of day, or on the last day of the
// target month when it is shorter (31 January + 1 month = 28 or 29
// February). ok is false when the key is to be kept: for INDEFINITE, and
// for any Retention NewRetention would not have returned (an unknown
// strategy, a TEMPORARY period out of range), because a key destroyed by
// mistake cannot come back while a kept one can still be destroyed once
// the record is fixed.
func (r Retention) DestroyAt(terminatedAt time.Time) (at time.Time, ok bool) {
	switch r.Strategy {
	case NoRetention:
		return terminatedAt.UTC(), true
	case Temporary:
		if r.Period < MinRetentionMonths || r.Period > MaxRetentionMonths {
			return time.Time{}, false
		}
		return addMonthsClamped(terminatedAt.UTC(), r.Period), true
	}
	return time.Time{}, false
}

// addMonthsClamped adds months to t, clamping the day to the end of the
// target month. time.Time.AddDate would instead overflow into the next
// month (31 January + 1 month = 3 March), keeping the key too long.
func addMonthsClamped(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	target := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, time.UTC) // normalises the month into a year
	ty, tm, _ := target.Date()
	lastDay := time.Date(ty, tm+1, 0, 0, 0, 0, 0, time.UTC).Day()
	hh, mm, ss := t.Clock()
	return time.Date(ty, tm, min(d, lastDay), hh, mm, ss, t.Nanosecond(), time.UTC)
}
