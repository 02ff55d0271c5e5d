package ratelimit

import "context"

// Store runs the limiter's Lua scripts on the Redis that holds its state.
//
// Implementations: poolstore (redisgate's pipelined pool), goredisstore (a go-redis v9
// client, ring or cluster) and lambda/rest's Client (over redisgate's REST API).
type Store interface {
	// Eval runs the script src, whose SHA-1 is sha, with keys and args, and returns the
	// array of integers it answers. It may try EVALSHA first and fall back to EVAL.
	// It returns when ctx ends, with an error.
	Eval(ctx context.Context, src, sha string, keys []string, args ...string) ([]int64, error)
}
