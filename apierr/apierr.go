// Package apierr is the gateway's one error model: typed errors for what goes wrong with a
// request, and Answer, the one function that turns any error into the HTTP status, the JSON
// body {"error":"…"} and the log level of its answer.
//
// Contract: an *Error holds the message without its wire code; Answer alone writes the code
// ("ERR ", "NOPERM ", "WRONGPASS ") in front of it, so the same refusal reads the same from
// the gateway, its Lambda functions and its tests. Errors that are not an *Error (a Redis
// error text already carrying its code, say) answer Status 502 with their text as it is,
// unless a caller maps them first (the proxy maps the pool's errors). The package imports
// only the standard library (not even net/http): Lambda functions that must stay small use it too.
package apierr

import (
	"errors"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"
)

// Code is the wire code an error message starts with, as Redis writes it.
type Code string

// The codes the gateway answers with.
const (
	ERR       Code = "ERR"
	NOPERM    Code = "NOPERM"
	WRONGPASS Code = "WRONGPASS"
	// None is for messages that carry their code already (Redis's own errors).
	None Code = ""
)

// Error is one failed request: what to answer and how loud to log it.
type Error struct {
	// Status is the HTTP status (400 when zero).
	Status int
	// Code is written, followed by a space, before Msg in the answer.
	Code Code
	// Msg is the message without its code.
	Msg string
	// Level is how the failure is logged; zero (which is slog.LevelInfo, never used here):
	// slog.LevelDebug below status 500 (a client's mistake), slog.LevelWarn from 500.
	Level slog.Level
	// RetryAfter, when positive, is sent as the Retry-After header, in whole seconds.
	RetryAfter time.Duration
	// Err is the cause, for logs and errors.Is; it is never shown to the client.
	Err error
}

// Error returns the answer's text: the code, then the message.
func (e *Error) Error() string {
	if e.Code == None {
		return e.Msg
	}
	return string(e.Code) + " " + e.Msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// BadRequest is a client's mistake (400).
func BadRequest(msg string) *Error { return &Error{Status: 400, Code: ERR, Msg: msg} }

// Status is a client's mistake answered with status.
func Status(status int, msg string) *Error { return &Error{Status: status, Code: ERR, Msg: msg} }

// Redis is an error text that carries its code already (a refusal of package command, an
// error reply of Redis), answered 400.
func Redis(text string) *Error { return &Error{Status: 400, Code: None, Msg: text} }

// Unauthorized is the answer to a missing or wrong token (401).
func Unauthorized() *Error {
	return &Error{Status: 401, Code: WRONGPASS, Msg: "invalid or missing auth token"}
}

// ReadOnly refuses command to a read-only token (400).
func ReadOnly(command string) *Error {
	return &Error{Status: 400, Code: NOPERM, Msg: "this token is read-only and cannot run '" + command + "'"}
}

// RateLimited is the answer to a request over the limit name of rate (as Rate.String
// writes it), which passes again in retry (429). The gateway and its Lambda functions
// answer it alike.
func RateLimited(name, rate string, retry time.Duration) *Error {
	secs := max(1, int64((retry+time.Second-1)/time.Second))
	return &Error{Status: 429, Code: ERR,
		Msg: "rate limit exceeded: " + name + " limit " + rate + ", retry in " + strconv.FormatInt(secs, 10) + " s"}
}

// LimiterUnavailable is the answer when the rate limiter cannot decide and fails closed (503).
func LimiterUnavailable(cause error) *Error {
	// The limiter logs its own failures: one line per request would drown them.
	return &Error{Status: 503, Code: ERR, Msg: "rate limiter unavailable", Level: slog.LevelDebug, Err: cause}
}

// Answer returns the status, the JSON body and the log level of the answer to err.
func Answer(err error) (status int, body []byte, level slog.Level) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: 502, Code: None, Msg: err.Error(), Level: slog.LevelWarn}
	}
	status = e.Status
	if status == 0 {
		status = 400
	}
	level = e.Level
	switch {
	case level != 0:
	case status < 500:
		level = slog.LevelDebug
	default:
		level = slog.LevelWarn
	}
	body = append(make([]byte, 0, len(e.Msg)+24), `{"error":`...)
	if e.Code != None {
		body = appendJSON(body, string(e.Code)+" "+e.Msg)
	} else {
		body = appendJSON(body, e.Msg)
	}
	return status, append(body, '}'), level
}

// appendJSON appends s as a JSON string, invalid UTF-8 replaced by U+FFFD as encoding/json does.
func appendJSON(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
