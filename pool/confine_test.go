package pool_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// confineRules are rules like those the gateway gives a tenant's database 1: every command that
// can reach another database (scripts may call select, swapdb, move, copy … db, migrate and
// flushall), and the admin commands, ACL SETUSER first, that could undo the rules, except ROLE,
// which the replica set adds to writes.
var confineRules = []string{"~*", "resetchannels", "&db1:*", "+@all", "-@admin", "+role", "-select", "-swapdb", "-move", "-copy", "-migrate", "-flushall"}

func confinedOptions(t *testing.T, rs *redistest.Server) pool.Options {
	t.Helper()
	o, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.Size, o.DB, o.ClientName = 1, 1, "confine-test"
	o.DialTimeout = 500 * time.Millisecond
	o.Logger = slog.New(slog.DiscardHandler)
	o.Confine = &pool.Confine{User: "gate-db1", Password: "derived-secret", Rules: confineRules}
	return o
}

// TestConfine checks that a confined connection cannot leave its database, by command or by
// script, that it stays on the database selected, and that the user is recreated after a restart.
func TestConfine(t *testing.T) {
	rs := redistest.Start(t)
	o := confinedOptions(t, rs)
	p := pool.New(o)
	defer p.Close()
	redistest.WaitFor(t, 2*time.Second, func() bool { return p.Connected() == 1 }, "connected")

	check := func(when string) {
		t.Helper()
		if got := do(t, p, "ACL", "WHOAMI"); got != "$8\r\ngate-db1\r\n" {
			t.Errorf("%s: ACL WHOAMI = %q", when, got)
		}
		for _, cmd := range [][]string{
			{"SELECT", "0"},
			{"EVAL", "return redis.call('select',0)", "0"},
			{"FLUSHALL"},
			{"EVAL", "return redis.call('flushall')", "0"},
			{"SWAPDB", "0", "1"},
			{"EVAL", "return redis.call('swapdb',0,1)", "0"},
			{"MOVE", "k", "0"},
			{"EVAL", "return redis.call('move','k',0)", "0"},
			{"COPY", "k", "k", "DB", "0"},
			{"EVAL", "return redis.call('copy','k','k','db','0')", "0"},
			{"EVAL", "return redis.call('migrate','127.0.0.1','1','k','0','10')", "0"},
			{"ACL", "SETUSER", "gate-db1", "+select"},
			{"CONFIG", "SET", "maxmemory", "1"},
		} {
			// Redis 7.0 answers "NOPERM this user has no permissions…" to a command and
			// "ERR The user executing the script can't run this command…" to a script.
			if got := do(t, p, cmd...); !strings.HasPrefix(got, "-") || !strings.Contains(got, "no permissions") && !strings.Contains(got, "can't run this command") {
				t.Errorf("%s: %q answered %q, want an ACL refusal", when, cmd, got)
			}
		}
		if got := do(t, p, "ROLE"); !strings.HasPrefix(got, "*3\r\n$6\r\nmaster\r\n") {
			t.Errorf("%s: ROLE = %q", when, got)
		}
		if got := do(t, p, "SET", "k", when); got != "+OK\r\n" {
			t.Errorf("%s: SET = %q", when, got)
		}
		if got := do(t, p, "EVAL", "return redis.call('set', KEYS[1], 'script')", "1", "s"); got != "+OK\r\n" {
			t.Errorf("%s: script SET = %q", when, got)
		}
		info := rs.MustDo("INFO", "keyspace").(string)
		if !strings.Contains(info, "db1:keys=2,") || strings.Contains(info, "db0:") {
			t.Errorf("%s: keys not all in db 1: %s", when, info)
		}
	}
	check("first dial")

	// Pub/sub and MONITOR connections are confined too.
	nc, err := pool.Dial(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	nc.Write(resp.AppendCommand(nil, [][]byte{[]byte("SELECT"), []byte("0")}))
	if r, err := resp.ReadReply(bufio.NewReader(nc), nil, 0); err != nil || !bytes.Contains(r, []byte("NOPERM")) {
		t.Errorf("SELECT on a Dial connection: %q %v", r, err)
	}

	// ACL users live on the server: a restart loses the user and the redial recreates it.
	rs.Restart()
	redistest.WaitFor(t, 3*time.Second, func() bool {
		if p.Connected() != 1 {
			return false
		}
		b := pool.NewBatch(1)
		b.Add([]byte("PING"))
		defer b.Release()
		return p.Do(context.Background(), b) == nil
	}, "reconnected after restart")
	check("after restart")
}

// TestConfineRefused checks that a server refusing the confined handshake (operator without the
// ACL command, or no ACL command at all) gives *ConfineError, and that the pool keeps retrying.
func TestConfineRefused(t *testing.T) {
	t.Run("operator without ACL permission", func(t *testing.T) {
		rs := redistest.Start(t)
		rs.MustDo("ACL", "SETUSER", "operator", "on", ">op-pw", "~*", "&*", "+@all", "-acl")
		o := confinedOptions(t, rs)
		o.Username, o.Password = "operator", "op-pw"
		refused(t, o, "NOPERM")
	})
	t.Run("server without ACL", func(t *testing.T) {
		rs := redistest.Start(t, "--rename-command", "ACL", "")
		refused(t, confinedOptions(t, rs), "unknown command")
	})
	t.Run("unset", func(t *testing.T) {
		rs := redistest.Start(t)
		o := confinedOptions(t, rs)
		if err := pool.CheckConfine(context.Background(), o); err != nil {
			t.Errorf("CheckConfine on a server that allows it: %v", err)
		}
		o.Confine = nil
		var ce *pool.ConfineError
		if err := pool.CheckConfine(context.Background(), o); err == nil || errors.As(err, &ce) {
			t.Errorf("CheckConfine without Confine: %v", err)
		}
	})
}

func refused(t *testing.T, o pool.Options, want string) {
	t.Helper()
	err := pool.CheckConfine(context.Background(), o)
	var ce *pool.ConfineError
	if !errors.As(err, &ce) || ce.User != "gate-db1" || !strings.Contains(err.Error(), want) {
		t.Fatalf("CheckConfine: %v, want a *ConfineError saying %s", err, want)
	}
	t.Logf("CheckConfine: %v", err)
	if strings.Contains(err.Error(), o.Confine.Password) {
		t.Errorf("the error shows the password: %v", err)
	}
	if _, err := pool.Dial(context.Background(), o); !errors.As(err, &ce) {
		t.Errorf("Dial: %v, want a *ConfineError", err)
	}
	var logs redistest.LogBuffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	p := pool.New(o)
	defer p.Close()
	redistest.WaitFor(t, 2*time.Second, func() bool {
		return strings.Contains(logs.String(), "cannot reach redis at")
	}, "the failed dials logged")
	if p.Connected() != 0 {
		t.Error("a pool connected although the confined handshake was refused")
	}
	if l := logs.String(); !strings.Contains(l, "confine connection to ACL user") || !strings.Contains(l, want) {
		t.Errorf("log does not give the refusal:\n%s", l)
	}
}

// TestConfineReplica checks that a replica, where ACL users are not replicated, gets the
// confined user from the handshake and serves reads of the leader's database 1 through it.
func TestConfineReplica(t *testing.T) {
	leader := redistest.Start(t)
	replica := redistest.StartReplica(t, leader, "")
	lp := pool.New(confinedOptions(t, leader))
	defer lp.Close()
	redistest.WaitFor(t, 2*time.Second, func() bool { return lp.Connected() == 1 }, "leader connected")
	do(t, lp, "SET", "k", "from-leader")
	o := confinedOptions(t, replica)
	o.Confine.Rules = append(o.Confine.Rules, "-@write")
	rp := pool.New(o)
	defer rp.Close()
	redistest.WaitFor(t, 3*time.Second, func() bool { return rp.Connected() == 1 && do(t, rp, "GET", "k") == "$11\r\nfrom-leader\r\n" }, "the write read on the replica")
	if got := do(t, rp, "ACL", "WHOAMI"); got != "$8\r\ngate-db1\r\n" {
		t.Errorf("replica: ACL WHOAMI = %q", got)
	}
	if got := do(t, rp, "SELECT", "0"); !strings.Contains(got, "no permissions") {
		t.Errorf("replica: SELECT 0 = %q", got)
	}
}
