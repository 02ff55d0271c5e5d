package main

// The hostile acceptance suite of issue 13 (trust boundary): every case of hostileCases
// (hostile_cases_test.go) is an attack by a token of database a on database b, the
// gateway's own state, or the shared connections, run against a whole gateway started with
// limits, quotas and the read cache on, in two layouts:
//
//   - shared: one redis-server, a in logical DB 1, b in logical DB 2;
//   - separate: two redis-servers, a and b each in DB 0 of its own.
//
// Around every case the harness seeds both databases, keeps a subscriber of b's channel
// and a concurrent checker (SET/GET pairs and pipelines with unique values on both
// databases) running, and afterwards asserts that b's keys, functions, scripts and
// messages, the other logical databases and the limiter state are unchanged, that nothing
// of b appeared in any answer the attacker got, that the checker saw no error and no
// mismatched reply, and that the quota and rate limit of a's tokens still hold.
//
// Run it alone with: go test ./cmd/redisgate/ -run Hostile (about four minutes). A failing
// case says what it expected, what it got and, through leaks, which of b's secrets showed
// in the attacker's answers and where.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redisgate/redisgate/config"
	"github.com/redisgate/redisgate/internal/redistest"
)

// layout is where the two databases live; a case runs in a set of layouts.
type layout uint8

const (
	shared   layout = 1 << iota // one redis-server: a in DB 1, b in DB 2
	separate                    // two redis-servers: a and b in DB 0 of each
	both     = shared | separate
)

func (l layout) String() string {
	switch l {
	case shared:
		return "two databases on one shared Redis server"
	case separate:
		return "two databases on separate Redis servers"
	}
	return "both layouts"
}

// Limits the gateway runs with in the suite.
const (
	hostileMaxBlock       = time.Second
	hostileCommandTimeout = 2 * time.Second
	hostileHeartbeat      = time.Second
	hostileMaxResponse    = "8MiB"
	quotaDaily            = 10 // daily quota of each case's quota token
	quotaPre              = 4  // commands the quota token runs before the attack
	rateBurst             = 3  // rate-limit burst of each case's rate token (3/m:3)
	limiterDB             = 15 // the reserved logical database of the limiter's state
	bigValueBytes         = 1 << 20
)

// role names the token a request is sent with.
type role uint8

const (
	rw       role = iota // a read-write token of database a
	ro                   // a read-only token of database a
	quotaTok             // the case's own token of database a with a daily quota of quotaDaily
	rateTok              // the case's own token of database a with a rate limit of 3/m:3
	bTok                 // a read-write token of database b (the victim's own traffic)
)

// env is one layout's running gateway, servers and bookkeeping.
type env struct {
	t      *testing.T
	layout layout
	rnd    string
	s1, s2 *redistest.Server // s2 is s1 in the shared layout
	aSrv   *redistest.Server
	bSrv   *redistest.Server
	aDB    int
	bDB    int
	lim    *redistest.Server // the server keeping limiter state
	url    string
	admin  string
	file   string
	client *http.Client

	// tokens
	aRW, aRO, bRW, bRO, chkA, chkB, victim string
	quota, rate                            []string // per case index
	extra                                  []string // read-write tokens of a added by the revocation cases

	// b's secrets: markers that appear in b's key names, values and messages
	kMark, vMark, bChan, bLib, bFunc, bScriptSHA string
	bChanRaw                                     string // b's channel as Redis names it
	aChan                                        string
	pwned                                        string // marker of what attackers write

	sub      *sseStream // the subscriber of b's channel
	args     []string
	missing  []string // flags the configuration does not know yet
	revoked  map[string]bool
	bFuncs   string // FUNCTION DUMP of b's server after seeding (separate layout)
	victimKs map[string]redistest.KeyState

	stopGateway func()
	stderr      *lockedBuffer
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// userID is the limiter's name of a token: a prefix of its hash, never the token.
func userID(token string) string {
	h := sha256.Sum256([]byte(token))
	return "t:" + hex.EncodeToString(h[:12])
}

// knownFlag reports whether the configuration accepts --name value.
func knownFlag(name, value string) bool {
	_, err := config.Load([]string{"--" + name, value}, testEnv(nil), io.Discard)
	return err == nil || !strings.Contains(err.Error(), "flag provided but not defined")
}

// TestHostileTrustBoundary runs every hostile case in each layout it names.
func TestHostileTrustBoundary(t *testing.T) {
	cases := hostileCases()
	if len(cases) < 60 {
		t.Fatalf("only %d hostile cases, want at least 60", len(cases))
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Fatalf("two cases are named %q", c.name)
		}
		names[c.name] = true
	}
	for _, l := range []layout{shared, separate} {
		t.Run(l.String(), func(t *testing.T) {
			e := startEnv(t, l, len(cases))
			for i, c := range cases {
				if c.in&l == 0 {
					continue
				}
				t.Run(c.name, func(t *testing.T) { e.runCase(t, i, c) })
			}
		})
	}
}

// startEnv starts the servers and the gateway of layout l for ncases cases; extra are
// more gateway flags.
func startEnv(t *testing.T, l layout, ncases int, extra ...string) *env {
	rnd := randHex(6)
	e := &env{t: t, layout: l, rnd: rnd, revoked: map[string]bool{}}
	// busy-reply-threshold below --command-timeout, as the README asks of operators (Redis's
	// defaults, 5 s against 10 s, are): a runaway script can be stopped at the command timeout.
	redisArgs := []string{"--notify-keyspace-events", "KEA", "--slowlog-log-slower-than", "0", "--enable-debug-command", "local",
		"--busy-reply-threshold", "1000"}
	e.s1 = redistest.Start(t, redisArgs...)
	e.s2 = e.s1
	if l == separate {
		e.s2 = redistest.Start(t, redisArgs...)
		e.aSrv, e.bSrv, e.aDB, e.bDB = e.s1, e.s2, 0, 0
	} else {
		e.aSrv, e.bSrv, e.aDB, e.bDB = e.s1, e.s1, 1, 2
	}
	e.lim = e.aSrv
	tok := func(what string) string { return what + "-" + rnd + "-" + randHex(4) }
	e.aRW, e.aRO, e.bRW, e.bRO = tok("attacker-rw"), tok("attacker-ro"), tok("victim-rw"), tok("victim-ro")
	e.chkA, e.chkB, e.victim = tok("checker-a"), tok("checker-b"), tok("victim-quota")
	for i := range ncases {
		e.quota = append(e.quota, tok(fmt.Sprintf("quota%d", i)))
		e.rate = append(e.rate, tok(fmt.Sprintf("rate%d", i)))
	}
	e.kMark, e.vMark = "bkey"+rnd, "bval"+rnd
	e.bChan, e.aChan = "bchan"+rnd, "achan"+rnd
	e.bLib, e.bFunc = "blib_"+rnd, "bfunc_"+rnd
	e.pwned = "pwned" + rnd
	e.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	t.Cleanup(e.client.CloseIdleConnections)

	e.file = filepath.Join(t.TempDir(), "redisgate.yaml")
	e.writeConfig()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	e.admin = fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"--config", e.file, "--listen", "127.0.0.1:0", "--admin-listen", e.admin, "--log-level", "error",
		// --limit-timeout 5s: the cases assert exact quota counts; under load a limiter trip
		// slower than the default 50 ms would be decided by the fail-open policy instead (the
		// README's threat model says what that policy concedes).
		"--limit-token", "100000/s:100000", "--quota-daily", "100000000", "--cache=true", "--pprof", "--limit-timeout", "5s",
		"--pool-size", "4", "--blocking-conns", "2"}
	for _, f := range [][2]string{
		{"max-block", hostileMaxBlock.String()}, {"command-timeout", hostileCommandTimeout.String()},
		{"stream-heartbeat", hostileHeartbeat.String()}, {"max-response", hostileMaxResponse},
	} {
		if knownFlag(f[0], f[1]) {
			args = append(args, "--"+f[0], f[1])
		} else {
			e.missing = append(e.missing, "--"+f[0])
		}
	}
	if len(e.missing) > 0 {
		t.Logf("the configuration does not know %v yet: cases depending on them will fail", e.missing)
	}
	e.args = append(args, extra...)
	e.startGateway()
	t.Cleanup(func() { e.stopGateway() })

	// b's function library (separate servers only) and loaded script.
	if l == separate {
		lib := fmt.Sprintf("#!lua name=%s\nredis.register_function('%s', function(keys, args) return '%s-func' end)", e.bLib, e.bFunc, e.vMark)
		e.bSrv.MustDo("FUNCTION", "LOAD", "REPLACE", lib)
		e.bFuncs = fmt.Sprint(e.bSrv.MustDo("FUNCTION", "DUMP"))
	}
	e.bScriptSHA = sha1hex(e.bScript())

	// The victim's quota state, made once and then never touched by anyone but attackers.
	if st, body := e.do(bTok, "GET", "/ping", "", nil); st != 200 {
		t.Fatalf("database b does not answer: %d %s", st, body)
	}
	if st, body := e.doAs(e.victim, "GET", "/ping", ""); st != 200 {
		t.Fatalf("the victim token does not answer: %d %s", st, body)
	}
	e.victimKs = e.victimState()
	if len(e.victimKs) == 0 {
		t.Errorf("no limiter key of the victim token %s in DB %d of the first database's server", userID(e.victim), limiterDB)
	}

	e.loadBScript()

	// b's subscriber, kept for the whole layout.
	e.sub = e.openSub()
	t.Cleanup(func() { e.sub.close() })
	t.Cleanup(func() {
		if t.Failed() {
			if log := e.stderr.String(); log != "" {
				t.Logf("the gateway's log (errors only), last 3000 bytes: %s", log[max(0, len(log)-3000):])
			}
		}
	})
	e.bChanRaw = e.bChan
	if chans, err := e.bSrv.Do("PUBSUB", "CHANNELS", "*"+e.bChan+"*"); err == nil {
		if list, _ := chans.([]any); len(list) == 1 {
			e.bChanRaw = fmt.Sprint(list[0])
		}
	}
	t.Logf("%s: gateway %s, b's channel %q is %q in Redis", l, e.url, e.bChan, e.bChanRaw)
	return e
}

// startGateway runs the gateway in this process with e.args until stopGateway.
func (e *env) startGateway() {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	stderr := &lockedBuffer{}
	go func() {
		code <- run(ctx, e.args, testEnv(nil), pw, stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	e.url = ""
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "redisgate listening on "); ok {
			e.url = u
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if e.url == "" {
		cancel()
		e.t.Fatalf("the gateway did not start (exit code %d): %s", <-code, stderr.String())
	}
	e.stderr = stderr
	e.stopGateway = func() {
		cancel()
		select {
		case c := <-code:
			if c != 0 {
				e.t.Errorf("gateway exit code %d", c)
			}
		case <-time.After(10 * time.Second):
			e.t.Error("gateway did not stop")
		}
	}
}

// lockedBuffer is the gateway's stderr, read by the test while the gateway writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// healthy reports whether both databases answer through the gateway within 2 s.
func (e *env) healthy() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, tk := range []string{e.chkA, e.chkB} {
		if st, _, _ := e.request(ctx, tk, "GET", "/ping", ""); st != 200 {
			return false
		}
	}
	return true
}

// recover brings the layout back after an attack that wedged it, so that the next cases
// test something: it stops scripts, drops the gateway's Redis connections and, if that is
// not enough, restarts the gateway.
func (e *env) recover() {
	for _, srv := range []*redistest.Server{e.s1, e.s2} {
		srv.Do("SCRIPT", "KILL")
		srv.Do("FUNCTION", "KILL")
		srv.Do("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
	}
	time.Sleep(300 * time.Millisecond)
	if e.healthy() {
		return
	}
	e.restart()
}

// restart stops and starts the gateway, and opens b's subscriber again.
func (e *env) restart() {
	e.t.Log("restarting the gateway to recover")
	e.sub.close()
	e.stopGateway()
	for _, srv := range []*redistest.Server{e.s1, e.s2} {
		srv.Do("SCRIPT", "KILL")
		srv.Do("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
	}
	e.startGateway()
	redistest.WaitFor(e.t, 5*time.Second, e.healthy, "the restarted gateway serving both databases")
	e.loadBScript()
	e.sub = e.openSub()
}

// bScript is the script b loads through the gateway.
func (e *env) bScript() string { return "return '" + e.vMark + "-script'" }

// loadBScript has b load its script through the gateway, as a tenant does (the gateway
// forgets the hashes it has seen when it restarts).
func (e *env) loadBScript() {
	if st, body := e.doAs(e.bRW, "POST", "/", jsonCmd("SCRIPT", "LOAD", e.bScript())); st != 200 || body != `{"result":"`+e.bScriptSHA+`"}` {
		e.t.Fatalf("b's SCRIPT LOAD: %d %s", st, body)
	}
}

// writeConfig writes the config file with every token not revoked.
func (e *env) writeConfig() {
	var b strings.Builder
	list := func(toks ...string) string {
		var keep []string
		for _, t := range toks {
			if !e.revoked[t] {
				keep = append(keep, t)
			}
		}
		return "[" + strings.Join(keep, ", ") + "]"
	}
	aURL := fmt.Sprintf("%s/%d", e.aSrv.URL(), e.aDB)
	bURL := fmt.Sprintf("%s/%d", e.bSrv.URL(), e.bDB)
	fmt.Fprintf(&b, "databases:\n  - name: a\n    upstream: %s\n", aURL)
	fmt.Fprintf(&b, "    tokens: %s\n", list(append([]string{e.aRW, e.chkA}, append(append(e.quota, e.rate...), e.extra...)...)...))
	fmt.Fprintf(&b, "    read_only_tokens: %s\n    token_limits:\n", list(e.aRO))
	for i := range e.quota {
		fmt.Fprintf(&b, "      %s: {daily: %d}\n      %s: {rate: \"%d/m:%d\"}\n", e.quota[i], quotaDaily, e.rate[i], rateBurst, rateBurst)
	}
	fmt.Fprintf(&b, "  - name: b\n    upstream: %s\n    tokens: %s\n    read_only_tokens: %s\n", bURL, list(e.bRW, e.chkB, e.victim), list(e.bRO))
	fmt.Fprintf(&b, "    token_limits:\n      %s: {daily: 1000}\n", e.victim)
	if err := os.WriteFile(e.file, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// reload rewrites the config file and sends SIGHUP to this process, on which the
// in-process gateway reloads it.
func (e *env) reload() error {
	e.writeConfig()
	return syscall.Kill(os.Getpid(), syscall.SIGHUP)
}

func (e *env) token(r role, i int) string {
	switch r {
	case ro:
		return e.aRO
	case quotaTok:
		return e.quota[i]
	case rateTok:
		return e.rate[i]
	case bTok:
		return e.bRW
	}
	return e.aRW
}

func (e *env) doAs(token, method, path, body string) (int, string) {
	st, b, _ := e.request(context.Background(), token, method, path, body)
	return st, b
}

// do sends one request with the token of r (case index 0 for per-case roles when c is nil).
func (e *env) do(r role, method, path, body string, c *caseRun) (int, string) {
	i := 0
	if c != nil {
		i = c.index
	}
	return e.doAs(e.token(r, i), method, path, body)
}

// request sends one request and returns its status and up to 16 MiB of its body; a
// transport error is status 0 with the error as body.
func (e *env) request(ctx context.Context, token, method, path, body string) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, rd)
	if err != nil {
		return 0, err.Error(), err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.client.Do(req)
	if err != nil {
		return 0, err.Error(), err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	io.Copy(io.Discard, res.Body)
	if err != nil {
		return res.StatusCode, string(b), err
	}
	return res.StatusCode, string(b), nil
}

// jsonCmd is the JSON array of args.
func jsonCmd(args ...string) string {
	b, _ := json.Marshal(args)
	return string(b)
}

// victimState returns the limiter keys of the victim token.
func (e *env) victimState() map[string]redistest.KeyState {
	all, err := e.lim.Snapshot(limiterDB)
	if err != nil {
		e.t.Errorf("limiter DB: %v", err)
		return nil
	}
	id := userID(e.victim)
	out := map[string]redistest.KeyState{}
	for k, v := range all {
		// Quota counters only: a rate-limit key expires on its own within its period.
		if strings.Contains(k, id) && strings.Contains(k, ":q:") {
			out[k] = v
		}
	}
	return out
}

// quotaCounters returns every quota counter of the limiter's database with its value.
func (e *env) quotaCounters() map[string]int64 {
	out := map[string]int64{}
	for _, k := range e.limiterKeys() {
		if !strings.Contains(k, ":q:") {
			continue
		}
		v, err := e.lim.DoDB(limiterDB, "GET", k)
		if err != nil || v == nil {
			continue
		}
		n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	return out
}

// limiterKeys returns every limiter key name in the reserved database.
func (e *env) limiterKeys() []string {
	v, err := e.lim.DoDB(limiterDB, "KEYS", "*")
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range v.([]any) {
		out = append(out, fmt.Sprint(k))
	}
	sort.Strings(out)
	return out
}

// seed empties a's and b's databases and writes their known keys, directly in Redis.
func (e *env) seed() {
	t := e.t
	a, b := e.aSrv, e.bSrv
	a.MustDoDB(e.aDB, "FLUSHDB")
	b.MustDoDB(e.bDB, "FLUSHDB")
	// Functions a loaded in earlier cases (b has none on a's server).
	a.Do("FUNCTION", "FLUSH")
	a.MustDoDB(e.aDB, "SET", "a:str", "aval-"+e.rnd)
	a.MustDoDB(e.aDB, "HSET", "a:hash", "f", "aval-hash")
	a.MustDoDB(e.aDB, "RPUSH", "a:list", "x", "y")
	a.MustDoDB(e.aDB, "XADD", "block", "1-1", "f", "blockentry1")
	a.MustDoDB(e.aDB, "XADD", "block", "1-2", "f", "blockentry2")
	a.MustDoDB(e.aDB, "XGROUP", "CREATE", "block", "g", "0")
	a.MustDoDB(e.aDB, "SET", "a:big", strings.Repeat("x", bigValueBytes))
	k := func(s string) string { return e.kMark + ":" + s }
	v := func(s string) string { return e.vMark + "-" + s }
	b.MustDoDB(e.bDB, "SET", k("str"), v("str"), "EX", "3600")
	b.MustDoDB(e.bDB, "SET", k("plain"), v("plain"))
	b.MustDoDB(e.bDB, "HSET", k("hash"), "field", v("hash"))
	b.MustDoDB(e.bDB, "RPUSH", k("list"), v("list1"), v("list2"))
	b.MustDoDB(e.bDB, "SADD", k("set"), v("set"))
	b.MustDoDB(e.bDB, "ZADD", k("zset"), "1", v("zset"))
	b.MustDoDB(e.bDB, "XADD", k("stream"), "1-1", "f", v("stream"))
	b.MustDoDB(e.bDB, "PEXPIRE", k("hash"), "7200000")
	if n, _ := b.DoDB(e.bDB, "DBSIZE"); n != int64(7) {
		t.Fatalf("b seeded with %v keys", n)
	}
}

// snapshot is the state of everything a's tokens must not change.
type snapshot struct {
	b      map[string]redistest.KeyState
	others map[string]map[string]redistest.KeyState // "server/db" → keys
}

// checkerPrefix starts the checker's keys, which the snapshots leave out.
const checkerPrefix = "chk-"

func (e *env) takeSnapshot() snapshot {
	s := snapshot{others: map[string]map[string]redistest.KeyState{}}
	var err error
	if s.b, err = e.bSrv.Snapshot(e.bDB, checkerPrefix); err != nil {
		e.t.Fatalf("snapshot of b: %v", err)
	}
	servers := []*redistest.Server{e.s1}
	if e.s2 != e.s1 {
		servers = append(servers, e.s2)
	}
	for si, srv := range servers {
		for db := range 16 {
			if (srv == e.aSrv && db == e.aDB) || (srv == e.bSrv && db == e.bDB) || (srv == e.lim && db == limiterDB) {
				continue
			}
			m, err := srv.Snapshot(db)
			if err != nil {
				e.t.Fatalf("snapshot of server %d DB %d: %v", si+1, db, err)
			}
			s.others[fmt.Sprintf("server %d DB %d", si+1, db)] = m
		}
	}
	return s
}

// cleanOthers empties every logical database that is neither a's, b's nor the limiter's,
// so that what one attack left there does not show in the next case.
func (e *env) cleanOthers() {
	for _, srv := range []*redistest.Server{e.s1, e.s2} {
		for db := range 16 {
			if (srv == e.aSrv && db == e.aDB) || (srv == e.bSrv && db == e.bDB) || (srv == e.lim && db == limiterDB) {
				continue
			}
			srv.DoDB(db, "FLUSHDB")
		}
	}
}

// blockedClients returns the id and description of srv's connections blocked in a command.
func blockedClients(srv *redistest.Server) [][2]string {
	v, err := srv.Do("CLIENT", "LIST", "TYPE", "normal")
	if err != nil {
		return nil
	}
	var out [][2]string
	for _, line := range strings.Split(fmt.Sprint(v), "\n") {
		var id, flags, cmd string
		for _, f := range strings.Fields(line) {
			k, val, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				id = val
			case "flags":
				flags = val
			case "cmd":
				cmd = val
			}
		}
		if id != "" && strings.Contains(flags, "b") {
			out = append(out, [2]string{id, "cmd=" + cmd + " flags=" + flags})
		}
	}
	return out
}

// sseStream is an open /subscribe, /psubscribe or /monitor stream whose events are collected.
type sseStream struct {
	status int
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	buf    bytes.Buffer
	err    error
}

// openStream opens path with token; it returns once the answer's headers came (or failed).
func (e *env) openStream(token, path string) *sseStream {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sseStream{cancel: cancel, done: make(chan struct{})}
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := cl.Do(req)
	if err != nil {
		s.err = err
		close(s.done)
		return s
	}
	s.status = res.StatusCode
	go func() {
		defer close(s.done)
		defer res.Body.Close()
		r := bufio.NewReader(res.Body)
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			s.mu.Lock()
			if s.buf.Len() < 16<<20 {
				s.buf.Write(buf[:n])
			}
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
				s.err = err
			}
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

func (s *sseStream) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// ended reports whether the gateway ended the stream.
func (s *sseStream) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *sseStream) close() {
	s.cancel()
	<-s.done
}

func (e *env) openSub() *sseStream {
	s := e.openStream(e.bRW, "/subscribe/"+e.bChan)
	if s.status != 200 {
		e.t.Fatalf("b's subscriber: status %d %v %s", s.status, s.err, s.text())
	}
	redistest.WaitFor(e.t, 3*time.Second, func() bool { return strings.Contains(s.text(), "subscribe,"+e.bChan) }, "b's subscription confirmed")
	return s
}

// checker runs SET/GET pairs and pipelines with unique values through the gateway on both
// databases and counts what went wrong.
type checker struct {
	e                           *env
	stop                        chan struct{}
	wg                          sync.WaitGroup
	ops                         atomic.Int64
	errs, timeouts              atomic.Int64
	mismatches, missingA, missB atomic.Int64
	mu                          sync.Mutex
	samples, timeoutSamples     []string
}

func (c *checker) sample(timeout bool, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case timeout && len(c.timeoutSamples) < 2:
		c.timeoutSamples = append(c.timeoutSamples, fmt.Sprintf(format, args...))
	case !timeout && len(c.samples) < 4:
		c.samples = append(c.samples, fmt.Sprintf(format, args...))
	}
}

func (e *env) startChecker(caseIndex int) *checker {
	c := &checker{e: e, stop: make(chan struct{})}
	for _, db := range []string{"a", "b"} {
		token, mark := e.chkA, "a"+e.rnd
		if db == "b" {
			token, mark = e.chkB, e.vMark
		}
		for g := range 3 {
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				for n := 0; ; n++ {
					select {
					case <-c.stop:
						return
					default:
					}
					key := fmt.Sprintf("%s%s-%d-%d-%d", checkerPrefix, mark, caseIndex, g, n)
					val := fmt.Sprintf("%s%s-v-%d-%d-%s", checkerPrefix, mark, g, n, randHex(4))
					if g == 2 {
						c.pipeline(db, token, key, val)
					} else {
						c.setGet(db, token, key, val)
					}
					time.Sleep(15 * time.Millisecond)
				}
			}()
		}
	}
	return c
}

func (c *checker) failed(db, what string, status int, body string) {
	timeout := status == 0 || status == 503 || status == 504 || strings.Contains(body, "imeout")
	if timeout {
		c.timeouts.Add(1)
	} else {
		c.errs.Add(1)
	}
	c.sample(timeout, "%s on %s: %d %.200s", what, db, status, body)
}

func (c *checker) wrong(db, what, got, want string) {
	if got == `{"result":null}` || strings.Contains(got, `{"result":null}`) {
		if db == "a" {
			c.missingA.Add(1)
		} else {
			c.missB.Add(1)
		}
	} else {
		c.mismatches.Add(1)
	}
	c.sample(false, "%s on %s: got %.200s, want %.200s", what, db, got, want)
}

func (c *checker) setGet(db, token, key, val string) {
	st, body, _ := c.e.request(context.Background(), token, "POST", "/", jsonCmd("SET", key, val, "PX", "60000"))
	c.ops.Add(1)
	if st != 200 || body != `{"result":"OK"}` {
		c.failed(db, "SET", st, body)
		return
	}
	st, body, _ = c.e.request(context.Background(), token, "GET", "/get/"+key, "")
	c.ops.Add(1)
	want, _ := json.Marshal(map[string]string{"result": val})
	switch {
	case st != 200 && st != 400:
		c.failed(db, "GET", st, body)
	case body != string(want):
		c.wrong(db, "GET", body, string(want))
	}
}

func (c *checker) pipeline(db, token, key, val string) {
	body := "[" + jsonCmd("SET", key, val, "PX", "60000") + "," + jsonCmd("GET", key) + "]"
	st, got, _ := c.e.request(context.Background(), token, "POST", "/pipeline", body)
	c.ops.Add(2)
	v, _ := json.Marshal(val)
	want := `[{"result":"OK"},{"result":` + string(v) + `}]`
	switch {
	case st != 200 || strings.Contains(got, `{"error":`):
		c.failed(db, "pipeline", st, got)
	case got != want:
		c.wrong(db, "pipeline", got, want)
	}
}

func (c *checker) halt() {
	close(c.stop)
	c.wg.Wait()
}

// tolerance relaxes the checker for attacks whose expected effect it would otherwise count.
type tolerance uint8

const (
	// ownFlush: the attack empties a's own database, so a's checker may read null.
	ownFlush tolerance = 1 << iota
	// stall: the attack holds a's Redis server for up to --command-timeout (a runaway
	// script is stopped only then), so the checker's requests on that server may time out.
	stall
)

// caseRun is one run of one case: what the attacker sent and got.
type caseRun struct {
	e        *env
	t        *testing.T
	index    int
	sent     []string // every request the attacker sent, expanded
	answers  []string // every answer and stream the attacker got
	served   map[role]int
	failures []string
}

func (r *caseRun) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// probeQuota checks that the case's quota token is refused once its daily quota is spent.
func (r *caseRun) probeQuota() {
	if r.served[quotaTok] > quotaDaily {
		r.fail("the quota token was served %d commands under a daily quota of %d", r.served[quotaTok], quotaDaily)
		return
	}
	left := quotaDaily - r.served[quotaTok]
	served := 0
	for range left + 1 {
		st, body := r.e.do(quotaTok, "GET", "/ping", "", r)
		if st == 429 {
			break
		}
		if st != 200 {
			r.fail("quota probe: %d %s", st, body)
			return
		}
		served++
	}
	if served > left {
		r.fail("the quota token was served %d more commands after the attack, at most %d were left of its daily quota of %d: the quota was reset", served, left, quotaDaily)
	}
}

// probeRate checks that the case's rate token is refused once its burst is spent.
func (r *caseRun) probeRate() {
	if r.served[rateTok] > rateBurst {
		r.fail("the rate token was served %d requests under a limit of %d/m:%d", r.served[rateTok], rateBurst, rateBurst)
		return
	}
	left := rateBurst - r.served[rateTok]
	served := 0
	for range max(left, 0) + 1 {
		st, body := r.e.do(rateTok, "GET", "/ping", "", r)
		if st == 429 {
			break
		}
		if st != 200 {
			r.fail("rate probe: %d %s", st, body)
			return
		}
		served++
	}
	if served > max(left, 0) {
		r.fail("the rate token was served %d more requests after the attack, at most %d were left of its burst of %d: the limiter state was reset", served, max(left, 0), rateBurst)
	}
}

// secret is something of b's that an attacker's answer must not hold.
type secret struct{ what, text string }

func (e *env) secrets() []secret {
	s := []secret{
		{"a value of b (seeded or written by b's checker)", e.vMark},
		{"a key name of b", e.kMark},
		{"b's channel name", e.bChan},
		{"b's function library", e.bLib},
		{"b's function", e.bFunc},
		{"b's read-write token", e.bRW},
		{"b's read-only token", e.bRO},
		{"b's checker token", e.chkB},
		{"the victim token", e.victim},
		{"the limiter id of b's token", userID(e.bRW)},
		{"the limiter id of b's checker token", userID(e.chkB)},
		{"the limiter id of the victim token", userID(e.victim)},
		{"b's loaded script's hash", e.bScriptSHA},
	}
	if e.bChanRaw != e.bChan {
		s = append(s, secret{"b's channel as Redis names it", e.bChanRaw})
	}
	return s
}

// leaks describes every secret of b found in answer that the attacker did not send itself,
// with the text around it: the helper that shows, for a failing case, what leaked.
func leaks(answer, sent string, secrets []secret) []string {
	var out []string
	for _, s := range secrets {
		if s.text == "" || strings.Contains(sent, s.text) {
			continue
		}
		i := strings.Index(answer, s.text)
		if i < 0 {
			continue
		}
		lo, hi := max(0, i-80), min(len(answer), i+len(s.text)+80)
		out = append(out, fmt.Sprintf("%s leaked (%d times), e.g. …%q…", s.what, strings.Count(answer, s.text), answer[lo:hi]))
	}
	return out
}

func (e *env) runCase(t *testing.T, index int, c hostileCase) {
	for _, f := range e.attack(t, index, c) {
		t.Error(f)
	}
}

// attack runs case c (index in the table) and returns what went wrong.
func (e *env) attack(t *testing.T, index int, c hostileCase) []string {
	r := &caseRun{e: e, t: t, index: index, served: map[role]int{}}
	e.t = t
	if !e.healthy() {
		t.Log("the layout was wedged by an earlier case: recovering")
		e.recover()
	}
	e.seed()
	before := e.takeSnapshot()
	counters := e.quotaCounters()
	subFrom := len(e.sub.text())

	chk := e.startChecker(index)
	defer func() {
		if chk != nil {
			chk.halt()
		}
	}()
	// b's subscriber is alive: b's own message reaches it.
	canary := fmt.Sprintf("%s-canary-%d", e.vMark, index)
	if st, body := e.do(bTok, "POST", "/", jsonCmd("PUBLISH", e.bChan, canary), nil); st != 200 || body == `{"result":0}` {
		r.fail("b's canary publish: %d %s", st, body)
	}
	for range quotaPre {
		if st, body := e.do(quotaTok, "GET", "/ping", "", r); st != 200 {
			r.fail("quota token before the attack: %d %s", st, body)
			e.recover()
			return r.failures
		}
		r.served[quotaTok]++
	}
	if st, body := e.do(rateTok, "GET", "/ping", "", r); st != 200 {
		r.fail("rate token before the attack: %d %s", st, body)
		e.recover()
		return r.failures
	}
	r.served[rateTok]++

	start := time.Now()
	if c.custom != nil {
		c.custom(r)
	}
	for i, s := range c.steps {
		r.runStep(i, s)
	}
	if c.after != nil {
		c.after(r)
	}
	t.Logf("attack took %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(150 * time.Millisecond) // let stray messages arrive

	chk.halt()
	ck := chk
	chk = nil

	// The gateway still serves both databases, blocking commands included; if not, the case
	// failed and the layout is recovered for the next cases.
	if !e.healthy() {
		r.fail("after the attack the gateway no longer serves both databases within 2s")
		e.recover()
	}
	if st, body := e.doAs(e.chkA, "POST", "/", jsonCmd("BLPOP", checkerPrefix+"nothing", "0.01")); st != 200 {
		r.fail("after the attack a's blocking commands are not served: %d %s", st, body)
		e.restart()
	}

	// The servers still answer and run no script.
	for _, srv := range []*redistest.Server{e.s1, e.s2} {
		if _, err := srv.Do("PING"); err != nil {
			r.fail("Redis %s does not answer PING after the attack: %v", srv.Addr, err)
			if strings.Contains(err.Error(), "BUSY") {
				srv.Do("SCRIPT", "KILL")
				srv.Do("FUNCTION", "KILL")
				time.Sleep(100 * time.Millisecond)
			}
		}
	}

	// b and every other logical database are unchanged.
	after := e.takeSnapshot()
	if d := redistest.DiffSnapshots(before.b, after.b); len(d) > 0 {
		r.fail("database b changed: %s", strings.Join(d, "; "))
	}
	for where, m := range before.others {
		if d := redistest.DiffSnapshots(m, after.others[where]); len(d) > 0 {
			r.fail("%s (no tenant's) changed: %s", where, strings.Join(d, "; "))
		}
	}
	for _, k := range e.limiterKeys() {
		if strings.Contains(k, e.pwned) || strings.HasPrefix(k, "a:") || k == "block" || strings.Contains(k, e.kMark) || strings.HasPrefix(k, checkerPrefix) {
			r.fail("the limiter's database holds a key the attacker wrote: %q", k)
			e.lim.DoDB(limiterDB, "DEL", k)
		}
	}
	// Quota counters only grow within their day: none went down or vanished.
	grown := e.quotaCounters()
	for k, v := range counters {
		if a, ok := grown[k]; !ok || a < v {
			r.fail("quota counter %s went from %d to %d (present: %v)", k, v, a, ok)
		}
	}
	if now := e.victimState(); len(redistest.DiffSnapshots(e.victimKs, now)) > 0 {
		r.fail("the victim token's quota state changed: %s", strings.Join(redistest.DiffSnapshots(e.victimKs, now), "; "))
		e.victimKs = now // reported once, not by every later case
	}
	if st, body := e.doAs(e.bRW, "POST", "/", jsonCmd("EVALSHA", e.bScriptSHA, "0")); st != 200 || !strings.Contains(body, e.vMark+"-script") {
		r.fail("b's loaded script no longer runs for b: %d %s", st, body)
		e.loadBScript()
	}
	if e.layout == separate {
		if v, err := e.bSrv.Do("FUNCTION", "DUMP"); err != nil || fmt.Sprint(v) != e.bFuncs {
			r.fail("b's function library changed: %v", err)
			lib := fmt.Sprintf("#!lua name=%s\nredis.register_function('%s', function(keys, args) return '%s-func' end)", e.bLib, e.bFunc, e.vMark)
			e.bSrv.Do("FUNCTION", "FLUSH")
			e.bSrv.Do("FUNCTION", "LOAD", "REPLACE", lib)
			e.bFuncs = fmt.Sprint(e.bSrv.MustDo("FUNCTION", "DUMP"))
		}
	}

	// No Redis connection is left blocked once the attacker has its answer.
	for _, srv := range []*redistest.Server{e.s1, e.s2} {
		for _, cl := range blockedClients(srv) {
			r.fail("a Redis connection of %s is still blocked after the attack was answered: %s", srv.Addr, cl[1])
			srv.Do("CLIENT", "UNBLOCK", cl[0])
		}
	}
	e.cleanOthers()

	// b's subscriber got its canary and nothing the attacker sent.
	for wait := time.Now().Add(3 * time.Second); time.Now().Before(wait) && !e.sub.ended(); time.Sleep(20 * time.Millisecond) {
		if t := e.sub.text(); strings.Contains(t[min(subFrom, len(t)):], canary) {
			break
		}
	}
	got := e.sub.text()
	if e.sub.ended() {
		r.fail("b's subscriber stream ended: %v %.300s", e.sub.err, got[min(subFrom, len(got)):])
		e.sub.close()
		e.sub = e.openSub()
	} else {
		got = got[min(subFrom, len(got)):]
		if !strings.Contains(got, canary) {
			r.fail("b's subscriber did not get b's own message %q: %.300s", canary, got)
		}
		for _, m := range []string{e.pwned, "apos" + e.rnd} {
			if strings.Contains(got, m) {
				r.fail("b's subscriber received a message published through database a: %.300s", got)
			}
		}
	}

	// Nothing of b in the attacker's answers.
	sent := strings.Join(r.sent, "\n")
	for _, l := range leaks(strings.Join(r.answers, "\n"), sent, e.secrets()) {
		r.fail("%s", l)
	}

	// The concurrent checker saw no error and no mismatch.
	errs, timeouts, mism := ck.errs.Load(), ck.timeouts.Load(), ck.mismatches.Load()
	missA, missB := ck.missingA.Load(), ck.missB.Load()
	if c.tolerate&stall == 0 {
		errs += timeouts
	}
	if c.tolerate&ownFlush == 0 {
		mism += missA
	}
	mism += missB
	if errs > 0 || mism > 0 {
		r.fail("the concurrent checker saw %d errors and %d mismatched replies in %d operations (e.g. %s)", errs, mism, ck.ops.Load(), strings.Join(append(ck.samples, ck.timeoutSamples...), " | "))
	} else if ck.ops.Load() == 0 {
		r.fail("the concurrent checker ran no operation")
	}

	// The attacker's quota and rate limit still hold.
	r.probeQuota()
	r.probeRate()

	return r.failures
}

// TestHostileSuiteCatchesAnUnconfinedGateway runs three cases against a shared server with
// --isolation off, where a tenant's Lua reaches b's database: the harness must report the
// leak of b's value, the change of b's key, and the quota counters the attack reset, so that
// a passing suite means something.
func TestHostileSuiteCatchesAnUnconfinedGateway(t *testing.T) {
	cases := hostileCases()
	pick := func(name string) (int, hostileCase) {
		for i, c := range cases {
			if c.name == name {
				return i, c
			}
		}
		t.Fatalf("no case %q", name)
		return 0, hostileCase{}
	}
	e := startEnv(t, shared, len(cases), "--isolation", "off")
	for _, tc := range []struct {
		name string
		want []string // each must start one of the failures reported
	}{
		{"Lua select of another database then GET is refused", []string{"step 0", "a value of b (seeded or written by b's checker) leaked"}},
		{"Lua select of another database then SET is refused", []string{"step 0", "database b changed: key"}},
		{"Lua select of the limiter's database 15 then FLUSHDB is refused", []string{"step 0", "quota counter", "the quota token was served"}},
	} {
		i, c := pick(tc.name)
		got := e.attack(t, i, c)
		for _, w := range tc.want {
			found := false
			for _, f := range got {
				found = found || strings.HasPrefix(f, w)
			}
			if !found {
				t.Errorf("%s with --isolation off: no failure starting %q among %q", tc.name, w, got)
			}
		}
	}
}

// TestHostileLeakReportNamesTheSecretAndWhereItShowed checks the helper that tells, for a
// failing case, which of b's secrets showed in an answer and around what.
func TestHostileLeakReportNamesTheSecretAndWhereItShowed(t *testing.T) {
	secrets := []secret{{"a value of b", "bval123"}, {"b's channel name", "bchan123"}}
	got := leaks(`{"result":["x","bval123-str","bval123-list"]}`, `["KEYS","*"]`, secrets)
	if len(got) != 1 || !strings.HasPrefix(got[0], "a value of b leaked (2 times), e.g. …") || !strings.Contains(got[0], `bval123-str`) {
		t.Errorf("leaks: %q", got)
	}
	if got := leaks(`{"result":0}`, `["PUBLISH","bchan123","x"]`, secrets); len(got) != 0 {
		t.Errorf("a secret the attacker sent itself reported: %q", got)
	}
	if got := leaks(`data: message,bchan123,hi`, `/subscribe/achan`, secrets); len(got) != 1 || !strings.HasPrefix(got[0], "b's channel name leaked (1 times)") {
		t.Errorf("leaks of a channel: %q", got)
	}
}
