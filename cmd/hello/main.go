// Command hello is an AWS Lambda function that says hello, rate limited to 1 request per 5 s per
// client IP through redisgate, behind an HTTP API or a Function URL (payload 2.0 events).
//
// Environment: REDISGATE_URL and REDISGATE_TOKEN (or UPSTASH_REDIS_REST_URL and
// UPSTASH_REDIS_REST_TOKEN); HELLO_RATE, a rate such as 1/5s (the default) or 10/m:5.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/redisgate/redisgate/lambda/limit"
	"github.com/redisgate/redisgate/lambda/rest"
	"github.com/redisgate/redisgate/ratelimit"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := newHandler(os.Getenv, log)
	if err != nil {
		log.Error("hello: init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// newHandler builds the function once per container from its environment, read through getenv.
func newHandler(getenv func(string) string, log *slog.Logger) (limit.Handler[events.APIGatewayV2HTTPRequest, events.APIGatewayV2HTTPResponse], error) {
	spec := getenv("HELLO_RATE")
	if spec == "" {
		spec = "1/5s"
	}
	rate, err := ratelimit.ParseRate(spec)
	if err != nil {
		return nil, fmt.Errorf("HELLO_RATE: %w", err)
	}
	o, err := rest.OptionsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	o.Logger = log
	c, err := rest.New(o)
	if err != nil {
		return nil, err
	}
	l := limit.NewLimiter(c, ratelimit.Options{Logger: log})
	return limit.APIGatewayV2HTTP(limit.New(l, limit.Options{}, limit.PerIP(rate)), hello), nil
}

// hello answers {"message":"hello","ip":…}.
func hello(_ context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	body, err := json.Marshal(struct {
		Message string `json:"message"`
		IP      string `json:"ip"`
	}{"hello", e.RequestContext.HTTP.SourceIP})
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("encode answer: %w", err)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}, nil
}
