package proxy_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
)

// withMaxResponse gives the database a one-connection pool whose batches answer at most n bytes.
func withMaxResponse(n int) gatewayOption {
	return func(c *gatewayConfig) {
		c.database = append(c.database, func(db *proxy.Database, o pool.Options) {
			o.Size = 1
			o.MaxResponse = n
			db.Backend = backend.NewNode(pool.New(o), nil)
			c.cleanup = append(c.cleanup, db.Backend.Close)
		})
	}
}

func TestAnswerLargerThanMaxResponse(t *testing.T) {
	g := startGateway(t, withMaxResponse(8<<20), withOptions(func(o *proxy.Options) { o.MaxPipeline = 1000; o.CommandTimeout = 10 * time.Second }))
	g.redis.MustDo("SET", "big", strings.Repeat("x", 1<<20))
	// Another client of the database keeps writing and reading its own values throughout.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var errs, mismatches atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v := fmt.Sprintf("w%d-%d", w, i)
				if r := g.req("POST", "/pipeline", fmt.Sprintf(`[["SET","k%d","%s"],["GET","k%d"]]`, w, v, w)); r.status != 200 {
					errs.Add(1)
				} else if r.body != `[{"result":"OK"},{"result":"`+v+`"}]` {
					mismatches.Add(1)
				}
			}
		}()
	}
	body := "[" + strings.TrimSuffix(strings.Repeat(`["GET","big"],`, 300), ",") + "]"
	for range 3 {
		start := time.Now()
		r := g.req("POST", "/pipeline", body)
		if r.status != 413 || !strings.Contains(r.body, "ERR answer larger than the gateway's limit (--max-response)") {
			t.Errorf("300 GETs of 1 MiB: %d %.200s", r.status, r.body)
		}
		t.Logf("refused after %v", time.Since(start))
	}
	g.req("GET", "/strlen/big", "").expect(t, 200, `{"result":1048576}`)
	close(stop)
	wg.Wait()
	if errs.Load() != 0 || mismatches.Load() != 0 {
		t.Errorf("the other client saw %d errors and %d mismatched replies", errs.Load(), mismatches.Load())
	}
}
