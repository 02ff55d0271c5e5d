package command

import (
	"strconv"
	"strings"
)

// aclDeny and aclDenyShared are the "-cmd" and "-cmd|sub" rules of every database's Redis
// user and of a database's user on a shared server, in table order (read-only after start).
var aclDeny, aclDenyShared = aclDenials()

func aclDenials() (deny, denyShared []string) {
	add := func(s *spec, r rule) {
		name := "-" + strings.ToLower(s.name)
		if r.deny {
			deny = append(deny, name)
		}
		if r.denyShared {
			denyShared = append(denyShared, name)
		}
	}
	for i := range specs {
		s := &specs[i]
		add(s, policy[s.name])
		for j := range s.subs {
			add(&s.subs[j], policy[s.subs[j].name])
		}
	}
	return deny, denyShared
}

// ACLRules returns the rules, for `ACL SETUSER <user> on >pw <rules...>`, of the Redis user a
// database's connections run as: everything a tenant may do, nothing that reaches another
// logical database, the server's configuration or other tenants (it binds Lua scripts too).
//
// The gateway itself keeps what it needs on these connections (MULTI/EXEC, WAIT, ROLE, INFO,
// EVAL*, SCRIPT LOAD/EXISTS) but not SELECT or CLIENT: a connection selects its database and
// sets its name before it authenticates as this user.
func (s Scope) ACLRules() []string {
	rules := make([]string, 0, 4+len(aclDeny)+len(aclDenyShared)+3)
	rules = append(rules, "~*", "+@all")
	rules = append(rules, aclDeny...)
	if s.Shared {
		rules = append(rules, aclDenyShared...)
	}
	rules = append(rules, "resetchannels")
	if s.Channels == "" {
		return append(rules, "allchannels")
	}
	db := strconv.Itoa(s.DB)
	return append(rules, "&"+globEscape(s.Channels)+"*", "&__keyspace@"+db+"__:*", "&__keyevent@"+db+"__:*")
}

// globEscape escapes the characters Redis's glob patterns give a meaning to.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
