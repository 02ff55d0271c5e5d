package rest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	rediscmd "github.com/redisgate/redisgate/command"
)

// command is one command's arguments as bytes, the name first.
type command [][]byte

// encodeArgs turns arguments into bytes: strings and []byte as they are, integers and floats
// in decimal.
func encodeArgs(args []any) (command, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("rest: empty command")
	}
	cmd := make(command, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			cmd[i] = []byte(v)
		case []byte:
			cmd[i] = v
		case int:
			cmd[i] = strconv.AppendInt(nil, int64(v), 10)
		case int32:
			cmd[i] = strconv.AppendInt(nil, int64(v), 10)
		case int64:
			cmd[i] = strconv.AppendInt(nil, v, 10)
		case uint:
			cmd[i] = strconv.AppendUint(nil, uint64(v), 10)
		case uint32:
			cmd[i] = strconv.AppendUint(nil, uint64(v), 10)
		case uint64:
			cmd[i] = strconv.AppendUint(nil, v, 10)
		case float64:
			cmd[i] = strconv.AppendFloat(nil, v, 'f', -1, 64)
		case float32:
			cmd[i] = strconv.AppendFloat(nil, float64(v), 'f', -1, 32)
		case fmt.Stringer:
			cmd[i] = []byte(v.String())
		default:
			return nil, fmt.Errorf("rest: argument %d has type %T: want a string, []byte, integer or float", i, a)
		}
	}
	if len(cmd[0]) == 0 {
		return nil, fmt.Errorf("rest: empty command name")
	}
	return cmd, nil
}

// name is the command's name in upper case.
func (c command) name() string { return strings.ToUpper(string(c[0])) }

// utf8 reports whether every argument can travel as a JSON string.
func (c command) utf8() bool {
	for _, a := range c {
		if !utf8.Valid(a) {
			return false
		}
	}
	return true
}

// appendJSON appends the command as a JSON array of strings.
func (c command) appendJSON(dst []byte) []byte {
	dst = append(dst, '[')
	for i, a := range c {
		if i > 0 {
			dst = append(dst, ',')
		}
		b, _ := json.Marshal(string(a)) // valid UTF-8, checked by the caller: cannot fail
		dst = append(dst, b...)
	}
	return append(dst, ']')
}

// pathForm returns the command as a path of percent-encoded segments, which carries any
// bytes, and the last argument as the raw body when it is not empty (the API appends a
// non-empty body as the last argument), so large binary values stay out of the URL.
func (c command) pathForm() (path string, body []byte) {
	args := c
	if last := c[len(c)-1]; len(c) > 1 && len(last) > 0 {
		args, body = c[:len(c)-1], last
	}
	var b strings.Builder
	for _, a := range args {
		b.WriteByte('/')
		for _, ch := range a {
			if unreserved(ch) {
				b.WriteByte(ch)
			} else {
				fmt.Fprintf(&b, "%%%02X", ch)
			}
		}
	}
	return b.String(), body
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// decodeEntry decodes the {"result":…} (or {"error":…}) answer to one command.
func decodeEntry(body []byte) (any, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("rest: bad answer %.100q: %w", body, err)
	}
	return entry(m, 400)
}

// entry decodes one answer object; status is the HTTP status to give its error.
func entry(m map[string]json.RawMessage, status int) (any, error) {
	if raw, ok := m["error"]; ok {
		var msg string
		if err := json.Unmarshal(raw, &msg); err != nil {
			return nil, fmt.Errorf("rest: bad error in answer: %w", err)
		}
		return nil, &Error{Status: status, Message: msg}
	}
	raw, ok := m["result"]
	if !ok {
		return nil, fmt.Errorf("rest: answer has neither result nor error")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("rest: bad result: %w", err)
	}
	return value(v, true)
}

// decodeBatch decodes the answer of /pipeline or /multi-exec: an array of n entries.
func decodeBatch(body []byte, n int) ([]Result, error) {
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(body, &entries); err != nil {
		return nil, fmt.Errorf("rest: bad answer %.100q: %w", body, err)
	}
	if len(entries) != n {
		return nil, fmt.Errorf("rest: %d answers to %d commands", len(entries), n)
	}
	out := make([]Result, n)
	for i, m := range entries {
		out[i].Value, out[i].Err = entry(m, 200)
		if _, ok := out[i].Err.(*Error); out[i].Err != nil && !ok {
			return nil, out[i].Err
		}
	}
	return out, nil
}

// value turns a decoded base64 result into a reply: strings decoded from base64 (a top-level
// "OK" status stays as it is: it is never valid base64), numbers as int64, arrays recursively.
func value(v any, top bool) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("rest: result %s is not an integer", v)
		}
		return n, nil
	case string:
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			if top && v == "OK" {
				return v, nil
			}
			return nil, fmt.Errorf("rest: result %.40q is not base64: %w", v, err)
		}
		return string(b), nil
	case []any:
		for i := range v {
			var err error
			if v[i], err = value(v[i], false); err != nil {
				return nil, err
			}
		}
		return v, nil
	}
	return nil, fmt.Errorf("rest: unexpected %T in result", v)
}

// readOnly reports whether cmd only reads, so that running it twice is harmless: the retry-safe
// commands of the gateway's command table, generated from Redis's own command metadata.
func readOnly(cmd command) bool {
	return rediscmd.Lookup(cmd).RetrySafe
}
