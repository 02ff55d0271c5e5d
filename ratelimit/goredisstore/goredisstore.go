// Package goredisstore is a ratelimit.Store on a go-redis v9 client, so that a Go service
// that already has one (*redis.Client, *redis.ClusterClient or *redis.Ring) can use
// ratelimit's Limiter and its middleware without redisgate's pool or gateway.
//
// Each limit's state is one key, so a cluster or ring places it like any other key.
package goredisstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/redisgate/redisgate/ratelimit"
)

// New returns a ratelimit.Store running scripts through c: EVALSHA, then EVAL once when
// Redis does not know the script. Create c with ContextTimeoutEnabled: go-redis otherwise
// ignores the context's deadline (the Limiter's Timeout) and waits for its own read and
// dial timeouts, seconds by default, before a decision fails open or closed.
func New(c redis.Scripter) ratelimit.Store { return store{c} }

type store struct{ c redis.Scripter }

// Eval runs the script as ratelimit.Store says.
func (s store) Eval(ctx context.Context, src, sha string, keys []string, args ...string) ([]int64, error) {
	argv := make([]any, len(args))
	for i, a := range args {
		argv[i] = a
	}
	v, err := s.c.EvalSha(ctx, sha, keys, argv...).Result()
	if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		v, err = s.c.Eval(ctx, src, keys, argv...).Result()
	}
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("goredisstore: script answered %T, want an array of integers", v)
	}
	out := make([]int64, len(arr))
	for i, e := range arr {
		n, ok := e.(int64)
		if !ok {
			return nil, fmt.Errorf("goredisstore: script answered %T at %d, want an integer", e, i)
		}
		out[i] = n
	}
	return out, nil
}
