#!/usr/bin/env bash
# bench/run.sh: redisgate vs the HTTP floor (a fasthttp no-op server) vs webdis vs redis-benchmark
# on one loopback Redis, with each server's CPU per request.
# Usage and the meaning of every number: bench/README.md.
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")

# ---------------------------------------------------------------- settings (env) ----------
RUNS=${RUNS:-3}                       # runs per scenario; the table shows the median
DURATION=${DURATION:-5s}              # wrk -d per run (Ns or Nm)
POOL_SIZE=${POOL_SIZE:-4}             # redisgate --pool-size
WRK_THREADS=${WRK_THREADS:-1}         # wrk -t for scenarios 1 and 2
WRK_TIMEOUT=${WRK_TIMEOUT:-2s}        # wrk --timeout for scenarios 1 and 2 (wrk's default)
CONNS=${CONNS:-"50 1000"}             # scenario 1 connection counts
PIPE_CONNS=${PIPE_CONNS:-50}          # scenario 2 connections
C10K=${C10K:-10000}                   # scenario 3 connections (total over all wrk processes)
C10K_PROCS=${C10K_PROCS:-1}           # scenario 3 wrk processes (connections split evenly)
C10K_THREADS=${C10K_THREADS:-1}       # scenario 3 wrk -t per process
C10K_TIMEOUT=${C10K_TIMEOUT:-5s}      # scenario 3 wrk --timeout
SAMPLE_INTERVAL=${SAMPLE_INTERVAL:-0.5} # scenario 3 sampling period, seconds
RB_CLIENTS=${RB_CLIENTS:-50}          # scenario 4 redis-benchmark -c
RB_REQUESTS=${RB_REQUESTS:-200000}    # scenario 4 redis-benchmark -n with -P 1
RB_REQUESTS_P10=${RB_REQUESTS_P10:-1000000} # scenario 4 redis-benchmark -n with -P 10
SCENARIOS=${SCENARIOS:-"1 2 3 4 5"}   # which scenarios to run
LIMITS=${LIMITS:-1}                   # 1: also measure a second gateway with --limit-ip/--limit-token (scenario 1)
LIMIT_RATE=${LIMIT_RATE:-1000000/s:1000000} # its --limit-ip and --limit-token (high: measures the cost, denies nothing)
GATE_FLAGS=${GATE_FLAGS:-}            # more flags for every redisgate started (e.g. --cache=true)
PPROF=${PPROF:-0}                     # 1: --pprof on the defaults gateway; its admin address is printed
WARMUP=${WARMUP:-1s}                  # one unrecorded wrk run per server before scenario 1 (0 = none)
WAIT_IDLE=${WAIT_IDLE:-30}            # seconds to wait at start for the CPU to be >= 80 % idle
NOISE_LIMIT=${NOISE_LIMIT:-10}        # % of the machine used by other processes that makes a run NOISY
RETRY_NOISY=${RETRY_NOISY:-1}         # extra attempts of a NOISY run (the least disturbed one is kept)
RETRY_BUDGET=${RETRY_BUDGET:-8}       # at most this many extra attempts in the whole benchmark
VALUE_SIZE=64                         # bytes of the value every GET reads
REDISGATE_BIN=${REDISGATE_BIN:-}      # use this binary instead of building ./cmd/redisgate
REDISGATE_REF=${REDISGATE_REF:-}      # build this git revision (git archive) instead of the working tree
RESULTS_FILE=${RESULTS_FILE:-$BENCH_DIR/results-latest.md}
KEEP_TMP=${KEEP_TMP:-0}               # 1: keep the temp dir (logs) after the run

# ---------------------------------------------------------------- helpers -----------------
BENCH_TAG=bench    # prefix of every message (log, die, cleanup and the traps in lib.sh)
# shellcheck source=SCRIPTDIR/lib.sh
source "$BENCH_DIR/lib.sh"   # the helpers shared with cache.sh; installs cleanup on exit

# Kept here because cache.sh's versions differ: median and errs_sum (cache.sh's skip empty values),
# run_bg (cache.sh's drops the reaped pid from PIDS), server_pids and check_alive (other servers).

REDIS_PID="" GATE_PID="" WEBDIS_PID="" NOOP_PID="" LIM_PID=""
# server_pids: the servers whose CPU lib.sh's noise accounting counts as the benchmark's own
server_pids() { echo "$REDIS_PID $GATE_PID $WEBDIS_PID $NOOP_PID $LIM_PID"; }
CLK_TCK=$(getconf CLK_TCK)

# median of the numbers given as arguments (mean of the middle two for an even count)
median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {
    if (NR == 0) { print "n/a"; exit }
    if (NR % 2) printf "%.6g\n", v[(NR+1)/2]; else printf "%.6g\n", (v[NR/2]+v[NR/2+1])/2 }'
}
sum() { printf '%s\n' "$@" | awk '{s+=$1} END {printf "%d\n", s}'; }


# ---------------------------------------------------------------- checks ------------------
for tool in redis-server redis-cli redis-benchmark wrk curl ss awk sed sort timeout getconf; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found in PATH (see bench/README.md)"
done
HAVE_WEBDIS=0
if command -v webdis >/dev/null 2>&1; then HAVE_WEBDIS=1; else log "webdis not installed: measuring without it (Debian: apt-get install webdis)"; fi
command -v go >/dev/null 2>&1 || die "required tool 'go' not found in PATH (it builds bench/noop)"
if [ -z "$REDISGATE_BIN" ]; then
  command -v go >/dev/null 2>&1 || die "required tool 'go' not found in PATH (or set REDISGATE_BIN)"
else
  [ -f "$REDISGATE_BIN" ] && [ -x "$REDISGATE_BIN" ] || die "REDISGATE_BIN=$REDISGATE_BIN is not an executable file"
fi
for v in WAIT_IDLE NOISE_LIMIT RETRY_NOISY RETRY_BUDGET; do is_uint "${!v}" || die "$v must be a non-negative integer, got '${!v}'"; done
for v in RUNS POOL_SIZE WRK_THREADS PIPE_CONNS C10K C10K_PROCS C10K_THREADS RB_CLIENTS RB_REQUESTS RB_REQUESTS_P10; do
  is_uint "${!v}" && [ "${!v}" -gt 0 ] || die "$v must be a positive integer, got '${!v}'"
done
for s in $SCENARIOS; do [[ $s =~ ^[1-5]$ ]] || die "SCENARIOS must hold numbers 1 to 5, got '$SCENARIOS'"; done
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }
for c in $CONNS; do is_uint "$c" && [ "$c" -gt 0 ] || die "CONNS must hold positive integers, got '$CONNS'"; done
DUR_S=$(dur_secs "$DURATION")
is_uint "$DUR_S" && [ "$DUR_S" -gt 0 ] || die "DURATION must look like 5s, 5 or 1m, got '$DURATION'"
WRK_TIMEOUT_S=$(dur_secs "$WRK_TIMEOUT"); C10K_TIMEOUT_S=$(dur_secs "$C10K_TIMEOUT")
is_uint "$WRK_TIMEOUT_S" && is_uint "$C10K_TIMEOUT_S" || die "WRK_TIMEOUT/C10K_TIMEOUT must look like 2s"

# ---------------------------------------------------------------- environment -------------
NPROC=$(nproc 2>/dev/null || echo 1)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
NEED_FDS=$(( C10K / C10K_PROCS + 1000 ))
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt "$NEED_FDS" ]; then
  log "WARNING: open-file limit is $NOFILE; $C10K connections over $C10K_PROCS wrk process(es) need ~$NEED_FDS each (raise the hard limit or set C10K_PROCS)"
fi
UPTIME=$(uptime)
LOAD1=$(awk '{print $1}' /proc/loadavg)
log "uptime: $UPTIME (the load average includes the last minutes; the idle share below is now)"
log "cores: $NPROC, open-file limit: $NOFILE"
wait_idle

TMP=$(mktemp -d "${TMPDIR:-/tmp}/redisgate-bench.XXXXXX")
RAW="$TMP/raw.md"; : >"$RAW"

# ---------------------------------------------------------------- start servers -----------
VALUE=$(printf 'v%.0s' $(seq 1 "$VALUE_SIZE"))
KEY=benchkey
TOKEN=bench-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')

pick_port RPORT; pick_port GPORT; pick_port WPORT; pick_port NPORT; pick_port LPORT; pick_port GAPORT; pick_port LAPORT

log "starting redis-server on 127.0.0.1:$RPORT"
redis-server --bind 127.0.0.1 --port "$RPORT" --save "" --appendonly no --daemonize no \
  --dir "$TMP" --logfile "$TMP/redis.log" --maxclients 10000 &
REDIS_PID=$!; PIDS+=("$REDIS_PID")
wait_until 10 "$REDIS_PID" redis-server "$TMP/redis.log" \
  sh -c "[ \"\$(timeout 2 redis-cli -h 127.0.0.1 -p $RPORT PING)\" = PONG ]"
[ "$(rcli SET "$KEY" "$VALUE")" = OK ] || die "SET $KEY failed"
# redis-benchmark -t get reads the literal key "key:__rand_int__" (no -r): give it the same value
[ "$(rcli SET key:__rand_int__ "$VALUE")" = OK ] || die "SET key:__rand_int__ failed"

build_redisgate
log "building bench/noop"
run_bg "$TMP/build-noop.log" timeout 600 go -C "$REPO_DIR" build -o "$TMP/noop" ./bench/noop || {
  cat "$TMP/build-noop.log" >&2; die "go build ./bench/noop failed"; }

# start_gate PORT ADMIN_PORT LOG [FLAGS...]: one redisgate with the shipped defaults (admin
# listener and metrics included) plus GATE_FLAGS and FLAGS; sets STARTED_PID
start_gate() {
  local port=$1 admin=$2 logf=$3; shift 3
  # shellcheck disable=SC2086  # GATE_FLAGS is a list of flags
  "$GATE_BIN" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" --upstream "redis://127.0.0.1:$RPORT" --token "$TOKEN" \
    --pool-size "$POOL_SIZE" --max-conns-per-ip 0 --max-conns 0 --log-level warn $GATE_FLAGS "$@" >"$logf" 2>&1 &
  STARTED_PID=$!; PIDS+=("$STARTED_PID")
  wait_until 15 "$STARTED_PID" redisgate "$logf" \
    sh -c "[ \"\$(curl -s --max-time 2 -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$port/get/$KEY)\" = '$GATE_EXPECT' ]"
}
GATE_EXPECT="{\"result\":\"$VALUE\"}"
log "starting redisgate on 127.0.0.1:$GPORT (pool size $POOL_SIZE, admin 127.0.0.1:$GAPORT${GATE_FLAGS:+, $GATE_FLAGS})"
PPROF_FLAG=(); [ "$PPROF" = 1 ] && PPROF_FLAG=(--pprof)
start_gate "$GPORT" "$GAPORT" "$TMP/redisgate.log" "${PPROF_FLAG[@]}"; GATE_PID=$STARTED_PID
[ "$PPROF" = 1 ] && log "pprof: go tool pprof 'http://127.0.0.1:$GAPORT/debug/pprof/profile?seconds=5'"
if [ "$LIMITS" = 1 ]; then
  log "starting redisgate with --limit-ip $LIMIT_RATE --limit-token $LIMIT_RATE on 127.0.0.1:$LPORT"
  start_gate "$LPORT" "$LAPORT" "$TMP/redisgate-limits.log" --limit-ip "$LIMIT_RATE" --limit-token "$LIMIT_RATE"; LIM_PID=$STARTED_PID
fi

if [ "$HAVE_WEBDIS" = 1 ]; then
  log "starting webdis on 127.0.0.1:$WPORT"
  printf '%s\n' "{\"redis_host\":\"127.0.0.1\",\"redis_port\":$RPORT,\"http_host\":\"127.0.0.1\",\"http_port\":$WPORT," \
    " \"threads\":2,\"pool_size\":20,\"daemonize\":false,\"verbosity\":0,\"logfile\":\"$TMP/webdis.log\"}" >"$TMP/webdis.json"
  webdis "$TMP/webdis.json" >"$TMP/webdis.out" 2>&1 &
  WEBDIS_PID=$!; PIDS+=("$WEBDIS_PID")
  WEBDIS_EXPECT="{\"GET\":\"$VALUE\"}"
  wait_until 15 "$WEBDIS_PID" webdis "$TMP/webdis.out" \
    sh -c "[ \"\$(curl -s --max-time 2 http://127.0.0.1:$WPORT/GET/$KEY)\" = '$WEBDIS_EXPECT' ]"
  [ "$(curl -s --max-time 2 --data-binary "GET/$KEY" "http://127.0.0.1:$WPORT/")" = "$WEBDIS_EXPECT" ] \
    || die "webdis does not answer POST / with the command in the body"
fi

# POST / as the @upstash/redis SDK sends it: a JSON command, Upstash-Encoding: base64
POST_BODY="[\"GET\",\"$KEY\"]"
B64_HEADER="Upstash-Encoding: base64"
POST_EXPECT="{\"result\":\"$(printf '%s' "$VALUE" | base64 -w0)\"}"
POST_RESP=$(curl -s --max-time 5 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -H "$B64_HEADER" \
  --data-binary "$POST_BODY" "http://127.0.0.1:$GPORT/")
[ "$POST_RESP" = "$POST_EXPECT" ] || die "POST / answered $POST_RESP, not $POST_EXPECT"

# /pipeline body: 10 commands, 3 SET + 4 GET + 3 INCR
PIPE_BODY="[[\"SET\",\"bench:p1\",\"$VALUE\"],[\"GET\",\"bench:p1\"],[\"INCR\",\"bench:ctr\"],[\"GET\",\"$KEY\"],[\"SET\",\"bench:p2\",\"$VALUE\"],[\"INCR\",\"bench:ctr\"],[\"GET\",\"bench:p2\"],[\"SET\",\"bench:p3\",\"$VALUE\"],[\"GET\",\"bench:p3\"],[\"INCR\",\"bench:ctr\"]]"
PIPE_CMDS=10
PIPE_RESP=$(curl -s --max-time 5 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -w '\n%{http_code}' --data-binary "$PIPE_BODY" "http://127.0.0.1:$GPORT/pipeline")
PIPE_STATUS=${PIPE_RESP##*$'\n'}; PIPE_JSON=${PIPE_RESP%$'\n'*}
[ "$PIPE_STATUS" = 200 ] || die "POST /pipeline answered $PIPE_STATUS: $PIPE_JSON"
[ "$(grep -o '{"result"' <<<"$PIPE_JSON" | wc -l)" -eq "$PIPE_CMDS" ] || die "POST /pipeline did not answer $PIPE_CMDS results: $PIPE_JSON"
if grep -q '"error"' <<<"$PIPE_JSON"; then die "POST /pipeline answered an error: $PIPE_JSON"; fi

# the floor answers the gateway's own answers: the same body sizes
printf '%s' "$GATE_EXPECT" >"$TMP/noop-get.json"; printf '%s' "$POST_EXPECT" >"$TMP/noop-post.json"
printf '%s' "$PIPE_JSON" >"$TMP/noop-pipeline.json"
log "starting the no-op fasthttp server (the HTTP floor) on 127.0.0.1:$NPORT"
"$TMP/noop" -listen "127.0.0.1:$NPORT" -get "$TMP/noop-get.json" -post "$TMP/noop-post.json" \
  -pipeline "$TMP/noop-pipeline.json" >"$TMP/noop.log" 2>&1 &
NOOP_PID=$!; PIDS+=("$NOOP_PID")
wait_until 15 "$NOOP_PID" noop "$TMP/noop.log" \
  sh -c "[ \"\$(curl -s --max-time 2 http://127.0.0.1:$NPORT/get/$KEY)\" = '$GATE_EXPECT' ]"

# ---------------------------------------------------------------- runners -----------------
# wrk_once TIMEOUT THREADS CONNS URL [ENV=VAL...]: one wrk run; RESULT gets the BENCH line
wrk_once() {
  local to=$1 threads=$2 conns=$3 url=$4; shift 4
  local f="$TMP/wrk.$RANDOM.out" rc=0
  noise_begin
  run_bg "$f" env "$@" timeout -k 5 $(( DUR_S + 60 )) \
    wrk -t"$threads" -c"$conns" -d"$DURATION" --timeout "$to" -s "$BENCH_DIR/wrk.lua" "$url" || rc=$?
  noise_end
  RESULT=$(grep '^BENCH ' "$f" | tail -n1 || true)
  if [ "$rc" -ne 0 ] || [ -z "$RESULT" ]; then
    cat "$f" >&2; die "wrk against $url failed (exit $rc)"
  fi
}

GATE_URL="http://127.0.0.1:$GPORT/get/$KEY"

# target SERVER SHAPE: T_URL and T_ENV (wrk.lua's settings) for one request shape on one server:
# get (GET /get/KEY), post (POST / with a JSON command and Upstash-Encoding: base64, as the SDK
# sends it; webdis: the command in the body, its own form) or pipeline (POST /pipeline, 10 commands)
target() {
  local srv=$1 shape=$2 port
  case $srv in
    redisgate) port=$GPORT ;; limits) port=$LPORT ;; noop) port=$NPORT ;; webdis) port=$WPORT ;;
    *) die "unknown server $srv" ;;
  esac
  case $srv/$shape in
    webdis/get) T_URL="http://127.0.0.1:$port/GET/$KEY"; T_ENV=() ;;
    webdis/post) T_URL="http://127.0.0.1:$port/"; T_ENV=(BENCH_METHOD=POST "BENCH_BODY=GET/$KEY") ;;
    */get) T_URL="http://127.0.0.1:$port/get/$KEY"; T_ENV=("BENCH_TOKEN=$TOKEN") ;;
    */post) T_URL="http://127.0.0.1:$port/"; T_ENV=("BENCH_TOKEN=$TOKEN" BENCH_METHOD=POST "BENCH_BODY=$POST_BODY" "BENCH_HEADER=$B64_HEADER") ;;
    */pipeline) T_URL="http://127.0.0.1:$port/pipeline"; T_ENV=("BENCH_TOKEN=$TOKEN" BENCH_METHOD=POST "BENCH_BODY=$PIPE_BODY") ;;
    *) die "unknown shape $shape" ;;
  esac
}
srv_pid() { case $1 in redisgate) echo "$GATE_PID" ;; limits) echo "$LIM_PID" ;; noop) echo "$NOOP_PID" ;; webdis) echo "$WEBDIS_PID" ;; esac; }
# cpu_us JIFFIES REQUESTS: CPU microseconds per request
cpu_us() { awk -v j="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { if (n > 0) printf "%.1f\n", j * 1e6 / hz / n; else print "n/a" }'; }

# measure SERVER SHAPE CONNS: one wrk run; RESULT gets the BENCH line plus srv_cpu_us and
# redis_cpu_us, the CPU (utime + stime from /proc/PID/stat) of the server and of Redis per request
measure() {
  target "$1" "$2"
  local pid s0 r0 s1 r1 n
  pid=$(srv_pid "$1")
  s0=$(jiffies "$pid"); r0=$(jiffies "$REDIS_PID")
  wrk_once "$WRK_TIMEOUT" "$WRK_THREADS" "$3" "$T_URL" "${T_ENV[@]}"
  s1=$(jiffies "$pid"); r1=$(jiffies "$REDIS_PID")
  n=$(kv "$RESULT" requests)
  RESULT+=" srv_cpu_us=$(cpu_us $(( s1 - s0 )) "$n") redis_cpu_us=$(cpu_us $(( r1 - r0 )) "$n")"
}

declare -A M_RPS M_P50 M_P99 M_ERR M_CPU M_RCPU
# rounds SCENARIO SHAPE CONNS SERVER...: RUNS rounds, each running every server once, the order
# rotated from round to round so that no server always runs first or right after the same other
rounds() {
  local scen=$1 shape=$2 c=$3; shift 3
  local servers=("$@") n=$# run i srv k L
  for run in $(seq 1 "$RUNS"); do
    for i in $(seq 0 $(( n - 1 ))); do
      srv=${servers[$(( (i + run - 1) % n ))]}
      best_of measure "$srv" "$shape" "$c"
      L=$RESULT k="$scen/$shape/$srv/$c"
      M_RPS[$k]+="$(kv "$L" rps) "; M_P50[$k]+="$(kv "$L" p50_us) "; M_P99[$k]+="$(kv "$L" p99_us) "
      M_ERR[$k]+="$(errs_of "$L") "; M_CPU[$k]+="$(kv "$L" srv_cpu_us) "; M_RCPU[$k]+="$(kv "$L" redis_cpu_us) "
      raw "$(printf 'S%s %-8s %-9s c=%-5s run %d: %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  CPU/req %5s µs (Redis %4s µs)  errors %s' \
        "$scen" "$shape" "$srv" "$c" "$run" "$(kv "$L" rps)" "$(us_to_ms "$(kv "$L" p50_us)")" "$(us_to_ms "$(kv "$L" p99_us)")" \
        "$(kv "$L" srv_cpu_us)" "$(kv "$L" redis_cpu_us)" "$(errs_of "$L")")"
      check_alive "scenario $scen, $srv c=$c"
    done
  done
}
# med MAP KEY: the median of the values a rounds() map holds for KEY
med() { local -n m=$1; # shellcheck disable=SC2086
  median ${m[$2]:-}; }

check_alive() {
  local p
  for p in "$GATE_PID" "$LIM_PID" "$NOOP_PID"; do
    [ -z "$p" ] || kill -0 "$p" 2>/dev/null || { tail -n 30 "$TMP"/redisgate*.log "$TMP/noop.log" >&2; die "a server died ($1)"; }
  done
  kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server died ($1)"
}

# adds the e1/e2/... error tuples given as arguments
errs_sum() { printf '%s\n' "$@" | awk -F/ '{for (i = 1; i <= NF; i++) s[i] += $i; n = NF} END {
  out = ""; for (i = 1; i <= n; i++) out = out (i > 1 ? "/" : "") s[i]; print out }'; }
merge_statuses() { printf '%s\n' "$@" | tr ',' '\n' | { grep : || true; } | awk -F: '{s[$1]+=$2} END {for (k in s) printf "%s:%d\n", k, s[k]}' | sort -n | paste -sd, -; }
kib_to_mib() { awk -v k="$1" 'BEGIN { printf "%.1f\n", k/1024 }'; }

S1_SERVERS=(redisgate); [ "$LIMITS" = 1 ] && S1_SERVERS+=(limits)
[ "$HAVE_WEBDIS" = 1 ] && S1_SERVERS+=(webdis)
S1_SERVERS+=(noop)
S5_SERVERS=(redisgate); [ "$HAVE_WEBDIS" = 1 ] && S5_SERVERS+=(webdis)
S5_SERVERS+=(noop)

{
  echo "# redisgate benchmark"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), redisgate $GIT_REV${GATE_FLAGS:+, flags $GATE_FLAGS}"
  echo "- host: $NPROC cores, redis $(redis-server --version | awk '{print $3}' | tr -d 'v='), $( (wrk --version 2>&1 || true) | head -n1 | awk '{print $1, $2}'), open-file limit $NOFILE"
  echo "- load at start: $(sed 's/.*load average/load average/' <<<"$UPTIME"), CPU idle ${IDLE}%"
  echo "- RUNS=$RUNS DURATION=$DURATION POOL_SIZE=$POOL_SIZE WRK_THREADS=$WRK_THREADS WRK_TIMEOUT=$WRK_TIMEOUT C10K=$C10K (procs $C10K_PROCS, threads $C10K_THREADS, timeout $C10K_TIMEOUT)"
  echo "- value: $VALUE_SIZE bytes; $( [ "$HAVE_WEBDIS" = 1 ] && echo "webdis threads 2, pool_size 20" || echo "webdis not installed")"
  echo "- servers: redisgate (defaults: admin listener and metrics on)$( [ "$LIMITS" = 1 ] && echo ", limits (the same plus --limit-ip $LIMIT_RATE --limit-token $LIMIT_RATE)")$( [ "$HAVE_WEBDIS" = 1 ] && echo ", webdis"), noop (fasthttp with defaults answering the gateway's answers, no Redis: the HTTP floor)"
  echo
  echo "## Raw runs"
  echo
  echo "errors = connect/read/write/timeout/non-2xx (wrk socket errors and HTTP statuses > 399);"
  echo "CPU/req = the server's utime+stime (/proc/PID/stat) during the run ÷ requests (Redis: the same for redis-server);"
  echo "other CPU = share of the machine used by processes outside the benchmark during the run"
  echo "(NOISY above $NOISE_LIMIT %; such a run is repeated up to $RETRY_NOISY time(s) and the least disturbed attempt kept)"
  echo
  echo '```'
} >"$TMP/header.md"
cat "$TMP/header.md"

if { want 1 || want 5; } && [ "$WARMUP" != 0 ] && [ "$WARMUP" != 0s ]; then
  log "warm-up: $WARMUP per server (not recorded)"
  DURATION_SAVE=$DURATION; DURATION=$WARMUP
  for srv in "${S1_SERVERS[@]}"; do measure "$srv" get 50; done
  DURATION=$DURATION_SAVE
fi

# ---------------------------------------------------------------- scenario 1 --------------
if want 1; then for c in $CONNS; do rounds 1 get "$c" "${S1_SERVERS[@]}"; done; fi

# ---------------------------------------------------------------- scenario 5 --------------
POST_CONNS=${POST_CONNS:-50}
if want 5; then rounds 5 post "$POST_CONNS" "${S5_SERVERS[@]}"; fi

# webdis and the limits gateway are not needed any more; stop them so that connected_clients
# below counts only redisgate's connections
for p in "$WEBDIS_PID" "$LIM_PID"; do
  [ -n "$p" ] || continue
  kill -TERM "$p" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
done
LIM_PID=""

# ---------------------------------------------------------------- scenario 2 --------------
if want 2; then rounds 2 pipeline "$PIPE_CONNS" redisgate noop; fi

# ---------------------------------------------------------------- scenario 3 --------------
redis_clients() { rcli INFO clients 2>/dev/null | tr -d '\r' | awk -F: '$1 == "connected_clients" {print $2 - 1}'; }
proc_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$GATE_PID/status" 2>/dev/null || echo 0; }
gate_fds() { find "/proc/$GATE_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
gate_conns() { ss -Htn state established "( sport = :$GPORT )" 2>/dev/null | wc -l; }
# settle: wait (at most 15 s) until the HTTP connections of the last run are gone from redisgate
settle() { local i; for i in $(seq 1 150); do [ "$(gate_conns)" -le 2 ] && break; sleep 0.1; done; }

PER_PROC=$(( C10K / C10K_PROCS ))
# c10k_once: one run with C10K connections, sampling Redis clients, RSS and open connections.
# RESULT: "rps p50_us p99_us errors statuses max_clients max_rss_kb max_conns idle_clients fds_after rss_after_kb"
c10k_once() {
  settle
  local base_clients wpids=() outs=() p f rc=0 max_cli=0 max_rss=0 max_est=0 v running pid
  base_clients=$(redis_clients)
  noise_begin
  for p in $(seq 1 "$C10K_PROCS"); do
    f="$TMP/c10k.$RANDOM.$p.out"; outs+=("$f")
    BENCH_TOKEN="$TOKEN" BENCH_TALLY=1 timeout -k 5 $(( DUR_S + 60 )) \
      wrk -t"$C10K_THREADS" -c"$PER_PROC" -d"$DURATION" --timeout "$C10K_TIMEOUT" -s "$BENCH_DIR/wrk.lua" "$GATE_URL" >"$f" 2>&1 &
    wpids+=("$!"); PIDS+=("$!")
  done
  while :; do
    running=0
    for pid in "${wpids[@]}"; do kill -0 "$pid" 2>/dev/null && running=1; done
    [ "$running" = 1 ] || break
    v=$(redis_clients); [ -n "$v" ] && [ "$v" -gt "$max_cli" ] && max_cli=$v
    v=$(proc_kb VmRSS); [ -n "$v" ] && [ "$v" -gt "$max_rss" ] && max_rss=$v
    v=$(gate_conns); [ "$v" -gt "$max_est" ] && max_est=$v
    sleep "$SAMPLE_INTERVAL"
  done
  for pid in "${wpids[@]}"; do wait "$pid" || rc=$?; done
  noise_end
  local L rps=0 p50s=() p99s=() errs=() statuses=()
  for f in "${outs[@]}"; do
    L=$(grep '^BENCH ' "$f" | tail -n1 || true)
    [ -n "$L" ] || { cat "$f" >&2; die "wrk ($PER_PROC connections) failed (exit $rc)"; }
    rps=$(awk -v a="$rps" -v b="$(kv "$L" rps)" 'BEGIN{print a+b}')
    p50s+=("$(kv "$L" p50_us)"); p99s+=("$(kv "$L" p99_us)"); errs+=("$(errs_of "$L")"); statuses+=("$(kv "$L" status)")
  done
  settle
  sleep 0.5
  local st; st=$(merge_statuses "${statuses[@]}")
  # several wrk processes: the worst process's percentiles (percentiles of separate runs cannot be merged)
  RESULT="$rps $(maxof "${p50s[@]}") $(maxof "${p99s[@]}") $(errs_sum "${errs[@]}") ${st:-none} $max_cli $max_rss $max_est $base_clients $(gate_fds) $(proc_kb VmRSS)"
}

S3_RPS=() S3_P50=() S3_P99=() S3_ERR=() S3_CLI=() S3_RSS=() S3_EST=() S3_STATUS=() S3_FDS=() S3_RSS_AFTER=()
if want 3; then
  settle; sleep 0.5
  FDS_BEFORE=$(gate_fds); RSS_BEFORE=$(proc_kb VmRSS)
  # redisgate's Redis connections by client name and last command (the CLIENT LIST caller left out)
  CLIENT_CMDS=$(rcli CLIENT LIST 2>/dev/null | tr -d '\r' | sed -n 's/.* name=\([^ ]*\) .* cmd=\([^ ]*\).*/\1\/\2/p' | grep -v '/client|list$' \
    | sort | uniq -c | awk '{printf "%s%s×%s", (NR > 1 ? ", " : ""), $1, $2}' || true)
  RUN_NOTE=0 raw "$(printf 'S3 before: redisgate %s open fds, RSS %s MiB; Redis connections (name/last command): %s' \
    "$FDS_BEFORE" "$(kib_to_mib "$RSS_BEFORE")" "${CLIENT_CMDS:-none}")"
  for run in $(seq 1 "$RUNS"); do
    best_of c10k_once
    read -r rps p50 p99 err st cli rss est base fds rss_after <<<"$RESULT"
    S3_RPS+=("$rps"); S3_P50+=("$p50"); S3_P99+=("$p99"); S3_ERR+=("$err"); S3_STATUS+=("$st")
    S3_CLI+=("$cli"); S3_RSS+=("$rss"); S3_EST+=("$est"); S3_FDS+=("$fds"); S3_RSS_AFTER+=("$rss_after")
    raw "$(printf 'S3 C10K redisgate c=%-5s run %d: %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  errors %s  statuses %s  max Redis clients %s (before %s)  max HTTP conns %s  max RSS %s MiB  after: %s fds, RSS %s MiB' \
      "$C10K" "$run" "$rps" "$(us_to_ms "$p50")" "$(us_to_ms "$p99")" "$err" "$st" "$cli" "$base" "$est" \
      "$(kib_to_mib "$rss")" "$fds" "$(kib_to_mib "$rss_after")")"
    check_alive "scenario 3"
  done
fi
GATE_HWM=$(proc_kb VmHWM)

# ---------------------------------------------------------------- scenario 4 --------------
# rb_once PIPELINE REQUESTS: one redis-benchmark GET run; RESULT gets req/s
rb_once() {
  local pl=$1 n=$2 f="$TMP/rb.$RANDOM.out" rc=0
  noise_begin
  run_bg "$f" timeout -k 5 120 redis-benchmark -h 127.0.0.1 -p "$RPORT" -c "$RB_CLIENTS" -n "$n" \
    -P "$pl" -d "$VALUE_SIZE" -t get -q || rc=$?
  noise_end
  RESULT=$(tr '\r' '\n' <"$f" | awk '$1 == "GET:" && $3 == "requests" {v=$2} END {print v}')
  if [ "$rc" -ne 0 ] || [ -z "$RESULT" ]; then cat "$f" >&2; die "redis-benchmark -P $pl failed (exit $rc)"; fi
}
S4_P1=() S4_P10=()
want 4 && for run in $(seq 1 "$RUNS"); do
  best_of rb_once 1 "$RB_REQUESTS"; S4_P1+=("$RESULT")
  raw "$(printf 'S4 redis-benchmark GET -c %s -P 1  run %d: %9.0f req/s' "$RB_CLIENTS" "$run" "$RESULT")"
  best_of rb_once 10 "$RB_REQUESTS_P10"; S4_P10+=("$RESULT")
  raw "$(printf 'S4 redis-benchmark GET -c %s -P 10 run %d: %9.0f req/s' "$RB_CLIENTS" "$run" "$RESULT")"
done
check_alive "end"

# ---------------------------------------------------------------- table -------------------
# anything redisgate logs at --log-level warn is worth a look
# (except its start-up banner on stdout: "redisgate listening on", "token:", "try:")
BANNER='^(redisgate listening on |token: |try: )'
LOG_LINES=$( (grep -Ev "$BANNER" "$TMP/redisgate.log" || true) | wc -l | tr -d ' ')
mul() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a") print a; else print a * b }'; }
FIRST_C=$(awk '{print $1}' <<<"$CONNS")
G50=n/a; S2_CMDS=n/a
# table_rows SCENARIO SHAPE CONNS LABEL SERVER...: one row per server of a rounds() scenario
table_rows() {
  local scen=$1 shape=$2 c=$3 label=$4; shift 4
  local srv k rps noop web
  noop=$(med M_RPS "$scen/$shape/noop/$c"); web=$(med M_RPS "$scen/$shape/webdis/$c")
  for srv in "$@"; do
    k="$scen/$shape/$srv/$c"; rps=$(med M_RPS "$k")
    printf '| %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s |\n' "$label" "$c" "$srv" "$(fmt_int "$rps")" \
      "$( [ "$srv" = noop ] && echo 1.00 || ratio "$rps" "$noop")" "$( [ "$srv" = webdis ] && echo 1.00 || ratio "$rps" "$web")" \
      "$(us_to_ms "$(med M_P50 "$k")")" "$(us_to_ms "$(med M_P99 "$k")")" "$(med M_CPU "$k")" "$(med M_RCPU "$k")" \
      "$(errs_sum ${M_ERR[$k]:-0/0/0/0/0})"
  done
}
# verdict SCENARIO SHAPE CONNS LABEL: the issue-17 targets for redisgate in one line
verdict() {
  local scen=$1 shape=$2 c=$3 label=$4 g n w
  g="$scen/$shape/redisgate/$c" n="$scen/$shape/noop/$c" w="$scen/$shape/webdis/$c"
  printf -- '- %s, c=%s: redisgate ÷ noop **%s** (target ≥ 0.85), ÷ webdis **%s** (target ≥ %s); CPU/req redisgate %s µs vs noop %s µs: **+%s µs** (target ≤ +5); p99 %s ms vs webdis %s ms' \
    "$label" "$c" "$(ratio "$(med M_RPS "$g")" "$(med M_RPS "$n")")" "$(ratio "$(med M_RPS "$g")" "$(med M_RPS "$w")")" \
    "$( [ "$c" -ge 1000 ] && echo 1.2 || echo 1.3)" "$(med M_CPU "$g")" "$(med M_CPU "$n")" \
    "$(awk -v a="$(med M_CPU "$g")" -v b="$(med M_CPU "$n")" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.1f\n", a - b }')" \
    "$(us_to_ms "$(med M_P99 "$g")")" "$(us_to_ms "$(med M_P99 "$w")")"
  if [ "$scen/$shape" = 1/get ] && [ "$LIMITS" = 1 ]; then
    printf '; with --limit-ip/--limit-token ÷ defaults **%s** (target ≥ 0.90)' "$(ratio "$(med M_RPS "1/get/limits/$c")" "$(med M_RPS "$g")")"
  fi
  echo
}
{
  echo '```'
  echo
  echo "## Results (median of $RUNS interleaved rounds of $DURATION; latencies in ms; errors summed over all runs)"
  echo
  echo "CPU/req: the server's own CPU per request, µs; Redis: redis-server's CPU per request during the same runs."
  echo
  echo "| scenario | conns | server | req/s | ÷ noop | ÷ webdis | p50 / p99 | CPU/req µs | Redis CPU/req µs | errors |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"
  if want 1; then
    for c in $CONNS; do
      [ "$c" = "$FIRST_C" ] && G50=$(med M_RPS "1/get/redisgate/$c")
      table_rows 1 get "$c" "1. GET /get/key, ${VALUE_SIZE}B" "${S1_SERVERS[@]}"
    done
  fi
  if want 5; then
    table_rows 5 post "$POST_CONNS" "5. POST / JSON command, base64" "${S5_SERVERS[@]}"
  fi
  if want 2; then
    S2_CMDS=$(mul "$(med M_RPS "2/pipeline/redisgate/$PIPE_CONNS")" "$PIPE_CMDS")
    table_rows 2 pipeline "$PIPE_CONNS" "2. POST /pipeline, $PIPE_CMDS cmds" redisgate noop
  fi
  echo
  [ "$HAVE_WEBDIS" = 1 ] || echo "webdis not installed: its columns are n/a."
  echo "webdis serves scenario 5 in its own form (POST / with the body GET/key, plain JSON); redisgate's /pipeline = $(fmt_int "$S2_CMDS") cmd/s."
  if want 1 || want 5; then
    echo
    echo "Issue 17 targets:"
    echo
    if want 1; then for c in $CONNS; do verdict 1 get "$c" "GET"; done; fi
    if want 5; then verdict 5 post "$POST_CONNS" "POST / base64"; fi
  fi
  if want 3; then
    echo
    echo "| scenario | conns | redisgate req/s | redisgate p50 / p99 | errors |"
    echo "|---|---:|---:|---:|---|"
    s3=$(median "${S3_RPS[@]}")
    printf '| 3. GET %dB value, all connections open at once | %s | %s | %s / %s | %s |\n' \
      "$VALUE_SIZE" "$C10K" "$(fmt_int "$s3")" "$(us_to_ms "$(median "${S3_P50[@]}")")" "$(us_to_ms "$(median "${S3_P99[@]}")")" "$(errs_sum "${S3_ERR[@]}")"
    echo
    echo "Scenario 3 ($C10K connections, pool size $POOL_SIZE): maxima of samples every ${SAMPLE_INTERVAL}s during each run, median over runs;"
    echo "\"after\" = once the run's connections are closed (before the first run: $FDS_BEFORE fds, $(kib_to_mib "$RSS_BEFORE") MiB)."
    echo
    echo "| Redis connections (connected_clients − 1) | open HTTP connections at redisgate | redisgate max RSS | redisgate VmHWM (whole benchmark) | after the last run: fds, RSS | HTTP statuses (all runs) |"
    echo "|---:|---:|---:|---:|---:|---|"
    printf '| %s | %s | %s MiB | %s MiB | %s, %s MiB | %s |\n' "$(fmt_int "$(median "${S3_CLI[@]}")")" "$(fmt_int "$(median "${S3_EST[@]}")")" \
      "$(kib_to_mib "$(median "${S3_RSS[@]}")")" "$(kib_to_mib "$GATE_HWM")" \
      "${S3_FDS[${#S3_FDS[@]}-1]}" "$(kib_to_mib "${S3_RSS_AFTER[${#S3_RSS_AFTER[@]}-1]}")" "$(merge_statuses "${S3_STATUS[@]}")"
  fi
  if want 4; then
    p1=$(median "${S4_P1[@]}"); p10=$(median "${S4_P10[@]}")
    echo
    echo "Ceiling: redis-benchmark straight to the same Redis (-t get -c $RB_CLIENTS -d $VALUE_SIZE, no gateway):"
    echo
    echo "| redis-benchmark | req/s | redisgate GET req/s (c=$FIRST_C) ÷ this | redisgate /pipeline cmd/s ÷ this |"
    echo "|---|---:|---:|---:|"
    printf '| GET -P 1 | %s | %s | %s |\n' "$(fmt_int "$p1")" "$(ratio "$G50" "$p1")" "$(ratio "$S2_CMDS" "$p1")"
    printf '| GET -P 10 | %s | %s | %s |\n' "$(fmt_int "$p10")" "$(ratio "$G50" "$p10")" "$(ratio "$S2_CMDS" "$p10")"
  fi
  echo
  echo "- errors = connect/read/write/timeout/non-2xx (HTTP status > 399); wrk -t$WRK_THREADS --timeout $WRK_TIMEOUT; scenario 3: $C10K_PROCS wrk process(es) × -t$C10K_THREADS --timeout $C10K_TIMEOUT"
  MAX_OTHER=$(maxof 0 "${OTHER_ALL[@]}")
  NOISY_RUNS=$(printf '%s\n' "${OTHER_ALL[@]}" | awk -v l="$NOISE_LIMIT" '$1 > l {n++} END {print n+0}')
  echo "- other CPU: up to ${MAX_OTHER}% of the machine used by processes outside this benchmark during a run (median $(median "${OTHER_ALL[@]}")%); $NOISY_RUNS of ${#OTHER_ALL[@]} recorded runs NOISY (> $NOISE_LIMIT %) after $RETRIES_USED repeat(s)$( [ "$NOISY_RUNS" -gt 0 ] && echo ": treat those numbers with suspicion")"
  echo "- redisgate log at --log-level warn: $LOG_LINES line(s)"
  echo "- load at end: $(sed 's/.*load average/load average/' <<<"$(uptime)")"
} >"$TMP/table.md"

if [ "$LOG_LINES" -gt 0 ]; then
  { echo; echo "First redisgate log lines:"; echo; echo '```'; grep -Ev "$BANNER" "$TMP/redisgate.log" | head -n 10; echo '```'; } >>"$TMP/table.md"
fi

write_report
