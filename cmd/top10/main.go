// Command top10 is an AWS Lambda function serving a "top 10" that is costly to compute: it is
// computed once, cached in Redis through redisgate for 60 s (SET … EX 60), and served from the
// cache by every container until it expires; each answer reports the latency of its steps.
//
// Environment: REDISGATE_URL and REDISGATE_TOKEN (or UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/redisgate/redisgate/lambda/rest"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	a, err := newApp(os.Getenv, log)
	if err != nil {
		log.Error("top10: init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(a.handle)
}

// cacheKey and cacheTTL say where and for how long the top 10 is cached.
const (
	cacheKey = "top10:v1"
	cacheTTL = 60 * time.Second
)

// app is the function's state, built once per container.
type app struct {
	c   *rest.Client
	log *slog.Logger
}

// newApp builds the function from its environment, read through getenv.
func newApp(getenv func(string) string, log *slog.Logger) (*app, error) {
	o, err := rest.OptionsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	o.Logger = log
	c, err := rest.New(o)
	if err != nil {
		return nil, err
	}
	return &app{c: c, log: log}, nil
}

// Entry is one line of the top 10.
type Entry struct {
	Rank   int    `json:"rank"`
	Player string `json:"player"`
	Score  int64  `json:"score"`
}

// board is the cached value: the top 10 and when it was computed.
type board struct {
	Top10      []Entry   `json:"top10"`
	ComputedAt time.Time `json:"computed_at"`
}

// answer is the function's JSON answer.
type answer struct {
	board
	Cached     bool    `json:"cached"`
	Latency    latency `json:"latency_ms"`
	CacheError string  `json:"cache_error,omitempty"`
}

// latency is the time each step took, in milliseconds.
type latency struct {
	CacheGet float64 `json:"cache_get"`
	Compute  float64 `json:"compute,omitempty"`
	CacheSet float64 `json:"cache_set,omitempty"`
	Total    float64 `json:"total"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// handle serves the top 10 from the cache, or computes and caches it. When the cache cannot be
// reached it still answers, computed, with the reason in cache_error.
func (a *app) handle(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	var ans answer
	cached, found, err := a.c.Get(ctx, cacheKey)
	ans.Latency.CacheGet = ms(time.Since(start))
	if found && json.Unmarshal([]byte(cached), &ans.board) == nil {
		ans.Cached = true
	} else {
		if err != nil {
			a.log.Warn("top10: cache read failed", "err", err)
			ans.CacheError = err.Error()
		}
		t := time.Now()
		ans.board = board{Top10: compute(players), ComputedAt: t.UTC().Truncate(time.Millisecond)}
		ans.Latency.Compute = ms(time.Since(t))
		if err == nil {
			t = time.Now()
			v, _ := json.Marshal(ans.board) // plain structs: cannot fail
			if _, err := a.c.Set(ctx, cacheKey, v, rest.SetOptions{TTL: cacheTTL}); err != nil {
				a.log.Warn("top10: cache write failed", "err", err)
				ans.CacheError = err.Error()
			}
			ans.Latency.CacheSet = ms(time.Since(t))
		}
	}
	ans.Latency.Total = ms(time.Since(start))
	body, err := json.Marshal(ans)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("encode answer: %w", err)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}, nil
}

// players is how many players compute ranks: enough to take a few milliseconds, the cost the cache saves.
const players = 2_000_000

// compute returns the 10 best of n players, best first.
func compute(n int) []Entry {
	var top [10]Entry
	size := 0
	for i := range n {
		score := scoreOf(i)
		if size == len(top) && score <= top[size-1].Score {
			continue
		}
		j := min(size, len(top)-1)
		for j > 0 && top[j-1].Score < score {
			top[j] = top[j-1]
			j--
		}
		top[j] = Entry{Player: fmt.Sprintf("player-%07d", i), Score: score}
		size = min(size+1, len(top))
	}
	out := top[:size]
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}

// scoreOf returns player i's score, below 10⁹, from a fixed pseudo-random sequence
// (splitmix64), so that every container computes the same board.
func scoreOf(i int) int64 {
	z := 0x5eed + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return int64((z ^ (z >> 31)) % 1_000_000_000)
}
