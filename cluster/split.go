package cluster

import (
	"bufio"
	"bytes"
	"io"
	"strconv"

	"github.com/redisgate/redisgate/resp"
)

// merger says how the replies of a split command's units make its reply.
type merger uint8

const (
	mergeOne  merger = iota // not split: the one unit's reply
	mergeSum                // DEL, UNLINK, EXISTS, TOUCH: the sum of the integers
	mergeOK                 // MSET: OK when every part is
	mergeMGet               // MGET: the values in the order of the keys
)

// split plans a command whose keys are in several slots: one unit per slot for the commands
// Redis Cluster cannot run that way but the gateway can merge, CROSSSLOT for the others.
func split(args [][]byte, units []unit) (part, []unit) {
	var m merger
	pairs := false
	switch {
	case eq(args[0], "DEL"), eq(args[0], "UNLINK"), eq(args[0], "EXISTS"), eq(args[0], "TOUCH"):
		m = mergeSum
	case eq(args[0], "MGET"):
		m = mergeMGet
	case eq(args[0], "MSET"):
		m, pairs = mergeOK, true
	default:
		return part{reply: crossSlot}, units
	}
	p := part{merge: m}
	bySlot := map[int]int{} // slot → index in units
	step := 1
	if pairs {
		step = 2
	}
	for i := 1; i+step-1 < len(args); i += step {
		s := Slot(args[i])
		u, ok := bySlot[s]
		if !ok {
			u = len(units)
			bySlot[s] = u
			units = append(units, unit{args: [][]byte{args[0]}, slot: s})
			p.units = append(p.units, u)
		}
		units[u].args = append(units[u].args, args[i:i+step]...)
		if m == mergeMGet {
			p.keyAt = append(p.keyAt, u)
		}
	}
	return p, units
}

func eq(b []byte, s string) bool { return bytes.EqualFold(b, []byte(s)) }

// answer makes the reply of p from the replies of its units: the first error when a unit
// failed, else the merge.
func (p part) answer(units []unit) []byte {
	if p.merge == mergeOne {
		return units[p.units[0]].reply
	}
	for _, u := range p.units {
		if r := units[u].reply; len(r) == 0 || r[0] == resp.Error {
			return r
		}
	}
	switch p.merge {
	case mergeSum:
		var sum int64
		for _, u := range p.units {
			kind, data, _, _, err := resp.Next(units[u].reply)
			n, perr := strconv.ParseInt(string(data), 10, 64)
			if err != nil || perr != nil || kind != resp.Integer {
				return units[u].reply
			}
			sum += n
		}
		return append(strconv.AppendInt([]byte(":"), sum, 10), "\r\n"...)
	case mergeOK:
		return []byte("+OK\r\n")
	case mergeConcat, mergeFirst, mergeAnd, mergeScan, mergeAny:
		return p.answerFanOut(units)
	}
	// MGET: each unit's array holds its keys' values in order.
	elems := map[int][][]byte{}
	for _, u := range p.units {
		kind, _, n, rest, err := resp.Next(units[u].reply)
		if err != nil || kind != resp.Array || n < 0 {
			return units[u].reply
		}
		for range n {
			next, err := resp.Skip(rest)
			if err != nil {
				return units[u].reply
			}
			elems[u] = append(elems[u], rest[:len(rest)-len(next)])
			rest = next
		}
	}
	out := strconv.AppendInt([]byte("*"), int64(len(p.keyAt)), 10)
	out = append(out, "\r\n"...)
	for _, u := range p.keyAt {
		if len(elems[u]) == 0 {
			return []byte("-ERR cluster: MGET answered fewer values than keys\r\n")
		}
		out = append(out, elems[u][0]...)
		elems[u] = elems[u][1:]
	}
	return out
}

// decode parses one RESP reply into strings, int64, nil, []any and errors.
func decode(raw []byte) (any, error) {
	v, _, err := resp.Decode(raw)
	return v, err
}

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 64<<10) }
