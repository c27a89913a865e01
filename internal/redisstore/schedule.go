package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// keyScheduleKey is the key destruction schedule: one sorted set of
// customer ids scored by when their key is due for destruction, in Unix
// milliseconds. It is the only retention key outside a customer's hash
// tag; every script below touches it alone, so it works on Redis Cluster.
const keyScheduleKey = "retention:schedule"

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

func scoreTime(score string) time.Time {
	f, err := strconv.ParseFloat(score, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(int64(f)).UTC()
}

// ScheduleKeyDestruction adds the customer's key to the schedule, due at
// at. An entry that is already there (scheduled or claimed) is left alone,
// so a redelivered termination neither moves the date nor breaks a claim.
func (s *Store) ScheduleKeyDestruction(ctx context.Context, customerID string, at time.Time) error {
	err := s.rdb.ZAddNX(ctx, keyScheduleKey, redis.Z{Score: float64(dueScore(at)), Member: customerID}).Err()
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

// settleScript removes the entry ARGV[1] (ARGV[3] empty) or sets its
// score to ARGV[3], only if its score is still the lease ARGV[2]; it
// returns 1 if it did, 0 if the claim was lost.
var settleScript = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
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
	for i := 0; i+1 < len(res); i += 2 {
		claims = append(claims, Claim{CustomerID: res[i], Due: scoreTime(res[i+1]), due: res[i+1], lease: ls})
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
	return Claim{CustomerID: customerID, Due: scoreTime(due), due: due, lease: ls}, true, nil
}

// CompleteKeyDestruction removes a claimed entry: the key is destroyed and
// recorded. ok is false when the claim had been lost (its lease ran out
// and another replica took the entry), in which case nothing changed.
func (s *Store) CompleteKeyDestruction(ctx context.Context, c Claim) (ok bool, err error) {
	return s.settle(ctx, c, "")
}

// ReleaseKeyDestruction gives a claimed entry back unchanged, due when it
// was before the claim, so the next sweep (of any replica) retries it.
func (s *Store) ReleaseKeyDestruction(ctx context.Context, c Claim) (ok bool, err error) {
	return s.settle(ctx, c, c.due)
}

// PostponeKeyDestruction gives a claimed entry back due at at, or when it
// was due before the claim if that is later: an entry is never made due
// earlier.
func (s *Store) PostponeKeyDestruction(ctx context.Context, c Claim, at time.Time) (ok bool, err error) {
	score := strconv.FormatInt(dueScore(at), 10)
	if old, err := strconv.ParseFloat(c.due, 64); err == nil && old > float64(dueScore(at)) {
		score = c.due
	}
	return s.settle(ctx, c, score)
}

func (s *Store) settle(ctx context.Context, c Claim, score string) (bool, error) {
	if c.lease == "" {
		return false, fmt.Errorf("settle key destruction of %s: not a claim", c.CustomerID)
	}
	n, err := settleScript.Run(ctx, s.rdb, []string{keyScheduleKey}, c.CustomerID, c.lease, score).Int()
	if err != nil {
		return false, fmt.Errorf("settle key destruction of %s: %w", c.CustomerID, err)
	}
	return n == 1, nil
}
