// Package ratelimit decides whether an event may happen, by GCRA limits and fixed-window quotas
// whose state lives in Redis and is shared by every process that uses the same Redis.
//
// It holds the algorithm, rates, quotas, decisions and the rate-limit headers and answers they
// imply, and nothing of a transport: it imports no HTTP server, no Redis client and no pool.
// A Limiter reaches Redis through a Store: poolstore (redisgate's pool), goredisstore (a go-redis
// v9 client) or lambda/rest (redisgate's REST API). Middleware lives in httplimit (net/http)
// and fastlimit (fasthttp); client addresses behind proxies in clientip.
//
// Every decision asks Redis within Options.Timeout; when Redis cannot answer in time the
// decision carries the error and follows the fail-open or fail-closed policy.
package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a GCRA limit: Count events per Period on average, up to Burst at once.
type Rate struct {
	Count  int
	Period time.Duration
	Burst  int
}

// PerSecond returns a rate of n events a second with a burst of n.
func PerSecond(n int) Rate { return Rate{Count: n, Period: time.Second, Burst: n} }

// IsZero reports whether r is the zero Rate, meaning no limit.
func (r Rate) IsZero() bool { return r == Rate{} }

var units = []struct {
	name string
	d    time.Duration
}{{"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}

// ParseRate parses COUNT/UNIT[:BURST] with UNIT one of s, m, h, d or a duration:
// "10/s", "600/m:50", "10000/d", "1/5s".
// The burst defaults to COUNT.
func ParseRate(s string) (Rate, error) {
	spec, burst, hasBurst := strings.Cut(strings.TrimSpace(s), ":")
	count, unit, ok := strings.Cut(spec, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: want COUNT/UNIT[:BURST], e.g. 10/s or 600/m:50", s)
	}
	var r Rate
	var err error
	if r.Count, err = strconv.Atoi(count); err != nil || r.Count < 1 {
		return Rate{}, fmt.Errorf("rate %q: count must be a positive integer", s)
	}
	for _, u := range units {
		if unit == u.name {
			r.Period = u.d
		}
	}
	if r.Period == 0 {
		if d, err := time.ParseDuration(unit); err == nil && d >= time.Millisecond {
			r.Period = d
		} else {
			return Rate{}, fmt.Errorf("rate %q: unit must be s, m, h, d or a duration such as 5s", s)
		}
	}
	r.Burst = r.Count
	if hasBurst {
		if r.Burst, err = strconv.Atoi(burst); err != nil || r.Burst < 1 {
			return Rate{}, fmt.Errorf("rate %q: burst must be a positive integer", s)
		}
	}
	if r.Period.Microseconds() < int64(r.Count) {
		return Rate{}, fmt.Errorf("rate %q: more than one event per microsecond", s)
	}
	return r, nil
}

// String formats r as ParseRate reads it.
func (r Rate) String() string {
	if r.IsZero() {
		return ""
	}
	unit := r.Period.String()
	for _, u := range units {
		if r.Period == u.d {
			unit = u.name
		}
	}
	return fmt.Sprintf("%d/%s:%d", r.Count, unit, r.Burst)
}

// UnmarshalText reads a rate in ParseRate's form, as in a config file; empty text (or only
// spaces) is the zero Rate, no limit, as String writes it.
func (r *Rate) UnmarshalText(b []byte) error {
	if strings.TrimSpace(string(b)) == "" {
		*r = Rate{}
		return nil
	}
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// interval is the GCRA emission interval in microseconds, rounded to the nearest.
func (r Rate) interval() int64 {
	return (r.Period.Microseconds() + int64(r.Count)/2) / int64(r.Count)
}

// ErrUnavailable reports that the limiter's Redis could not decide in time.
var ErrUnavailable = errors.New("rate limiter unavailable")
