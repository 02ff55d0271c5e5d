package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// hostileCase is one attack: the layouts it runs in and its steps, each stating what it
// expects in each layout. custom runs before the steps for attacks that are not a plain
// series of requests; after adds checks of the attack's own effect.
type hostileCase struct {
	name     string
	in       layout
	steps    []step
	tolerate tolerance
	custom   func(r *caseRun)
	after    func(r *caseRun)
}

// req is one request of an attacker. Text in braces is replaced per layout (see expand).
type req struct {
	as     role
	method string
	path   string
	args   []string   // POST / with this command
	cmds   [][]string // POST path (/pipeline or /multi-exec) with these commands
	stream time.Duration
	repeat int // send it this many times (limiter attacks): want then applies to each answer
}

// step is a request and what each layout expects of it.
type step struct {
	req
	shared, separate want
}

// want is what an answer must be. The zero want accepts any answer: the suite's
// safety checks after each case still apply.
type want struct {
	status  int            // exact HTTP status
	refused bool           // a JSON {"error":…} with a 4xx status
	failed  bool           // a JSON {"error":…} with any status from 400
	body    string         // exact body
	has     []string       // the body holds each
	mention string         // the body holds this, in any case (a clear error names its cause)
	lacks   []string       // the body holds none
	entries map[int]string // /pipeline answer entries: "error" for an error, else the exact entry
	within  time.Duration  // answered within
	or      *want          // an alternative that also passes
	limited bool           // a refusal or 429 counts for the rate/quota token (repeat steps)
}

// Request builders.

func cmd(args ...string) req      { return req{method: "POST", path: "/", args: args} }
func getPath(path string) req     { return req{method: "GET", path: path} }
func pipe(cmds ...[]string) req   { return req{method: "POST", path: "/pipeline", cmds: cmds} }
func multi(cmds ...[]string) req  { return req{method: "POST", path: "/multi-exec", cmds: cmds} }
func c(args ...string) []string   { return args }
func sub(path string) req         { return req{method: "GET", path: path, stream: 1500 * time.Millisecond} }
func (q req) by(r role) req       { q.as = r; return q }
func (q req) times(n int) req     { q.repeat = n; return q }
func (q req) all(w want) step     { return step{req: q, shared: w, separate: w} }
func (q req) each(s, p want) step { return step{req: q, shared: s, separate: p} }

// Want builders.

func refused(has ...string) want { return want{refused: true, has: has} }
func failed() want               { return want{failed: true} }
func okBody(body string) want    { return want{status: 200, body: body} }
func ok(has ...string) want      { return want{status: 200, has: has} }
func anyAnswer() want            { return want{} }

// orElse accepts o too, after the alternatives w already has.
func (w want) orElse(o want) want {
	if w.or != nil {
		o = w.or.orElse(o)
	}
	w.or = &o
	return w
}

// in bounds the answer's time, whichever alternative it matches.
func (w want) in(d time.Duration) want {
	w.within = d
	if w.or != nil {
		o := w.or.in(d)
		w.or = &o
	}
	return w
}
func (w want) saying(s string) want          { w.mention = s; return w }
func (w want) without(s ...string) want      { w.lacks = append(w.lacks, s...); return w }
func entries(m map[int]string) want          { return want{status: 200, entries: m} }
func refusedOrEntries(m map[int]string) want { return refused().orElse(entries(m)) }
func refusedOrOK(has ...string) want         { return refused().orElse(ok(has...)) }

// sha1hex is the hash Redis names a script by.
func sha1hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// expand replaces the placeholders of s for this layout and case.
func (r *caseRun) expand(s string) string {
	e := r.e
	odb, udb := e.bDB, 3
	if e.layout == separate {
		odb, udb = limiterDB, 1
	}
	_, bport, _ := net.SplitHostPort(e.bSrv.Addr)
	rep := strings.NewReplacer(
		"{adb}", strconv.Itoa(e.aDB), "{bdb}", strconv.Itoa(e.bDB), "{odb}", strconv.Itoa(odb), "{udb}", strconv.Itoa(udb),
		"{bport}", bport, "{kb}", e.kMark+":str", "{kbplain}", e.kMark+":plain",
		"{bchan}", e.bChan, "{bchan.raw}", e.bChanRaw, "{achan}", e.aChan,
		"{apos}", fmt.Sprintf("apos%s-%d", e.rnd, r.index), "{pwned}", e.pwned,
		"{blib}", e.bLib, "{bfunc}", e.bFunc, "{bsha}", e.bScriptSHA,
		"{victimq}", e.victimQuotaKey(), "{rnd}", e.rnd,
	)
	return rep.Replace(s)
}

// victimQuotaKey is the name of the victim token's daily quota key.
func (e *env) victimQuotaKey() string {
	for k := range e.victimKs {
		if strings.Contains(k, ":d:") {
			return k
		}
	}
	return "redisgate:rl:q:d:" + time.Now().UTC().Format("20060102") + ":{" + userID(e.victim) + "}"
}

func (r *caseRun) expandArgs(args []string) []string {
	var out []string
	for _, a := range args {
		if a == "{limiter.keys}" {
			out = append(out, r.e.limiterKeys()...)
			continue
		}
		out = append(out, r.expand(a))
	}
	return out
}

// body is the request body of q, expanded.
func (r *caseRun) body(q req) string {
	switch {
	case q.args != nil:
		return jsonCmd(r.expandArgs(q.args)...)
	case q.cmds != nil:
		parts := make([]string, len(q.cmds))
		for i, c := range q.cmds {
			parts[i] = jsonCmd(r.expandArgs(c)...)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return ""
}

// runStep sends s's request (repeat times) and checks each answer against the layout's want.
func (r *caseRun) runStep(i int, s step) {
	w := s.shared
	if r.e.layout == separate {
		w = s.separate
	}
	w = r.expandWant(w)
	q := s.req
	path := r.expand(q.path)
	body := r.body(q)
	r.sent = append(r.sent, path+" "+body)
	token := r.e.token(q.as, r.index)
	n := max(q.repeat, 1)
	for k := range n {
		var status int
		var answer string
		begin := time.Now()
		if q.stream > 0 {
			status, answer = r.stream(token, path, q.stream)
		} else {
			status, answer, _ = r.e.request(context.Background(), token, q.method, path, body)
		}
		took := time.Since(begin)
		r.answers = append(r.answers, answer)
		if (q.as == quotaTok || q.as == rateTok) && status != 429 {
			r.served[q.as]++
		}
		if err := w.check(status, answer, took); err != nil {
			r.fail("step %d (%s %s %.200s), request %d of %d: %v", i, q.method, path, body, k+1, n, err)
			if n > 1 {
				return
			}
		}
	}
}

// stream opens an SSE stream, makes the traffic it could wrongly see for d, and returns
// its status and everything it got.
func (r *caseRun) stream(token, path string, d time.Duration) (int, string) {
	e := r.e
	s := e.openStream(token, path)
	if s.status != 200 {
		<-s.done
		return s.status, s.text()
	}
	time.Sleep(200 * time.Millisecond)
	// a publishes on b's channel name only when the stream names it, as a's own channel.
	aOnB := strings.Contains(path, e.bChan)
	deadline := time.Now().Add(d)
	for n := 0; time.Now().Before(deadline); n++ {
		// a's own traffic, which a's stream may see…
		e.doAs(e.chkA, "POST", "/", jsonCmd("PUBLISH", e.aChan, r.expand("{apos}")))
		if aOnB {
			e.doAs(e.chkA, "POST", "/", jsonCmd("PUBLISH", e.bChan, r.expand("{apos}")))
		}
		// …and b's, which it must not.
		e.doAs(e.bRW, "POST", "/", jsonCmd("PUBLISH", e.bChan, fmt.Sprintf("%s-msg-%d", e.vMark, n)))
		e.doAs(e.bRW, "POST", "/", jsonCmd("SET", fmt.Sprintf("%s%s-stream", checkerPrefix, e.kMark), e.vMark+"-stream", "PX", "60000"))
		time.Sleep(100 * time.Millisecond)
	}
	s.close()
	return s.status, s.text()
}

// expandWant replaces the placeholders of w's texts.
func (r *caseRun) expandWant(w want) want {
	w.body = r.expand(w.body)
	w.has = r.expandArgs(w.has)
	w.lacks = r.expandArgs(w.lacks)
	if w.entries != nil {
		m := map[int]string{}
		for k, v := range w.entries {
			m[k] = r.expand(v)
		}
		w.entries = m
	}
	if w.or != nil {
		o := r.expandWant(*w.or)
		w.or = &o
	}
	return w
}

// check returns why an answer does not match w, or nil.
func (w want) check(status int, body string, took time.Duration) error {
	err := w.check1(status, body, took)
	if err != nil && w.or != nil {
		if w.or.check(status, body, took) == nil {
			return nil
		}
	}
	return err
}

func (w want) check1(status int, body string, took time.Duration) error {
	short := body
	if len(short) > 300 {
		short = short[:300] + "…"
	}
	if w.within > 0 && took > w.within {
		return fmt.Errorf("answered in %v, want within %v: %d %s", took.Round(time.Millisecond), w.within, status, short)
	}
	if w.limited && status == 429 {
		return nil
	}
	if w.status != 0 && status != w.status {
		return fmt.Errorf("status %d, want %d: %s", status, w.status, short)
	}
	if w.refused || w.failed {
		var e struct {
			Error *string `json:"error"`
		}
		if json.Unmarshal([]byte(body), &e) != nil || e.Error == nil {
			return fmt.Errorf("status %d %s: want a JSON error", status, short)
		}
		if w.refused && (status < 400 || status > 499) {
			return fmt.Errorf("status %d, want a 4xx refusal: %s", status, short)
		}
		if w.failed && status < 400 {
			return fmt.Errorf("status %d, want an error status: %s", status, short)
		}
	}
	if w.body != "" && body != w.body {
		return fmt.Errorf("body %s, want %s", short, w.body)
	}
	for _, h := range w.has {
		if !strings.Contains(body, h) {
			return fmt.Errorf("body lacks %q: %d %s", h, status, short)
		}
	}
	if w.mention != "" && !strings.Contains(strings.ToLower(body), strings.ToLower(w.mention)) {
		return fmt.Errorf("the answer does not mention %q: %d %s", w.mention, status, short)
	}
	for _, l := range w.lacks {
		if strings.Contains(body, l) {
			return fmt.Errorf("body holds %q: %d %s", l, status, short)
		}
	}
	if w.entries != nil {
		var list []json.RawMessage
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			return fmt.Errorf("status %d %s: want a JSON array", status, short)
		}
		for i, wantEntry := range w.entries {
			if i >= len(list) {
				return fmt.Errorf("%d entries, want entry %d: %s", len(list), i, short)
			}
			got := string(list[i])
			if wantEntry == "error" {
				var e struct {
					Error *string `json:"error"`
				}
				if json.Unmarshal(list[i], &e) != nil || e.Error == nil {
					return fmt.Errorf("entry %d is %s, want an error", i, got)
				}
			} else if got != wantEntry {
				return fmt.Errorf("entry %d is %s, want %s", i, got, wantEntry)
			}
		}
	}
	return nil
}
