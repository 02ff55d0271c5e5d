// Package command turns REST requests into Redis commands and says how each command may be run.
package command

import (
	"bytes"
	"fmt"
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

// Name returns the upper-case name of the command args names.
func Name(args [][]byte) string {
	if len(args) == 0 {
		return ""
	}
	return string(bytes.ToUpper(args[0]))
}

// Lookup describes the command named by args.
func Lookup(args [][]byte) Info {
	name := Name(args)
	if _, ok := refused[name]; ok {
		return Info{Kind: Refused}
	}
	if blocking[name] || ((name == "XREAD" || name == "XREADGROUP") && hasArg(args[1:], "BLOCK")) {
		return Info{Kind: Blocking, Read: reads[name]}
	}
	return Info{Kind: Normal, Read: reads[name]}
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

// Check returns the error a token may not run args with, or nil if it may.
func Check(args [][]byte, readOnly bool) error {
	info := Lookup(args)
	switch info.Kind {
	case Refused:
		return fmt.Errorf("ERR command '%s' is not supported by redisgate: %s", Name(args), refused[Name(args)])
	case Blocking:
		return fmt.Errorf("ERR blocking command '%s' is not supported by redisgate: it would stall a shared connection", Name(args))
	}
	if readOnly && !info.Read {
		return fmt.Errorf("NOPERM this token is read-only and cannot run '%s'", Name(args))
	}
	return nil
}
