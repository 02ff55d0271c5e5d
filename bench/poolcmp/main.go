// Command poolcmp serves GET /get/<key> with the same minimal fasthttp handler over one of
// three Redis client designs, so that they can be compared under one load generator:
// redisgate's own pipelined pool, go-redis's AutoPipeline, and go-redis's plain pool.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

func main() {
	impl := flag.String("impl", "own", "own, goredis-auto or goredis-plain")
	listen := flag.String("listen", "127.0.0.1:18095", "HTTP listen address")
	upstream := flag.String("upstream", "127.0.0.1:6379", "Redis address")
	size := flag.Int("size", 4, "Redis connections")
	flag.Parse()

	var get func(ctx context.Context, key []byte) ([]byte, error)
	switch *impl {
	case "own":
		p := pool.New(pool.Options{Addr: *upstream, Size: *size})
		defer p.Close()
		get = func(ctx context.Context, key []byte) ([]byte, error) {
			b := pool.NewBatch(1)
			b.Add([]byte("GET"), key)
			if err := p.Do(ctx, b); err != nil {
				return nil, err
			}
			defer b.Release()
			_, v, _, _, err := resp.Next(b.Reply(0))
			return append([]byte(nil), v...), err
		}
	case "goredis-auto", "goredis-plain":
		c := redis.NewClient(&redis.Options{Addr: *upstream, PoolSize: *size, MaxActiveConns: *size})
		defer c.Close()
		var cmd redis.Cmdable = c
		if *impl == "goredis-auto" {
			ap, err := c.AutoPipeline()
			if err != nil {
				log.Fatal(err)
			}
			cmd = ap
		}
		get = func(ctx context.Context, key []byte) ([]byte, error) {
			return cmd.Get(ctx, string(key)).Bytes()
		}
	default:
		log.Fatalf("unknown -impl %q", *impl)
	}

	handler := func(ctx *fasthttp.RequestCtx) {
		key, ok := cutPrefix(ctx.Path(), "/get/")
		if !ok {
			ctx.Error(`{"error":"not found"}`, 404)
			return
		}
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := get(rctx, key)
		cancel()
		if err != nil {
			ctx.Error(fmt.Sprintf(`{"error":%q}`, err.Error()), 503)
			return
		}
		ctx.SetContentType("application/json")
		out := append([]byte(`{"result":"`), v...)
		ctx.SetBody(append(out, `"}`...))
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: handler}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		srv.Shutdown()
	}()
	fmt.Printf("poolcmp %s listening on http://%s\n", *impl, ln.Addr())
	if err := srv.Serve(ln); err != nil {
		log.Fatal(err)
	}
}

func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return nil, false
	}
	return b[len(prefix):], true
}
