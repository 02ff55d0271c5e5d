package ratelimit

import "strconv"

// HTTP status codes of Answer, spelled out so that this package imports no HTTP package.
const (
	statusTooManyRequests    = 429
	statusServiceUnavailable = 503
)

// unavailableBody is the JSON answer when the limiter cannot decide and fails closed.
const unavailableBody = `{"error":"ERR rate limiter unavailable"}`

// Answer returns the HTTP answer to a request that one of ds denied: status 429 and a JSON
// error naming the limit and when to retry, or 503 when the limiter could not decide and
// failed closed. It reports denied false, with no answer, when every decision allowed the
// request. Zero Decisions, of limits not checked, are skipped. Send the answer with the
// headers of EachHeader or Headers.
func Answer(dst []byte, ds ...Decision) (status int, body []byte, denied bool) {
	for _, d := range ds {
		if d.Allowed || (d.Rate.IsZero() && d.Err == nil) {
			continue
		}
		if d.Err != nil {
			return statusServiceUnavailable, append(dst, unavailableBody...), true
		}
		return statusTooManyRequests, appendDenied(dst, d), true
	}
	return 0, dst, false
}

// appendDenied appends the JSON answer to a request over limit d.
func appendDenied(b []byte, d Decision) []byte {
	b = append(b, `{"error":"ERR rate limit exceeded: `...)
	b = append(b, d.Name...)
	b = append(b, " limit "...)
	b = append(b, d.Rate.String()...)
	b = append(b, ", retry in "...)
	b = strconv.AppendInt(b, d.wait(), 10)
	return append(b, ` s"}`...)
}
