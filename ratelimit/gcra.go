package ratelimit

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
	"github.com/redisgate/redisgate/script"
)

// Store runs batches of commands on the Redis that holds limiter state; *pool.Pool is one.
type Store interface {
	Do(ctx context.Context, b *pool.Batch) error
}

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
	args := [][]byte{
		[]byte("EVALSHA"), []byte(gcraHash), []byte("1"), []byte(key),
		strconv.AppendInt(nil, r.interval(), 10), strconv.AppendInt(nil, int64(r.Burst), 10),
		strconv.AppendInt(nil, int64(need), 10), strconv.AppendInt(nil, int64(extra), 10),
	}
	vals, err := evalInts(ctx, st, args, gcraScript)
	if err != nil {
		return grant{}, err
	}
	if len(vals) != 4 {
		return grant{}, fmt.Errorf("%w: gcra script returned %d values", resp.ErrProtocol, len(vals))
	}
	return grant{granted: int(vals[0]), remaining: int(vals[1]), retryAfter: vals[2], resetAfter: vals[3]}, nil
}

// evalInts runs EVALSHA args (falling back to EVAL of src on NOSCRIPT) and returns its array of integers.
func evalInts(ctx context.Context, st Store, args [][]byte, src string) ([]int64, error) {
	for attempt := 0; ; attempt++ {
		b := pool.NewBatch(1)
		b.Add(args...)
		if err := st.Do(ctx, b); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		raw := b.Reply(0)
		if raw[0] == resp.Error {
			msg := string(raw[1 : len(raw)-2])
			b.Release()
			if attempt == 0 && len(msg) >= 8 && msg[:8] == "NOSCRIPT" {
				args = append([][]byte{[]byte("EVAL"), []byte(src)}, args[2:]...)
				continue
			}
			return nil, fmt.Errorf("%w: %s", ErrUnavailable, msg)
		}
		vals, err := ints(raw)
		b.Release()
		return vals, err
	}
}

// ints decodes an array reply of integers.
func ints(raw []byte) ([]int64, error) {
	kind, _, n, rest, err := resp.Next(raw)
	if err != nil || kind != resp.Array || n < 0 {
		return nil, fmt.Errorf("%w: want an array of integers", resp.ErrProtocol)
	}
	out := make([]int64, n)
	for i := range out {
		var data []byte
		if kind, data, _, rest, err = resp.Next(rest); err != nil || kind != resp.Integer {
			return nil, fmt.Errorf("%w: want an integer", resp.ErrProtocol)
		}
		if out[i], err = strconv.ParseInt(string(data), 10, 64); err != nil {
			return nil, fmt.Errorf("%w: %v", resp.ErrProtocol, err)
		}
	}
	return out, nil
}
