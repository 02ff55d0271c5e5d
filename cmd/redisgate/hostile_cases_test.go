package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// Lua bodies of the attacks; what varies goes in KEYS and ARGV, so that their hashes are fixed.
const (
	luaSelectGet   = "redis.call('select', ARGV[1]) return redis.call('get', KEYS[1])"
	luaSelectSet   = "redis.call('select', ARGV[1]) return redis.call('set', KEYS[1], ARGV[2])"
	luaSelectFlush = "redis.call('select', ARGV[1]) return redis.call('flushdb')"
	luaSelectKeys  = "redis.call('select', ARGV[1]) return redis.call('keys', '*')"
	luaSwapDB      = "return redis.call('swapdb', ARGV[1], ARGV[2])"
	luaFlushAll    = "return redis.call('flushall')"
	luaMove        = "return redis.call('move', KEYS[1], ARGV[1])"
	luaCopyDB      = "return redis.call('copy', KEYS[1], KEYS[2], 'DB', ARGV[1])"
	luaMigrate     = "return redis.call('migrate', '127.0.0.1', ARGV[1], KEYS[1], ARGV[2], 1000, 'COPY')"
	luaPublish     = "return redis.call('publish', ARGV[1], ARGV[2])"
	luaSlowlog     = "return redis.call('slowlog', 'get', 1000)"
	luaInfo        = "return redis.call('info', 'keyspace')"
	luaChannels    = "return redis.call('pubsub', 'channels')"
	luaDelLimiter  = "local n = 0 for _, k in ipairs(redis.call('keys', 'redisgate:*')) do n = n + redis.call('del', k) end return n"
	luaForever     = "while true do end"
)

// Limits of the timing cases.
var (
	blockBound   = hostileMaxBlock + 2*time.Second       // a capped blocking command is answered by then
	runawayBound = hostileCommandTimeout + 3*time.Second // a runaway script's caller is answered by then
	// An answer past --max-response is refused by then. The refusal comes once the pooled
	// connection has read past Redis's whole answer (discarding it, never holding it): 300 MiB
	// took 1.5 s on this 2-core machine, more under the race detector, when the command timeout
	// (a 504) may come first. What the case asserts beyond that is the safety: nothing of the
	// answer kept (RSS), b's checker on the same connections served without an error.
	maxResponseBound = hostileCommandTimeout + 2*time.Second
)

// hostileCases is the case table: each case is named after its attack and states, per
// layout, what it expects. Beyond these, every case is checked for the safety properties
// (b and the limiter unchanged and unread, checker clean, quota and rate limit holding).
func hostileCases() []hostileCase {
	cases := []hostileCase{
		// Commands that cross databases.
		{name: "MOVE of a key into database 1 is refused", in: both, steps: []step{cmd("MOVE", "a:str", "1").all(refused())}},
		{name: "MOVE of a key into database 2 is refused", in: both, steps: []step{cmd("MOVE", "a:str", "2").all(refused())}},
		{name: "MOVE of a key into the limiter's database 15 is refused", in: both, steps: []step{cmd("MOVE", "a:str", "15").all(refused())}},
		{name: "COPY with DB naming b's database number is refused", in: both, steps: []step{cmd("COPY", "a:str", "{pwned}", "DB", "{bdb}").all(refused())}},
		{name: "COPY REPLACE over b's key with DB is refused", in: both, steps: []step{cmd("COPY", "a:str", "{kb}", "DB", "{bdb}", "REPLACE").all(refused())}},
		{name: "COPY of a key into the limiter's database 15 is refused", in: both, steps: []step{cmd("COPY", "a:str", "{pwned}", "DB", "15").all(refused())}},
		{name: "SELECT of b's database is refused", in: both, steps: []step{cmd("SELECT", "{bdb}").all(refused())}},
		{name: "SELECT of the limiter's database 15 is refused", in: both, steps: []step{cmd("SELECT", "15").all(refused())}},
		{name: "SWAPDB of a's and b's databases is refused", in: both, steps: []step{cmd("SWAPDB", "{adb}", "{bdb}").all(refused())}},
		{name: "SWAPDB with the limiter's database 15 is refused", in: both, steps: []step{cmd("SWAPDB", "{adb}", "15").all(refused())}},
		{name: "FLUSHALL empties only a's own database", in: both, tolerate: ownFlush, after: aFlushed,
			steps: []step{cmd("FLUSHALL").all(okBody(`{"result":"OK"}`))}},
		{name: "FLUSHALL ASYNC empties only a's own database", in: both, tolerate: ownFlush, after: aFlushed,
			steps: []step{cmd("FLUSHALL", "ASYNC").all(okBody(`{"result":"OK"}`))}},
		{name: "FLUSHDB empties only a's own database", in: both, tolerate: ownFlush, after: aFlushed,
			steps: []step{cmd("FLUSHDB").all(okBody(`{"result":"OK"}`))}},
		{name: "MIGRATE into b's database on its server is refused", in: both, steps: []step{cmd("MIGRATE", "127.0.0.1", "{bport}", "a:str", "{bdb}", "1000", "COPY").all(refused())}},

		// Lua, which only Redis can stop. "Another database" ({odb}) is b's on a shared server
		// and the limiter's reserved DB 15 on separate servers.
		{name: "Lua select of another database then GET is refused", in: both, steps: []step{cmd("EVAL", luaSelectGet, "1", "{kb}", "{odb}").all(refused())}},
		{name: "Lua select of another database then SET is refused", in: both, steps: []step{cmd("EVAL", luaSelectSet, "1", "{kbplain}", "{odb}", "{pwned}").all(refused())}},
		{name: "Lua select of another database then FLUSHDB is refused", in: both, steps: []step{cmd("EVAL", luaSelectFlush, "0", "{odb}").all(refused())}},
		{name: "Lua select of the limiter's database 15 then KEYS is refused", in: both, steps: []step{cmd("EVAL", luaSelectKeys, "0", "15").all(refused())}},
		{name: "Lua select of the limiter's database 15 then FLUSHDB is refused", in: both, steps: []step{cmd("EVAL", luaSelectFlush, "0", "15").all(refused())}},
		{name: "Lua select of an unused database then SET is refused", in: both, steps: []step{cmd("EVAL", luaSelectSet, "1", "{pwned}", "{udb}", "{pwned}").all(refused())}},
		{name: "Lua SWAPDB of a's and another database is refused", in: both, steps: []step{cmd("EVAL", luaSwapDB, "0", "{adb}", "{odb}").all(refused())}},
		{name: "Lua FLUSHALL empties neither b nor the limiter", in: both, tolerate: ownFlush,
			steps: []step{cmd("EVAL", luaFlushAll, "0").all(refused().orElse(okBody(`{"result":"OK"}`)))}},
		{name: "Lua MOVE of a key into another database is refused", in: both, steps: []step{cmd("EVAL", luaMove, "1", "a:str", "{odb}").all(refused())}},
		{name: "Lua COPY with DB into another database is refused", in: both, steps: []step{cmd("EVAL", luaCopyDB, "2", "a:str", "{pwned}", "{odb}").all(refused())}},
		{name: "Lua MIGRATE into b's database is refused", in: both, steps: []step{cmd("EVAL", luaMigrate, "1", "a:str", "{bport}", "{bdb}").all(refused())}},
		{name: "Lua PUBLISH to b's channel as Redis names it does not reach b", in: both,
			steps: []step{cmd("EVAL", luaPublish, "0", "{bchan.raw}", "{pwned}").all(refused().orElse(okBody(`{"result":0}`)))}},
		{name: "Lua SLOWLOG GET shows nothing of b", in: both, steps: []step{cmd("EVAL", luaSlowlog, "0").all(anyAnswer())}},
		// The README does not promise that a script cannot count other databases' keys with
		// INFO (the gateway's replica probes need INFO on these connections): only that it
		// names none of b's keys or values.
		{name: "Lua INFO keyspace names none of b's keys", in: both, steps: []step{cmd("EVAL", luaInfo, "0").all(anyAnswer())}},
		{name: "Lua PUBSUB CHANNELS does not show b's channel", in: both, steps: []step{cmd("EVAL", luaChannels, "0").all(anyAnswer())}},
		{name: "EVAL_RO with select of another database from a read-only token is refused", in: both,
			steps: []step{cmd("EVAL_RO", luaSelectGet, "1", "{kb}", "{odb}").by(ro).all(refused())}},
		{name: "EVAL_RO with select of another database from a read-write token is refused", in: both,
			steps: []step{cmd("EVAL_RO", luaSelectGet, "1", "{kb}", "{odb}").all(refused())}},
		{name: "EVALSHA of a loaded script that selects another database is refused", in: both, steps: []step{
			cmd("SCRIPT", "LOAD", luaSelectGet).all(okBody(`{"result":"` + sha1hex(luaSelectGet) + `"}`)),
			cmd("EVALSHA", sha1hex(luaSelectGet), "1", "{kb}", "{odb}").all(refused()),
		}},
		{name: "FCALL of a function that selects another database is refused", in: both, steps: []step{
			cmd("FUNCTION", "LOAD", "REPLACE", "#!lua name=sel{rnd}\nredis.register_function('sel{rnd}', function(keys, args) redis.call('select', args[1]) return redis.call('get', keys[1]) end)").
				each(refused(), okBody(`{"result":"sel{rnd}"}`)),
			cmd("FCALL", "sel{rnd}", "1", "{kb}", "{odb}").all(refused()),
		}},
		{name: "EVAL_RO calling FLUSHALL from a read-only token is refused", in: both, steps: []step{cmd("EVAL_RO", luaFlushAll, "0").by(ro).all(refused())}},

		// Pub/sub: channels are namespaced per database.
		{name: "PUBLISH to b's channel name does not reach b's subscriber", in: both, steps: []step{cmd("PUBLISH", "{bchan}", "{pwned}").all(okBody(`{"result":0}`))}},
		{name: "PUBLISH to b's channel as Redis names it does not reach b's subscriber", in: both,
			steps: []step{cmd("PUBLISH", "{bchan.raw}", "{pwned}").all(refused().orElse(okBody(`{"result":0}`)))}},
		{name: "SPUBLISH to b's channel does not reach b's subscriber", in: both,
			steps: []step{cmd("SPUBLISH", "{bchan}", "{pwned}").all(refused().orElse(okBody(`{"result":0}`)))}},
		{name: "PUBLISH inside a pipeline to b's channel does not reach b's subscriber", in: both,
			steps: []step{pipe(c("PUBLISH", "{bchan}", "{pwned}")).all(okBody(`[{"result":0}]`))}},
		{name: "PUBLISH inside a transaction to b's channel does not reach b's subscriber", in: both,
			steps: []step{multi(c("PUBLISH", "{bchan}", "{pwned}")).all(okBody(`[{"result":0}]`))}},
		{name: "PUBLISH to __redis__:invalidate reaches no one", in: both,
			steps: []step{cmd("PUBLISH", "__redis__:invalidate", "{kb}").all(refused().orElse(okBody(`{"result":0}`)))}},
		{name: "PSUBSCRIBE * sees a's own messages and none of b's", in: both, steps: []step{sub("/psubscribe/*").all(ok("{apos}"))}},
		{name: "PSUBSCRIBE to b's channel as Redis names it sees nothing of b", in: both,
			steps: []step{sub("/psubscribe/*{bchan.raw}*").all(refusedOrOK())}},
		{name: "SUBSCRIBE to b's channel name sees only a's own messages", in: both, steps: []step{sub("/subscribe/{bchan}").all(ok("{apos}"))}},
		{name: "SUBSCRIBE to b's channel as Redis names it sees nothing of b", in: both, steps: []step{sub("/subscribe/{bchan.raw}").all(refusedOrOK())}},
		{name: "PSUBSCRIBE to keyspace notifications of b's database is refused or silent", in: both,
			steps: []step{sub("/psubscribe/__keyspace@{bdb}__:*").all(refusedOrOK())}},
		{name: "PSUBSCRIBE to keyevent notifications of b's database is refused or silent", in: both,
			steps: []step{sub("/psubscribe/__keyevent@{bdb}__:*").all(refusedOrOK())}},
		{name: "PSUBSCRIBE to keyspace notifications of the limiter's database is refused or silent", in: both,
			steps: []step{sub("/psubscribe/__keyspace@15__:*").all(refused().orElse(ok().without("redisgate:rl:")))}},
		{name: "PSUBSCRIBE to every keyspace notification sees nothing of b or the limiter", in: both,
			steps: []step{sub("/psubscribe/__key*").all(refused().orElse(ok().without("redisgate:rl:")))}},
		{name: "SUBSCRIBE to __redis__:invalidate sees no key of b", in: both, steps: []step{sub("/subscribe/__redis__:invalidate").all(refusedOrOK())}},
		{name: "PUBSUB CHANNELS is refused on a shared server and shows no channel of b", in: both,
			steps: []step{cmd("PUBSUB", "CHANNELS").each(refused(), ok())}},
		{name: "PUBSUB NUMSUB of b's channel counts no subscriber", in: both,
			steps: []step{cmd("PUBSUB", "NUMSUB", "{bchan}").all(refused().orElse(okBody(`{"result":["{bchan}",0]}`)))}},
		{name: "PUBSUB SHARDCHANNELS shows no channel of b", in: both, steps: []step{cmd("PUBSUB", "SHARDCHANNELS").all(refusedOrOK())}},
		{name: "MONITOR is refused on a shared server and shows only a's own commands on its own", in: both,
			steps: []step{sub("/monitor").each(refused(), ok("chk-a{rnd}").without("redisgate:rl:"))}},
		{name: "MONITOR from a read-only token is refused", in: both, steps: []step{sub("/monitor").by(ro).all(refused())}},

		// Introspection.
		{name: "SLOWLOG GET shows nothing of b", in: both, steps: []step{cmd("SLOWLOG", "GET", "1000").all(refusedOrOK())}},
		{name: "INFO keyspace is refused on a shared server", in: both,
			steps: []step{cmd("INFO", "keyspace").each(refused(), refusedOrOK())}},
		{name: "INFO everything shows nothing of b's database", in: both,
			steps: []step{cmd("INFO", "everything").each(refused().orElse(ok().without("db2:")), refusedOrOK())}},
		{name: "CLIENT LIST is refused", in: both, steps: []step{cmd("CLIENT", "LIST").all(refused())}},
		{name: "CLIENT REPLY OFF is refused and the connection keeps answering", in: both, steps: []step{
			cmd("CLIENT", "REPLY", "OFF").all(refused()),
			getPath("/get/a:str").all(okBody(`{"result":"aval-{rnd}"}`)),
		}},
		{name: "CLIENT TRACKING ON is refused", in: both, steps: []step{cmd("CLIENT", "TRACKING", "ON", "BCAST").all(refused())}},
		{name: "CLIENT KILL of other connections is refused", in: both, steps: []step{cmd("CLIENT", "KILL", "TYPE", "normal").all(refused())}},
		{name: "KEYS * lists only a's own keys", in: both, steps: []step{cmd("KEYS", "*").all(ok("a:str"))}},
		{name: "SCAN with a huge COUNT lists only a's own keys", in: both, steps: []step{cmd("SCAN", "0", "COUNT", "100000").all(ok("a:str"))}},

		// Functions and scripts.
		{name: "FUNCTION LIST WITHCODE is refused on a shared server and shows no library of b", in: both,
			steps: []step{cmd("FUNCTION", "LIST", "WITHCODE").each(refused(), ok())}},
		{name: "FUNCTION LOAD REPLACE of b's library is refused on a shared server and leaves b's alone", in: both,
			steps: []step{cmd("FUNCTION", "LOAD", "REPLACE", "#!lua name={blib}\nredis.register_function('{bfunc}', function(keys, args) return '{pwned}' end)").
				each(refused(), okBody(`{"result":"{blib}"}`))}},
		{name: "FUNCTION FLUSH is refused on a shared server and leaves b's library alone", in: both,
			steps: []step{cmd("FUNCTION", "FLUSH").each(refused(), okBody(`{"result":"OK"}`))}},
		{name: "FUNCTION DELETE of b's library is refused", in: both, steps: []step{cmd("FUNCTION", "DELETE", "{blib}").all(refused())}},
		{name: "FUNCTION DUMP is refused on a shared server", in: both, steps: []step{cmd("FUNCTION", "DUMP").each(refused(), ok())}},
		{name: "FCALL of b's function is refused", in: both, steps: []step{cmd("FCALL", "{bfunc}", "0").all(refused())}},
		{name: "FUNCTION KILL is refused", in: both, steps: []step{cmd("FUNCTION", "KILL").all(refused())}},
		{name: "SCRIPT KILL is refused", in: both, steps: []step{cmd("SCRIPT", "KILL").all(refused())}},
		// On a shared server SCRIPT FLUSH may be refused or confined to a's own scripts (the
		// README's choice): either way b's script still runs for b (checked after every case).
		{name: "SCRIPT FLUSH is refused or confined on a shared server and keeps b's scripts", in: both,
			steps: []step{cmd("SCRIPT", "FLUSH").each(refused().orElse(okBody(`{"result":"OK"}`)), okBody(`{"result":"OK"}`))}},
		{name: "SCRIPT EXISTS of the hash of b's script finds nothing", in: both,
			steps: []step{cmd("SCRIPT", "EXISTS", "{bsha}").all(refused().orElse(okBody(`{"result":[0]}`)))}},
		{name: "EVALSHA of the hash of b's loaded script does not run it", in: both, steps: []step{cmd("EVALSHA", "{bsha}", "0").all(refused())}},
		{name: "SCRIPT DEBUG YES is refused and the shared connection keeps working", in: both, steps: []step{
			cmd("SCRIPT", "DEBUG", "YES").all(refused()),
			cmd("EVAL", "return 1", "0").all(okBody(`{"result":1}`)),
		}},
		{name: "SCRIPT DEBUG SYNC is refused", in: both, steps: []step{
			cmd("SCRIPT", "DEBUG", "SYNC").all(refused()),
			cmd("EVAL", "return 2", "0").all(okBody(`{"result":2}`)),
		}},
		{name: "SCRIPT DEBUG YES inside a pipeline is refused and the next EVAL runs normally", in: both,
			steps: []step{pipe(c("SCRIPT", "DEBUG", "YES"), c("EVAL", "return 3", "0")).all(refusedOrEntries(map[int]string{0: "error", 1: `{"result":3}`}))}},
		{name: "SCRIPT DEBUG YES inside a transaction is refused", in: both,
			steps: []step{multi(c("SCRIPT", "DEBUG", "YES"), c("EVAL", "return 4", "0")).all(refused())}},

		// The limiter's state is out of reach.
		{name: "KEYS redisgate:* finds no limiter key", in: both, steps: []step{cmd("KEYS", "redisgate:*").all(okBody(`{"result":[]}`))}},
		{name: "SCAN MATCH redisgate:* finds no limiter key", in: both,
			steps: []step{cmd("SCAN", "0", "MATCH", "redisgate:*", "COUNT", "100000").all(okBody(`{"result":["0",[]]}`))}},
		{name: "DEL of every limiter key deletes nothing", in: both, steps: []step{cmd("DEL", "{limiter.keys}").all(okBody(`{"result":0}`))}},
		{name: "SET on another token's quota key leaves its quota alone", in: both, steps: []step{cmd("SET", "{victimq}", "999999").all(okBody(`{"result":"OK"}`))}},
		{name: "Deleting the limiter keys from Lua does not reset the quota", in: both,
			steps: []step{cmd("EVAL", luaDelLimiter, "0").by(quotaTok).times(19).all(want{body: `{"result":0}`, limited: true})}},
		{name: "KEYS then DEL of limiter keys in a pipeline deletes nothing", in: both,
			steps: []step{pipe(c("KEYS", "redisgate:*"), c("DEL", "{limiter.keys}")).all(okBody(`[{"result":[]},{"result":0}]`))}},
		{name: "Limiter keys live in no tenant database", in: both, custom: limiterPlacement,
			steps: []step{cmd("KEYS", "*rl:*").all(okBody(`{"result":[]}`))}},

		// Blocking timeouts are capped as Redis parses them.
		{name: "BLPOP with a timeout of hex zero is answered within --max-block", in: both,
			steps: []step{cmd("BLPOP", "nothing", "0x0").all(okBody(`{"result":null}`).orElse(refused()).in(blockBound))}},
		{name: "BLMPOP with a timeout of hex zero is answered within --max-block", in: both,
			steps: []step{cmd("BLMPOP", "0x0", "1", "nothing", "LEFT").all(okBody(`{"result":null}`).orElse(refused()).in(blockBound))}},
		{name: "BLPOP with a timeout past a Go duration is answered within --max-block", in: both,
			steps: []step{cmd("BLPOP", "nothing", "10000000000").all(okBody(`{"result":null}`).orElse(refused()).in(blockBound))}},
		{name: "BLPOP with a negative zero timeout is answered within --max-block", in: both,
			steps: []step{cmd("BLPOP", "nothing", "-0").all(okBody(`{"result":null}`).orElse(refused()).in(blockBound))}},
		{name: "BZPOPMIN with an exponent timeout is answered within --max-block", in: both,
			steps: []step{cmd("BZPOPMIN", "nothing", "1e10").all(okBody(`{"result":null}`).orElse(refused()).in(blockBound))}},
		{name: "WAIT with a timeout past a Go duration is answered within --max-block", in: both,
			steps: []step{cmd("WAIT", "1", "10000000000000").all(okBody(`{"result":0}`).orElse(refused()).in(blockBound))}},
		{name: "XREAD BLOCK 0 is answered within --max-block", in: both,
			steps: []step{cmd("XREAD", "BLOCK", "0", "STREAMS", "nothing", "$").all(okBody(`{"result":null}`).orElse(refused()).in(blockBound))}},
		{name: "XREAD of a stream named block is not a blocking read", in: both,
			steps: []step{cmd("XREAD", "COUNT", "5", "STREAMS", "block", "0").all(ok("blockentry1", "blockentry2").in(blockBound))}},

		// Runaway scripts are stopped by the gateway.
		{name: "A runaway Lua script is stopped after --command-timeout", in: both, tolerate: stall, after: servedAgain,
			steps: []step{cmd("EVAL", luaForever, "0").all(failed().saying("script").in(runawayBound))}},
		{name: "A runaway EVAL_RO from a read-only token is stopped after --command-timeout", in: both, tolerate: stall, after: servedAgain,
			steps: []step{cmd("EVAL_RO", luaForever, "0").by(ro).all(failed().saying("script").in(runawayBound))}},
		{name: "A runaway function is stopped after --command-timeout", in: both, tolerate: stall, after: servedAgain, steps: []step{
			cmd("FUNCTION", "LOAD", "REPLACE", "#!lua name=loop{rnd}\nredis.register_function('loop{rnd}', function() while true do end end)").
				each(refused(), okBody(`{"result":"loop{rnd}"}`)),
			cmd("FCALL", "loop{rnd}", "0").each(refused(), failed().saying("script").in(runawayBound)),
		}},

		// Answers are bounded: the pooled connection discards an answer past --max-response as
		// it streams in and fails the request (413) as soon as it passes, or the command timeout
		// comes first (504); either way no answer is held whole, and new requests are placed on
		// another connection than the one draining (pool: TestHeavyConnectionPassedOver). What
		// remains (stall) is Redis's own time: single-threaded, it builds the whole 300 MiB
		// answer before it sends a byte or serves another client (a PING sent to it on another
		// connection waited as long as the first byte, 4.3-5.4 s at load average 16 on the 2-core
		// test machine), so on a loaded machine requests to that server may time out meanwhile.
		{name: "A pipeline of 300 GETs of a 1 MiB value is refused past --max-response", in: both, tolerate: stall,
			steps: []step{pipe(repeatCmd(300, "GET", "a:big")...).all(refused("--max-response").orElse(failed()).in(maxResponseBound))}},
		{name: "A transaction of 300 GETs of a 1 MiB value is refused past --max-response", in: both, tolerate: stall,
			steps: []step{multi(repeatCmd(300, "GET", "a:big")...).all(refused("--max-response").orElse(failed()).in(maxResponseBound))}},

		// Commands that act on the whole server.
		{name: "SAVE is refused", in: both, steps: []step{cmd("SAVE").all(refused())}},
		{name: "BGSAVE is refused", in: both, steps: []step{cmd("BGSAVE").all(refused())}},
		{name: "BGREWRITEAOF is refused", in: both, steps: []step{cmd("BGREWRITEAOF").all(refused())}},
		{name: "LATENCY RESET is refused", in: both, steps: []step{cmd("LATENCY", "RESET").all(refused())}},
		{name: "SLOWLOG RESET is refused", in: both, steps: []step{cmd("SLOWLOG", "RESET").all(refused())}},
		{name: "MEMORY PURGE is refused", in: both, steps: []step{cmd("MEMORY", "PURGE").all(refused())}},
		{name: "ROLE is refused", in: both, steps: []step{cmd("ROLE").all(refused())}},
		{name: "CONFIG SET is refused", in: both, steps: []step{cmd("CONFIG", "SET", "notify-keyspace-events", "").all(refused())}},
		{name: "DEBUG SLEEP is refused", in: both, steps: []step{cmd("DEBUG", "SLEEP", "3").all(refused().in(time.Second))}},
		{name: "ACL LIST is refused", in: both, steps: []step{cmd("ACL", "LIST").all(refused())}},
		{name: "ACL SETUSER is refused", in: both, steps: []step{cmd("ACL", "SETUSER", "{pwned}", "on", "nopass", "+@all", "~*").all(refused())}},
		{name: "SHUTDOWN is refused", in: both, steps: []step{getPath("/shutdown/nosave").all(refused())}},
		{name: "REPLICAOF is refused", in: both, steps: []step{cmd("REPLICAOF", "127.0.0.1", "1").all(refused())}},
		{name: "MODULE LOAD is refused", in: both, steps: []step{cmd("MODULE", "LOAD", "/tmp/{pwned}.so").all(refused())}},

		// The same attacks spelled as Redis also reads them.
		{name: "MOVE spelled in mixed case is refused", in: both, steps: []step{cmd("mOvE", "a:str", "{odb}").all(refused())}},
		{name: "SELECT spelled in lower case is refused", in: both, steps: []step{cmd("select", "{odb}").all(refused())}},
		{name: "FLUSHALL spelled in mixed case empties only a's own database", in: both, tolerate: ownFlush, after: aFlushed,
			steps: []step{cmd("FlushAll").all(okBody(`{"result":"OK"}`))}},
		{name: "COPY with a lower-case db option is refused", in: both, steps: []step{cmd("copy", "a:str", "{pwned}", "db", "{odb}").all(refused())}},
		{name: "A command name with a NUL byte is refused", in: both, steps: []step{cmd("MOVE\x00x", "a:str", "{odb}").all(refused())}},
		{name: "Lua with a shebang selecting another database is refused", in: both,
			steps: []step{cmd("EVAL", "#!lua\n"+luaSelectGet, "1", "{kb}", "{odb}").all(refused())}},
		{name: "EVAL from a read-only token is refused", in: both, steps: []step{cmd("EVAL", luaSelectSet, "1", "{kbplain}", "{odb}", "{pwned}").by(ro).all(refused())}},
		{name: "PSUBSCRIBE with a glob matching the limiter's keyspace channels without naming them sees nothing of it", in: both,
			steps: []step{sub("/psubscribe/[_]_keyspace@15__:*").all(refused().orElse(ok().without("redisgate:rl:")))}},
		{name: "PSUBSCRIBE with a glob matching b's keyevent channels without naming them sees nothing of b", in: both,
			steps: []step{sub("/psubscribe/?_keyevent@{bdb}__:*").all(refused().orElse(ok().without("redisgate:rl:")))}},
		{name: "PSUBSCRIBE with a glob matching every channel of b as Redis names them sees nothing of b", in: both,
			steps: []step{sub("/psubscribe/[d]b{bdb}:*").all(refusedOrOK())}},

		// Commands that change a shared connection's mode, or every client's.
		{name: "HELLO 3 is refused and the connection keeps speaking RESP2", in: both, steps: []step{
			cmd("HELLO", "3").all(refused()),
			pipe(c("HELLO", "3"), c("HGETALL", "a:hash")).all(refusedOrEntries(map[int]string{0: "error", 1: `{"result":["f","aval-hash"]}`})),
		}},
		{name: "AUTH as another user is refused", in: both, steps: []step{cmd("AUTH", "default", "{pwned}").all(refused())}},
		{name: "RESET inside a pipeline is refused", in: both,
			steps: []step{pipe(c("RESET"), c("GET", "a:str")).all(refusedOrEntries(map[int]string{0: "error", 1: `{"result":"aval-{rnd}"}`}))}},
		{name: "CLIENT PAUSE of every client is refused", in: both, steps: []step{cmd("CLIENT", "PAUSE", "10000", "ALL").all(refused())}},
		{name: "CLIENT NO-EVICT inside a pipeline is refused", in: both,
			steps: []step{pipe(c("CLIENT", "NO-EVICT", "ON")).all(refusedOrEntries(map[int]string{0: "error"}))}},
		{name: "SCRIPT DEBUG YES from a read-only token is refused", in: both, steps: []step{cmd("SCRIPT", "DEBUG", "YES").by(ro).all(refused())}},
		{name: "READONLY inside a transaction is refused", in: both, steps: []step{multi(c("READONLY")).all(refused())}},
		{name: "WATCH is refused", in: both, steps: []step{cmd("WATCH", "a:str").all(refused())}},
		{name: "SUBSCRIBE as a command is refused", in: both, steps: []step{cmd("SUBSCRIBE", "{bchan}").all(refused())}},
		{name: "MONITOR as a command is refused", in: both, steps: []step{cmd("MONITOR").all(refused())}},

		// More blocking timeouts Redis reads differently from Go.
		{name: "BRPOPLPUSH with a timeout of hex zero is answered within --max-block", in: both,
			steps: []step{cmd("BRPOPLPUSH", "nothing", "{pwned}", "0x0").all(okBody(`{"result":null}`).orElse(refused()).in(blockBound))}},
		{name: "BZMPOP with a timeout of hex zero is answered within --max-block", in: both,
			steps: []step{cmd("BZMPOP", "0x0", "1", "nothing", "MIN").all(okBody(`{"result":null}`).orElse(refused()).in(blockBound))}},
		{name: "XREAD BLOCK with a hex timeout is answered within --max-block", in: both,
			steps: []step{cmd("XREAD", "BLOCK", "0x0", "STREAMS", "nothing", "$").all(okBody(`{"result":null}`).orElse(refused()).in(blockBound))}},
		{name: "XREADGROUP of a stream named block is not a blocking read", in: both,
			steps: []step{cmd("XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "STREAMS", "block", ">").all(ok("blockentry1").in(blockBound))}},
		{name: "BLPOP inside a pipeline with a timeout of hex zero is answered within --max-block", in: both,
			steps: []step{pipe(c("BLPOP", "nothing", "0x0")).all(okBody(`[{"result":null}]`).orElse(refused()).orElse(entries(map[int]string{0: "error"})).in(blockBound))}},

		// The same attacks inside /pipeline and /multi-exec and from a read-only token.
		{name: "FLUSHALL inside a pipeline empties only a's own database", in: both, tolerate: ownFlush, after: aFlushed,
			steps: []step{pipe(c("FLUSHALL")).all(refused().orElse(okBody(`[{"result":"OK"}]`)))}},
		{name: "FLUSHALL inside a transaction empties only a's own database", in: both, tolerate: ownFlush, after: aFlushed,
			steps: []step{multi(c("FLUSHALL")).all(refused().orElse(okBody(`[{"result":"OK"}]`)))}},
		{name: "MOVE inside a pipeline is refused", in: both, steps: []step{pipe(c("MOVE", "a:str", "{odb}"), c("GET", "a:str")).all(refusedOrEntries(map[int]string{0: "error", 1: `{"result":"aval-{rnd}"}`}))}},
		{name: "MOVE inside a transaction is refused", in: both, steps: []step{multi(c("MOVE", "a:str", "{odb}")).all(refused())}},
		{name: "SWAPDB inside a pipeline is refused", in: both, steps: []step{pipe(c("SWAPDB", "{adb}", "{odb}")).all(refusedOrEntries(map[int]string{0: "error"}))}},
		{name: "SELECT inside a transaction is refused", in: both, steps: []step{multi(c("SELECT", "{odb}"), c("GET", "{kb}")).all(refused())}},
		{name: "COPY with DB inside a transaction is refused", in: both, steps: []step{multi(c("COPY", "a:str", "{pwned}", "DB", "{odb}")).all(refused())}},
		{name: "Lua select of another database inside a pipeline is refused", in: both,
			steps: []step{pipe(c("EVAL", luaSelectGet, "1", "{kb}", "{odb}")).all(refusedOrEntries(map[int]string{0: "error"}))}},
		{name: "Lua select of another database inside a transaction is refused", in: both,
			steps: []step{multi(c("EVAL", luaSelectGet, "1", "{kb}", "{odb}")).all(refused().orElse(entries(map[int]string{0: "error"})))}},
		{name: "CONFIG SET inside a pipeline is refused", in: both,
			steps: []step{pipe(c("CONFIG", "SET", "notify-keyspace-events", "")).all(refusedOrEntries(map[int]string{0: "error"}))}},
		{name: "SHUTDOWN inside a transaction is refused", in: both, steps: []step{multi(c("SHUTDOWN", "NOSAVE")).all(refused())}},
		{name: "SCRIPT FLUSH inside a transaction is refused on a shared server", in: both,
			steps: []step{multi(c("SCRIPT", "FLUSH")).each(refused(), okBody(`[{"result":"OK"}]`))}},
		{name: "MOVE from a read-only token is refused", in: both, steps: []step{cmd("MOVE", "a:str", "{odb}").by(ro).all(refused())}},
		{name: "FLUSHALL from a read-only token is refused", in: both, steps: []step{cmd("FLUSHALL").by(ro).all(refused())}},
		{name: "PUBLISH from a read-only token is refused", in: both, steps: []step{cmd("PUBLISH", "{bchan}", "{pwned}").by(ro).all(refused())}},
		{name: "KEYS redisgate:* from a read-only token finds nothing", in: both,
			steps: []step{cmd("KEYS", "redisgate:*").by(ro).all(refused().orElse(okBody(`{"result":[]}`)))}},
		{name: "FUNCTION FLUSH inside a pipeline from a read-only token is refused", in: both,
			steps: []step{pipe(c("FUNCTION", "FLUSH")).by(ro).all(refusedOrEntries(map[int]string{0: "error"}))}},

		// Revocation and admin surfaces.
		{name: "A subscription whose token is revoked by SIGHUP ends within a heartbeat", in: both, custom: revokedSubscription},
		{name: "A MONITOR stream whose token is revoked by SIGHUP ends within a heartbeat", in: both, custom: revokedMonitor},
		{name: "pprof cmdline shows no token or password given as flags", in: both, custom: pprofCmdline},
	}
	cases = append(cases, hostileCase{name: "Deleting limiter keys every third request does not defeat the rate limit", in: both,
		steps: rateAttack()})
	return cases
}

// repeatCmd is n copies of one command.
func repeatCmd(n int, args ...string) [][]string {
	out := make([][]string, n)
	for i := range out {
		out[i] = args
	}
	return out
}

// rateAttack is 12 requests of the rate token (3/m:3), every third deleting the limiter's keys.
func rateAttack() []step {
	var steps []step
	for range 4 {
		limited := want{status: 200, limited: true}
		steps = append(steps, getPath("/ping").by(rateTok).all(limited), getPath("/ping").by(rateTok).all(limited),
			cmd("EVAL", luaDelLimiter, "0").by(rateTok).all(limited))
	}
	return steps
}

// aFlushed checks that a flush emptied a's own database.
func aFlushed(r *caseRun) {
	if n, err := r.e.aSrv.DoDB(r.e.aDB, "EXISTS", "a:str", "a:hash", "a:list", "block"); err != nil || n != int64(0) {
		r.fail("a's own database was not flushed: %v keys of 4 left (%v)", n, err)
	}
}

// servedAgain checks that, after a runaway script, both databases answer at once.
func servedAgain(r *caseRun) {
	e := r.e
	begin := time.Now()
	for _, tk := range []string{e.chkA, e.chkB} {
		for {
			st, body := e.doAs(tk, "GET", "/ping", "")
			if st == 200 {
				break
			}
			if time.Since(begin) > 2*time.Second {
				r.fail("not served again within 2s of the runaway script's answer: %d %s", st, body)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, srv := range []*redistest.Server{e.s1, e.s2} {
		if v, err := srv.Do("PING"); err != nil {
			r.fail("Redis %s still busy after the runaway script's answer: %v %v", srv.Addr, v, err)
		}
	}
}

// limiterPlacement checks that no limiter key is in a tenant's logical database (0..14 on
// every server) and that the limiter's state is in the reserved database 15.
func limiterPlacement(r *caseRun) {
	e := r.e
	ids := []string{"redisgate", userID(e.quota[r.index]), userID(e.chkA), userID(e.chkB), userID(e.victim)}
	for si, srv := range []*redistest.Server{e.s1, e.s2} {
		if si == 1 && e.s2 == e.s1 {
			break
		}
		for db := range limiterDB {
			v, err := srv.DoDB(db, "KEYS", "*")
			if err != nil {
				r.fail("KEYS on server %d DB %d: %v", si+1, db, err)
				continue
			}
			for _, k := range v.([]any) {
				for _, id := range ids {
					if strings.Contains(fmt.Sprint(k), id) {
						r.fail("limiter key %q in tenant-selectable DB %d of server %d", k, db, si+1)
					}
				}
			}
		}
	}
	found := false
	for _, k := range e.limiterKeys() {
		found = found || strings.Contains(k, userID(e.quota[r.index]))
	}
	if !found {
		r.fail("the quota token's counter is not in DB %d of the first database's server: %v", limiterDB, e.limiterKeys())
	}
}

// revokedStream opens path with token, revokes the token by SIGHUP and checks that the
// stream ends within a heartbeat and the token is refused from then on.
func revokedStream(r *caseRun, token, path string, wantOpen bool) {
	e := r.e
	s := e.openStream(token, path)
	r.sent = append(r.sent, path)
	defer func() {
		s.close()
		r.answers = append(r.answers, s.text())
	}()
	if !wantOpen {
		if s.status < 400 || s.status > 499 {
			r.fail("%s opened with %d, want it refused on a shared server: %.200s", path, s.status, s.text())
		}
		return
	}
	if s.status != 200 {
		r.fail("%s: status %d %v %.200s", path, s.status, s.err, s.text())
		return
	}
	time.Sleep(300 * time.Millisecond)
	e.revoked[token] = true
	begin := time.Now()
	if err := e.reload(); err != nil {
		r.fail("SIGHUP: %v", err)
		return
	}
	bound := hostileHeartbeat + 2*time.Second
	select {
	case <-s.done:
		r.t.Logf("the revoked token's stream ended %v after SIGHUP", time.Since(begin).Round(time.Millisecond))
	case <-time.After(bound):
		r.fail("the revoked token's %s stream still open %v after SIGHUP (heartbeat %v): %.300s", path, bound, hostileHeartbeat, s.text())
	}
	redistest.WaitFor(r.t, 3*time.Second, func() bool { st, _ := e.doAs(token, "GET", "/ping", ""); return st == 401 }, "the revoked token refused")
}

func revokedSubscription(r *caseRun) {
	token := r.addToken("sub")
	revokedStream(r, token, "/subscribe/"+r.e.aChan, true)
}

func revokedMonitor(r *caseRun) {
	token := r.addToken("mon")
	revokedStream(r, token, "/monitor", r.e.layout == separate)
}

// addToken adds a fresh read-write token of database a by SIGHUP and returns it once it works.
func (r *caseRun) addToken(what string) string {
	e := r.e
	tok := fmt.Sprintf("revocable-%s-%s-%d", what, e.rnd, r.index)
	e.extra = append(e.extra, tok)
	if err := e.reload(); err != nil {
		r.t.Fatal(err)
	}
	redistest.WaitFor(r.t, 3*time.Second, func() bool { st, _ := e.doAs(tok, "GET", "/ping", ""); return st == 200 }, "the new token accepted after SIGHUP")
	return tok
}

// pprofCmdline starts a gateway process with a token and an upstream password given as
// flags and --pprof, and checks /debug/pprof/cmdline shows neither.
func pprofCmdline(r *caseRun) {
	const password = "upstream-secret-pw-7f3a9c"
	rs := redistest.Start(r.t)
	rs.MustDo("CONFIG", "SET", "requirepass", password)
	token := "flag-token-" + randHex(12)
	port, err := redistest.FreePort()
	if err != nil {
		r.t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	url := startProcess(r.t, "--listen", "127.0.0.1:0", "--upstream", "redis://:"+password+"@"+rs.Addr+"/0", "--token", token,
		"--pprof", "--admin-listen", admin, "--log-level", "error")
	if st, body := (&env{url: url, client: http.DefaultClient}).doAs(token, "GET", "/ping", ""); st != 200 {
		r.fail("the gateway with flags does not serve: %d %s", st, body)
	}
	var res *http.Response
	redistest.WaitFor(r.t, 3*time.Second, func() bool {
		res, err = http.Get("http://" + admin + "/debug/pprof/cmdline")
		return err == nil
	}, "the admin listener")
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r.t.Logf("/debug/pprof/cmdline: %d %q", res.StatusCode, b)
	for _, s := range []struct{ what, text string }{{"the token", token}, {"the upstream password", password}} {
		if strings.Contains(string(b), s.text) {
			r.fail("/debug/pprof/cmdline (%d) shows %s given as a flag: %q", res.StatusCode, s.what, b)
		}
	}
}
