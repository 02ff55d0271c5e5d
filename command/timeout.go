package command

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// capTimeouts returns args with every timeout of the blocking command args capped at max
// (a copy when it rewrote one) and how long the command may block, at most max.
func capTimeouts(r *rule, args [][]byte, max time.Duration) ([][]byte, time.Duration) {
	if r.special == specialXRead {
		out, block, copied := args, max, false
		for i := xreadBlock(args, 1); i > 0; i = xreadBlock(args, i+1) {
			v, d := capTimeout(args[i], true, max)
			switch {
			case v != nil && !copied:
				out, copied = replace(args, i, v), true
			case v != nil:
				out[i] = v
			}
			block = d // Redis keeps the last BLOCK
		}
		return out, block
	}
	i := int(r.timeout.pos)
	if i < 0 {
		i += len(args)
	}
	if i < 1 || i >= len(args) {
		return args, max
	}
	v, d := capTimeout(args[i], r.timeout.ms, max)
	if v != nil {
		args = replace(args, i, v)
	}
	return args, d
}

// xreadBlock returns the index of the value of the first BLOCK option of the XREAD or
// XREADGROUP command args at or after index i, where an option starts, or -1 if there is
// none. It walks the options as Redis does, so that stream names after STREAMS and the
// values of other options are not taken for options.
func xreadBlock(args [][]byte, i int) int {
	for i < len(args) {
		more := len(args) - i - 1
		o := args[i]
		switch {
		case bytes.EqualFold(o, []byte("BLOCK")) && more > 0:
			return i + 1
		case bytes.EqualFold(o, []byte("COUNT")) && more > 0:
			i += 2
		case bytes.EqualFold(o, []byte("GROUP")) && more >= 2:
			i += 3
		case bytes.EqualFold(o, []byte("NOACK")):
			i++
		default: // STREAMS, or an error Redis answers at once
			return -1
		}
	}
	return -1
}

// forever is how close to 0 ms a seconds timeout is taken for 0 ("block forever"): Redis
// truncates seconds*1000 in long double precision, which float64 cannot mirror exactly.
const forever = 1.000001

// capTimeout returns the replacement of the timeout arg (in milliseconds when ms, else in
// seconds), or nil to keep it, and how long the command may block with it, at most max
// (whole milliseconds). A timeout Redis reads as 0 (forever) or as longer than max is
// replaced by max; one Redis rejects is kept for Redis to reject, reported as max.
func capTimeout(arg []byte, ms bool, max time.Duration) ([]byte, time.Duration) {
	var v float64
	var ok bool
	if ms {
		var n int64
		n, ok = parseRedisInt(arg)
		v = float64(n)
	} else {
		v, ok = parseRedisFloat(arg)
		v *= 1000
	}
	maxMS := max.Milliseconds()
	switch {
	case !ok || math.IsNaN(v) || v <= -forever:
		// Redis rejects it ("timeout is not …", "timeout is negative").
		return nil, max
	case math.Abs(v) < forever || v > float64(maxMS):
		return canonical(maxMS, ms), time.Duration(maxMS) * time.Millisecond
	}
	return nil, time.Duration(v) * time.Millisecond
}

// canonical formats a timeout of n milliseconds in milliseconds or seconds.
func canonical(n int64, ms bool) []byte {
	if ms {
		return strconv.AppendInt(nil, n, 10)
	}
	b := strconv.AppendInt(nil, n/1000, 10)
	if frac := n % 1000; frac != 0 {
		b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
		b = bytes.TrimRight(b, "0")
	}
	return b
}

// parseRedisInt parses b as Redis's string2ll does: an optional minus sign and decimal
// digits without leading zeros (except "0" itself), fitting in an int64.
func parseRedisInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) >= 21 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case neg && u <= 1<<63:
		return -int64(u-1) - 1, true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// parseRedisFloat parses b as Redis's string2ld does (strtold in the C locale on the bytes
// up to the first NUL, refusing leading space, trailing bytes and NaN), to a float64: a
// number too large for a float64 becomes ±Inf, one too small ±0.
func parseRedisFloat(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) >= 5*1024 {
		return 0, false
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i] // strtold stops at the C string's end
	}
	if len(b) == 0 {
		return 0, true // strtold("") reads 0 and ends at the terminator
	}
	s := b
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg, s = s[0] == '-', s[1:]
	}
	sign := 1.0
	if neg {
		sign = -1
	}
	switch {
	case asciiFold(s, "inf"), asciiFold(s, "infinity"):
		return math.Inf(int(sign)), true
	case len(s) >= 3 && asciiFold(s[:3], "nan"):
		return 0, false // NaN, refused by Redis
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		return parseHexFloat(s[2:], sign)
	}
	// Decimal: digits with at most one point, at least one digit, optional exponent.
	i, digits := 0, 0
	for i < len(s) && isDigit(s[i]) {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i = exponent(s, i)
	}
	if i != len(s) {
		return 0, false
	}
	return goFloat(string(b))
}

// parseHexFloat parses the hexadecimal floating-point number s (after "0x") as strtold does.
func parseHexFloat(s []byte, sign float64) (float64, bool) {
	i, digits := 0, 0
	for i < len(s) && isHexDigit(s[i]) {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isHexDigit(s[i]) {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return 0, false // strtold reads "0" and stops at the 'x'
	}
	mant := string(s[:i])
	exp := "p0"
	if i < len(s) && (s[i] == 'p' || s[i] == 'P') {
		j := exponent(s, i)
		if j != i {
			exp = string(s[i:j])
		}
		i = j
	}
	if i != len(s) {
		return 0, false
	}
	if mant[0] == '.' {
		mant = "0" + mant
	}
	v, ok := goFloat("0x" + mant + exp)
	return sign * v, ok
}

// exponent returns the index after the exponent (e or p, sign, digits) starting at s[i],
// or i when it is malformed (then strtold stops before it).
func exponent(s []byte, i int) int {
	j := i + 1
	if j < len(s) && (s[j] == '+' || s[j] == '-') {
		j++
	}
	k := j
	for k < len(s) && isDigit(s[k]) {
		k++
	}
	if k == j {
		return i
	}
	return k
}

// goFloat parses a number already checked to be well-formed; out of range becomes ±Inf or ±0.
func goFloat(s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(v, 0) && v != 0 {
		return 0, false
	}
	return v, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHexDigit(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

// asciiFold reports whether b equals the lower-case word s, ignoring ASCII case.
func asciiFold(b []byte, s string) bool {
	return bytes.EqualFold(b, []byte(s))
}
