// Package poolstore is a ratelimit.Store on redisgate's pipelined pool: the store the gateway
// uses for its limiter, so that limiter trips share the pool's batched connections.
package poolstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/resp"
)

// Backend runs batches of commands on one Redis; *pool.Pool is one.
type Backend interface {
	Do(ctx context.Context, b *pool.Batch) error
}

// New returns a ratelimit.Store running scripts through b: EVALSHA, then EVAL once when
// Redis does not know the script. Each call ends when ctx does.
func New(b Backend) ratelimit.Store { return store{b} }

type store struct{ b Backend }

// Eval runs the script as ratelimit.Store says.
func (s store) Eval(ctx context.Context, src, sha string, keys []string, args ...string) ([]int64, error) {
	cmd := make([][]byte, 0, 3+len(keys)+len(args))
	cmd = append(cmd, []byte("EVALSHA"), []byte(sha), strconv.AppendInt(nil, int64(len(keys)), 10))
	for _, k := range keys {
		cmd = append(cmd, []byte(k))
	}
	for _, a := range args {
		cmd = append(cmd, []byte(a))
	}
	for attempt := 0; ; attempt++ {
		b := pool.NewBatch(1)
		b.Add(cmd...)
		if err := s.b.Do(ctx, b); err != nil {
			return nil, err
		}
		raw := b.Reply(0)
		if raw[0] == resp.Error {
			msg := string(raw[1 : len(raw)-2])
			b.Release()
			if attempt == 0 && strings.HasPrefix(msg, "NOSCRIPT") {
				cmd[0], cmd[1] = []byte("EVAL"), []byte(src)
				continue
			}
			return nil, fmt.Errorf("script: %s", msg)
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
