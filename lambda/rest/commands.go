package rest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Get returns the value of key, and false when the key does not exist.
func (c *Client) Get(ctx context.Context, key string) (string, bool, error) {
	return str(c.Do(ctx, "GET", key))
}

// SetOptions are the options of SET.
type SetOptions struct {
	// TTL expires the key after it (EX when whole seconds, else PX); 0 keeps no expiry.
	TTL time.Duration
	// NX sets the key only when it does not exist; XX only when it does.
	NX, XX bool
	// KeepTTL keeps the key's current expiry.
	KeepTTL bool
}

// Set sets key to value (a string, []byte or number) and reports whether it was set, which
// is false only when NX or XX prevented it.
func (c *Client) Set(ctx context.Context, key string, value any, o SetOptions) (bool, error) {
	args := []any{"SET", key, value}
	if o.TTL > 0 {
		args = append(args, ttlArgs("EX", "PX", o.TTL)...)
	}
	if o.NX {
		args = append(args, "NX")
	}
	if o.XX {
		args = append(args, "XX")
	}
	if o.KeepTTL {
		args = append(args, "KEEPTTL")
	}
	v, err := c.Do(ctx, args...)
	if err != nil {
		return false, err
	}
	return v != nil, nil
}

// Del deletes keys and returns how many existed.
func (c *Client) Del(ctx context.Context, keys ...string) (int64, error) {
	return integer(c.Do(ctx, withKeys("DEL", keys)...))
}

// Exists returns how many of keys exist.
func (c *Client) Exists(ctx context.Context, keys ...string) (int64, error) {
	return integer(c.Do(ctx, withKeys("EXISTS", keys)...))
}

// Incr adds one to the integer at key and returns the result.
func (c *Client) Incr(ctx context.Context, key string) (int64, error) {
	return integer(c.Do(ctx, "INCR", key))
}

// IncrBy adds n to the integer at key and returns the result.
func (c *Client) IncrBy(ctx context.Context, key string, n int64) (int64, error) {
	return integer(c.Do(ctx, "INCRBY", key, n))
}

// Expire sets key to expire after ttl (EXPIRE when whole seconds, else PEXPIRE) and reports
// whether the key exists.
func (c *Client) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	args := ttlArgs("EXPIRE", "PEXPIRE", ttl)
	n, err := integer(c.Do(ctx, args[0], key, args[1]))
	return n == 1, err
}

// TTL returns how long key has to live: -1 ns when it has no expiry, -2 ns when it does not exist.
func (c *Client) TTL(ctx context.Context, key string) (time.Duration, error) {
	n, err := integer(c.Do(ctx, "PTTL", key))
	if err != nil || n < 0 {
		return time.Duration(n), err
	}
	return time.Duration(n) * time.Millisecond, nil
}

// HGet returns the value of field in the hash at key, and false when either does not exist.
func (c *Client) HGet(ctx context.Context, key, field string) (string, bool, error) {
	return str(c.Do(ctx, "HGET", key, field))
}

// HSet sets fields of the hash at key from field, value pairs and returns how many fields were new.
func (c *Client) HSet(ctx context.Context, key string, fieldValues ...any) (int64, error) {
	if len(fieldValues) == 0 || len(fieldValues)%2 != 0 {
		return 0, fmt.Errorf("rest: HSet needs field, value pairs, got %d arguments", len(fieldValues))
	}
	return integer(c.Do(ctx, append([]any{"HSET", key}, fieldValues...)...))
}

// HGetAll returns the hash at key as a map, empty when the key does not exist.
func (c *Client) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	v, err := c.Do(ctx, "HGETALL", key)
	if err != nil {
		return nil, err
	}
	flat, ok := v.([]any)
	if !ok || len(flat)%2 != 0 {
		return nil, fmt.Errorf("rest: HGETALL: reply %T is not a list of pairs", v)
	}
	m := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, ok1 := flat[i].(string)
		val, ok2 := flat[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("rest: HGETALL: %w", ErrNotString)
		}
		m[k] = val
	}
	return m, nil
}

// Ping checks that the gateway and Redis answer.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Do(ctx, "PING")
	return err
}

// Eval runs the Lua script src, whose SHA-1 is sha, with keys and args, by EVALSHA and, when
// Redis does not know the script (NOSCRIPT), by EVAL; it returns the script's array of
// integers. It makes a Client a ratelimit.Store, so a ratelimit.Limiter can keep its state
// through the gateway.
func (c *Client) Eval(ctx context.Context, src, sha string, keys []string, args ...string) ([]int64, error) {
	cmd := make([]any, 0, 3+len(keys)+len(args))
	cmd = append(cmd, "EVALSHA", sha, len(keys))
	for _, k := range keys {
		cmd = append(cmd, k)
	}
	for _, a := range args {
		cmd = append(cmd, a)
	}
	v, err := c.Do(ctx, cmd...)
	if e := (*Error)(nil); errors.As(err, &e) && e.Prefix() == "NOSCRIPT" {
		cmd[0], cmd[1] = "EVAL", src
		v, err = c.Do(ctx, cmd...)
	}
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("rest: script returned %T, want an array of integers", v)
	}
	out := make([]int64, len(list))
	for i, x := range list {
		if out[i], ok = x.(int64); !ok {
			return nil, fmt.Errorf("rest: script returned %T at %d: %w", x, i, ErrNotInteger)
		}
	}
	return out, nil
}

// ttlArgs returns the seconds form of ttl when it is whole seconds, else the milliseconds form.
func ttlArgs(secs, millis string, ttl time.Duration) []any {
	if ttl%time.Second == 0 {
		return []any{secs, int64(ttl / time.Second)}
	}
	return []any{millis, max(1, ttl.Milliseconds())}
}

func withKeys(name string, keys []string) []any {
	args := make([]any, 1+len(keys))
	args[0] = name
	for i, k := range keys {
		args[1+i] = k
	}
	return args
}

// str converts a string-or-nil reply.
func str(v any, err error) (string, bool, error) {
	if err != nil || v == nil {
		return "", false, err
	}
	s, ok := v.(string)
	if !ok {
		return "", false, fmt.Errorf("rest: reply %T: %w", v, ErrNotString)
	}
	return s, true, nil
}

// integer converts an integer reply (or a string holding one).
func integer(v any, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	switch v := v.(type) {
	case int64:
		return v, nil
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("rest: reply %T: %w", v, ErrNotInteger)
}
