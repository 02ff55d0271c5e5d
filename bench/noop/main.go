// Command noop is the HTTP floor of bench/run.sh: a fasthttp server with default settings
// that does no work but answer a fixed JSON body, so that the gateway's cost beyond HTTP
// itself can be read as a difference measured in the same run.
//
//	go run ./bench/noop -listen 127.0.0.1:18080 -get get.json -post post.json -pipeline pipeline.json
//
// It answers POST /pipeline with the -pipeline body, POST / with the -post body and anything
// else with the -get body (each file's content as it is: run.sh saves the gateway's own answers,
// so that the sizes match), reads request bodies but ignores them, and runs until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	getFile := flag.String("get", "", "file holding the answer to anything but POST / and POST /pipeline")
	postFile := flag.String("post", "", "file holding the answer to POST / (default: the -get answer)")
	pipeFile := flag.String("pipeline", "", "file holding the answer to POST /pipeline (default: the -get answer)")
	gateway := flag.Bool("gateway-settings", false, "use redisgate's transport settings (default timeouts, body streaming, a HeaderReceived hook) instead of fasthttp's defaults")
	flag.Parse()
	if flag.NArg() > 0 || *getFile == "" {
		flag.Usage()
		os.Exit(2)
	}
	read := func(name string, def []byte) []byte {
		if name == "" {
			return def
		}
		b, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "noop:", err)
			os.Exit(1)
		}
		return b
	}
	get := read(*getFile, nil)
	post, pipe := read(*postFile, get), read(*pipeFile, get)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "noop:", err)
		os.Exit(1)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		body := get
		if ctx.IsPost() {
			body = post
			if string(ctx.Path()) == "/pipeline" {
				body = pipe
			}
		}
		ctx.SetContentType("application/json")
		ctx.Response.SetBodyRaw(body)
	}}
	if *gateway {
		// What proxy.New sets with the shipped defaults (config.Default): per-request read,
		// write and idle deadlines, a streamed body and a header hook that sets the body's deadline.
		srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = 30*time.Second, 30*time.Second, 120*time.Second
		srv.ReadBufferSize = 4 << 10
		srv.StreamRequestBody = true
		srv.DisablePreParseMultipartForm = true
		srv.Name = "redisgate"
		srv.HeaderReceived = func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: 30 * time.Second}
		}
		h := srv.Handler
		srv.Handler = func(ctx *fasthttp.RequestCtx) {
			if ctx.Request.IsBodyStream() {
				ctx.Request.Body() // read it, as the gateway does
			}
			h(ctx)
		}
	}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
		<-stop
		srv.Shutdown()
	}()
	fmt.Println("listening", ln.Addr())
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "noop:", err)
		os.Exit(1)
	}
}
