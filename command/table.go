package command

//go:generate go run gen_table.go

// flag is a set of the flags COMMAND INFO reports for a command.
type flag uint32

// The flags of COMMAND INFO (see https://redis.io/commands/command-info/).
const (
	flagWrite flag = 1 << iota
	flagReadonly
	flagDenyOOM
	flagModule
	flagAdmin
	flagPubsub
	flagNoscript
	flagBlocking
	flagLoading
	flagStale
	flagSkipMonitor
	flagSkipSlowlog
	flagFast
	flagNoAuth
	flagMayReplicate
	flagNoMandatoryKeys
	flagNoMulti
	flagAllowBusy
	flagMovableKeys
	flagAsking
	flagNoAsyncLoading
	flagRandom
	flagSortForScript
	flagTouchesArbitraryKeys
	flagModuleNoCluster
)

// category is a set of Redis ACL categories.
type category uint32

// The ACL categories of Redis (ACL CAT).
const (
	catKeyspace category = 1 << iota
	catRead
	catWrite
	catSet
	catSortedSet
	catList
	catHash
	catString
	catBitmap
	catHyperLogLog
	catGeo
	catStream
	catPubsub
	catAdmin
	catFast
	catSlow
	catBlocking
	catDangerous
	catConnection
	catTransaction
	catScripting
)

// spec is one command or subcommand as the Redis server describes it.
type spec struct {
	name              string   // upper case; subcommands as "SCRIPT|DEBUG"
	arity             int      // argument count including the name; -n means at least n
	flags             flag     // COMMAND INFO flags
	acl               category // ACL categories
	first, last, step int      // legacy key positions (0 when the command takes no keys at fixed positions)
	group             string   // COMMAND DOCS group, such as "string" or "connection"
	subs              []spec   // subcommands, in name order
}
