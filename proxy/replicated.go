package proxy

import (
	"context"
	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/replicaset"
)

// ConsistencyHeader is the request header that overrides a database's consistency mode
// for one request: "strong" or "eventual".
const ConsistencyHeader = "Redisgate-Consistency"

// SyncLostHeader is set on answers to requests whose sync token names a write the current
// leader does not have: it was lost in a failover.
const SyncLostHeader = "Redisgate-Sync-Lost"

// runReplicated sends b through db's replica set, reading the request's sync token and
// consistency header and answering with the new sync token.
func (s *Server) runReplicated(rctx context.Context, ctx *fasthttp.RequestCtx, db *database, b *pool.Batch, r route) error {
	req := replicaset.Request{Write: r.write}
	if h := ctx.Request.Header.Peek(ConsistencyHeader); len(h) > 0 {
		m, err := replicaset.ParseMode(string(h))
		if err != nil {
			return &requestError{err.Error()}
		}
		req.Mode = m
	}
	if tok := ctx.Request.Header.Peek("Upstash-Sync-Token"); len(tok) > 0 {
		req.After, _ = replicaset.ParseToken(string(tok))
	}
	res, err := db.set.Do(rctx, b, req)
	if err != nil {
		return err
	}
	var buf [96]byte
	tok := append(buf[:0], res.Pos.Token(s.syncSeq.Add(1))...)
	ctx.Response.Header.SetBytesV("Upstash-Sync-Token", tok)
	if res.Lost {
		ctx.Response.Header.Set(SyncLostHeader, "1")
		s.opts.Logger.Warn("sync token names a write lost in a failover", "database", db.name)
	}
	return nil
}

// requestError is a client mistake found while routing; it answers 400.
type requestError struct{ msg string }

func (e *requestError) Error() string { return "ERR " + e.msg }
