package command

import (
	"bytes"
	"fmt"
)

// Arg is one query parameter of a path request.
type Arg struct {
	Key, Value []byte
}

// FromPath builds the command a path request names: the percent-decoded path
// segments (an empty segment, as after a trailing slash, is an empty argument), then body when hasBody, then each query parameter's key and, when
// not empty, its value. The parameter "_token" is never an argument.
// It fails when the command would have more than max arguments (max <= 0 means no limit).
func FromPath(rawPath, body []byte, hasBody bool, query []Arg, max int) ([][]byte, error) {
	if len(rawPath) == 0 || rawPath[0] != '/' {
		return nil, fmt.Errorf("%w: must start with '/'", ErrPath)
	}
	rawPath = rawPath[1:]
	if len(rawPath) == 0 {
		return nil, ErrEmpty
	}
	n := bytes.Count(rawPath, []byte{'/'}) + 1 + len(query)*2
	if hasBody {
		n++
	}
	if max > 0 && n > max {
		return nil, fmt.Errorf("%w: more than %d arguments", ErrTooMany, max)
	}
	args := make([][]byte, 0, n)
	for {
		seg, rest, more := bytes.Cut(rawPath, []byte{'/'})
		a, err := Unescape(seg)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		if !more {
			break
		}
		rawPath = rest
	}
	if len(args[0]) == 0 {
		return nil, ErrEmpty
	}
	if hasBody {
		args = append(args, body)
	}
	for _, q := range query {
		if string(q.Key) == "_token" {
			continue
		}
		args = append(args, q.Key)
		if len(q.Value) > 0 {
			args = append(args, q.Value)
		}
	}
	return args, nil
}

// Unescape percent-decodes one path segment; '+' stays '+'.
func Unescape(s []byte) ([]byte, error) {
	i := bytes.IndexByte(s, '%')
	if i < 0 {
		return s, nil
	}
	out := make([]byte, 0, len(s))
	out = append(out, s[:i]...)
	for ; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return nil, fmt.Errorf("%w: bad percent-encoding", ErrPath)
		}
		out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
		i += 2
	}
	return out, nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
