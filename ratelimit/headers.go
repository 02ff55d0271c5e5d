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

// Header names, spelled as in the IETF draft.
var (
	hPolicy     = []byte("RateLimit-Policy")
	hState      = []byte("RateLimit")
	hLimit      = []byte("X-RateLimit-Limit")
	hRemaining  = []byte("X-RateLimit-Remaining")
	hReset      = []byte("X-RateLimit-Reset")
	hRetryAfter = []byte("Retry-After")
)

// Headers returns the rate-limit headers for the decisions made about one request:
// RateLimit-Policy and RateLimit (IETF draft, one item per limit), X-RateLimit-Limit,
// -Remaining and -Reset for the most constrained limit, and Retry-After when denied.
func Headers(ds ...Decision) []Header {
	var h []Header
	var buf [256]byte
	EachHeader(buf[:0], func(k, v []byte) { h = append(h, Header{string(k), string(v)}) }, ds...)
	return h
}

// EachHeader calls set with each header Headers would return, building the values in
// scratch, without allocating when scratch is large enough (256 bytes for two limits). The
// key and value are valid only during the call to set; keys are in canonical form.
func EachHeader(scratch []byte, set func(key, value []byte), ds ...Decision) {
	worst := -1
	for i := range ds {
		d := &ds[i]
		if d.Rate.IsZero() {
			continue
		}
		if worst < 0 {
			worst = i
			continue
		}
		w := &ds[worst]
		if (!d.Allowed && w.Allowed) || (d.Allowed == w.Allowed && d.Remaining < w.Remaining) {
			worst = i
		}
	}
	if worst < 0 {
		return
	}
	v := appendItems(scratch, ds, true)
	set(hPolicy, v)
	v = appendItems(v[:0], ds, false)
	set(hState, v)
	w := &ds[worst]
	set(hLimit, strconv.AppendInt(v[:0], int64(w.Rate.Count), 10))
	set(hRemaining, strconv.AppendInt(v[:0], int64(w.Remaining), 10))
	set(hReset, strconv.AppendInt(v[:0], w.wait(), 10))
	if !w.Allowed {
		set(hRetryAfter, strconv.AppendInt(v[:0], w.wait(), 10))
	}
}

// appendItems appends the RateLimit-Policy (policy) or RateLimit list of ds.
func appendItems(dst []byte, ds []Decision, policy bool) []byte {
	first := true
	for i := range ds {
		d := &ds[i]
		if d.Rate.IsZero() {
			continue
		}
		if !first {
			dst = append(dst, ", "...)
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, d.Name...)
		if policy {
			dst = append(dst, `";q=`...)
			dst = strconv.AppendInt(dst, int64(d.Rate.Count), 10)
			dst = append(dst, ";w="...)
			dst = strconv.AppendInt(dst, int64(d.Rate.Period/time.Second), 10)
		} else {
			dst = append(dst, `";r=`...)
			dst = strconv.AppendInt(dst, int64(d.Remaining), 10)
			dst = append(dst, ";t="...)
			dst = strconv.AppendInt(dst, d.wait(), 10)
		}
	}
	return dst
}

// wait is the t of the RateLimit header: seconds until a request passes again when denied,
// else until the limit is back to its full burst.
func (d *Decision) wait() int64 {
	if !d.Allowed {
		return max(1, seconds(d.RetryAfter))
	}
	return seconds(d.ResetAfter)
}
