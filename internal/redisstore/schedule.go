package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// keyScheduleKey is the key destruction schedule: one sorted set of
// customer ids scored by when their key is due for destruction, in Unix
// milliseconds. Claims and postponements move an entry's score; see
// keyDueKey for the date that does not move.
const keyScheduleKey = "retention:schedule"

// keyDueKey holds the same members as keyScheduleKey, scored by when each
// key became due, whatever happened to the entry since (claimed, given
// back, postponed after a failure): it is what tells how long a
// destruction is overdue. Its hash tag is the schedule's whole name, so
// both are in one Redis Cluster slot and one script may change both.
// These two are the only retention keys outside a customer's hash tag.
const keyDueKey = "{retention:schedule}:due"

// Claim is one schedule entry taken by a retention replica. While claimed,
// the entry's score is the claim's lease (a time in the future, made
// unique by a random fraction of a millisecond), so no other replica sees
// it as due until the lease runs out.
type Claim struct {
	// CustomerID is the customer whose key is due.
	CustomerID string
	// Due is the entry's score before the claim: when it became due, or
	// when an abandoned claim's lease ran out.
	Due time.Time

	due   string // the score before the claim, exactly as stored
	lease string // the score while claimed
}

// dueScore is the score of a destruction due at t: t rounded up to the
// millisecond, so that score <= now (rounded down) never holds before t.
func dueScore(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// nowScore is now rounded down to the millisecond.
func nowScore(now time.Time) int64 { return now.UnixMilli() }

// leaseScore is the score that marks an entry claimed until now+lease.
func leaseScore(now time.Time, lease time.Duration) string {
	ms := float64(now.Add(lease).UnixMilli()) + float64(1+rand.IntN(1023))/1024
	return strconv.FormatFloat(ms, 'f', -1, 64)
}

// scoreTime reads a score as Redis gives it back. A score that does not
// parse is an error, never the zero time: the zero time would read as
// "due long ago".
func scoreTime(score string) (time.Time, error) {
	f, err := strconv.ParseFloat(score, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, fmt.Errorf("schedule score %q is not a time", score)
	}
	return time.UnixMilli(int64(f)).UTC(), nil
}

// scheduleScript adds ARGV[2] due at ARGV[1] to the schedule (KEYS[1])
// and to the due dates (KEYS[2]), each only where it is not there yet.
// When both have it already, its due date is removed and added again as
// it is: a write, which the WAIT after the script then covers.
var scheduleScript = redis.NewScript(`
local added = redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2])
added = added + redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[2])
if added == 0 then
  local due = redis.call('ZSCORE', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[2], due, ARGV[2])
end
return 1
`)

// ScheduleKeyDestruction adds the customer's key to the schedule, due at
// at. An entry that is already there (scheduled or claimed) is left alone,
// so a redelivered termination neither moves the date nor breaks a claim.
func (s *Store) ScheduleKeyDestruction(ctx context.Context, customerID string, at time.Time) error {
	err := s.runScript(ctx, scheduleScript, []string{keyScheduleKey, keyDueKey}, dueScore(at), customerID).Err()
	if err != nil {
		return fmt.Errorf("schedule key destruction of %s: %w", customerID, err)
	}
	return nil
}

// KeyDestructionEntry returns the customer's schedule entry's score as a
// time (the due time, or the lease of a claimed entry); ok is false when
// the customer has no entry.
func (s *Store) KeyDestructionEntry(ctx context.Context, customerID string) (at time.Time, ok bool, err error) {
	f, err := s.rdb.ZScore(ctx, keyScheduleKey, customerID).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read schedule entry of %s: %w", customerID, err)
	}
	return time.UnixMilli(int64(f)).UTC(), true, nil
}

// KeyDestructionsScheduled returns how many entries the schedule holds,
// due or not, claimed or not.
func (s *Store) KeyDestructionsScheduled(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, keyScheduleKey).Result()
	if err != nil {
		return 0, fmt.Errorf("count schedule entries: %w", err)
	}
	return n, nil
}

// claimDueScript claims up to ARGV[3] entries due at ARGV[1] by setting
// their score to the lease ARGV[2]; it returns {member, old score, ...}.
var claimDueScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], due[i])
end
return due
`)

// claimOneScript claims the entry ARGV[1] if it is due at ARGV[2], setting
// its score to the lease ARGV[3]; it returns the old score, or nil.
var claimOneScript = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) > tonumber(ARGV[2]) then return false end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
return s
`)

// settleScript removes the entry ARGV[1] from the schedule (KEYS[1]) and
// the due dates (KEYS[2]) (ARGV[3] empty) or sets its score to ARGV[3]
// (and its due date to ARGV[4] unless that is empty), only if its score is
// still the lease ARGV[2]; it returns 1 if it did, 0 if the claim was lost.
var settleScript = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
  if ARGV[4] ~= '' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1]) end
end
return 1
`)

// ClaimDueKeyDestructions claims up to limit entries that are due at now
// (their due time is not after now), oldest first, for lease. Claiming is
// atomic: of several replicas claiming at once, each entry goes to one.
// An entry whose claim was abandoned (its replica died) is due again once
// its lease has run out.
func (s *Store) ClaimDueKeyDestructions(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Claim, error) {
	ls := leaseScore(now, lease)
	res, err := claimDueScript.Run(ctx, s.rdb, []string{keyScheduleKey}, nowScore(now), ls, limit).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim due key destructions: %w", err)
	}
	claims := make([]Claim, 0, len(res)/2)
	var bad []error
	for i := 0; i+1 < len(res); i += 2 {
		due, err := scoreTime(res[i+1])
		if err != nil {
			// Left claimed: it comes back when the lease runs out, and
			// nobody acts on a date that cannot be read.
			bad = append(bad, err)
			continue
		}
		claims = append(claims, Claim{CustomerID: res[i], Due: due, due: res[i+1], lease: ls})
	}
	if len(bad) > 0 {
		return claims, fmt.Errorf("claim due key destructions: %w", errors.Join(bad...))
	}
	return claims, nil
}

// ClaimKeyDestruction claims the customer's entry if it is due at now; ok
// is false when there is no entry, it is not due yet, or another replica
// holds it.
func (s *Store) ClaimKeyDestruction(ctx context.Context, customerID string, now time.Time, lease time.Duration) (c Claim, ok bool, err error) {
	ls := leaseScore(now, lease)
	due, err := claimOneScript.Run(ctx, s.rdb, []string{keyScheduleKey}, customerID, nowScore(now), ls).Text()
	if errors.Is(err, redis.Nil) {
		return Claim{}, false, nil
	}
	if err != nil {
		return Claim{}, false, fmt.Errorf("claim key destruction of %s: %w", customerID, err)
	}
	at, err := scoreTime(due)
	if err != nil {
		return Claim{}, false, fmt.Errorf("claim key destruction of %s: %w", customerID, err)
	}
	return Claim{CustomerID: customerID, Due: at, due: due, lease: ls}, true, nil
}

// CompleteKeyDestruction removes a claimed entry: the key is destroyed and
// recorded. ok is false when the claim had been lost (its lease ran out
// and another replica took the entry), in which case nothing changed.
func (s *Store) CompleteKeyDestruction(ctx context.Context, c Claim) (ok bool, err error) {
	return s.settle(ctx, c, "", "")
}

// ReleaseKeyDestruction gives a claimed entry back unchanged, due when it
// was before the claim, so the next sweep (of any replica) retries it.
func (s *Store) ReleaseKeyDestruction(ctx context.Context, c Claim) (ok bool, err error) {
	return s.settle(ctx, c, c.due, "")
}

// PostponeKeyDestruction gives a claimed entry back due at at, or when it
// was due before the claim if that is later: an entry is never made due
// earlier. The date it became due stays (the destruction is overdue all
// the same).
func (s *Store) PostponeKeyDestruction(ctx context.Context, c Claim, at time.Time) (ok bool, err error) {
	return s.settle(ctx, c, laterScore(c, at), "")
}

// RescheduleKeyDestruction gives a claimed entry back due at at (never
// earlier than before the claim), and makes at the date it becomes due:
// for an entry found due earlier than the key record says it is.
func (s *Store) RescheduleKeyDestruction(ctx context.Context, c Claim, at time.Time) (ok bool, err error) {
	score := laterScore(c, at)
	return s.settle(ctx, c, score, score)
}

// laterScore is the score of at, or the claim's score before it was
// claimed if that is later.
func laterScore(c Claim, at time.Time) string {
	score := strconv.FormatInt(dueScore(at), 10)
	if old, err := strconv.ParseFloat(c.due, 64); err == nil && old > float64(dueScore(at)) {
		score = c.due
	}
	return score
}

func (s *Store) settle(ctx context.Context, c Claim, score, due string) (bool, error) {
	if c.lease == "" {
		return false, fmt.Errorf("settle key destruction of %s: not a claim", c.CustomerID)
	}
	n, err := s.runScript(ctx, settleScript, []string{keyScheduleKey, keyDueKey}, c.CustomerID, c.lease, score, due).Int()
	if err != nil {
		return false, fmt.Errorf("settle key destruction of %s: %w", c.CustomerID, err)
	}
	return n == 1, nil
}

// Overdue is what the schedule holds past its due date: destructions that
// are due and not done (failing, postponed, claimed by a replica that is
// working on them or died, or unreadable).
type Overdue struct {
	// Count is how many destructions are overdue.
	Count int64
	// Oldest is when the longest-overdue one became due; zero when Count
	// is 0.
	Oldest time.Time
}

// overdueBatch bounds the work of one overdueScript or backfillDueScript run.
const overdueBatch = 1000

// overdueScript counts the due dates (KEYS[2]) not after ARGV[1] and
// returns {count, oldest score or an empty string}. First it drops up to ARGV[2] of the
// oldest of them whose member is no longer in the schedule (KEYS[1]),
// which is the authority on what is left to do.
var overdueScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #due do
  if not redis.call('ZSCORE', KEYS[1], due[i]) then redis.call('ZREM', KEYS[2], due[i]) end
end
local n = redis.call('ZCOUNT', KEYS[2], '-inf', ARGV[1])
local oldest = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, 1)
return {n, oldest[2] or ''}
`)

// backfillDueScript gives the schedule (KEYS[1]) entries ARGV[1] to
// ARGV[2] (by rank) a due date (KEYS[2]) where they have none, taken from
// their schedule score; it returns how many entries it read.
var backfillDueScript = redis.NewScript(`
local e = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
for i = 1, #e, 2 do redis.call('ZADD', KEYS[2], 'NX', e[i + 1], e[i]) end
return #e / 2
`)

// KeyDestructionsOverdue returns the destructions that are due at now and
// not done. Schedule entries written before due dates were kept get one
// first, taken from their schedule score (for an entry claimed or
// postponed at that moment, a date later than the true one).
func (s *Store) KeyDestructionsOverdue(ctx context.Context, now time.Time) (Overdue, error) {
	if err := s.backfillDue(ctx); err != nil {
		return Overdue{}, err
	}
	res, err := overdueScript.Run(ctx, s.rdb, []string{keyScheduleKey, keyDueKey}, nowScore(now), overdueBatch).Slice()
	if err != nil {
		return Overdue{}, fmt.Errorf("count overdue key destructions: %w", err)
	}
	if len(res) != 2 {
		return Overdue{}, errors.New("count overdue key destructions: unexpected script answer")
	}
	n, _ := res[0].(int64)
	out := Overdue{Count: n}
	if score, _ := res[1].(string); score != "" {
		if out.Oldest, err = scoreTime(score); err != nil {
			return Overdue{}, fmt.Errorf("count overdue key destructions: %w", err)
		}
	}
	return out, nil
}

// backfillDue gives every schedule entry a due date, when some have none.
func (s *Store) backfillDue(ctx context.Context) error {
	scheduled, err := s.rdb.ZCard(ctx, keyScheduleKey).Result()
	if err != nil {
		return fmt.Errorf("count schedule entries: %w", err)
	}
	dated, err := s.rdb.ZCard(ctx, keyDueKey).Result()
	if err != nil {
		return fmt.Errorf("count due dates: %w", err)
	}
	if dated >= scheduled {
		return nil
	}
	for start := int64(0); ; start += overdueBatch {
		n, err := backfillDueScript.Run(ctx, s.rdb, []string{keyScheduleKey, keyDueKey}, start, start+overdueBatch-1).Int64()
		if err != nil {
			return fmt.Errorf("backfill due dates: %w", err)
		}
		if n < overdueBatch {
			return nil
		}
	}
}

// ScheduledDestruction is one entry of the key destruction schedule, as
// `textkit keys due` shows it.
type ScheduledDestruction struct {
	// CustomerID is the customer whose key the entry destroys.
	CustomerID string
	// Due is when the key became (or becomes) due, whatever happened to
	// the entry since; zero for an entry written before due dates were
	// kept.
	Due time.Time
	// Next is the entry's schedule score as a time: the due time, a
	// postponement after a failure, or a claim's lease.
	Next time.Time
	// Claimed says a retention replica holds the entry now (Next is its
	// lease).
	Claimed bool
}

// ScheduledKeyDestructions returns up to limit schedule entries whose
// score is not after until, soonest first.
func (s *Store) ScheduledKeyDestructions(ctx context.Context, until time.Time, limit int) ([]ScheduledDestruction, error) {
	zs, err := s.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
		Key: keyScheduleKey, Start: "-inf", Stop: strconv.FormatInt(until.UnixMilli(), 10),
		ByScore: true, Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("read schedule: %w", err)
	}
	out := make([]ScheduledDestruction, 0, len(zs))
	for _, z := range zs {
		id, _ := z.Member.(string)
		e := ScheduledDestruction{CustomerID: id, Next: time.UnixMilli(int64(z.Score)).UTC(), Claimed: z.Score != math.Trunc(z.Score)}
		due, err := s.rdb.ZScore(ctx, keyDueKey, id).Result()
		switch {
		case err == nil:
			e.Due = time.UnixMilli(int64(due)).UTC()
		case !errors.Is(err, redis.Nil):
			return nil, fmt.Errorf("read due date of %s: %w", id, err)
		}
		out = append(out, e)
	}
	return out, nil
}
