package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/apierr"
	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/replicaset"
)

// ConsistencyHeader is the request header that overrides a database's consistency mode
// for one request: "strong" or "eventual".
const ConsistencyHeader = "Redisgate-Consistency"

// SyncLostHeader is set on answers to requests whose sync token names a write the current
// leader does not have: it was lost in a failover.
const SyncLostHeader = "Redisgate-Sync-Lost"

// requestAsks reads what the request asks of the backend: its consistency header and the
// position of its sync token (tokens of positions are "<40-character replication
// id>-<offset>-<n>"; others, this gateway's opaque ones among them, name none).
func requestAsks(ctx *fasthttp.RequestCtx) (mode backend.Mode, after backend.Position, err error) {
	if h := ctx.Request.Header.Peek(ConsistencyHeader); len(h) > 0 {
		if mode, err = replicaset.ParseMode(string(h)); err != nil {
			return 0, after, apierr.BadRequest(err.Error())
		}
	}
	if tok := ctx.Request.Header.Peek("Upstash-Sync-Token"); bytes.IndexByte(tok, '-') == 40 {
		after, _ = replicaset.ParseToken(string(tok))
	}
	return mode, after, nil
}

// answerPosition gives the answer the sync token of res's position (it keeps the opaque
// one handle set when the backend has no positions) and reports a lost write.
func (s *Server) answerPosition(ctx *fasthttp.RequestCtx, db *database, res backend.Result) {
	if !res.Pos.IsZero() {
		var buf [96]byte
		ctx.Response.Header.SetBytesV("Upstash-Sync-Token", append(buf[:0], res.Pos.Token(s.syncSeq.Add(1))...))
	}
	if res.Lost {
		ctx.Response.Header.Set(SyncLostHeader, "1")
		s.opts.Logger.Warn("sync token names a write lost in a failover", "database", db.name)
	}
}
