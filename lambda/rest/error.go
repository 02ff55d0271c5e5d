package rest

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Error is an error the gateway answered: a Redis error or a refused request, with its message.
type Error struct {
	// Status is the HTTP status: 400 for a Redis error of one command or a discarded
	// transaction, 401 for a wrong token, 429 over a rate limit, 502, 503 or 504 when Redis
	// broke, could not be reached or did not answer; 200 for one entry of a pipeline or transaction.
	Status int
	// Message is the gateway's {"error":…} text, e.g. "WRONGTYPE Operation against a key holding the wrong kind of value".
	Message string
	// RetryAfter is the answer's Retry-After, when it had one (429).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Status == 200 {
		return e.Message
	}
	return strconv.Itoa(e.Status) + " " + e.Message
}

// Prefix returns the Redis error code that starts Message: "ERR", "WRONGTYPE", "NOSCRIPT", "WRONGPASS"…
func (e *Error) Prefix() string {
	p, _, _ := strings.Cut(e.Message, " ")
	return p
}

// ErrBinaryArg reports an argument that is not valid UTF-8 in a pipeline or transaction,
// whose JSON body cannot carry it; Do sends such commands in the path instead.
var ErrBinaryArg = errors.New("argument is not valid UTF-8: send binary arguments with Do")

// ErrNotInteger reports a reply that should have been an integer.
var ErrNotInteger = errors.New("reply is not an integer")

// ErrNotString reports a reply that should have been a string.
var ErrNotString = errors.New("reply is not a string")
