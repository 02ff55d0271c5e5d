package command

import (
	"strings"
	"testing"
	"time"
)

func join(args [][]byte) string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = string(a)
	}
	return strings.Join(s, " ")
}

func TestCheckPolicy(t *testing.T) {
	unshared := Scope{Blocking: true}
	shared := Scope{Blocking: true, Shared: true, Channels: "db1:", DB: 1}
	ro := Scope{Blocking: true, ReadOnly: true}
	tests := []struct {
		scope   Scope
		give    string
		want    string // the arguments to send, or the error
		wantErr bool
	}{
		// Plain commands pass unchanged.
		{unshared, "get k", "get k", false},
		{shared, "SET k v", "SET k v", false},
		{unshared, "JSON.SET k $ 1", "JSON.SET k $ 1", false},
		{unshared, "lastsave", "lastsave", false},
		{unshared, "memory usage k", "memory usage k", false},
		{unshared, "MEMORY HELP", "MEMORY HELP", false},
		{unshared, "script load x", "script load x", false},
		{unshared, "object encoding k", "object encoding k", false},

		// Always refused, with today's texts for today's cases.
		{unshared, "multi", "ERR command 'MULTI' is not supported by redisgate: transactions run through /multi-exec", true},
		{unshared, "Client list", "ERR command 'CLIENT' is not supported by redisgate: connections are shared", true},
		{unshared, "client", "ERR command 'CLIENT' is not supported by redisgate: connections are shared", true},
		{unshared, "client no-such-subcommand", "ERR command 'CLIENT' is not supported by redisgate: connections are shared", true},
		{unshared, "select 1", "ERR command 'SELECT' is not supported by redisgate: connections are shared; each token has one database", true},
		{unshared, "monitor", "ERR command 'MONITOR' is not supported by redisgate: use the /monitor endpoint", true},
		{unshared, "config get x", "ERR command 'CONFIG' is not supported by redisgate: server administration is not available through the gateway", true},
		{unshared, "move k 2", "ERR command 'MOVE' is not supported by redisgate: it moves keys to another database", true},
		{unshared, "bgsave", "ERR command 'BGSAVE' is not supported by redisgate: persistence of the shared server is the operator's", true},
		{unshared, "slowlog get", "ERR command 'SLOWLOG' is not supported by redisgate: it shows other tenants' commands", true},
		{unshared, "latency latest", "ERR command 'LATENCY' is not supported by redisgate: it reports on the whole server", true},
		{unshared, "memory stats", "ERR command 'MEMORY STATS' is not supported by redisgate: it reports on or acts on the whole server; only MEMORY USAGE is available", true},
		{unshared, "memory purge", "ERR command 'MEMORY PURGE' is not supported by redisgate: it reports on or acts on the whole server; only MEMORY USAGE is available", true},
		{unshared, "role", "ERR command 'ROLE' is not supported by redisgate: the gateway owns the replication topology", true},
		{unshared, "cluster info", "ERR command 'CLUSTER' is not supported by redisgate: the gateway presents one database and routes over a Redis Cluster itself", true},
		{unshared, "asking", "ERR command 'ASKING' is not supported by redisgate: the gateway presents one database and routes over a Redis Cluster itself", true},
		{unshared, "readonly", "ERR command 'READONLY' is not supported by redisgate: connections are shared", true},
		{unshared, "pfdebug getreg k", "ERR command 'PFDEBUG' is not supported by redisgate: it is a Redis debugging aid that can stall the shared server", true},
		{unshared, "pfselftest", "ERR command 'PFSELFTEST' is not supported by redisgate: it is a Redis debugging aid that can stall the shared server", true},
		{unshared, "script debug yes", "ERR command 'SCRIPT DEBUG' is not supported by redisgate: the Lua debugger takes over the connection", true},
		{unshared, "SCRIPT KILL", "ERR command 'SCRIPT KILL' is not supported by redisgate: the gateway kills runaway scripts itself", true},
		{unshared, "function kill", "ERR command 'FUNCTION KILL' is not supported by redisgate: the gateway kills runaway scripts itself", true},
		{shared, "function kill", "ERR command 'FUNCTION KILL' is not supported by redisgate: the gateway kills runaway scripts itself", true},

		// FLUSHALL wipes only the token's database.
		{unshared, "flushall", "FLUSHDB", false},
		{shared, "FLUSHALL async", "FLUSHDB async", false},
		{unshared, "FLUSHALL SYNC", "FLUSHDB SYNC", false},

		// Shared servers: server-wide state is refused.
		{unshared, "function list", "function list", false},
		{unshared, "fcall f 0", "fcall f 0", false},
		{unshared, "script flush", "script flush", false},
		{unshared, "info keyspace", "info keyspace", false},
		{unshared, "pubsub channels", "pubsub channels", false},
		{shared, "function list", "ERR command 'FUNCTION' is not supported by redisgate: functions are server-wide, shared with other databases on the server", true},
		{shared, "function load x", "ERR command 'FUNCTION' is not supported by redisgate: functions are server-wide, shared with other databases on the server", true},
		{shared, "fcall f 0", "ERR command 'FCALL' is not supported by redisgate: functions are server-wide, shared with other databases on the server", true},
		{shared, "fcall_ro f 0", "ERR command 'FCALL_RO' is not supported by redisgate: functions are server-wide, shared with other databases on the server", true},
		{shared, "script flush", "script flush", false}, // answered by the gateway: see TestScriptFlushIsLocalOnSharedServers
		{shared, "info", "ERR command 'INFO' is not supported by redisgate: it reports on other tenants' databases", true},
		{shared, "pubsub numsub x", "ERR command 'PUBSUB' is not supported by redisgate: it lists other tenants' channels", true},
		{shared, "script load x", "script load x", false},

		// Publishing is confined to the database's channels.
		{unshared, "publish x m", "publish x m", false},
		{shared, "publish x m", "publish db1:x m", false},
		{shared, "SPUBLISH x m", "SPUBLISH db1:x m", false},
		{shared, "publish __redis__:invalidate m", "ERR channel '__redis__:invalidate' is not available through redisgate: names starting with __ are Redis's own", true},
		{unshared, "publish __keyspace@0__:k m", "ERR channel '__keyspace@0__:k' is not available through redisgate: names starting with __ are Redis's own", true},
		{shared, "spublish __keyevent@1__:del m", "ERR channel '__keyevent@1__:del' is not available through redisgate: names starting with __ are Redis's own", true},

		// Read-only tokens.
		{ro, "get k", "get k", false},
		{ro, "sort_ro k", "sort_ro k", false},
		{ro, "eval_ro s 0", "eval_ro s 0", false},
		{ro, "evalsha_ro s 0", "evalsha_ro s 0", false},
		{ro, "fcall_ro f 0", "fcall_ro f 0", false},
		{ro, "ping", "ping", false},
		{ro, "echo x", "echo x", false},
		{ro, "time", "time", false},
		{ro, "memory usage k", "memory usage k", false},
		{ro, "xinfo stream s", "xinfo stream s", false},
		{ro, "xread block 0 streams s $", "xread block 30000 streams s $", false},
		{ro, "set k v", "NOPERM this token is read-only and cannot run 'SET'", true},
		{ro, "sort k", "NOPERM this token is read-only and cannot run 'SORT'", true},
		{ro, "keys *", "NOPERM this token is read-only and cannot run 'KEYS'", true},
		{ro, "scan 0", "NOPERM this token is read-only and cannot run 'SCAN'", true},
		{ro, "randomkey", "NOPERM this token is read-only and cannot run 'RANDOMKEY'", true},
		{ro, "eval s 0", "NOPERM this token is read-only and cannot run 'EVAL'", true},
		{ro, "script load x", "NOPERM this token is read-only and cannot run 'SCRIPT LOAD'", true},
		{ro, "flushall", "NOPERM this token is read-only and cannot run 'FLUSHALL'", true},
		{ro, "publish x m", "NOPERM this token is read-only and cannot run 'PUBLISH'", true},
		{ro, "json.get k", "NOPERM this token is read-only and cannot run 'JSON.GET'", true},
		{ro, "blpop l 0", "NOPERM this token is read-only and cannot run 'BLPOP'", true},
		{ro, "multi", "ERR command 'MULTI' is not supported by redisgate: transactions run through /multi-exec", true},

		// Blocking.
		{Scope{}, "blpop l 0", "ERR blocking command 'BLPOP' is not supported by redisgate: it would stall a shared connection", true},
		{Scope{}, "xread block 0 streams s $", "ERR blocking command 'XREAD' is not supported by redisgate: it would stall a shared connection", true},
		{Scope{}, "wait 1 0", "ERR blocking command 'WAIT' is not supported by redisgate: it would stall a shared connection", true},
		{Scope{}, "waitaof 1 1 0", "ERR blocking command 'WAITAOF' is not supported by redisgate: it would stall a shared connection", true},
		{Scope{}, "XREAD COUNT 5 STREAMS block 0", "XREAD COUNT 5 STREAMS block 0", false},
		{Scope{}, "XREADGROUP GROUP block c STREAMS s >", "XREADGROUP GROUP block c STREAMS s >", false},
		{Scope{}, "XREADGROUP GROUP g block COUNT 1 STREAMS block >", "XREADGROUP GROUP g block COUNT 1 STREAMS block >", false},
		{Scope{}, "XREAD COUNT block STREAMS s 0", "XREAD COUNT block STREAMS s 0", false},
		{Scope{}, "XREAD STREAMS s block", "XREAD STREAMS s block", false},
		{unshared, "XREADGROUP GROUP g c NOACK BLOCK 0 STREAMS s >", "XREADGROUP GROUP g c NOACK BLOCK 30000 STREAMS s >", false},
		{unshared, "XREAD BLOCK 10 BLOCK 0 STREAMS s $", "XREAD BLOCK 10 BLOCK 30000 STREAMS s $", false},
		{unshared, "blpop a b 10000000000", "blpop a b 30", false},
		{unshared, "WAIT 1 10000000000000", "WAIT 1 30000", false},
		{unshared, "waitaof 1 1 0", "waitaof 1 1 30000", false},
		{unshared, "BLPOP k 0x0", "BLPOP k 30", false},
		{unshared, "BLPOP k 1e3", "BLPOP k 30", false},
		{unshared, "BLPOP k 1e1", "BLPOP k 1e1", false},
		{unshared, "BLPOP k 0.0001", "BLPOP k 0.0001", false},
		{unshared, "BLPOP k -0.0001", "BLPOP k 30", false},
		{unshared, "BLPOP k -0", "BLPOP k 30", false},
		{unshared, "BLPOP k -1", "BLPOP k -1", false},
		{unshared, "BLPOP k soon", "BLPOP k soon", false},
		{unshared, "BZMPOP 0 1 z MIN", "BZMPOP 30 1 z MIN", false},
		{Scope{Blocking: true, MaxBlock: 1500 * time.Millisecond}, "BLMPOP 0 1 l LEFT", "BLMPOP 1.5 1 l LEFT", false},
		{Scope{Blocking: true, MaxBlock: 1500 * time.Millisecond}, "BLMPOP 2 1 l LEFT", "BLMPOP 1.5 1 l LEFT", false},

		// Arguments the gateway does not know stay for Redis to judge.
		{unshared, "copy a", "copy a", false},
		{unshared, "publish", "publish", false},
	}
	for _, tt := range tests {
		args := fields(tt.give)
		before := join(args)
		p, err := tt.scope.Check(args)
		got := join(p.Args)
		if err != nil {
			got = err.Error()
		}
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%+v.Check(%s) = %q, %v; want %q", tt.scope, tt.give, got, err, tt.want)
		}
		if join(args) != before {
			t.Errorf("Check(%s) modified its arguments to %q", tt.give, join(args))
		}
		if err == nil && join(p.Args) == before && len(args) > 0 && &p.Args[0] != &args[0] {
			t.Errorf("Check(%s) copied arguments it did not rewrite", tt.give)
		}
	}
}

func TestCheckPlan(t *testing.T) {
	s := Scope{Blocking: true, MaxBlock: 5 * time.Second}
	tests := []struct {
		give                           string
		kind                           Kind
		read, noWrite, script, blocked bool
		block                          time.Duration
	}{
		{"GET k", Normal, true, true, false, false, 0},
		{"SET k v", Normal, false, false, false, false, 0},
		{"JSON.SET k $ 1", Normal, false, false, false, false, 0},
		{"EVAL s 0", Normal, false, false, true, false, 0},
		{"EVALSHA s 0", Normal, false, false, true, false, 0},
		{"EVAL_RO s 0", Normal, true, true, true, false, 0},
		{"EVALSHA_RO s 0", Normal, true, true, true, false, 0},
		{"FCALL f 0", Normal, false, false, true, false, 0},
		{"FCALL_RO f 0", Normal, true, true, true, false, 0},
		{"PUBLISH c m", Normal, false, false, false, false, 0},
		{"SCRIPT LOAD s", Normal, false, false, false, false, 0},
		{"SCRIPT EXISTS s", Normal, false, false, false, false, 0},
		{"INFO", Normal, false, false, false, false, 0},
		{"PUBSUB NUMPAT", Normal, false, false, false, false, 0},
		{"LASTSAVE", Normal, false, true, false, false, 0},
		{"FUNCTION LIST", Normal, false, false, false, false, 0},
		{"PFCOUNT h", Normal, true, true, false, false, 0},
		{"SORT_RO k", Normal, true, true, false, false, 0},
		{"SORT k", Normal, false, false, false, false, 0},
		{"KEYS *", Normal, false, true, false, false, 0},
		{"TIME", Normal, true, true, false, false, 0},
		{"FLUSHALL", Normal, false, false, false, false, 0},
		{"BLPOP l 1", Blocking, false, false, false, true, time.Second},
		{"BLPOP l 0", Blocking, false, false, false, true, 5 * time.Second},
		{"BLPOP l -1", Blocking, false, false, false, true, 5 * time.Second},
		{"XREAD BLOCK 250 STREAMS s $", Blocking, true, true, false, true, 250 * time.Millisecond},
		{"XREAD STREAMS s $", Normal, true, true, false, false, 0},
		{"WAIT 1 100", Blocking, false, false, false, true, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		p, err := s.Check(fields(tt.give))
		if err != nil {
			t.Errorf("%s: %v", tt.give, err)
			continue
		}
		i := p.Info
		if i.Kind != tt.kind || i.Read != tt.read || i.NoWrite != tt.noWrite || i.Script != tt.script || p.Block != tt.block || i.ConnState {
			t.Errorf("%s: plan %+v, want kind %v read %v noWrite %v script %v block %v", tt.give, p, tt.kind, tt.read, tt.noWrite, tt.script, tt.block)
		}
		if l := Lookup(fields(tt.give)); tt.give != "FLUSHALL" && l != i {
			t.Errorf("%s: Lookup %+v, Check %+v", tt.give, l, i)
		}
	}
}

func TestCheckInTransaction(t *testing.T) {
	for _, s := range []Scope{{}, {Blocking: true}} {
		for _, cmd := range []string{"BLPOP l 0", "XREAD BLOCK 0 STREAMS s $", "WAIT 1 0", "BLMOVE a b LEFT RIGHT 10000000000"} {
			p, err := s.CheckInTransaction(fields(cmd))
			if err != nil || p.Info.Kind != Normal || p.Block != 0 || join(p.Args) != cmd {
				t.Errorf("in a transaction %s: %+v, %v", cmd, p, err)
			}
		}
		for _, cmd := range []string{"MULTI", "WATCH k", "CLIENT ID", "SUBSCRIBE c"} {
			if _, err := s.CheckInTransaction(fields(cmd)); err == nil {
				t.Errorf("in a transaction %s is allowed", cmd)
			}
		}
	}
	p, err := Scope{Shared: true}.CheckInTransaction(fields("COPY a b"))
	if err != nil || string(p.Args[0]) != "EVAL" {
		t.Errorf("in a transaction, shared COPY: %q, %v", p.Args, err)
	}
	if p, err := (Scope{}).CheckInTransaction(fields("FLUSHALL")); err != nil || join(p.Args) != "FLUSHDB" {
		t.Errorf("in a transaction, FLUSHALL: %q, %v", p.Args, err)
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		give string
		want Info
	}{
		{"get k", Info{Kind: Normal, Read: true, NoWrite: true, Cacheable: true, RetrySafe: true}},
		{"no.such k", Info{Kind: Normal}},
		{"client id", Info{Kind: Refused, ConnState: true}},
		{"SCRIPT debug yes", Info{Kind: Refused, ConnState: true}},
		{"script kill", Info{Kind: Refused}},
		{"copy a b db 1", Info{Kind: Refused}},
		{"copy a b", Info{Kind: Normal}},
		{"xread count 1 block 0 streams s $", Info{Kind: Blocking, Read: true, NoWrite: true}},
		{"xread count 1 streams block $", Info{Kind: Normal, Read: true, NoWrite: true, RetrySafe: true}},
		{"blpop l 0", Info{Kind: Blocking}},
		{"eval s 0", Info{Kind: Normal, Script: true}},
		{"subscribe c", Info{Kind: Refused, ConnState: true}},
		{strings.Repeat("x", 100), Info{Kind: Normal}},
		{"script " + strings.Repeat("x", 100), Info{Kind: Normal}},
	}
	for _, tt := range tests {
		if got := Lookup(fields(tt.give)); got != tt.want {
			t.Errorf("Lookup(%s) = %+v, want %+v", tt.give, got, tt.want)
		}
	}
	if got := Lookup(nil); got != (Info{Kind: Normal}) {
		t.Errorf("Lookup(nil) = %+v", got)
	}
	if _, err := (Scope{}).Check(nil); err == nil {
		t.Error("Check(nil) is allowed")
	}
	if Name(fields("xAdd s")) != "XADD" || Name(nil) != "" {
		t.Error("Name")
	}
}

func TestPolicyNamesTable(t *testing.T) {
	newer := map[string]bool{"WAITAOF": true}
	for name, r := range policy {
		if specOf(name) == nil && !newer[name] {
			t.Errorf("policy names %s, which is not in the table", name)
		}
		if r.deny && r.refused == "" && r.special != specialFlushAll && r.special != specialCopy {
			t.Errorf("%s is denied by ACL but not refused", name)
		}
		if r.denyShared && r.shared == "" && r.special != specialCopy && r.special != specialScriptFlush {
			t.Errorf("%s is denied by ACL on shared servers but not refused there", name)
		}
	}
}

func TestChannel(t *testing.T) {
	prefixed := Scope{Channels: "db1:", DB: 1}
	alone := Scope{DB: 0}
	tests := []struct {
		scope   Scope
		give    string
		pattern bool
		want    string // "" refused
	}{
		{prefixed, "news", false, "db1:news"},
		{prefixed, "*", true, "db1:*"},
		{prefixed, "?_keyspace@0__:*", true, "db1:?_keyspace@0__:*"},
		{prefixed, "", false, "db1:"},
		{prefixed, "__keyspace@1__:k", false, "__keyspace@1__:k"},
		{prefixed, "__keyevent@1__:del", false, "__keyevent@1__:del"},
		{prefixed, "__keyspace@1__:*", true, "__keyspace@1__:*"},
		{prefixed, "__keyspace@0__:k", false, ""},
		{prefixed, "__keyspace@10__:*", true, ""},
		{prefixed, "__keyspace@1__*", true, ""},
		{prefixed, "__keyspace@*__:*", true, ""},
		{prefixed, "__key*", true, ""},
		{prefixed, "__redis__:invalidate", false, ""},
		{prefixed, "__sentinel__:hello", false, ""},
		{prefixed, "__", false, ""},
		{Scope{Channels: "t*[1]:"}, "a*", true, `t\*\[1\]:a*`},
		{Scope{Channels: "t*[1]:"}, "a*", false, "t*[1]:a*"},
		{alone, "news", false, "news"},
		{alone, "*", true, "*"},
		{alone, "__keyspace@0__:*", true, "__keyspace@0__:*"},
		{alone, "__keyevent@0__:expired", false, "__keyevent@0__:expired"},
		{alone, "__keyspace@1__:*", true, ""},
		{alone, "__*", true, ""},
		{alone, "__redis__:invalidate", false, ""},
	}
	for _, tt := range tests {
		got, err := tt.scope.Channel([]byte(tt.give), tt.pattern)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%+v.Channel(%q) = %q, want refused", tt.scope, tt.give, got)
		case tt.want != "" && (err != nil || string(got) != tt.want):
			t.Errorf("%+v.Channel(%q) = %q, %v; want %q", tt.scope, tt.give, got, err, tt.want)
		case err == nil && string(tt.scope.Unchannel(got)) != tt.give:
			t.Errorf("Unchannel(%q) = %q, want %q", got, tt.scope.Unchannel(got), tt.give)
		}
	}
	if got := prefixed.Unchannel([]byte("db2:x")); string(got) != "db2:x" {
		t.Errorf("Unchannel of another prefix = %q", got)
	}
}

func TestCheckAllocs(t *testing.T) {
	s := Scope{Blocking: true, Shared: true, Channels: "db1:", DB: 1}
	for _, cmd := range []string{"GET k", "set k v", "HSET h f v", "evalsha 0123 1 k", "MGET a b c", "xread count 1 streams s 0",
		"blpop l 5", "script exists x", "json.get k", "object encoding k", "WAIT 0 10"} {
		args := fields(cmd)
		if n := testing.AllocsPerRun(100, func() { s.Check(args) }); n != 0 {
			t.Errorf("Check(%s) allocates %v times", cmd, n)
		}
		if n := testing.AllocsPerRun(100, func() { Lookup(args) }); n != 0 {
			t.Errorf("Lookup(%s) allocates %v times", cmd, n)
		}
	}
}

func BenchmarkCheckGET(b *testing.B) {
	s := Scope{Blocking: true, Shared: true, Channels: "db1:", DB: 1}
	args := fields("get some:key")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Check(args); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckPipeline(b *testing.B) {
	s := Scope{Blocking: true}
	cmds := [][][]byte{fields("SET k v"), fields("incr n"), fields("HGETALL h"), fields("expire k 10"), fields("zadd z 1 m")}
	b.ReportAllocs()
	for b.Loop() {
		for _, args := range cmds {
			if _, err := s.Check(args); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestScriptFlushIsLocalOnSharedServers(t *testing.T) {
	shared := Scope{Shared: true, Channels: "db1:", DB: 1}
	if p, err := shared.Check(fields("SCRIPT FLUSH ASYNC")); err != nil || p.Info.Kind != Local {
		t.Errorf("shared SCRIPT FLUSH: %+v, %v; want Kind Local", p.Info, err)
	}
	if _, err := shared.CheckInTransaction(fields("SCRIPT FLUSH")); err == nil {
		t.Error("shared SCRIPT FLUSH inside a transaction is allowed")
	}
	if p, err := (Scope{}).Check(fields("SCRIPT FLUSH")); err != nil || p.Info.Kind != Normal {
		t.Errorf("SCRIPT FLUSH on a server of its own: %+v, %v; want Kind Normal", p.Info, err)
	}
	if _, err := (Scope{Shared: true, ReadOnly: true}).Check(fields("SCRIPT FLUSH")); err == nil {
		t.Error("a read-only token flushes scripts")
	}
}

func TestVisible(t *testing.T) {
	s := Scope{DB: 1}
	for ch, want := range map[string]bool{
		"news": true, "__keyspace@1__:k": true, "__keyevent@1__:set": true,
		"__keyspace@15__:limiter": false, "__keyspace@10__:k": false, "__redis__:invalidate": false, "__sentinel__:hello": false,
	} {
		if got := s.Visible([]byte(ch)); got != want {
			t.Errorf("Visible(%q) = %v, want %v", ch, got, want)
		}
	}
}

// TestCacheableAndRetrySafe checks the table's verdicts against the read cache's and the
// REST client's needs: one key, answers that change only with writes; reads only.
func TestCacheableAndRetrySafe(t *testing.T) {
	for _, tc := range []struct {
		cmd                  string
		cacheable, retrySafe bool
	}{
		{"GET k", true, true},
		{"hgetall h", true, true},
		{"ZRANGE z 0 -1 WITHSCORES", true, true},
		{"EXISTS a", true, true},
		{"EXISTS a b", false, true},
		{"MGET a", true, true},
		{"MGET a b", false, true},
		{"TTL k", false, true},
		{"PTTL k", false, true},
		{"SRANDMEMBER s", false, true},
		{"HSCAN h 0", false, true},
		{"SORT_RO l", false, true},
		{"OBJECT FREQ k", false, true},
		{"TIME", false, false},
		{"GET", false, true},
		{"SET k v", false, false},
		{"EVAL_RO x 0", false, true},
		{"XREAD STREAMS s 0", false, true},
		{"XREAD BLOCK 0 STREAMS s 0", false, false},
		{"BLPOP l 0", false, false},
		{"WAIT 1 0", false, false},
		{"JSON.GET k", false, false}, // newer than the table: may write
	} {
		args := bytesArgs(strings.Fields(tc.cmd)...)
		if got := Cacheable(args); got != tc.cacheable {
			t.Errorf("Cacheable(%s) = %v, want %v", tc.cmd, got, tc.cacheable)
		}
		if got := Lookup(args).RetrySafe; got != tc.retrySafe {
			t.Errorf("Lookup(%s).RetrySafe = %v, want %v", tc.cmd, got, tc.retrySafe)
		}
	}
}
