package proxy

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/apierr"
	"github.com/redisgate/redisgate/pool"
)

// fail answers the request with err and logs it at its level: with apierr.Answer, the one
// place where errors become answers. db names the database, when one was opened.
func (s *Server) fail(ctx *fasthttp.RequestCtx, db string, err error) {
	status, body, level := apierr.Answer(err)
	var e *apierr.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		ctx.Response.Header.Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+999_999_999)/1_000_000_000), 10))
	}
	writeJSON(ctx, status, body)
	if s.opts.Logger.Enabled(context.Background(), level) {
		args := []any{"status", status, "err", err}
		if db != "" {
			args = append(args, "database", db)
		}
		if e != nil && e.Err != nil {
			args = append(args, "cause", e.Err)
		}
		s.opts.Logger.Log(context.Background(), level, "request failed", args...)
	}
}

// backendFailure is the answer to a request whose Redis work on database db failed with
// err: the pool's errors mapped onto the error model.
func backendFailure(db string, err error) error {
	var e *apierr.Error
	var down *pool.UnavailableError
	switch {
	case errors.As(err, &e):
		return err
	case errors.As(err, &down):
		// The pools log the server going down and coming back; one line per request would drown that.
		return &apierr.Error{Status: fasthttp.StatusServiceUnavailable, Code: apierr.ERR, Msg: "backend: " + down.Error() + " (database " + db + ")", Level: slog.LevelDebug, Err: down.Err}
	case errors.Is(err, pool.ErrNotAcked):
		return &apierr.Error{Status: fasthttp.StatusGatewayTimeout, Code: apierr.ERR, Level: slog.LevelWarn, Err: err,
			Msg: "write applied on the leader but not acknowledged by a replica in time: it may be lost if the leader fails (" + err.Error() + ")"}
	case errors.Is(err, pool.ErrInflightFull):
		// Transient: other requests' large answers hold the database's answer budget.
		return &apierr.Error{Status: fasthttp.StatusServiceUnavailable, Code: apierr.ERR, Level: slog.LevelDebug, RetryAfter: 1e9, Err: err,
			Msg: "backend: " + err.Error() + "; retry later (--max-inflight-response)"}
	case errors.Is(err, pool.ErrTooLarge):
		return &apierr.Error{Status: fasthttp.StatusRequestEntityTooLarge, Code: apierr.ERR, Level: slog.LevelDebug, Err: err,
			Msg: "answer larger than the gateway's limit (--max-response): ask for less per request (" + err.Error() + ")"}
	}
	status := fasthttp.StatusServiceUnavailable
	switch {
	case errors.Is(err, pool.ErrBroken):
		status = fasthttp.StatusBadGateway
	case errors.Is(err, pool.ErrTimeout):
		status = fasthttp.StatusGatewayTimeout
	}
	return &apierr.Error{Status: status, Code: apierr.ERR, Msg: "backend: " + err.Error(), Level: slog.LevelWarn, Err: err}
}
