package cluster

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/redisgate/redisgate/resp"
)

// The merges of commands sent to every primary.
const (
	mergeConcat merger = iota + 16 // KEYS: the arrays one after another
	mergeFirst                     // SCRIPT LOAD, FUNCTION LOAD, FLUSHDB…: the first reply once all succeed
	mergeAnd                       // SCRIPT EXISTS: 1 for a script every primary has, or whose body the Cluster keeps
	mergeScan                      // SCAN: the node's reply with the cursor made cluster-wide
	mergeAny                       // RANDOMKEY: the first reply that is not null
)

// fanOut reports whether the keyless command args acts on the whole keyspace or on every
// node's scripts and functions, and how its replies merge.
func fanOut(args [][]byte) (merger, bool) {
	name := args[0]
	switch {
	case eq(name, "DBSIZE"):
		return mergeSum, true
	case eq(name, "KEYS"):
		return mergeConcat, true
	case eq(name, "RANDOMKEY"):
		return mergeAny, true
	case eq(name, "FLUSHDB"), eq(name, "FLUSHALL"):
		return mergeFirst, true
	case len(args) >= 2 && eq(name, "SCRIPT") && (eq(args[1], "LOAD") || eq(args[1], "FLUSH")):
		return mergeFirst, true
	case len(args) >= 2 && eq(name, "SCRIPT") && eq(args[1], "EXISTS"):
		return mergeAnd, true
	case len(args) >= 2 && eq(name, "FUNCTION") && (eq(args[1], "LOAD") || eq(args[1], "DELETE") || eq(args[1], "FLUSH") || eq(args[1], "RESTORE")):
		return mergeFirst, true
	}
	return 0, false
}

// primaries returns the primaries of t in address order: the order SCAN walks them.
func primaries(t *topology) []string {
	a := slices.Clone(t.addrs)
	slices.Sort(a)
	return a
}

// everyPrimary plans args once per primary.
func everyPrimary(t *topology, args [][]byte, m merger, units []unit) (part, []unit) {
	p := part{merge: m}
	for _, a := range primaries(t) {
		p.units = append(p.units, len(units))
		units = append(units, unit{args: args, slot: -1, node: a})
	}
	return p, units
}

// scanNodes is the factor of a cluster-wide SCAN cursor: cursor = node cursor × scanNodes +
// the index of the node in address order.
const scanNodes = 1024

// scan plans SCAN cursor […], or the EVAL_RO a SCAN … WITHTYPE becomes, whose cursor is
// args[at]: the node the cursor names, from its own cursor. A cursor naming no node (the
// cluster shrank) ends the scan.
func scan(t *topology, args [][]byte, at int, units []unit) (part, []unit) {
	if len(args) <= at {
		return part{units: []int{len(units)}}, append(units, unit{args: args, slot: -1})
	}
	cur, err := strconv.ParseUint(string(args[at]), 10, 64)
	if err != nil {
		return part{reply: []byte("-ERR invalid cursor\r\n")}, units
	}
	nodes := primaries(t)
	i := int(cur % scanNodes)
	if i >= len(nodes) {
		return part{reply: []byte("*2\r\n$1\r\n0\r\n*0\r\n")}, units
	}
	nodeArgs := slices.Clone(args)
	nodeArgs[at] = strconv.AppendUint(nil, cur/scanNodes, 10)
	p := part{merge: mergeScan, units: []int{len(units)}, scanAt: i, scanOf: len(nodes)}
	return p, append(units, unit{args: nodeArgs, slot: -1, node: nodes[i]})
}

// answerFanOut merges the replies of a command sent to every primary or of a SCAN.
func (p part) answerFanOut(units []unit) []byte {
	switch p.merge {
	case mergeFirst:
		return units[p.units[0]].reply
	case mergeAny:
		for _, u := range p.units {
			if r := units[u].reply; !bytes.Equal(r, []byte("$-1\r\n")) {
				return r
			}
		}
		return []byte("$-1\r\n")
	case mergeConcat:
		var elems [][]byte
		for _, u := range p.units {
			e, ok := elements(units[u].reply)
			if !ok {
				return units[u].reply
			}
			elems = append(elems, e...)
		}
		return appendArray(nil, elems)
	case mergeAnd:
		var all [][]byte
		for _, u := range p.units {
			e, ok := elements(units[u].reply)
			if !ok {
				return units[u].reply
			}
			if all == nil {
				all = e
				continue
			}
			for i := range min(len(all), len(e)) {
				if !bytes.Equal(e[i], []byte(":1\r\n")) {
					all[i] = []byte(":0\r\n")
				}
			}
		}
		for i, k := range p.known {
			if k && i < len(all) {
				all[i] = []byte(":1\r\n") // an EVALSHA of it loads it where it is missing
			}
		}
		return appendArray(nil, all)
	case mergeScan:
		r := units[p.units[0]].reply
		e, ok := elements(r)
		if !ok || len(e) != 2 {
			return r
		}
		_, data, _, _, err := resp.Next(e[0])
		cur, perr := strconv.ParseUint(string(data), 10, 64)
		if err != nil || perr != nil || cur > (1<<64-1)/scanNodes {
			return []byte("-ERR cluster: node cursor out of range\r\n")
		}
		next := uint64(0)
		switch {
		case cur != 0:
			next = cur*scanNodes + uint64(p.scanAt)
		case p.scanAt+1 < p.scanOf:
			next = uint64(p.scanAt + 1) // the next node, from its start
		}
		return appendArray(nil, [][]byte{resp.AppendBulk(nil, strconv.AppendUint(nil, next, 10)), e[1]})
	}
	return units[p.units[0]].reply
}

// elements splits a RESP array reply into its raw elements.
func elements(r []byte) ([][]byte, bool) {
	kind, _, n, rest, err := resp.Next(r)
	if err != nil || kind != resp.Array || n < 0 {
		return nil, false
	}
	out := make([][]byte, 0, n)
	for range n {
		next, err := resp.Skip(rest)
		if err != nil {
			return nil, false
		}
		out = append(out, rest[:len(rest)-len(next)])
		rest = next
	}
	return out, true
}

// appendArray appends a RESP array of the raw elements.
func appendArray(dst []byte, elems [][]byte) []byte {
	dst = append(strconv.AppendInt(append(dst, '*'), int64(len(elems)), 10), "\r\n"...)
	for _, e := range elems {
		dst = append(dst, e...)
	}
	return dst
}
