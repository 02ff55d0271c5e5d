package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redisgate/redisgate/script"
)

// Quota caps the commands a user may run per calendar day and month (UTC); 0 means no cap.
type Quota struct {
	Daily   int64 `yaml:"daily"`
	Monthly int64 `yaml:"monthly"`
}

// IsZero reports whether q caps nothing.
func (q Quota) IsZero() bool { return q.Daily <= 0 && q.Monthly <= 0 }

// quotaScript charges n to both windows, or to neither when either would pass its cap.
// KEYS day, month; ARGV n, day cap, month cap, day ttl s, month ttl s (cap 0: none).
// Returns {charged 0/1, window that refused 0/1/2, least remaining}.
const quotaScript = `local n = tonumber(ARGV[1])
local least = -1
for i = 1, 2 do
  local cap = tonumber(ARGV[1 + i])
  if cap > 0 then
    local used = tonumber(redis.call('GET', KEYS[i]) or '0')
    if used + n > cap then return {0, i, cap - used} end
    if least < 0 or cap - used - n < least then least = cap - used - n end
  end
end
for i = 1, 2 do
  if tonumber(ARGV[1 + i]) > 0 then
    redis.call('INCRBY', KEYS[i], n)
    redis.call('EXPIRE', KEYS[i], ARGV[3 + i])
  end
end
return {1, 0, least}
`

var quotaHash = script.Hash([]byte(quotaScript))

// QuotaDecision is the outcome of charging a quota.
type QuotaDecision struct {
	Allowed bool
	// Window is "daily" or "monthly" when that window refused.
	Window string
	// Remaining is the least of the windows' remaining commands.
	Remaining int64
	// RetryAfter is how long until the refusing window starts anew.
	RetryAfter time.Duration
	// Err is set when Redis could not decide; Allowed then follows the failure policy.
	Err error
}

// quotaCache remembers keys whose quota window is used up, until the window ends.
type quotaCache struct {
	mu        sync.Mutex
	exhausted map[string]exhausted
}

type exhausted struct {
	until  time.Time
	window string
}

// Charge counts n commands against user's quota q, all or none.
func (l *Limiter) Charge(ctx context.Context, user string, q Quota, n int) QuotaDecision {
	if q.IsZero() {
		return QuotaDecision{Allowed: true, Remaining: -1}
	}
	now := time.Now().UTC()
	l.quotas.mu.Lock()
	if e, ok := l.quotas.exhausted[user]; ok {
		if now.Before(e.until) {
			l.quotas.mu.Unlock()
			return QuotaDecision{Window: e.window, RetryAfter: e.until.Sub(now)}
		}
		delete(l.quotas.exhausted, user)
	}
	l.quotas.mu.Unlock()

	dayEnd := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	monthEnd := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	// One script charges both keys: the braces put them in one Redis Cluster slot.
	tag := quotaTag(user)
	dayKey := l.opts.Prefix + "q:d:" + now.Format("20060102") + ":" + tag
	monthKey := l.opts.Prefix + "q:m:" + now.Format("200601") + ":" + tag
	ttl := func(end time.Time) string { return strconv.FormatInt(int64(end.Sub(now)/time.Second)+3600, 10) }
	rctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	vals, err := l.store.Eval(rctx, quotaScript, quotaHash, []string{dayKey, monthKey},
		strconv.Itoa(n), strconv.FormatInt(q.Daily, 10), strconv.FormatInt(q.Monthly, 10), ttl(dayEnd), ttl(monthEnd))
	cancel()
	if err == nil && len(vals) != 3 {
		err = fmt.Errorf("quota script returned %d values", len(vals))
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err != nil {
		d := l.failed(Decision{Name: "quota"}, err)
		return QuotaDecision{Allowed: d.Allowed, Err: err, Remaining: -1}
	}
	if vals[0] == 1 {
		return QuotaDecision{Allowed: true, Remaining: vals[2]}
	}
	d := QuotaDecision{Window: "daily", RetryAfter: dayEnd.Sub(now), Remaining: max(0, vals[2])}
	if vals[1] == 2 {
		d.Window, d.RetryAfter = "monthly", monthEnd.Sub(now)
	}
	if d.Remaining == 0 {
		// Nothing more can pass in this window: answer locally until it ends.
		l.quotas.mu.Lock()
		if l.quotas.exhausted == nil {
			l.quotas.exhausted = map[string]exhausted{}
		}
		l.quotas.exhausted[user] = exhausted{until: now.Add(d.RetryAfter), window: d.Window}
		l.quotas.mu.Unlock()
	}
	return d
}

// quotaTag returns the end of user's quota keys: "{user}", whose braces make it the key's
// Redis Cluster hash tag, so that a day's and a month's counters share a slot. A user that
// is empty or holds a brace would end the tag early, or make an empty one, which Redis does
// not count as a tag: the keys could then fall in two slots, and the script fail with
// CROSSSLOT. Such a user gets "{half its SHA-256 in hex}:" + user instead, still one end per
// user and never a plain user's: a plain end holds exactly one brace of each kind, this one
// either ends with ":" (no user) or holds more braces.
func quotaTag(user string) string {
	if user != "" && !strings.ContainsAny(user, "{}") {
		return "{" + user + "}"
	}
	sum := sha256.Sum256([]byte(user))
	return "{" + hex.EncodeToString(sum[:16]) + "}:" + user
}
