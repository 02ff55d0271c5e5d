package command

// SCAN … WITHTYPE is an Upstash extension that stock Redis refuses (ERR syntax error). Upstash
// answers it as SCAN with each key followed by its type: [cursor, [k1, type1, k2, type2, …]],
// which @upstash/redis (`scan(cursor, {withType: true})`) reads as pairs. The gateway runs it
// as one script, SCAN then TYPE of each key it returned, so the types are those of the same
// moment and it costs one round trip.

// scanTypesLua runs SCAN with ARGV (the cursor and the options other than WITHTYPE) and
// answers its cursor and keys with each key's type after it. A SCAN error (bad cursor,
// syntax) is answered as SCAN answers it.
const scanTypesLua = `local r = redis.pcall('SCAN', unpack(ARGV))
if r.err then return r end
local out = {}
for _, k in ipairs(r[2]) do
  out[#out + 1] = k
  out[#out + 1] = redis.call('TYPE', k).ok
end
return {r[1], out}
`

// scanWithType reports whether the SCAN command args has a WITHTYPE option where Redis
// would read an option: after the cursor, not as the value of MATCH, COUNT or TYPE. It
// stops at the first option it does not know, which Redis refuses anyway.
func scanWithType(args [][]byte) bool {
	for i := 2; i < len(args); i++ {
		o := args[i]
		switch {
		case optionIs(o, "WITHTYPE"):
			return true
		case optionIs(o, "MATCH"), optionIs(o, "COUNT"), optionIs(o, "TYPE"):
			i++ // its value
		default:
			return false
		}
	}
	return false
}

// scanTypesScript returns the EVAL_RO of scanTypesLua for the SCAN command args, without
// its WITHTYPE options (args has at least two arguments).
func scanTypesScript(args [][]byte) [][]byte {
	out := make([][]byte, 0, len(args)+2)
	out = append(out, []byte("EVAL_RO"), []byte(scanTypesLua), []byte("0"), args[1])
	for i := 2; i < len(args); i++ {
		o := args[i]
		switch {
		case optionIs(o, "WITHTYPE"):
			continue
		case i+1 < len(args) && (optionIs(o, "MATCH") || optionIs(o, "COUNT") || optionIs(o, "TYPE")):
			out = append(out, o, args[i+1])
			i++
			continue
		}
		out = append(out, o)
	}
	return out
}

// ScanTypesCursor reports whether args is the EVAL_RO that a SCAN … WITHTYPE becomes (see
// scanTypesScript) and, if so, the index of its SCAN cursor: a Redis Cluster routes it as the
// SCAN it stands for, to the node its cursor names.
func ScanTypesCursor(args [][]byte) (int, bool) {
	if len(args) >= 4 && optionIs(args[0], "EVAL_RO") && string(args[1]) == scanTypesLua && string(args[2]) == "0" {
		return 3, true
	}
	return 0, false
}
