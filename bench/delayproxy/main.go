// Command delayproxy forwards TCP connections on a loopback port to a target, holding every chunk
// for a fixed delay in each direction: it puts Redis one emulated network round trip away from
// the gateway in bench/cache.sh, where netem is not available.
//
//	go run ./bench/delayproxy -target 127.0.0.1:6379 -delay 250us
//
// It prints "listening 127.0.0.1:PORT" once ready and runs until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/redisgate/redisgate/internal/redistest"
)

func main() {
	target := flag.String("target", "127.0.0.1:6379", "host:port to forward connections to")
	delay := flag.Duration("delay", 0, "how long every chunk is held in each direction (half the added round trip)")
	flag.Parse()
	if flag.NArg() > 0 || *delay < 0 {
		flag.Usage()
		os.Exit(2)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	p, err := redistest.NewDelayProxy(*target, *delay)
	if err != nil {
		fmt.Fprintln(os.Stderr, "delayproxy:", err)
		os.Exit(1)
	}
	fmt.Println("listening", p.Addr)
	<-stop
	p.Close()
}
