package rest_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisgate/redisgate/internal/gatewaytest"
	"github.com/redisgate/redisgate/lambda/rest"
)

// timed runs op b.N times and reports, besides ns/op, the median latency of one op in µs.
func timed(b *testing.B, op func() error) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "p50-µs")
}

// BenchmarkCall compares one command through the REST client and the gateway with the same
// command sent by go-redis straight to the same redis-server, one at a time, as a Lambda
// invocation does: the difference is the client's and the gateway's overhead per call. A bare
// net/http request to the gateway separates the two.
func BenchmarkCall(b *testing.B) {
	gw := gatewaytest.Start(b, gatewaytest.Options{})
	c := newClient(b, gw.URL, rest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: gw.Redis.Addr, PoolSize: 1})
	b.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	value := string(make([]byte, 100))
	if _, err := c.Set(ctx, "bench", value, rest.SetOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Run("GET/rest-gateway", func(b *testing.B) {
		timed(b, func() error { _, _, err := c.Get(ctx, "bench"); return err })
	})
	// The same request without the client: what the gateway and HTTP cost, apart from the client.
	hc := &http.Client{Transport: rest.NewTransport()}
	b.Cleanup(hc.CloseIdleConnections)
	body := []byte(`["GET","bench"]`)
	b.Run("GET/net-http-gateway", func(b *testing.B) {
		timed(b, func() error {
			req, err := http.NewRequest(http.MethodPost, gw.URL+"/", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+gatewaytest.Token)
			res, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return err
		})
	})
	b.Run("GET/go-redis-direct", func(b *testing.B) {
		timed(b, func() error { return rdb.Get(ctx, "bench").Err() })
	})
	b.Run("SET-EX/rest-gateway", func(b *testing.B) {
		timed(b, func() error {
			_, err := c.Set(ctx, "bench", value, rest.SetOptions{TTL: time.Minute})
			return err
		})
	})
	b.Run("SET-EX/go-redis-direct", func(b *testing.B) {
		timed(b, func() error { return rdb.Set(ctx, "bench", value, time.Minute).Err() })
	})
}

// BenchmarkInit measures what a cold container pays: building a Client (no I/O), and building
// one plus its first call, which dials the gateway.
func BenchmarkInit(b *testing.B) {
	gw := gatewaytest.Start(b, gatewaytest.Options{})
	ctx := context.Background()
	b.Run("New", func(b *testing.B) {
		timed(b, func() error {
			_, err := rest.New(rest.Options{URL: gw.URL, Token: gatewaytest.Token})
			return err
		})
	})
	b.Run("New+first-call", func(b *testing.B) {
		timed(b, func() error {
			c, err := rest.New(rest.Options{URL: gw.URL, Token: gatewaytest.Token})
			if err != nil {
				return err
			}
			defer c.Close()
			return c.Ping(ctx)
		})
	})
}

// canned answers every request with a 100-byte value, without a network.
type canned struct{}

func (canned) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	body := `{"result":"` + strings.Repeat("A", 136) + `"}`
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}, nil
}

// BenchmarkClientCPU measures the client's own work per call (encoding the command, decoding
// the JSON and base64 answer), with the network replaced by a canned answer.
func BenchmarkClientCPU(b *testing.B) {
	c := newClient(b, "http://gateway.invalid", rest.Options{Token: "t", HTTPClient: &http.Client{Transport: canned{}}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Get(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
