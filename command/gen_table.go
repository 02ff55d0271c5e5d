//go:build ignore

// gen_table writes table_gen.go, the table of every command and subcommand a real
// redis-server knows, from its COMMAND INFO and COMMAND DOCS replies.
//
// Usage (from the command directory, or through go generate):
//
//	go run gen_table.go [-addr host:port] [-server redis-server] [-o table_gen.go]
//
// Without -addr it starts the redis-server binary on a free loopback port and stops it afterwards.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"log"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redisgate/redisgate/resp"
)

// flagNames maps COMMAND INFO flags to the constants of table.go.
var flagNames = map[string]string{
	"write": "flagWrite", "readonly": "flagReadonly", "denyoom": "flagDenyOOM", "module": "flagModule",
	"admin": "flagAdmin", "pubsub": "flagPubsub", "noscript": "flagNoscript", "blocking": "flagBlocking",
	"loading": "flagLoading", "stale": "flagStale", "skip_monitor": "flagSkipMonitor",
	"skip_slowlog": "flagSkipSlowlog", "fast": "flagFast", "no_auth": "flagNoAuth",
	"may_replicate": "flagMayReplicate", "no_mandatory_keys": "flagNoMandatoryKeys",
	"no_multi": "flagNoMulti", "allow_busy": "flagAllowBusy", "movablekeys": "flagMovableKeys",
	"asking": "flagAsking", "no_async_loading": "flagNoAsyncLoading", "random": "flagRandom",
	"sort_for_script": "flagSortForScript", "touches_arbitrary_keys": "flagTouchesArbitraryKeys",
	"module_no_cluster": "flagModuleNoCluster",
}

// categoryNames maps ACL categories to the constants of table.go.
var categoryNames = map[string]string{
	"@keyspace": "catKeyspace", "@read": "catRead", "@write": "catWrite", "@set": "catSet",
	"@sortedset": "catSortedSet", "@list": "catList", "@hash": "catHash", "@string": "catString",
	"@bitmap": "catBitmap", "@hyperloglog": "catHyperLogLog", "@geo": "catGeo", "@stream": "catStream",
	"@pubsub": "catPubsub", "@admin": "catAdmin", "@fast": "catFast", "@slow": "catSlow",
	"@blocking": "catBlocking", "@dangerous": "catDangerous", "@connection": "catConnection",
	"@transaction": "catTransaction", "@scripting": "catScripting",
}

type cmd struct {
	name              string
	arity             int64
	flags, cats       []string
	first, last, step int64
	group             string
	subs              []*cmd
}

func main() {
	addr := flag.String("addr", "", "address of a running redis-server (default: start one)")
	server := flag.String("server", "redis-server", "redis-server binary to start when -addr is empty")
	out := flag.String("o", "table_gen.go", "output file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gen_table: ")
	if *addr == "" {
		a, stop, err := start(*server)
		if err != nil {
			log.Fatal(err)
		}
		defer stop()
		*addr = a
	}
	src, err := generate(*addr)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

// start runs bin on a free loopback port and returns its address and a function stopping it.
func start(bin string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	dir, err := os.MkdirTemp("", "gen_table")
	if err != nil {
		return "", nil, err
	}
	c := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := c.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stop := func() { c.Process.Kill(); c.Wait(); os.RemoveAll(dir) }
	addr := "127.0.0.1:" + port
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("%s did not start on %s", bin, addr)
}

// do runs one command and returns its decoded reply.
func do(conn net.Conn, r *bufio.Reader, args ...string) (any, error) {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	if _, err := conn.Write(resp.AppendCommand(nil, b)); err != nil {
		return nil, err
	}
	raw, err := resp.ReadReply(r, nil, 0)
	if err != nil {
		return nil, err
	}
	v, _, err := decode(raw)
	return v, err
}

func decode(raw []byte) (any, []byte, error) {
	kind, data, n, rest, err := resp.Next(raw)
	if err != nil {
		return nil, nil, err
	}
	switch kind {
	case resp.Simple, resp.Bulk:
		return string(data), rest, nil
	case resp.Error:
		return nil, rest, errors.New(string(data))
	case resp.Integer:
		i, err := strconv.ParseInt(string(data), 10, 64)
		return i, rest, err
	}
	out := make([]any, max(n, 0))
	for i := range out {
		if out[i], rest, err = decode(rest); err != nil {
			return nil, nil, err
		}
	}
	return out, rest, nil
}

func generate(addr string) ([]byte, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReaderSize(conn, 1<<16)
	info, err := do(conn, r, "INFO", "server")
	if err != nil {
		return nil, fmt.Errorf("INFO: %w", err)
	}
	version := "unknown"
	for _, line := range strings.Split(info.(string), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			version = v
		}
	}
	reply, err := do(conn, r, "COMMAND", "INFO")
	if err != nil {
		return nil, fmt.Errorf("COMMAND INFO: %w", err)
	}
	var cmds []*cmd
	for _, e := range reply.([]any) {
		c, err := parseInfo(e)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	docs, err := do(conn, r, "COMMAND", "DOCS")
	if err != nil {
		return nil, fmt.Errorf("COMMAND DOCS: %w", err)
	}
	groups := map[string]string{}
	collectGroups(docs.([]any), groups)
	for _, c := range cmds {
		for _, x := range append([]*cmd{c}, c.subs...) {
			g, ok := groups[x.name]
			if !ok {
				return nil, fmt.Errorf("COMMAND DOCS has no group for %s", x.name)
			}
			x.group = g
		}
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by gen_table.go from Redis %s; DO NOT EDIT.\n\npackage command\n\n", version)
	fmt.Fprintf(&b, "// tableVersion is the version of the redis-server the table was generated from.\nconst tableVersion = %q\n\n", version)
	b.WriteString("// specs describes every command and subcommand of Redis, in name order, as COMMAND INFO and COMMAND DOCS report them.\nvar specs = []spec{\n")
	for _, c := range cmds {
		if err := writeSpec(&b, c); err != nil {
			return nil, err
		}
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

// parseInfo reads one COMMAND INFO entry.
func parseInfo(v any) (*cmd, error) {
	e, ok := v.([]any)
	if !ok || len(e) < 10 {
		return nil, fmt.Errorf("unexpected COMMAND INFO entry %v", v)
	}
	c := &cmd{name: strings.ToUpper(e[0].(string)), arity: e[1].(int64),
		first: e[3].(int64), last: e[4].(int64), step: e[5].(int64)}
	for _, f := range e[2].([]any) {
		c.flags = append(c.flags, f.(string))
	}
	for _, f := range e[6].([]any) {
		c.cats = append(c.cats, f.(string))
	}
	for _, s := range e[9].([]any) {
		sub, err := parseInfo(s)
		if err != nil {
			return nil, err
		}
		c.subs = append(c.subs, sub)
	}
	sort.Slice(c.subs, func(i, j int) bool { return c.subs[i].name < c.subs[j].name })
	return c, nil
}

// collectGroups records the group of every command and subcommand of a COMMAND DOCS reply.
func collectGroups(docs []any, groups map[string]string) {
	for i := 0; i+1 < len(docs); i += 2 {
		name := strings.ToUpper(docs[i].(string))
		fields, _ := docs[i+1].([]any)
		for j := 0; j+1 < len(fields); j += 2 {
			switch fields[j] {
			case "group":
				groups[name] = fields[j+1].(string)
			case "subcommands":
				collectGroups(fields[j+1].([]any), groups)
			}
		}
	}
}

func writeSpec(b *bytes.Buffer, c *cmd) error {
	flags, err := bits(c.flags, flagNames, "flag")
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	cats, err := bits(c.cats, categoryNames, "ACL category")
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	fmt.Fprintf(b, "{name: %q, arity: %d, flags: %s, acl: %s, first: %d, last: %d, step: %d, group: %q",
		c.name, c.arity, flags, cats, c.first, c.last, c.step, c.group)
	if len(c.subs) > 0 {
		b.WriteString(", subs: []spec{\n")
		for _, s := range c.subs {
			if err := writeSpec(b, s); err != nil {
				return err
			}
		}
		b.WriteString("}")
	}
	b.WriteString("},\n")
	return nil
}

// bits returns the Go expression or-ing the constants of names.
func bits(names []string, consts map[string]string, what string) (string, error) {
	if len(names) == 0 {
		return "0", nil
	}
	var parts []string
	for _, n := range names {
		c, ok := consts[n]
		if !ok {
			return "", fmt.Errorf("unknown %s %q: add it to gen_table.go and table.go", what, n)
		}
		parts = append(parts, c)
	}
	return strings.Join(parts, " | "), nil
}
