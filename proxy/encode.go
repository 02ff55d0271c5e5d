package proxy

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/redisgate/redisgate/internal/b64"
	"github.com/redisgate/redisgate/resp"
)

// appendResult appends one raw RESP reply as a JSON value following the REST contract:
// strings (base64 when enc64, except a top-level "OK" status), integers as numbers,
// nil as null, arrays recursively, and errors nested in arrays as their message.
func appendResult(dst, raw []byte, enc64, top bool) ([]byte, []byte, error) {
	kind, data, n, rest, err := resp.Next(raw)
	if err != nil {
		return dst, nil, err
	}
	switch kind {
	case resp.Simple:
		if top && string(data) == "OK" {
			return append(dst, `"OK"`...), rest, nil
		}
		return appendString(dst, data, enc64), rest, nil
	case resp.Error:
		return appendString(dst, data, false), rest, nil
	case resp.Integer:
		// Re-formatting keeps the JSON valid whatever the server sent (leading zeros, "-0").
		n, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			return dst, nil, fmt.Errorf("%w: bad integer %q", resp.ErrProtocol, data)
		}
		return strconv.AppendInt(dst, n, 10), rest, nil
	case resp.Bulk:
		if n < 0 {
			return append(dst, "null"...), rest, nil
		}
		return appendString(dst, data, enc64), rest, nil
	case resp.Array:
		if n < 0 {
			return append(dst, "null"...), rest, nil
		}
		dst = append(dst, '[')
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, rest, err = appendResult(dst, rest, enc64, false); err != nil {
				return dst, nil, err
			}
		}
		return append(dst, ']'), rest, nil
	}
	return dst, nil, fmt.Errorf("%w: unexpected reply type %q", resp.ErrProtocol, kind)
}

// appendEntry appends {"result":…} or {"error":…} for one raw reply, as one command's answer
// or one pipeline entry, and reports whether the reply was an error.
func appendEntry(dst, raw []byte, enc64 bool) ([]byte, bool, error) {
	if len(raw) > 0 && raw[0] == resp.Error {
		_, msg, _, _, err := resp.Next(raw)
		if err != nil {
			return dst, true, err
		}
		return appendError(dst, msg), true, nil
	}
	dst = append(dst, `{"result":`...)
	dst, _, err := appendResult(dst, raw, enc64, true)
	return append(dst, '}'), false, err
}

// appendError appends {"error":msg}.
func appendError[T string | []byte](dst []byte, msg T) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendString(dst, []byte(msg), false)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: base64-encoded when enc64, else escaped,
// with invalid UTF-8 replaced by U+FFFD as encoding/json does.
func appendString(dst, s []byte, enc64 bool) []byte {
	dst = append(dst, '"')
	if enc64 {
		dst = b64.AppendEncode(dst, s)
		return append(dst, '"')
	}
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
