package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Edge is how browsers and CDNs may cache a database's GET answers; the zero Edge is off.
// The answers it covers may be up to MaxAge (plus StaleWhileRevalidate) old when served by
// such a cache: that is the price of edge caching, which the in-gateway Cache does not pay.
type Edge struct {
	// MaxAge is how long an answer is fresh (whole seconds; 0: edge caching off).
	MaxAge time.Duration
	// StaleWhileRevalidate is how long after MaxAge a cache may still serve an answer while
	// it fetches a fresh one (whole seconds; 0: not sent).
	StaleWhileRevalidate time.Duration
}

// On reports whether edge caching is enabled.
func (e Edge) On() bool { return e.MaxAge >= time.Second }

// CacheControl returns the Cache-Control header value of a cacheable answer.
func (e Edge) CacheControl() string {
	v := "public, max-age=" + strconv.FormatInt(int64(e.MaxAge/time.Second), 10)
	if s := int64(e.StaleWhileRevalidate / time.Second); s > 0 {
		v += ", stale-while-revalidate=" + strconv.FormatInt(s, 10)
	}
	return v
}

// AppendETag appends to dst a strong entity tag, quoted, for body sent in encoding (a name
// such as "json", "base64" or "resp2"): equal tags mean byte-identical answers.
func AppendETag(dst []byte, encoding string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(encoding))
	h.Write([]byte{0})
	h.Write(body)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	dst = append(dst, '"')
	dst = hex.AppendEncode(dst, sum[:16])
	return append(dst, '"')
}

// NoneMatch reports whether an If-None-Match header value lists etag (or is "*"), so that
// a GET may be answered 304 Not Modified. As RFC 9110 asks, the comparison is weak: a
// listed W/"x" matches "x".
func NoneMatch(header, etag []byte) bool {
	h := bytes.TrimSpace(header)
	if string(h) == "*" {
		return true
	}
	for len(h) > 0 {
		h = bytes.TrimLeft(h, " \t,")
		h = bytes.TrimPrefix(h, []byte("W/"))
		if len(h) == 0 || h[0] != '"' {
			return false
		}
		end := bytes.IndexByte(h[1:], '"')
		if end < 0 {
			return false
		}
		if bytes.Equal(h[:end+2], etag) {
			return true
		}
		h = h[end+2:]
	}
	return false
}
