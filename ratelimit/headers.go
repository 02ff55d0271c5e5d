package ratelimit

import (
	"strconv"
	"time"
)

// seconds rounds d up to whole seconds, at least 0.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Header is one HTTP response header.
type Header struct{ Key, Value string }

// Headers returns the rate-limit headers for the decisions made about one request:
// RateLimit-Policy and RateLimit (IETF draft, one item per limit), X-RateLimit-Limit,
// -Remaining and -Reset for the most constrained limit, and Retry-After when denied.
func Headers(ds ...Decision) []Header {
	var policy, state []byte
	var worst *Decision
	for i := range ds {
		d := &ds[i]
		if d.Rate.IsZero() {
			continue
		}
		if len(policy) > 0 {
			policy = append(policy, ", "...)
			state = append(state, ", "...)
		}
		policy = strconv.AppendQuote(policy, d.Name)
		policy = append(policy, ";q="...)
		policy = strconv.AppendInt(policy, int64(d.Rate.Count), 10)
		policy = append(policy, ";w="...)
		policy = strconv.AppendInt(policy, int64(d.Rate.Period/time.Second), 10)
		state = strconv.AppendQuote(state, d.Name)
		state = append(state, ";r="...)
		state = strconv.AppendInt(state, int64(d.Remaining), 10)
		state = append(state, ";t="...)
		state = strconv.AppendInt(state, d.wait(), 10)
		if worst == nil || (!d.Allowed && worst.Allowed) || (d.Allowed == worst.Allowed && d.Remaining < worst.Remaining) {
			worst = d
		}
	}
	if worst == nil {
		return nil
	}
	h := []Header{
		{"RateLimit-Policy", string(policy)},
		{"RateLimit", string(state)},
		{"X-RateLimit-Limit", strconv.Itoa(worst.Rate.Count)},
		{"X-RateLimit-Remaining", strconv.Itoa(worst.Remaining)},
		{"X-RateLimit-Reset", strconv.FormatInt(worst.wait(), 10)},
	}
	if !worst.Allowed {
		h = append(h, Header{"Retry-After", strconv.FormatInt(worst.wait(), 10)})
	}
	return h
}

// wait is the t of the RateLimit header: seconds until a request passes again when denied,
// else until the limit is back to its full burst.
func (d *Decision) wait() int64 {
	if !d.Allowed {
		return max(1, seconds(d.RetryAfter))
	}
	return seconds(d.ResetAfter)
}
