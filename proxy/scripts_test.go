package proxy_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
)

// withScriptKiller lets the gateway stop scripts on its Redis.
func withScriptKiller() gatewayOption {
	return func(c *gatewayConfig) {
		c.database = append(c.database, func(db *proxy.Database, redis pool.Options) {
			db.KillScripts = backend.KillScripts(redis, func() []string { return []string{redis.Addr} })
		})
	}
}

func TestRunawayScriptIsStoppedAtTheCommandTimeout(t *testing.T) {
	g := startGateway(t, withScriptKiller(), withOptions(func(o *proxy.Options) { o.CommandTimeout = time.Second }))
	// Redis takes SCRIPT KILL once a script has run this long (5 s by default).
	g.redis.MustDo("CONFIG", "SET", "busy-reply-threshold", "200")
	g.req("GET", "/set/k/v", "").expect(t, 200, `{"result":"OK"}`)
	for _, tc := range []struct{ name, path, body string }{
		{"EVAL", "/", `["EVAL","while true do end","0"]`},
		{"EVAL_RO in a pipeline", "/pipeline", `[["GET","k"],["EVAL_RO","while true do end","0"],["GET","k"]]`},
		{"FCALL", "/", `["FCALL","spin","0"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "FCALL" {
				g.redis.MustDo("FUNCTION", "LOAD", "REPLACE", "#!lua name=spinlib\nredis.register_function('spin', function() while true do end end)")
			}
			// A client of the same database waits behind the script, and is served once it is
			// stopped: it comes in after the busy-reply-threshold, when Redis answers BUSY to
			// everyone, and its refused command is sent again.
			var wg sync.WaitGroup
			wg.Add(1)
			var other response
			go func() {
				defer wg.Done()
				time.Sleep(500 * time.Millisecond)
				other = g.req("GET", "/get/k", "")
			}()
			start := time.Now()
			r := g.req("POST", tc.path, tc.body)
			took := time.Since(start)
			wg.Wait()
			if took < time.Second || took > 3*time.Second {
				t.Errorf("answered after %v, want about the 1 s command timeout: %d %s", took, r.status, r.body)
			}
			if !strings.Contains(r.body, "Script killed by user") {
				t.Errorf("runaway script answered %d %s", r.status, r.body)
			}
			if tc.path == "/pipeline" && (r.status != 200 || !strings.HasPrefix(r.body, `[{"result":"v"},{"error":`) || !strings.HasSuffix(r.body, `,{"result":"v"}]`)) {
				t.Errorf("pipeline around the script: %d %s", r.status, r.body)
			}
			other.expect(t, 200, `{"result":"v"}`)
			g.req("GET", "/get/k", "").expect(t, 200, `{"result":"v"}`)
		})
	}
}

func TestScriptThatWroteIsReportedUnkillable(t *testing.T) {
	g := startGateway(t, withScriptKiller(), withOptions(func(o *proxy.Options) { o.CommandTimeout = 500 * time.Millisecond }))
	g.redis.MustDo("CONFIG", "SET", "busy-reply-threshold", "200")
	// A script that wrote cannot be stopped without SHUTDOWN NOSAVE: it runs to its end (here
	// after about 1.5 s), the request gets its answer late or a 504, and the gateway logs an error.
	body := `["EVAL","redis.call('set','w','1') local t0 = redis.call('time')[1] while tonumber(redis.call('time')[1]) - t0 < 2 do end return 1","0"]`
	r := g.req("POST", "/", body)
	if r.status != 504 && r.body != `{"result":1}` {
		t.Errorf("unkillable script: %d %s", r.status, r.body)
	}
	waitFor(t, "the script's end", func() bool { _, err := g.redis.Do("PING"); return err == nil })
	g.req("GET", "/get/w", "").expect(t, 200, `{"result":"1"}`)
}

func TestCommandsRefusedAsBusyAreSentAgain(t *testing.T) {
	g := startGateway(t, withOptions(func(o *proxy.Options) { o.CommandTimeout = 3 * time.Second }))
	g.redis.MustDo("CONFIG", "SET", "busy-reply-threshold", "100")
	g.req("GET", "/set/k/v", "").expect(t, 200, `{"result":"OK"}`)
	// Another client's script holds the server past its busy-reply-threshold: Redis answers
	// BUSY to every other command until the script is stopped.
	go g.redis.Do("EVAL", "while true do end", "0")
	waitFor(t, "Redis busy", func() bool {
		_, err := g.redis.Do("PING")
		return err != nil && strings.HasPrefix(err.Error(), "BUSY")
	})
	time.AfterFunc(500*time.Millisecond, func() { g.redis.Do("SCRIPT", "KILL") })
	start := time.Now()
	g.req("GET", "/get/k", "").expect(t, 200, `{"result":"v"}`)
	g.req("POST", "/pipeline", `[["GET","k"],["INCR","n"]]`).expect(t, 200, `[{"result":"v"},{"result":1}]`)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("answered after %v: the script was still running", d)
	}
}
