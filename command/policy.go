package command

// rule is what the gateway does with one command or subcommand for a tenant, on top of
// what the generated table says about it. The rule of a command with subcommands applies
// to every subcommand too (its refusal naming the command).
type rule struct {
	refused    string  // always refused, for this reason
	shared     string  // refused when Scope.Shared, for this reason
	deny       bool    // denied by name in every database's Redis ACL user
	denyShared bool    // denied by name in the Redis ACL user of a database on a shared server
	connState  bool    // it changes the state of the connection it runs on
	read       bool    // a read-only token may run it although it is not in @read
	notRead    bool    // a read-only token may not run it although it is in @read
	primary    bool    // it must run on the primary although it lacks the write flag (its answer is the primary's)
	blocking   bool    // it blocks although it lacks the blocking flag
	script     bool    // it runs a Lua script or function
	timeout    timeout // where a blocking command takes its timeout
	special    special // arguments the gateway inspects or rewrites
	// uncacheable: its answer changes without a write to its key (time passing, chance,
	// access statistics), so a read cache, which Redis invalidates on writes, cannot keep it.
	uncacheable bool
}

// timeout says where a blocking command takes its timeout.
type timeout struct {
	pos int8 // index in args; negative counts from the end; 0 when the command takes none at a fixed place
	ms  bool // integer milliseconds rather than (fractional) seconds
}

// special names commands whose arguments Check inspects or rewrites.
type special uint8

const (
	specialNone     special = iota
	specialFlushAll         // FLUSHALL becomes FLUSHDB
	specialCopy             // COPY's DB option is refused; on shared servers, and for COPY k k, COPY becomes an EVAL
	specialPublish          // the channel is confined to the database's prefix
	specialXRead            // blocks only with a BLOCK option before STREAMS
	// specialScriptFlush: on shared servers SCRIPT FLUSH forgets only the database's own
	// scripts, in the gateway (Kind Local), instead of every database's.
	specialScriptFlush
	specialScan // SCAN … WITHTYPE (Upstash's) becomes an EVAL_RO of SCAN and TYPE
)

// Reasons shared by several rules.
const (
	whyTransactions = "transactions run through /multi-exec"
	whyOneDB        = "connections are shared; each token has one database"
	whyShared       = "connections are shared"
	whyReplication  = "replication is not available through the gateway"
	whyTopology     = "the gateway owns the replication topology"
	whyAdmin        = "server administration is not available through the gateway"
	whyPersistence  = "persistence of the shared server is the operator's"
	whyWholeServer  = "it reports on or acts on the whole server; only MEMORY USAGE is available"
	whyCluster      = "the gateway presents one database and routes over a Redis Cluster itself"
	whyDebugging    = "it is a Redis debugging aid that can stall the shared server"
	whyKill         = "the gateway kills runaway scripts itself"
	whyFunctions    = "functions are server-wide, shared with other databases on the server"
	whyTenants      = "it reports on other tenants' databases"
	whyChannels     = "it lists other tenants' channels"
)

// policy is the overlay on the generated table: upper-case names, subcommands as "SCRIPT|DEBUG".
// Names not in the table are commands newer than it.
var policy = map[string]rule{
	// Connection state: a connection carries many tenants' commands.
	"WATCH":        {refused: whyTransactions, connState: true},
	"UNWATCH":      {refused: whyTransactions, connState: true},
	"MULTI":        {refused: whyTransactions, connState: true},
	"EXEC":         {refused: whyTransactions, connState: true},
	"DISCARD":      {refused: whyTransactions, connState: true},
	"SELECT":       {refused: whyOneDB, connState: true, deny: true},
	"SWAPDB":       {refused: whyOneDB, deny: true},
	"MOVE":         {refused: "it moves keys to another database", deny: true},
	"AUTH":         {refused: "authenticate with the gateway token", connState: true},
	"HELLO":        {refused: whyShared, connState: true},
	"CLIENT":       {refused: whyShared, connState: true, deny: true},
	"RESET":        {refused: whyShared, connState: true},
	"QUIT":         {refused: whyShared, connState: true},
	"READONLY":     {refused: whyShared, connState: true},
	"READWRITE":    {refused: whyShared, connState: true},
	"ASKING":       {refused: whyCluster, connState: true},
	"SUBSCRIBE":    {refused: "use the /subscribe endpoint", connState: true},
	"PSUBSCRIBE":   {refused: "use the /psubscribe endpoint", connState: true},
	"SSUBSCRIBE":   {refused: "use the /subscribe endpoint", connState: true},
	"UNSUBSCRIBE":  {refused: "use the /subscribe endpoint", connState: true},
	"PUNSUBSCRIBE": {refused: "use the /psubscribe endpoint", connState: true},
	"SUNSUBSCRIBE": {refused: "use the /subscribe endpoint", connState: true},
	"MONITOR":      {refused: "use the /monitor endpoint", connState: true, deny: true},
	"SYNC":         {refused: whyReplication, connState: true, deny: true},
	"PSYNC":        {refused: whyReplication, connState: true, deny: true},
	"REPLCONF":     {refused: whyReplication, connState: true, deny: true},

	// The server as a whole.
	"SHUTDOWN":            {refused: "the gateway does not stop its backend", deny: true},
	"DEBUG":               {refused: "it can stall or crash the shared backend", deny: true},
	"REPLICAOF":           {refused: whyTopology, deny: true},
	"SLAVEOF":             {refused: whyTopology, deny: true},
	"FAILOVER":            {refused: whyTopology, deny: true},
	"ROLE":                {refused: whyTopology},
	"MIGRATE":             {refused: "it opens connections to other hosts", deny: true},
	"MODULE":              {refused: whyAdmin, deny: true},
	"ACL":                 {refused: whyAdmin, deny: true},
	"CONFIG":              {refused: whyAdmin, deny: true},
	"SAVE":                {refused: whyPersistence, deny: true},
	"BGSAVE":              {refused: whyPersistence, deny: true},
	"BGREWRITEAOF":        {refused: whyPersistence, deny: true},
	"SLOWLOG":             {refused: "it shows other tenants' commands", deny: true},
	"LATENCY":             {refused: "it reports on the whole server", deny: true},
	"MEMORY|PURGE":        {refused: whyWholeServer, deny: true},
	"MEMORY|DOCTOR":       {refused: whyWholeServer, deny: true},
	"MEMORY|MALLOC-STATS": {refused: whyWholeServer, deny: true},
	"MEMORY|STATS":        {refused: whyWholeServer, deny: true},
	"CLUSTER":             {refused: whyCluster, deny: true},
	"RESTORE-ASKING":      {refused: whyCluster},
	"PFDEBUG":             {refused: whyDebugging, deny: true},
	"PFSELFTEST":          {refused: whyDebugging, deny: true},
	"SCRIPT|DEBUG":        {refused: "the Lua debugger takes over the connection", connState: true, deny: true},
	"SCRIPT|KILL":         {refused: whyKill, deny: true},
	"FUNCTION|KILL":       {refused: whyKill, deny: true},
	"FLUSHALL":            {special: specialFlushAll, deny: true},
	"COPY":                {special: specialCopy, deny: true}, // its DB option cannot be denied alone: confined connections copy with a script

	// Server-wide state other tenants of a shared server see.
	"FUNCTION":     {shared: whyFunctions, denyShared: true, primary: true},
	"FCALL":        {shared: whyFunctions, denyShared: true, script: true, primary: true},
	"FCALL_RO":     {shared: whyFunctions, denyShared: true, script: true, read: true},
	"SCRIPT|FLUSH": {special: specialScriptFlush, denyShared: true, primary: true},
	"INFO":         {shared: whyTenants, primary: true},
	"PUBSUB":       {shared: whyChannels, denyShared: true, primary: true},

	// Scripts, liveness checks and publishing.
	"EVAL":       {script: true, primary: true},
	"EVALSHA":    {script: true, primary: true},
	"EVAL_RO":    {script: true, read: true},
	"EVALSHA_RO": {script: true, read: true},
	"SCRIPT":     {primary: true}, // Redis 7 does not replicate the script cache
	"PING":       {read: true},
	"ECHO":       {read: true},
	"TIME":       {read: true},
	"PUBLISH":    {special: specialPublish, primary: true},
	"SPUBLISH":   {special: specialPublish, primary: true},

	// Keyspace walks are @read, but read-only tokens may not list keys.
	"KEYS":      {notRead: true},
	"SCAN":      {notRead: true, special: specialScan},
	"RANDOMKEY": {notRead: true},

	// Blocking commands and where their timeouts are.
	"BLPOP":      {timeout: timeout{pos: -1}},
	"BRPOP":      {timeout: timeout{pos: -1}},
	"BRPOPLPUSH": {timeout: timeout{pos: -1}},
	"BLMOVE":     {timeout: timeout{pos: -1}},
	"BZPOPMIN":   {timeout: timeout{pos: -1}},
	"BZPOPMAX":   {timeout: timeout{pos: -1}},
	"BLMPOP":     {timeout: timeout{pos: 1}},
	"BZMPOP":     {timeout: timeout{pos: 1}},
	"XREAD":      {special: specialXRead},
	"XREADGROUP": {special: specialXRead},
	"WAIT":       {blocking: true, primary: true, timeout: timeout{pos: -1, ms: true}},
	"WAITAOF":    {blocking: true, primary: true, timeout: timeout{pos: -1, ms: true}}, // Redis 7.2

	// Reads whose answer changes without a write: never kept by the read cache.
	"TTL":         {uncacheable: true},
	"PTTL":        {uncacheable: true},
	"EXPIRETIME":  {uncacheable: true},
	"PEXPIRETIME": {uncacheable: true},
	"SRANDMEMBER": {uncacheable: true},
	"HRANDFIELD":  {uncacheable: true},
	"ZRANDMEMBER": {uncacheable: true},
	"OBJECT":      {uncacheable: true},
	"MEMORY":      {uncacheable: true},
	"XPENDING":    {uncacheable: true}, // idle times
	"TOUCH":       {uncacheable: true}, // its point is its effect on access times
	"HSCAN":       {uncacheable: true}, // cursors: pages follow the hash table, not the data
	"SSCAN":       {uncacheable: true},
	"ZSCAN":       {uncacheable: true},
}
