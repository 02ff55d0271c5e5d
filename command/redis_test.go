package command

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/resp"
)

// conn is one connection to a test Redis server, for commands that need a session.
type conn struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dial(t testing.TB, srv *redistest.Server) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{t: t, c: c, r: bufio.NewReader(c)}
}

// send writes one command without reading its reply.
func (c *conn) send(args [][]byte) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write(resp.AppendCommand(nil, args)); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one reply: a string for simple and bulk strings, int64, nil, []any; an error
// reply as an error. A connection failure, such as a timeout, fails the test unless wait is set.
func (c *conn) read(wait time.Duration) (any, error) {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(wait))
	raw, err := resp.ReadReply(c.r, nil, 0)
	if err != nil {
		return nil, &netError{err}
	}
	v, _, err := redistest.Decode(raw)
	return v, err
}

// netError is a failure to read a reply, not an error reply.
type netError struct{ error }

// doArgs runs one command and returns its reply.
func (c *conn) doArgs(args [][]byte) (any, error) {
	c.t.Helper()
	c.send(args)
	v, err := c.read(5 * time.Second)
	var ne *netError
	if errors.As(err, &ne) {
		c.t.Fatalf("redis %q: %v", args, err)
	}
	return v, err
}

// do runs one command given as strings.
func (c *conn) do(args ...string) (any, error) {
	c.t.Helper()
	return c.doArgs(bytesArgs(args...))
}

// must runs one command that must succeed.
func (c *conn) must(args ...string) any {
	c.t.Helper()
	v, err := c.do(args...)
	if err != nil {
		c.t.Fatalf("redis %q: %v", args, err)
	}
	return v
}

func bytesArgs(args ...string) [][]byte {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	return b
}

func fields(s string) [][]byte { return bytesArgs(strings.Fields(s)...) }

// serverCommands returns, from a real server's COMMAND DOCS, the group of every command
// and subcommand by upper-case name ("SCRIPT|DEBUG").
func serverCommands(t *testing.T, c *conn) map[string]string {
	t.Helper()
	groups := map[string]string{}
	var walk func(docs []any)
	walk = func(docs []any) {
		for i := 0; i+1 < len(docs); i += 2 {
			name := strings.ToUpper(docs[i].(string))
			groups[name] = ""
			f, _ := docs[i+1].([]any)
			for j := 0; j+1 < len(f); j += 2 {
				switch f[j] {
				case "group":
					groups[name] = f[j+1].(string)
				case "subcommands":
					walk(f[j+1].([]any))
				}
			}
		}
	}
	walk(c.must("COMMAND", "DOCS").([]any))
	if len(groups) < 200 {
		t.Fatalf("COMMAND DOCS lists only %d commands", len(groups))
	}
	return groups
}

// argsOf returns the arguments naming the command or subcommand "CMD|SUB".
func argsOf(name string) [][]byte { return bytesArgs(strings.Split(name, "|")...) }

// TestTableCoversServer fails when the server knows a command or subcommand the table does
// not, or describes one differently: regenerate the table (go generate ./command/).
func TestTableCoversServer(t *testing.T) {
	srv := redistest.Start(t)
	c := dial(t, srv)
	for name := range serverCommands(t, c) {
		e := find(argsOf(name))
		if e == nil || strings.ReplaceAll(e.name, " ", "|") != name {
			t.Errorf("%s is not in the table: run go generate ./command/", name)
		}
	}
	var info []any
	for _, v := range c.must("COMMAND", "INFO").([]any) {
		info = append(info, v)
		info = append(info, v.([]any)[9].([]any)...)
	}
	for _, v := range info {
		f := v.([]any)
		name := strings.ToUpper(f[0].(string))
		s := specOf(name)
		if s == nil {
			continue // reported above
		}
		var flags []string
		for _, fl := range f[2].([]any) {
			flags = append(flags, fl.(string))
		}
		if int64(s.arity) != f[1].(int64) || s.first != int(f[3].(int64)) || (s.flags&flagWrite != 0) != contains(flags, "write") ||
			(s.flags&flagBlocking != 0) != contains(flags, "blocking") {
			t.Errorf("%s: table has arity %d keys %d, server says %v: run go generate ./command/", name, s.arity, s.first, f[:6])
		}
	}
	if v := srv.MustDo("INFO", "server"); !strings.Contains(v.(string), "redis_version:"+tableVersion+"\r") {
		t.Logf("table generated from Redis %s, testing against another version", tableVersion)
	}
}

func specOf(name string) *spec {
	for i := range specs {
		if specs[i].name == name {
			return &specs[i]
		}
		for j := range specs[i].subs {
			if specs[i].subs[j].name == name {
				return &specs[i].subs[j]
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// connStateAllowed lists the commands of the connection, transactions and pubsub groups
// that tenants may run, with why they leave the connection as it was.
var connStateAllowed = map[string]string{
	"PING":                 "it only answers",
	"ECHO":                 "it only answers",
	"PUBLISH":              "publishing does not subscribe the connection",
	"SPUBLISH":             "publishing does not subscribe the connection",
	"PUBSUB":               "it only reports on channels (refused on shared servers)",
	"PUBSUB|CHANNELS":      "it only reports on channels (refused on shared servers)",
	"PUBSUB|HELP":          "it only answers",
	"PUBSUB|NUMPAT":        "it only reports on channels (refused on shared servers)",
	"PUBSUB|NUMSUB":        "it only reports on channels (refused on shared servers)",
	"PUBSUB|SHARDCHANNELS": "it only reports on channels (refused on shared servers)",
	"PUBSUB|SHARDNUMSUB":   "it only reports on channels (refused on shared servers)",
}

// connStateCommands are commands outside those groups that change their connection.
var connStateCommands = []string{
	"MONITOR", "SCRIPT|DEBUG", "SYNC", "PSYNC", "REPLCONF", "READONLY", "READWRITE", "ASKING",
}

// TestConnStateRefused walks a real server's commands: every command of the connection and
// transactions groups, of the pubsub group but publishing, every CLIENT subcommand and every
// other command that changes its connection's mode must be refused.
func TestConnStateRefused(t *testing.T) {
	srv := redistest.Start(t)
	groups := serverCommands(t, dial(t, srv))
	checked := 0
	for name, group := range groups {
		inGroup := group == "connection" || group == "transactions" || group == "pubsub" ||
			strings.HasPrefix(name, "CLIENT|") || contains(connStateCommands, name)
		if !inGroup {
			continue
		}
		checked++
		if why, ok := connStateAllowed[name]; ok {
			if why == "" {
				t.Errorf("%s is allowed without a reason", name)
			}
			continue
		}
		info := Lookup(argsOf(name))
		if info.Kind != Refused || !info.ConnState {
			t.Errorf("%s (group %s) changes its connection but Lookup says %+v", name, group, info)
		}
		for _, s := range []Scope{{}, {Blocking: true}, {Shared: true, Blocking: true, Channels: "db1:", DB: 1}} {
			if _, err := s.Check(argsOf(name)); err == nil || !strings.HasPrefix(err.Error(), "ERR command '") {
				t.Errorf("%+v.Check(%s) = %v, want a refusal", s, name, err)
			}
		}
	}
	if checked < 40 {
		t.Errorf("checked only %d commands", checked)
	}
	for name, e := range commands {
		for _, x := range append([]*entry{e}, subEntries(e)...) {
			if x.info.ConnState && x.info.Kind != Refused {
				t.Errorf("%s (%s) changes its connection but is not refused", x.name, name)
			}
		}
	}
}

func subEntries(e *entry) []*entry {
	var out []*entry
	for _, s := range e.subs {
		out = append(out, s)
	}
	return out
}

// TestNULInNames shows why names with a NUL byte are refused: Redis runs some of them as
// the command before the NUL.
func TestNULInNames(t *testing.T) {
	srv := redistest.Start(t)
	c := dial(t, srv)
	ran := 0
	for i := range 2000 {
		name := []byte("ECHO\x00" + strconv.Itoa(i))
		if v, err := c.doArgs([][]byte{name, []byte("x")}); err == nil && v == "x" {
			ran++
		}
		for _, args := range [][][]byte{{name, []byte("x")}, {[]byte("SCRIPT"), []byte("KILL\x00" + strconv.Itoa(i))}} {
			_, err := Scope{Blocking: true}.Check(args)
			if err == nil || err.Error() != "ERR command '?' is not supported by redisgate: command names cannot contain NUL bytes" {
				t.Fatalf("Check(%q) = %v", args, err)
			}
			if Lookup(args).Kind != Refused {
				t.Fatalf("Lookup(%q) is not Refused", args)
			}
		}
	}
	if ran == 0 {
		t.Log("Redis ran no ECHO\\x00… as ECHO this time")
	}
	if _, err := (Scope{}).Check(bytesArgs("SET", "k\x00", "v\x00")); err != nil {
		t.Errorf("NUL bytes in keys and values: %v", err)
	}
}

// TestNULInOptions checks that options Redis compares with strcasecmp are found with
// anything after a NUL byte, as Redis finds them.
func TestNULInOptions(t *testing.T) {
	srv := redistest.Start(t)
	c := dial(t, srv)
	c.must("XADD", "s", "1-1", "f", "v")
	start := time.Now()
	if v, err := c.doArgs(bytesArgs("XREAD", "BLOCK\x00x", "300", "STREAMS", "s", "$")); err != nil || v != nil {
		t.Fatalf("XREAD BLOCK\\x00x: %v, %v", v, err)
	}
	if time.Since(start) < 250*time.Millisecond {
		t.Fatal("Redis did not take BLOCK\\x00x for BLOCK")
	}
	p, err := Scope{Blocking: true}.Check(bytesArgs("XREAD", "BLOCK\x00x", "0", "STREAMS", "s", "$"))
	if err != nil || p.Info.Kind != Blocking || string(p.Args[2]) != "30000" {
		t.Errorf("XREAD BLOCK\\x00x 0: %+v, %v", p, err)
	}
	if _, err := c.doArgs(bytesArgs("COPY", "s", "t", "db\x00x", "1")); err != nil {
		t.Fatalf("COPY … db\\x00x 1: %v", err)
	}
	c.must("SELECT", "1")
	if c.must("EXISTS", "t") != int64(1) {
		t.Fatal("Redis did not take db\\x00x for DB")
	}
	if _, err := (Scope{}).Check(bytesArgs("COPY", "s", "t", "db\x00x", "1")); err == nil {
		t.Error("COPY with a DB\\x00 option is allowed")
	}
}
