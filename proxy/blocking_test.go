package proxy_test

import (
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestBlockingCommandsUseDedicatedConnections(t *testing.T) {
	g := startGateway(t, withBlocking(2, 400*time.Millisecond))

	// A BLPOP waiting for data does not hold up the shared connections.
	var wg sync.WaitGroup
	wg.Add(1)
	var popped response
	go func() {
		defer wg.Done()
		popped = g.req("POST", "/", `["BLPOP","jobs",0]`)
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	g.req("GET", "/ping", "").expect(t, 200, `{"result":"PONG"}`)
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("PING behind a blocked BLPOP took %v", took)
	}
	g.req("GET", "/rpush/jobs/j1", "").expect(t, 200, `{"result":1}`)
	wg.Wait()
	popped.expect(t, 200, `{"result":["jobs","j1"]}`)

	// An infinite timeout is cut to the cap: Redis answers nil, no element can be lost.
	start = time.Now()
	g.req("POST", "/", `["BLPOP","empty",0]`).expect(t, 200, `{"result":null}`)
	if took := time.Since(start); took < 350*time.Millisecond || took > 2*time.Second {
		t.Errorf("capped BLPOP returned after %v, want about 400ms", took)
	}

	// A pipeline holding a blocking command runs, in order, on a dedicated connection.
	g.req("POST", "/pipeline", `[["RPUSH","q","a"],["BRPOPLPUSH","q","done",1],["LRANGE","done",0,-1]]`).
		expect(t, 200, `[{"result":1},{"result":"a"},{"result":["a"]}]`)
	g.req("POST", "/", `["XREAD","COUNT",1,"BLOCK",0,"STREAMS","s","$"]`).expect(t, 200, `{"result":null}`)

	// Inside a transaction nothing blocks: Redis runs the non-blocking form.
	g.req("POST", "/multi-exec", `[["BLPOP","nothing",0],["SET","k","v"]]`).expect(t, 200, `[{"result":null},{"result":"OK"}]`)

	// More waiters than dedicated connections queue; with nothing to pop they all time out with nil.
	results := make([]response, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = g.req("POST", "/", `["BLPOP","none",0.2]`)
		}()
	}
	wg.Wait()
	for _, r := range results {
		r.expect(t, 200, `{"result":null}`)
	}
	// Redis saw at most the 2 shared and 2 dedicated connections.
	info := g.req("POST", "/", `["INFO","clients"]`)
	m := regexp.MustCompile(`connected_clients:(\d+)`).FindStringSubmatch(info.body)
	if m == nil {
		t.Fatalf("INFO: %s", info.body)
	}
	if n, _ := strconv.Atoi(m[1]); n > 4 {
		t.Errorf("redis has %d clients, want at most 4", n)
	}
}
