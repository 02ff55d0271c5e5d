package proxy

import (
	"bytes"
	"errors"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/command"
	"github.com/redisgate/redisgate/pool"
)

// cached is a reply from the read cache.
type cached struct {
	raw []byte  // the reply; nil: none
	ans *answer // on a hit, the answer in the request's format when one was kept
	hit bool    // raw came from an entry, not a fill
}

// answer is an answer kept with a cache entry for one format: later hits send its body as it
// is and, for edge caching, its ETag, computed once.
type answer struct {
	body []byte // never changed
	etag atomic.Pointer[[]byte]
}

// etagOf returns the ETag of a's body in encoding, computing it on first use.
func (a *answer) etagOf(encoding string) []byte {
	if p := a.etag.Load(); p != nil {
		return *p
	}
	e := cache.AppendETag(nil, encoding, a.body)
	a.etag.Store(&e)
	return e
}

// cachedRead returns the reply of the single command args from db's read cache (filling it
// on a miss) when the command and the request allow it. ok false: run args the usual way;
// ok true with c.raw nil: the request was answered with an error.
func (s *Server) cachedRead(ctx *fasthttp.RequestCtx, db *database, args [][]byte, f format) (c cached, ok bool) {
	if db.cache == nil || !cache.Cacheable(args) {
		return c, false
	}
	may, after := mayCache(ctx, db)
	if !may {
		return c, false
	}
	if !after.IsZero() && !db.cache.Covers(after.Offset) {
		// The write the token names was acknowledged before this request: once a PING sent
		// now comes back on the invalidation connection, its invalidations have arrived.
		db.cache.Sync(s.deadlines.context())
	}
	var err error
	var kept any
	c.raw, kept, c.hit, err = db.cache.GetForm(s.deadlines.context(), args, bodyForm(f))
	c.ans, _ = kept.(*answer)
	switch {
	case err == nil:
		if !after.IsZero() {
			// The answer reflects the token's position: pass it on, so the client's later
			// reads, from replicas too, still see its writes.
			var buf [96]byte
			ctx.Response.Header.SetBytesV("Upstash-Sync-Token", append(buf[:0], after.Token(s.syncSeq.Add(1))...))
		}
		return c, true
	case errors.Is(err, pool.ErrTimeout), errors.Is(err, pool.ErrTooLarge):
		// Running it again elsewhere would double the request's deadline, or its answer.
		s.backendError(ctx, db, err)
		return cached{}, true
	}
	// The cache is off, or the fill could not run: reads are safe to run again.
	return cached{}, false
}

// bodyForm numbers the formats whose answers a cache entry keeps.
func bodyForm(f format) int {
	switch {
	case f.resp2:
		return 2
	case f.base64:
		return 1
	}
	return 0
}

// keepAnswer stores body, the answer in f's format to the cached reply raw, with its cache
// entry (a copy, unless it is raw itself): later hits send it without encoding the reply
// again, which for large values (base64 especially) costs more than the rest of the request.
func keepAnswer(db *database, args [][]byte, f format, raw, body []byte) {
	size := 64 // the answer and its ETag
	if f.resp2 {
		body = raw
	} else {
		body = bytes.Clone(body)
		size += len(body)
	}
	db.cache.Keep(args, bodyForm(f), raw, &answer{body: body}, size)
}

// mayCache reports whether a read of the request may be answered from the cache: not in
// strong mode, and, when its sync token names a replication position, only one in the
// current leader's history, which the cache reads from. after is that position: the answer
// must reflect it.
func mayCache(ctx *fasthttp.RequestCtx, db *database) (ok bool, after backend.Position) {
	mode, after, err := requestAsks(ctx)
	switch {
	case err != nil:
		return false, after // the usual route answers the mistake
	case mode == 0:
		mode = db.backend.Mode()
	}
	if mode == backend.Strong {
		return false, backend.Position{}
	}
	if !after.IsZero() && db.backend.Position().ReplID != after.ReplID {
		// Another history (a failover since, another database's token, or a backend without
		// positions): the usual route sorts it out.
		return false, backend.Position{}
	}
	return true, after
}

// edgeCacheable reports whether the answer to args may carry edge caching headers: the
// database enables them, the request is a GET of a read command, and it opts in by carrying
// its token in the URL (?_token=, without an Authorization header), so that a shared cache,
// which keys answers by URL, serves them only to holders of the token.
func edgeCacheable(ctx *fasthttp.RequestCtx, db *database, args [][]byte) bool {
	return db.edge.On() && ctx.IsGet() && command.Lookup(args).Read &&
		len(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)) == 0 && len(ctx.QueryArgs().Peek("_token")) > 0
}

// edgeAnswer adds the edge caching headers to the successful answer written to ctx and,
// when the request's If-None-Match lists its ETag, turns it into a 304 without a body. kept,
// when not nil, is the cache's answer ctx holds, whose ETag is computed once.
func (s *Server) edgeAnswer(ctx *fasthttp.RequestCtx, db *database, f format, kept *answer) {
	body := ctx.Response.Body()
	if ctx.Response.StatusCode() != fasthttp.StatusOK || len(body) == 0 || (f.resp2 && body[0] == '-') {
		return // errors are not cached
	}
	encoding := "json"
	switch {
	case f.resp2:
		encoding = "resp2"
	case f.base64:
		encoding = "base64"
	}
	var etag []byte
	if kept != nil {
		etag = kept.etagOf(encoding)
	} else {
		var buf [48]byte
		etag = cache.AppendETag(buf[:0], encoding, body)
	}
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderCacheControl, db.cacheControl)
	h.SetBytesV(fasthttp.HeaderETag, etag)
	// The body depends on these request headers as well as on the URL.
	h.Add(fasthttp.HeaderVary, "Upstash-Encoding, Upstash-Response-Format")
	if inm := ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 && cache.NoneMatch(inm, etag) {
		ctx.Response.ResetBody()
		ctx.SetStatusCode(fasthttp.StatusNotModified)
	}
}
