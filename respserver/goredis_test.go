package respserver_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// eachProtocol runs f against a fresh listener for go-redis speaking RESP2 and RESP3.
func eachProtocol(t *testing.T, f func(t *testing.T, l *listener, c *redis.Client)) {
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			l := start(t)
			f(t, l, l.client(rwToken, func(o *redis.Options) { o.Protocol = proto }))
		})
	}
}

// TestGoRedisCommandTable runs commands of every type through the listener and compares each
// reply with what Redis itself answers to the same command on its own connection.
func TestGoRedisCommandTable(t *testing.T) {
	cmds := [][]any{
		{"SET", "s", "hello"}, {"GET", "s"}, {"APPEND", "s", " world"}, {"STRLEN", "s"}, {"GETRANGE", "s", 0, 4},
		{"SETRANGE", "s", 0, "J"}, {"GETDEL", "s"}, {"SET", "n", 10}, {"INCR", "n"}, {"INCRBY", "n", 5}, {"DECR", "n"},
		{"DECRBY", "n", 2}, {"INCRBYFLOAT", "f", "1.5"}, {"MSET", "a", 1, "b", 2}, {"MGET", "a", "b", "zz"}, {"MSETNX", "a", 3, "c", 4},
		{"SETNX", "x", 1}, {"SET", "e", "v", "EX", 100}, {"TTL", "e"}, {"PTTL", "e"}, {"PERSIST", "e"}, {"EXPIRE", "e", 50},
		{"EXISTS", "a", "b", "zz"}, {"TYPE", "a"}, {"RENAME", "a", "a2"}, {"DEL", "a2"}, {"UNLINK", "b"}, {"GETSET", "x", 2},
		{"SETEX", "se", 100, "v"}, {"PSETEX", "pe", 100000, "v"}, {"GETEX", "se", "PERSIST"}, {"LCS", "s1", "s2"},
		{"LPUSH", "l", "a", "b", "c"}, {"RPUSH", "l", "d"}, {"LRANGE", "l", 0, -1}, {"LLEN", "l"}, {"LINDEX", "l", 1},
		{"LPOP", "l"}, {"RPOP", "l"}, {"LSET", "l", 0, "z"}, {"LINSERT", "l", "BEFORE", "z", "y"}, {"LREM", "l", 0, "y"},
		{"LPOS", "l", "a"}, {"LTRIM", "l", 0, 0}, {"LMOVE", "l", "l2", "LEFT", "RIGHT"}, {"RPOPLPUSH", "l2", "l"},
		{"SADD", "st", "a", "b", "c"}, {"SMEMBERS", "st"}, {"SISMEMBER", "st", "a"}, {"SMISMEMBER", "st", "a", "q"}, {"SCARD", "st"},
		{"SREM", "st", "c"}, {"SADD", "st2", "b", "d"}, {"SINTER", "st", "st2"}, {"SUNIONSTORE", "su", "st", "st2"}, {"SDIFF", "st", "st2"},
		{"SMOVE", "st", "st2", "a"}, {"SINTERCARD", 2, "st", "st2"},
		{"HSET", "h", "f1", "v1", "f2", "v2"}, {"HGET", "h", "f1"}, {"HGETALL", "h"}, {"HMGET", "h", "f1", "nope"}, {"HLEN", "h"},
		{"HDEL", "h", "f2"}, {"HEXISTS", "h", "f1"}, {"HINCRBY", "h", "n", 3}, {"HINCRBYFLOAT", "h", "fl", "0.5"}, {"HKEYS", "h"},
		{"HVALS", "h"}, {"HSETNX", "h", "f1", "x"}, {"HSTRLEN", "h", "f1"},
		{"ZADD", "z", 1, "a", 2, "b", 3, "c"}, {"ZRANGE", "z", 0, -1, "WITHSCORES"}, {"ZSCORE", "z", "b"}, {"ZINCRBY", "z", 2, "a"},
		{"ZRANK", "z", "a"}, {"ZREVRANGE", "z", 0, 1}, {"ZCARD", "z"}, {"ZCOUNT", "z", 0, 10}, {"ZRANGEBYSCORE", "z", 1, 2},
		{"ZREM", "z", "c"}, {"ZPOPMIN", "z"}, {"ZMSCORE", "z", "a", "q"}, {"ZUNIONSTORE", "zu", 1, "z"},
		{"PFADD", "hll", "a", "b"}, {"PFCOUNT", "hll"}, {"SETBIT", "bits", 7, 1}, {"GETBIT", "bits", 7}, {"BITCOUNT", "bits"},
		{"BITPOS", "bits", 1}, {"GEOADD", "g", 13.361389, 38.115556, "Palermo"}, {"GEOPOS", "g", "Palermo"},
		{"XADD", "xs", "1-1", "f", "v"}, {"XLEN", "xs"}, {"XRANGE", "xs", "-", "+"}, {"XREAD", "STREAMS", "xs", "0"},
		{"EVAL", "return {KEYS[1], ARGV[1], 3}", 1, "k", "arg"}, {"EVAL", "return redis.call('GET', KEYS[1])", 1, "n"},
		{"ECHO", "hi"}, {"PING"}, {"PING", "msg"}, {"DBSIZE"}, {"OBJECT", "ENCODING", "n"}, {"DUMP", "nope"},
		{"GET", "nokey"}, {"HGET", "h", "nofield"}, {"LPUSH", "n", "wrongtype"}, {"NOSUCHCOMMAND"}, {"SET"},
		{"SELECT", 0}, {"FLUSHDB"}, {"DBSIZE"},
	}
	eachProtocol(t, func(t *testing.T, l *listener, c *redis.Client) {
		ctx := context.Background()
		// Replies from Redis keep their RESP2 shapes under HELLO 3 (the shared connections
		// speak RESP2): compared with Redis's RESP2 replies; typed commands are checked below.
		direct := redis.NewClient(&redis.Options{Addr: l.redis.Addr, Protocol: 2})
		defer direct.Close()
		direct.FlushAll(ctx)
		// First through the gateway, recording, then the same again directly on a fresh database.
		var got []string
		for _, args := range cmds {
			v, err := c.Do(ctx, args...).Result()
			got = append(got, fmt.Sprintf("%v %v", norm(v), err))
		}
		direct.FlushAll(ctx)
		for i, args := range cmds {
			v, err := direct.Do(ctx, args...).Result()
			want := fmt.Sprintf("%v %v", norm(v), err)
			if got[i] != want {
				t.Errorf("%v: got %s, want %s", args, got[i], want)
			}
		}
		// Typed commands whose RESP3 replies are maps or pairs read the RESP2 shapes too.
		c.HSet(ctx, "h", "f1", "v1", "f2", "v2")
		if v, err := c.HGetAll(ctx, "h").Result(); err != nil || !reflect.DeepEqual(v, map[string]string{"f1": "v1", "f2": "v2"}) {
			t.Errorf("HGETALL: %v %v", v, err)
		}
		c.ZAdd(ctx, "z", redis.Z{Score: 1.5, Member: "a"})
		if v, err := c.ZRangeWithScores(ctx, "z", 0, -1).Result(); err != nil || len(v) != 1 || v[0].Score != 1.5 {
			t.Errorf("ZRANGE WITHSCORES: %v %v", v, err)
		}
		c.XAdd(ctx, &redis.XAddArgs{Stream: "xs", ID: "1-1", Values: []string{"f", "v"}})
		if v, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{"xs", "0"}, Count: 1, Block: -1}).Result(); err != nil || len(v) != 1 || v[0].Messages[0].ID != "1-1" {
			t.Errorf("XREAD: %v %v", v, err)
		}
	})
}

// norm makes replies of volatile values comparable.
func norm(v any) any {
	switch x := v.(type) {
	case int64:
		if x > 40 && x <= 100000 { // TTLs
			return "ttl"
		}
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = norm(x[i])
		}
		return out
	case map[any]any:
		return fmt.Sprint(x)
	}
	return v
}

func TestGoRedisPipelinesAndTransactions(t *testing.T) {
	eachProtocol(t, func(t *testing.T, l *listener, c *redis.Client) {
		ctx := context.Background()
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range 500 {
				p.Set(ctx, fmt.Sprint("p", i), i, 0)
				p.Get(ctx, fmt.Sprint("p", i))
			}
			p.Do(ctx, "SSUBSCRIBE", "x") // refused, an error entry, the rest goes on
			p.Incr(ctx, "ctr")
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "SSUBSCRIBE") {
			t.Errorf("pipeline error: %v", err)
		}
		for i := range 500 {
			if v, err := cmds[2*i+1].(*redis.StringCmd).Result(); err != nil || v != fmt.Sprint(i) {
				t.Fatalf("GET p%d: %q %v", i, v, err)
			}
		}
		if v := cmds[len(cmds)-1].(*redis.IntCmd).Val(); v != 1 {
			t.Errorf("INCR after the refusal: %d", v)
		}
		// A transaction: contiguous, atomic, its replies in EXEC's array.
		res, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, "ctr")
			p.Set(ctx, "tx", "v", 0)
			p.Get(ctx, "tx")
			return nil
		})
		if err != nil || res[0].(*redis.IntCmd).Val() != 2 || res[2].(*redis.StringCmd).Val() != "v" {
			t.Fatalf("TxPipelined: %v %v", res, err)
		}
		// A queue-time refusal aborts the transaction, as in Redis.
		_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, "ctr")
			p.Do(ctx, "CONFIG", "GET", "*")
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "EXECABORT") {
			t.Errorf("refused command in a transaction: %v", err)
		}
		if v := c.Get(ctx, "ctr").Val(); v != "2" {
			t.Errorf("aborted transaction ran: ctr=%s", v)
		}
		// Redis's own queue-time error (wrong arity) aborts too.
		_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, "ctr")
			p.Do(ctx, "GET")
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "EXECABORT") {
			t.Errorf("wrong arity in a transaction: %v", err)
		}
		// A runtime error is that command's entry only.
		res, _ = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.LPush(ctx, "ctr", "x")
			p.Incr(ctx, "ctr")
			return nil
		})
		if len(res) != 2 || res[0].Err() == nil || res[1].(*redis.IntCmd).Val() != 3 {
			t.Errorf("runtime error in a transaction: %v", res)
		}
	})
}

func TestAuthAndConnectionState(t *testing.T) {
	l := start(t)
	ctx := context.Background()
	noauth := l.client("")
	if err := noauth.Get(ctx, "k").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Errorf("GET before AUTH: %v", err)
	}
	if err := noauth.Ping(ctx).Err(); err != nil {
		t.Errorf("PING before AUTH: %v", err)
	}
	wrong := l.client("not-a-token-at-all-0123456789")
	if err := wrong.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Errorf("wrong token: %v", err)
	}
	withUser := l.client(rwToken, func(o *redis.Options) { o.Username = "anyone" })
	if err := withUser.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Errorf("AUTH user token: %v", err)
	}
	ro := l.client(roToken)
	if v, err := ro.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("read-only GET: %q %v", v, err)
	}
	if err := ro.Set(ctx, "k", "w", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("read-only SET: %v", err)
	}
	// Connection state stays in the gateway: one connection's name is not another's.
	c := l.client(rwToken, func(o *redis.Options) { o.PoolSize = 1 })
	if err := c.Do(ctx, "CLIENT", "SETNAME", "alice").Err(); err != nil {
		t.Fatal(err)
	}
	if v := c.Do(ctx, "CLIENT", "GETNAME").Val(); v != "alice" {
		t.Errorf("CLIENT GETNAME: %v", v)
	}
	if v := ro.Do(ctx, "CLIENT", "GETNAME").Val(); v != nil {
		t.Errorf("another connection's name: %v", v)
	}
	if v := c.Do(ctx, "CLIENT", "INFO").Val().(string); !strings.Contains(v, "name=alice") {
		t.Errorf("CLIENT INFO: %q", v)
	}
	if id := c.ClientID(ctx).Val(); id <= 0 {
		t.Errorf("CLIENT ID: %d", id)
	}
	if err := c.Do(ctx, "SELECT", 0).Err(); err != nil {
		t.Errorf("SELECT own database: %v", err)
	}
	if err := c.Do(ctx, "SELECT", 1).Err(); err == nil {
		t.Error("SELECT another database answered OK")
	}
	if err := c.Do(ctx, "CLIENT", "KILL", "ID", "1").Err(); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("CLIENT KILL: %v", err)
	}
	if err := c.Do(ctx, "SSUBSCRIBE", "x").Err(); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("SSUBSCRIBE: %v", err)
	}
	// Redis never saw the name: its clients are the pool's.
	if out := l.redis.MustDo("CLIENT", "LIST"); strings.Contains(fmt.Sprint(out), "alice") {
		t.Errorf("the client name reached Redis: %v", out)
	}
}

func TestBlockingCommandsUseDedicatedConnections(t *testing.T) {
	l := start(t)
	ctx := context.Background()
	c := l.client(rwToken)
	got := make(chan []string, 1)
	go func() { got <- c.BLPop(ctx, 5*time.Second, "q").Val() }()
	time.Sleep(200 * time.Millisecond)
	// Meanwhile the shared connections serve others.
	if err := l.client(rwToken).Set(ctx, "other", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.RPush(ctx, "q", "job").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if !reflect.DeepEqual(v, []string{"q", "job"}) {
			t.Errorf("BLPOP: %v", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("BLPOP did not return")
	}
	// A timeout of 0 ("forever") is cut to MaxBlock (2 s in these tests).
	startAt := time.Now()
	if err := c.BLPop(ctx, 0, "empty").Err(); err != redis.Nil {
		t.Errorf("BLPOP 0: %v", err)
	}
	if d := time.Since(startAt); d > 4*time.Second {
		t.Errorf("BLPOP 0 took %v", d)
	}
}
