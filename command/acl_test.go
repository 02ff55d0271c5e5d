package command

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redisgate/redisgate/internal/redistest"
)

func TestACLRulesText(t *testing.T) {
	shared := Scope{Shared: true, Channels: "db1:", DB: 1}.ACLRules()
	alone := Scope{DB: 3}.ACLRules()
	for _, want := range strings.Fields(`~* +@all -select -swapdb -move -migrate -flushall -monitor -sync -psync
		-replconf -shutdown -debug -config -acl -module -replicaof -slaveof -failover -save -bgsave
		-bgrewriteaof -slowlog -latency -memory|purge -memory|doctor -memory|malloc-stats -memory|stats
		-client -script|kill -script|debug -function|kill -cluster -pfdebug -pfselftest resetchannels`) {
		if !contains(shared, want) || !contains(alone, want) {
			t.Errorf("ACL rules lack %s", want)
		}
	}
	if !contains(shared, "-copy") || !contains(alone, "-copy") {
		t.Error("ACL rules lack -copy")
	}
	for _, want := range []string{"-function", "-fcall", "-fcall_ro", "-script|flush", "-pubsub", "&db1:*", "&__keyspace@1__:*", "&__keyevent@1__:*"} {
		if !contains(shared, want) {
			t.Errorf("shared ACL rules lack %s", want)
		}
		if contains(alone, want) {
			t.Errorf("unshared ACL rules have %s", want)
		}
	}
	if !contains(alone, "allchannels") || contains(shared, "allchannels") {
		t.Error("allchannels is for unshared servers without a channel prefix")
	}
	for _, r := range append(shared, alone...) {
		for _, keep := range []string{"-multi", "-exec", "-wait", "-role", "-info", "-eval", "-evalsha", "-script|load", "-script|exists", "-auth"} {
			if r == keep {
				t.Errorf("ACL rules deny %s, which the gateway needs", keep)
			}
		}
	}
	if got := (Scope{Channels: "a*b?:", DB: 0}).ACLRules(); !contains(got, `&a\*b\?:*`) {
		t.Errorf("a prefix with glob characters is not escaped: %q", got)
	}
}

// TestACLRules creates the users of ACLRules on a real server and checks, as the gateway's
// connection of database 1 (selected before authenticating), that scripts cannot reach
// another database, the server or other tenants, while tenants and the gateway keep what they need.
func TestACLRules(t *testing.T) {
	// With DEBUG enabled, only the ACL stops it.
	srv := redistest.Start(t, "--enable-debug-command", "yes")
	admin := dial(t, srv)
	admin.must("SET", "zero", "0")
	admin.must("SET", "a", "in db 0")
	for _, tc := range []struct {
		name  string
		scope Scope
	}{
		{"shared", Scope{Shared: true, Confined: true, Channels: "db1:", DB: 1}},
		{"alone", Scope{Confined: true, DB: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := "redisgate-db1-" + tc.name
			admin.must(append([]string{"ACL", "SETUSER", user, "on", ">pw"}, tc.scope.ACLRules()...)...)
			c := dial(t, srv)
			c.must("SELECT", "1")
			c.must("AUTH", user, "pw")
			c.must("FLUSHDB")
			c.must("SET", "a", "1")
			eval := func(call string) error {
				_, err := c.do("EVAL", "return redis.call("+call+")", "0")
				return err
			}
			// denied checks that the user may not run args, directly nor, for the commands
			// Redis allows in scripts, from a script.
			denied := func(args ...string) {
				t.Helper()
				if _, err := c.do(args...); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
					t.Errorf("%q = %v, want NOPERM", args, err)
				}
				s := specOf(strings.ToUpper(args[0]))
				if len(args) > 1 && specOf(strings.ToUpper(args[0]+"|"+args[1])) != nil {
					s = specOf(strings.ToUpper(args[0] + "|" + args[1]))
				}
				if s == nil || s.flags&flagNoscript != 0 {
					return // Redis refuses it in scripts before looking at the ACL
				}
				call := "'" + strings.Join(args, "', '") + "'"
				if err := eval(call); err == nil || !strings.Contains(err.Error(), "The user executing the script can't") {
					t.Errorf("EVAL redis.call(%s) = %v, want the ACL error", call, err)
				}
			}
			denied("SELECT", "0")
			denied("FLUSHALL")
			denied("MOVE", "a", "0")
			denied("SWAPDB", "0", "1")
			denied("MEMORY", "PURGE")
			denied("CLIENT", "ID")
			denied("CONFIG", "GET", "maxmemory")
			denied("SLOWLOG", "GET")
			denied("DEBUG", "SLEEP", "0")
			denied("SCRIPT", "KILL")
			denied("SCRIPT", "DEBUG", "YES")
			denied("FUNCTION", "KILL")
			denied("MONITOR")
			denied("MIGRATE", "127.0.0.1", "1", "a", "0", "10")
			denied("COPY", "a", "b", "DB", "0")
			denied("COPY", "a", "b")
			if tc.scope.Shared {
				denied("PUBLISH", "__redis__:invalidate", "x")
				denied("PUBLISH", "db2:x", "y")
				denied("PUBLISH", "__keyspace@0__:a", "x")
				denied("PUBSUB", "CHANNELS")
				denied("FCALL", "f", "0")
				denied("FUNCTION", "LIST")
				denied("SCRIPT", "FLUSH")
				if err := eval("'publish', 'db1:x', 'y'"); err != nil {
					t.Errorf("publish db1:x: %v", err)
				}
				if err := eval("'publish', '__keyspace@1__:a', 'y'"); err != nil {
					t.Errorf("publish __keyspace@1__:a: %v", err)
				}
			} else {
				if err := eval("'publish', 'x', 'y'"); err != nil {
					t.Errorf("publish x: %v", err)
				}
			}
			// What tenants and the gateway need.
			for _, args := range [][]string{
				{"GET", "a"}, {"SET", "b", "2"}, {"EXPIRE", "b", "100"}, {"HSET", "h", "f", "v"},
				{"WAIT", "0", "0"}, {"ROLE"}, {"INFO", "replication"}, {"FLUSHDB"},
				{"EVAL", "return redis.call('set', KEYS[1], 'x')", "1", "k"},
				{"EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"},
				{"SCRIPT", "LOAD", "return 1"}, {"SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"},
				{"EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"},
				{"DUMP", "a"}, {"PEXPIRETIME", "a"}, {"MEMORY", "USAGE", "a"},
			} {
				if _, err := c.do(args...); err != nil {
					t.Errorf("%q: %v", args, err)
				}
			}
			c.send(bytesArgs("MULTI"))
			c.send(bytesArgs("SET", "m", "1"))
			c.send(bytesArgs("EXEC"))
			for i := 0; i < 3; i++ {
				if _, err := c.read(5e9); err != nil {
					t.Errorf("MULTI/SET/EXEC reply %d: %v", i, err)
				}
			}
			c.must("SET", "a", "1")
			if p, err := tc.scope.Check(fields("COPY a c REPLACE")); err != nil {
				t.Error(err)
			} else if v, err := c.doArgs(p.Args); err != nil || v != int64(1) {
				t.Errorf("COPY as planned: %v, %v", v, err)
			}
			// A pooled connection selects its database, then authenticates and names itself at once.
			h := dial(t, srv)
			h.must("SELECT", "1")
			h.must("HELLO", "2", "AUTH", user, "pw", "SETNAME", "redisgate-"+tc.name)
			named := ""
			for _, line := range strings.Split(admin.must("CLIENT", "LIST").(string), "\n") {
				if strings.Contains(line, " name=redisgate-"+tc.name+" ") {
					named = line
				}
			}
			if !strings.Contains(named, " db=1 ") || !strings.Contains(named, " user="+user+" ") {
				t.Errorf("HELLO AUTH SETNAME after SELECT: %q", named)
			}
			if h.must("GET", "a") != "1" {
				t.Error("the HELLO connection does not see database 1")
			}
			if got := fmt.Sprint(admin.must("MGET", "zero", "a", "b", "m")); got != "[0 in db 0 <nil> <nil>]" {
				t.Errorf("database 0 changed: %s", got)
			}
			if n := admin.must("DBSIZE"); n != int64(2) {
				t.Errorf("database 0 has %v keys", n)
			}
		})
	}
}
