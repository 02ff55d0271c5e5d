// Package command turns REST requests into Redis commands and says how each command may be run.
package command

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// Kind says how the gateway treats a command.
type Kind uint8

const (
	// Normal commands run on the multiplexed connections.
	Normal Kind = iota + 1
	// Refused commands cannot work over a pooled, stateless API.
	Refused
	// Blocking commands would stall a multiplexed connection.
	Blocking
)

// Info describes one command for the gateway.
type Info struct {
	Kind Kind
	// Read reports that a read-only token may run the command.
	Read bool
	// NoWrite reports that the command never writes, so a replica may run it.
	NoWrite bool
}

// refused lists commands that depend on connection state, change it, or stop or
// reconfigure the server; the value explains the refusal.
var refused = map[string]string{
	"WATCH":        "transactions run through /multi-exec",
	"UNWATCH":      "transactions run through /multi-exec",
	"MULTI":        "transactions run through /multi-exec",
	"EXEC":         "transactions run through /multi-exec",
	"DISCARD":      "transactions run through /multi-exec",
	"SELECT":       "connections are shared; each token has one database",
	"SWAPDB":       "connections are shared; each token has one database",
	"AUTH":         "authenticate with the gateway token",
	"HELLO":        "connections are shared",
	"CLIENT":       "connections are shared",
	"RESET":        "connections are shared",
	"QUIT":         "connections are shared",
	"READONLY":     "connections are shared",
	"READWRITE":    "connections are shared",
	"SUBSCRIBE":    "use the /subscribe endpoint",
	"PSUBSCRIBE":   "use the /psubscribe endpoint",
	"SSUBSCRIBE":   "use the /subscribe endpoint",
	"UNSUBSCRIBE":  "use the /subscribe endpoint",
	"PUNSUBSCRIBE": "use the /psubscribe endpoint",
	"SUNSUBSCRIBE": "use the /subscribe endpoint",
	"MONITOR":      "use the /monitor endpoint",
	"SHUTDOWN":     "the gateway does not stop its backend",
	"DEBUG":        "it can stall or crash the shared backend",
	"SYNC":         "replication is not available through the gateway",
	"PSYNC":        "replication is not available through the gateway",
	"REPLCONF":     "replication is not available through the gateway",
	"REPLICAOF":    "the gateway owns the replication topology",
	"SLAVEOF":      "the gateway owns the replication topology",
	"FAILOVER":     "the gateway owns the replication topology",
	"MIGRATE":      "it opens connections to other hosts",
	"MODULE":       "server administration is not available through the gateway",
	"ACL":          "server administration is not available through the gateway",
	"CONFIG":       "server administration is not available through the gateway",
}

// blocking lists commands that hold their connection until data arrives.
var blocking = map[string]bool{
	"BLPOP": true, "BRPOP": true, "BRPOPLPUSH": true, "BLMOVE": true, "BLMPOP": true,
	"BZPOPMIN": true, "BZPOPMAX": true, "BZMPOP": true, "WAIT": true, "WAITAOF": true,
}

// reads lists the commands a read-only token may run: Redis's @read category
// without the keyspace walks (KEYS, SCAN, RANDOMKEY), plus read-only scripts and liveness checks.
var reads = map[string]bool{
	"BITCOUNT": true, "BITFIELD_RO": true, "BITPOS": true, "DBSIZE": true, "DUMP": true,
	"EXISTS": true, "EXPIRETIME": true, "GEODIST": true, "GEOHASH": true, "GEOPOS": true,
	"GEORADIUSBYMEMBER_RO": true, "GEORADIUS_RO": true, "GEOSEARCH": true, "GET": true,
	"GETBIT": true, "GETRANGE": true, "HEXISTS": true, "HGET": true, "HGETALL": true,
	"HKEYS": true, "HLEN": true, "HMGET": true, "HRANDFIELD": true, "HSCAN": true,
	"HSTRLEN": true, "HVALS": true, "LCS": true, "LINDEX": true, "LLEN": true, "LPOS": true,
	"LRANGE": true, "MGET": true, "PEXPIRETIME": true, "PFCOUNT": true, "PTTL": true,
	"SCARD": true, "SDIFF": true, "SINTER": true, "SINTERCARD": true, "SISMEMBER": true,
	"SMEMBERS": true, "SMISMEMBER": true, "SRANDMEMBER": true, "SSCAN": true, "STRLEN": true,
	"SUBSTR": true, "SUNION": true, "TOUCH": true, "TTL": true, "TYPE": true, "XINFO": true,
	"XLEN": true, "XPENDING": true, "XRANGE": true, "XREAD": true, "XREVRANGE": true,
	"ZCARD": true, "ZCOUNT": true, "ZDIFF": true, "ZINTER": true, "ZINTERCARD": true,
	"ZLEXCOUNT": true, "ZMSCORE": true, "ZRANDMEMBER": true, "ZRANGE": true,
	"ZRANGEBYLEX": true, "ZRANGEBYSCORE": true, "ZRANK": true, "ZREVRANGE": true,
	"ZREVRANGEBYLEX": true, "ZREVRANGEBYSCORE": true, "ZREVRANK": true, "ZSCAN": true,
	"ZSCORE": true, "ZUNION": true,
	"EVAL_RO": true, "EVALSHA_RO": true, "FCALL_RO": true, "PING": true, "ECHO": true, "TIME": true,
}

// timeoutArg says where a blocking command takes its timeout.
type timeoutArg struct {
	pos int  // index in args; negative counts from the end
	ms  bool // milliseconds rather than seconds
}

var timeoutArgs = map[string]timeoutArg{
	"BLPOP": {-1, false}, "BRPOP": {-1, false}, "BRPOPLPUSH": {-1, false}, "BLMOVE": {-1, false},
	"BZPOPMIN": {-1, false}, "BZPOPMAX": {-1, false}, "BLMPOP": {1, false}, "BZMPOP": {1, false},
	"WAIT": {-1, true}, "WAITAOF": {-1, true},
}

// table describes every command the gateway treats specially; others are Normal.
var table = func() map[string]Info {
	t := map[string]Info{}
	for name := range reads {
		t[name] = Info{Kind: Normal, Read: true, NoWrite: true}
	}
	for _, name := range replicaReads {
		t[name] = Info{Kind: Normal, NoWrite: true}
	}
	for name := range blocking {
		t[name] = Info{Kind: Blocking, Read: reads[name], NoWrite: reads[name]}
	}
	for name := range refused {
		t[name] = Info{Kind: Refused}
	}
	return t
}()

// replicaReads are commands that do not write but that read-only tokens may not run.
var replicaReads = []string{"KEYS", "SCAN", "RANDOMKEY", "SORT_RO"}

// Name returns the upper-case name of the command args names.
func Name(args [][]byte) string {
	if len(args) == 0 {
		return ""
	}
	return string(bytes.ToUpper(args[0]))
}

// Lookup describes the command named by args.
func Lookup(args [][]byte) Info {
	if len(args) == 0 {
		return Info{Kind: Normal}
	}
	var buf [24]byte
	name := args[0]
	if len(name) > len(buf) {
		return Info{Kind: Normal}
	}
	for i, c := range name {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	upper := buf[:len(name)]
	info, ok := table[string(upper)]
	if !ok {
		info = Info{Kind: Normal}
	}
	if string(upper) == "EVAL_RO" || string(upper) == "EVALSHA_RO" || string(upper) == "FCALL_RO" {
		info.NoWrite = true
	}
	if (string(upper) == "XREAD" || string(upper) == "XREADGROUP") && hasArg(args[1:], "BLOCK") {
		info.Kind = Blocking
	}
	return info
}

// hasArg reports whether args holds word, case-insensitively.
func hasArg(args [][]byte, word string) bool {
	for _, a := range args {
		if bytes.EqualFold(a, []byte(word)) {
			return true
		}
	}
	return false
}

// Check describes the command args names and returns the error a token may not run it
// with, or nil if it may. Blocking commands are refused unless allowBlocking.
func Check(args [][]byte, readOnly, allowBlocking bool) (Info, error) {
	info := Lookup(args)
	switch {
	case info.Kind == Refused:
		return info, fmt.Errorf("ERR command '%s' is not supported by redisgate: %s", Name(args), refused[Name(args)])
	case info.Kind == Blocking && !allowBlocking:
		return info, fmt.Errorf("ERR blocking command '%s' is not supported by redisgate: it would stall a shared connection", Name(args))
	case readOnly && !info.Read:
		return info, fmt.Errorf("NOPERM this token is read-only and cannot run '%s'", Name(args))
	}
	return info, nil
}

// CapTimeout rewrites, in place, the timeout of the blocking command args so that it
// waits at most max (a timeout of 0, "forever", becomes max), and returns how long the
// command may now block. A timeout it cannot parse is left for Redis to reject.
func CapTimeout(args [][]byte, max time.Duration) time.Duration {
	name := Name(args)
	i, ms := -1, false
	if spec, ok := timeoutArgs[name]; ok {
		i, ms = spec.pos, spec.ms
		if i < 0 {
			i += len(args)
		}
	} else if name == "XREAD" || name == "XREADGROUP" {
		for j := 1; j+1 < len(args); j++ {
			if bytes.EqualFold(args[j], []byte("BLOCK")) {
				i, ms = j+1, true
				break
			}
		}
	}
	if i < 1 || i >= len(args) {
		return max
	}
	v, err := strconv.ParseFloat(string(args[i]), 64)
	if err != nil || v < 0 {
		return max
	}
	unit := time.Second
	if ms {
		unit = time.Millisecond
	}
	d := time.Duration(v * float64(unit))
	if v == 0 || d > max {
		d = max
		if ms {
			args[i] = strconv.AppendInt(nil, max.Milliseconds(), 10)
		} else {
			args[i] = strconv.AppendFloat(nil, max.Seconds(), 'f', -1, 64)
		}
	}
	return d
}
