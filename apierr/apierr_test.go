package apierr_test

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/redisgate/redisgate/apierr"
)

func ExampleAnswer() {
	for _, err := range []error{
		apierr.RateLimited("ip", "5 req/s (burst 5)", 1500*time.Millisecond),
		apierr.Unauthorized(),
		apierr.ReadOnly("SET"),
		apierr.Redis("WRONGTYPE Operation against a key holding the wrong kind of value"),
		fmt.Errorf("wrapped: %w", apierr.BadRequest("no \"command\"\n")),
	} {
		status, body, level := apierr.Answer(err)
		fmt.Println(status, string(body), level)
	}
	// Output:
	// 429 {"error":"ERR rate limit exceeded: ip limit 5 req/s (burst 5), retry in 2 s"} DEBUG
	// 401 {"error":"WRONGPASS invalid or missing auth token"} DEBUG
	// 400 {"error":"NOPERM this token is read-only and cannot run 'SET'"} DEBUG
	// 400 {"error":"WRONGTYPE Operation against a key holding the wrong kind of value"} DEBUG
	// 400 {"error":"ERR no \"command\"\n"} DEBUG
}

func TestAnswerOfOtherErrorsAndLevels(t *testing.T) {
	status, body, level := apierr.Answer(errors.New("bad\xffbyte"))
	if status != 502 || string(body) != `{"error":"bad\ufffdbyte"}` || level != slog.LevelWarn {
		t.Errorf("a foreign error: %d %s %v", status, body, level)
	}
	status, _, level = apierr.Answer(&apierr.Error{Status: 504, Code: apierr.ERR, Msg: "late"})
	if status != 504 || level != slog.LevelWarn {
		t.Errorf("a 5xx without a level: %d %v, want 504 WARN", status, level)
	}
	cause := errors.New("dial refused")
	err := apierr.LimiterUnavailable(cause)
	if status, body, _ := apierr.Answer(err); status != 503 || string(body) != `{"error":"ERR rate limiter unavailable"}` || !errors.Is(err, cause) {
		t.Errorf("limiter unavailable: %d %s", status, body)
	}
	if _, body, _ := apierr.Answer(apierr.RateLimited("token", "1 req/s", 0)); string(body) != `{"error":"ERR rate limit exceeded: token limit 1 req/s, retry in 1 s"}` {
		t.Errorf("a denial passing again at once still says 1 s: %s", body)
	}
}
