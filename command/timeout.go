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
		case optionIs(o, "BLOCK") && more > 0:
			return i + 1
		case optionIs(o, "COUNT") && more > 0:
			i += 2
		case optionIs(o, "GROUP") && more >= 2:
			i += 3
		case optionIs(o, "NOACK"):
			i++
		default: // STREAMS, or an error Redis answers at once
			return -1
		}
	}
	return -1
}

// optionIs reports whether the argument arg is the option word, as Redis's strcasecmp
// compares them: ignoring ASCII case and anything from a NUL byte on ("BLOCK\x00x" is BLOCK).
func optionIs(arg []byte, word string) bool {
	if i := bytes.IndexByte(arg, 0); i >= 0 {
		arg = arg[:i]
	}
	return bytes.EqualFold(arg, []byte(word))
}

// forever is how close to 0 ms a seconds timeout may be below 0 and still be taken for 0
// ("block forever"): Redis rounds seconds*1000 up in long double precision, which float64
// cannot mirror exactly, so -1 ms (an error for Redis) is taken for 0 too.
const forever = 1.000001

// capTimeout returns the replacement of the timeout arg (in milliseconds when ms, else in
// seconds), or nil to keep it, and how long the command may block with it, at most max
// (whole milliseconds). A timeout Redis reads as 0 (forever) or as longer than max is
// replaced by max; one Redis rejects is kept for Redis to reject, reported as max.
//
// Redis 7.0 (getTimeoutFromObjectOrReply) reads milliseconds with string2ll, and seconds
// with string2ld (strtold) as ceill(seconds*1000) milliseconds; 0 means forever and a
// negative result is an error.
func capTimeout(arg []byte, ms bool, max time.Duration) ([]byte, time.Duration) {
	maxMS := max.Milliseconds()
	if ms {
		n, ok := parseRedisInt(arg)
		switch {
		case !ok || n < 0:
			return nil, max
		case n == 0 || n > maxMS:
			return canonical(maxMS, true), time.Duration(maxMS) * time.Millisecond
		}
		return nil, time.Duration(n) * time.Millisecond
	}
	v, ok := parseRedisFloat(arg)
	x := v * 1000
	switch {
	case !ok || math.IsNaN(x) || x <= -forever:
		return nil, max
	case x <= 0 || x > float64(maxMS):
		return canonical(maxMS, false), time.Duration(maxMS) * time.Millisecond
	}
	return nil, time.Duration(math.Ceil(x)) * time.Millisecond
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

// parseRedisFloat parses b as Redis's string2ld does (strtold in the C locale on all of b,
// refusing leading space, trailing bytes, NUL bytes and NaN) to a float64: a number too large
// for a float64 becomes ±Inf, a nonzero one too small the smallest float64 of its sign.
func parseRedisFloat(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) >= 5*1024 {
		return 0, false
	}
	s := b
	sign := 1.0
	if s[0] == '+' || s[0] == '-' {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	switch {
	case asciiFold(s, "inf"), asciiFold(s, "infinity"):
		return math.Inf(int(sign)), true
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		return parseHexFloat(s[2:], sign)
	}
	// Decimal: digits with at most one point, at least one digit, optional exponent.
	i, digits, nonzero := 0, 0, false
	for i < len(s) && (isDigit(s[i]) || s[i] == '.' && !bytes.Contains(s[:i], []byte("."))) {
		if s[i] != '.' {
			digits++
			nonzero = nonzero || s[i] != '0'
		}
		i++
	}
	if digits == 0 {
		return 0, false // also NaN, which Redis refuses
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i = exponent(s, i)
	}
	if i != len(s) {
		return 0, false
	}
	return goFloat(string(s), sign, nonzero)
}

// parseHexFloat parses the hexadecimal floating-point number s (after "0x") as strtold does.
func parseHexFloat(s []byte, sign float64) (float64, bool) {
	i, digits, nonzero := 0, 0, false
	for i < len(s) && (isHexDigit(s[i]) || s[i] == '.' && !bytes.Contains(s[:i], []byte("."))) {
		if s[i] != '.' {
			digits++
			nonzero = nonzero || s[i] != '0'
		}
		i++
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
	return goFloat("0x"+mant+exp, sign, nonzero)
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

// goFloat parses the unsigned number s, already checked to be well-formed, and gives it sign;
// out of range becomes ±Inf, or the smallest nonzero float64 when nonzero (strtold's long
// double reaches further; Redis rounds such a timeout up to 1 ms).
func goFloat(s string, sign float64, nonzero bool) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(v, 0) && v != 0 {
		return 0, false
	}
	if v == 0 && nonzero {
		v = math.SmallestNonzeroFloat64
	}
	return sign * v, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHexDigit(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

// asciiFold reports whether b equals the lower-case word s, ignoring ASCII case.
func asciiFold(b []byte, s string) bool {
	return bytes.EqualFold(b, []byte(s))
}
