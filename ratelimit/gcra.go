package ratelimit

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redisgate/redisgate/script"
)

// gcraScript takes up to need+extra tokens from a GCRA bucket in integer microseconds
// (exact in Lua's doubles until 2255). It grants extra only while the bucket keeps at
// least 2·extra tokens after need, so prefetching never starves a bucket near its limit.
// KEYS[1] bucket; ARGV interval µs, burst, need, extra.
// Returns {granted, remaining, retry_after_us, reset_after_us}.
const gcraScript = `local key = KEYS[1]
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local extra = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local avail = math.floor((now + burst * interval - tat) / interval)
if avail < 1 then
  return {0, 0, tat + interval - burst * interval - now, tat - now}
end
local take = math.min(need, avail)
if avail - take >= 2 * extra then take = take + extra end
local newtat = tat + take * interval
redis.call('SET', key, newtat, 'PX', math.floor((newtat - now) / 1000) + 1)
return {take, avail - take, 0, newtat - now}
`

var gcraHash = script.Hash([]byte(gcraScript))

// grant is the outcome of one GCRA call.
type grant struct {
	granted    int
	remaining  int
	retryAfter int64 // µs until one token is available, when none was granted
	resetAfter int64 // µs until the bucket is full again
}

// take asks the store for need (+ extra) tokens of bucket key.
func take(ctx context.Context, st Store, key string, r Rate, need, extra int) (grant, error) {
	vals, err := st.Eval(ctx, gcraScript, gcraHash, []string{key},
		strconv.FormatInt(r.interval(), 10), strconv.Itoa(r.Burst), strconv.Itoa(need), strconv.Itoa(extra))
	if err != nil {
		return grant{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(vals) != 4 {
		return grant{}, fmt.Errorf("%w: gcra script returned %d values", ErrUnavailable, len(vals))
	}
	return grant{granted: int(vals[0]), remaining: int(vals[1]), retryAfter: vals[2], resetAfter: vals[3]}, nil
}
