package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redisgate/redisgate/config"
	"github.com/redisgate/redisgate/metrics"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/respserver"
)

// startRESP starts the Redis-protocol listener cfg asks for (none when cfg.RESPListen is
// empty), with the HTTP listener's limits and TLS; stop drains its clients, waiting up to 10 s,
// and may be called more than once.
func startRESP(cfg config.Config, srv *proxy.Server, reg *metrics.Registry, maxInflight int64, log *slog.Logger, stdout io.Writer) (stop func(), err error) {
	if cfg.RESPListen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.RESPListen)
	if err != nil {
		return nil, fmt.Errorf("resp listener: %w", err)
	}
	url := "redis://" + ln.Addr().String()
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		url = "rediss://" + ln.Addr().String()
	}
	l := cfg.Limits
	rs := respserver.New(srv, respserver.Options{
		MaxConns: l.MaxConns, MaxConnsPerIP: l.MaxConnsPerIP,
		AuthTimeout: l.HeaderTimeout, IdleTimeout: l.IdleTimeout, ReadTimeout: l.ReadTimeout, WriteTimeout: l.WriteTimeout,
		MaxArgs: l.MaxArgs, MaxCommandBytes: int(l.MaxBodyBytes), MaxQueued: l.MaxPipeline, MaxInflight: maxInflight,
		MaxPins: cfg.RESPMaxPins,
		Metrics: reg, Logger: log.With("component", "resp"),
	})
	served := make(chan error, 1)
	go func() { served <- rs.Serve(ln) }()
	fmt.Fprintf(stdout, "redis protocol on %s (AUTH with a token)\n", url)
	log.Info("listening", "url", url, "protocol", "resp")
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := rs.Shutdown(ctx); err != nil {
				log.Warn("resp shutdown", "err", err)
			}
			if err := <-served; !errors.Is(err, respserver.ErrServerClosed) {
				log.Error("resp listener stopped", "err", err)
			}
		})
	}, nil
}
