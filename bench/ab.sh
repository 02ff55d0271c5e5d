#!/usr/bin/env bash
# bench/ab.sh: several redisgate builds (or settings) against each other and the HTTP floor, in
# one run, interleaved: the before/after of a change on a noisy machine.
#
#   bench/ab.sh base=main new=HEAD                       # two commits
#   bench/ab.sh base=HEAD 'gc400=HEAD GOGC=400'           # one build, an environment variable
#   bench/ab.sh base=HEAD 'nolim=HEAD --admin-listen='    # one build, extra flags
#   SHAPES="get post" CONNS="50 1000" RUNS=5 bench/ab.sh a=/path/to/binary b=HEAD
#
# Each argument is NAME=REF [VAR=VALUE...] [--flag...]: REF is a git revision (built with
# git archive), "wt" (the working tree) or an executable. Every variant gets the shipped defaults
# (admin listener, metrics) plus its flags, on its own ports, against one loopback Redis; bench/noop
# (the floor) runs alongside (FLOORS="noop noopgw webdis" adds the floor with the gateway's
# transport settings, bench/noop -gateway-settings; poolcmp, a fasthttp handler doing one GET through
# redisgate's pool, bench/poolcmp, for get only; and webdis for get and post). RUNS rounds (default 5) × SHAPES (get, post: POST / base64 as the SDK
# sends it, pipeline: /pipeline of 10) × CONNS; in each round the order of the servers rotates.
# Each run is wrk -t1 for DURATION (default 4s); the table shows medians: req/s, p50, p99, the
# server's CPU per request (utime+stime from /proc ÷ requests) and Redis's. Only 127.0.0.1.
set -Eeuo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
RUNS=${RUNS:-5} DURATION=${DURATION:-4s} CONNS=${CONNS:-50} SHAPES=${SHAPES:-get} POOL_SIZE=${POOL_SIZE:-4}
WRK_TIMEOUT=${WRK_TIMEOUT:-2s} KEEP_TMP=${KEEP_TMP:-0} NOISE_LIMIT=${NOISE_LIMIT:-10}
FLOORS=${FLOORS:-noop}
RETRY_NOISY=${RETRY_NOISY:-0} RETRY_BUDGET=${RETRY_BUDGET:-0} WAIT_IDLE=${WAIT_IDLE:-0}
BENCH_TAG=ab
# shellcheck source=SCRIPTDIR/lib.sh
source "$BENCH_DIR/lib.sh"
[ $# -gt 0 ] || die "usage: bench/ab.sh NAME=REF [VAR=VALUE...] [--flag...] ... (see the header)"
for tool in redis-server redis-cli wrk curl ss awk go getconf; do command -v "$tool" >/dev/null || die "required tool '$tool' not found"; done
DUR_S=$(dur_secs "$DURATION"); CLK_TCK=$(getconf CLK_TCK); NPROC=$(nproc)
REDIS_PID=""
declare -A PID PORT
server_pids() { echo "$REDIS_PID ${PID[*]}"; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/redisgate-ab.XXXXXX")
ulimit -n 65536 2>/dev/null || true
VALUE=$(printf 'v%.0s' $(seq 1 64)); KEY=benchkey
TOKEN=bench-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')

pick_port RPORT
redis-server --bind 127.0.0.1 --port "$RPORT" --save "" --appendonly no --daemonize no --dir "$TMP" --logfile "$TMP/redis.log" &
REDIS_PID=$!; PIDS+=("$REDIS_PID")
wait_until 10 "$REDIS_PID" redis-server "$TMP/redis.log" sh -c "[ \"\$(timeout 2 redis-cli -h 127.0.0.1 -p $RPORT PING)\" = PONG ]"
[ "$(rcli SET "$KEY" "$VALUE")" = OK ] || die "SET failed"

# build REF OUT: the binary of REF at OUT
build() {
  local ref=$1 out=$2
  if [ "$ref" = wt ]; then run_bg "$TMP/build.log" go -C "$REPO_DIR" build -o "$out" ./cmd/redisgate
  elif [ -x "$ref" ] && [ -f "$ref" ]; then cp "$ref" "$out"
  else
    local src; src=$(mktemp -d "$TMP/src.XXXX")
    git -C "$REPO_DIR" archive "$(git -C "$REPO_DIR" rev-parse "$ref^{commit}")" | tar -x -C "$src"
    run_bg "$TMP/build.log" go -C "$src" build -o "$out" ./cmd/redisgate
  fi || { cat "$TMP/build.log" >&2; die "building $ref failed"; }
}
run_bg "$TMP/build.log" go -C "$REPO_DIR" build -o "$TMP/noop" ./bench/noop || { cat "$TMP/build.log" >&2; die "building bench/noop failed"; }

NAMES=()
GATE_EXPECT="{\"result\":\"$VALUE\"}"
for spec in "$@"; do
  read -r -a words <<<"$spec"
  name=${words[0]%%=*} ref=${words[0]#*=}
  envs=() flags=()
  for w in "${words[@]:1}"; do case $w in --*) flags+=("$w") ;; *=*) envs+=("$w") ;; *) die "$spec: '$w' is neither VAR=VALUE nor --flag" ;; esac; done
  bin="$TMP/bin-$(tr -c 'A-Za-z0-9' _ <<<"$ref")"
  [ -x "$bin" ] || { log "building $ref"; build "$ref" "$bin"; }
  pick_port GP; pick_port AP; p=$GP ap=$AP
  log "starting $name: $ref ${envs[*]} ${flags[*]} on 127.0.0.1:$p"
  env "${envs[@]}" "$bin" --listen "127.0.0.1:$p" --admin-listen "127.0.0.1:$ap" --upstream "redis://127.0.0.1:$RPORT" --token "$TOKEN" \
    --pool-size "$POOL_SIZE" --max-conns-per-ip 0 --max-conns 0 --log-level warn "${flags[@]}" >"$TMP/$name.log" 2>&1 &
  PID[$name]=$!; PORT[$name]=$p; PIDS+=("$!"); NAMES+=("$name")
  wait_until 15 "${PID[$name]}" "$name" "$TMP/$name.log" \
    sh -c "[ \"\$(curl -s --max-time 2 -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$p/get/$KEY)\" = '$GATE_EXPECT' ]"
done
POST_BODY="[\"GET\",\"$KEY\"]" B64_HEADER="Upstash-Encoding: base64"
PIPE_BODY="[[\"SET\",\"bench:p1\",\"$VALUE\"],[\"GET\",\"bench:p1\"],[\"INCR\",\"bench:ctr\"],[\"GET\",\"$KEY\"],[\"SET\",\"bench:p2\",\"$VALUE\"],[\"INCR\",\"bench:ctr\"],[\"GET\",\"bench:p2\"],[\"SET\",\"bench:p3\",\"$VALUE\"],[\"GET\",\"bench:p3\"],[\"INCR\",\"bench:ctr\"]]"
p=${PORT[${NAMES[0]}]}
printf '%s' "$GATE_EXPECT" >"$TMP/get.json"
curl -s --max-time 5 -H "Authorization: Bearer $TOKEN" -H "$B64_HEADER" --data-binary "$POST_BODY" "http://127.0.0.1:$p/" >"$TMP/post.json"
curl -s --max-time 5 -H "Authorization: Bearer $TOKEN" --data-binary "$PIPE_BODY" "http://127.0.0.1:$p/pipeline" >"$TMP/pipeline.json"
for floor in $FLOORS; do
  if [ "$floor" = webdis ]; then
    command -v webdis >/dev/null 2>&1 || { log "webdis not installed: measuring without it"; continue; }
    pick_port WPORT
    printf '%s\n' "{\"redis_host\":\"127.0.0.1\",\"redis_port\":$RPORT,\"http_host\":\"127.0.0.1\",\"http_port\":$WPORT," \
      " \"threads\":2,\"pool_size\":20,\"daemonize\":false,\"verbosity\":0,\"logfile\":\"$TMP/webdis.log\"}" >"$TMP/webdis.json"
    webdis "$TMP/webdis.json" >"$TMP/webdis.out" 2>&1 &
    PIDS+=("$!"); PID[webdis]=$!; PORT[webdis]=$WPORT; NAMES+=(webdis)
    wait_until 10 "${PID[webdis]}" webdis "$TMP/webdis.out" sh -c "[ \"\$(curl -s --max-time 2 http://127.0.0.1:$WPORT/GET/$KEY)\" = '{\"GET\":\"$VALUE\"}' ]"
    continue
  fi
  if [ "$floor" = poolcmp ]; then
    # the HTTP floor plus one GET through redisgate's own pool: what a Redis round trip costs
    # before any gateway logic (auth, limits, command table, JSON, metrics)
    [ -x "$TMP/poolcmp" ] || run_bg "$TMP/build.log" go -C "$REPO_DIR" build -o "$TMP/poolcmp" ./bench/poolcmp || { cat "$TMP/build.log" >&2; die "building bench/poolcmp failed"; }
    pick_port NPORT
    "$TMP/poolcmp" -impl own -size "$POOL_SIZE" -listen "127.0.0.1:$NPORT" -upstream "127.0.0.1:$RPORT" >"$TMP/$floor.log" 2>&1 &
    PIDS+=("$!"); PID[$floor]=$!; PORT[$floor]=$NPORT; NAMES+=("$floor")
    wait_until 10 "${PID[$floor]}" "$floor" "$TMP/$floor.log" sh -c "[ \"\$(curl -s --max-time 2 http://127.0.0.1:$NPORT/get/$KEY)\" = '$GATE_EXPECT' ]"
    continue
  fi
  case $floor in noop) fl=() ;; noopgw) fl=(-gateway-settings) ;; *) die "FLOORS: noop, noopgw, poolcmp or webdis, got $floor" ;; esac
  pick_port NPORT
  "$TMP/noop" -listen "127.0.0.1:$NPORT" -get "$TMP/get.json" -post "$TMP/post.json" -pipeline "$TMP/pipeline.json" "${fl[@]}" >"$TMP/$floor.log" 2>&1 &
  PIDS+=("$!"); PID[$floor]=$!; PORT[$floor]=$NPORT; NAMES+=("$floor")
  wait_until 10 "${PID[$floor]}" "$floor" "$TMP/$floor.log" sh -c "[ \"\$(curl -s --max-time 2 http://127.0.0.1:$NPORT/get/$KEY)\" = '$GATE_EXPECT' ]"
done

declare -A RPS P50 P99 CPU RCPU ERR
# one NAME SHAPE CONNS: one wrk run, its numbers appended to the maps
one() {
  local name=$1 shape=$2 c=$3 url env=() pid=${PID[$1]} s0 r0 s1 r1 f="$TMP/wrk.out" L n k
  case $name/$shape in
    webdis/get) url="http://127.0.0.1:${PORT[$name]}/GET/$KEY"; env=() ;;
    webdis/post) url="http://127.0.0.1:${PORT[$name]}/"; env=(BENCH_METHOD=POST "BENCH_BODY=GET/$KEY") ;;
    webdis/*) return 0 ;;
    poolcmp/get) url="http://127.0.0.1:${PORT[$name]}/get/$KEY"; env=() ;;
    poolcmp/*) return 0 ;;
    *) case $shape in
    get) url="http://127.0.0.1:${PORT[$name]}/get/$KEY"; env=("BENCH_TOKEN=$TOKEN") ;;
    post) url="http://127.0.0.1:${PORT[$name]}/"; env=("BENCH_TOKEN=$TOKEN" BENCH_METHOD=POST "BENCH_BODY=$POST_BODY" "BENCH_HEADER=$B64_HEADER") ;;
    pipeline) url="http://127.0.0.1:${PORT[$name]}/pipeline"; env=("BENCH_TOKEN=$TOKEN" BENCH_METHOD=POST "BENCH_BODY=$PIPE_BODY") ;;
    *) die "unknown shape $shape" ;;
    esac ;;
  esac
  noise_begin
  s0=$(jiffies "$pid"); r0=$(jiffies "$REDIS_PID")
  run_bg "$f" env "${env[@]}" timeout -k 5 $(( DUR_S + 30 )) wrk -t1 -c"$c" -d"$DURATION" --timeout "$WRK_TIMEOUT" -s "$BENCH_DIR/wrk.lua" "$url" \
    || { cat "$f" >&2; die "wrk failed"; }
  s1=$(jiffies "$pid"); r1=$(jiffies "$REDIS_PID")
  noise_end
  OTHER_ALL+=("$LAST_OTHER")
  L=$(grep '^BENCH ' "$f"); n=$(kv "$L" requests); k="$shape/$c/$name"
  if ! [ "${n:-0}" -gt 0 ] 2>/dev/null; then log "$name $shape c=$c: no request answered (errors $(errs_of "$L")); run not recorded"; return 0; fi
  RPS[$k]+="$(kv "$L" rps) "; P50[$k]+="$(kv "$L" p50_us) "; P99[$k]+="$(kv "$L" p99_us) "; ERR[$k]+="$(errs_of "$L") "
  CPU[$k]+="$(awk -v j=$(( s1 - s0 )) -v n="$n" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", j * 1e6 / hz / n }') "
  RCPU[$k]+="$(awk -v j=$(( r1 - r0 )) -v n="$n" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", j * 1e6 / hz / n }') "
  printf '%-8s c=%-5s %-10s %8.0f req/s  p99 %7.2f ms  CPU/req %6.2f µs  other CPU %s%%\n' "$shape" "$c" "$name" "$(kv "$L" rps)" \
    "$(us_to_ms "$(kv "$L" p99_us)")" "$(awk -v j=$(( s1 - s0 )) -v n="$n" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", j * 1e6 / hz / n }')" "$LAST_OTHER" | tee -a "$TMP/raw.txt"
  [ "$(errs_of "$L")" = 0/0/0/0/0 ] || log "$name: errors $(errs_of "$L")"
}
fmt1() { awk -v x="$1" 'BEGIN { if (x ~ /^-?[0-9.]+$/) printf "%.1f\n", x; else print "n/a" }'; }
med() { printf '%s\n' $1 | sort -g | awk '{v[NR]=$1} END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2 }'; }

log "$(uptime)"
n=${#NAMES[@]}
for run in $(seq 1 "$RUNS"); do
  for shape in $SHAPES; do for c in $CONNS; do
    for i in $(seq 0 $(( n - 1 ))); do one "${NAMES[$(( (i + run - 1) % n ))]}" "$shape" "$c"; done
  done; done
done

{
  echo
  echo "medians of $RUNS interleaved rounds of $DURATION, wrk -t1, $NPROC cores, $(git -C "$REPO_DIR" rev-parse --short HEAD); load at end: $(awk '{print $1, $2, $3}' /proc/loadavg)"
  echo
  echo "| shape | conns | server | req/s | ÷ first | ÷ noop | p50 ms | p99 ms | CPU/req µs | − noop µs | Redis CPU/req µs |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for shape in $SHAPES; do for c in $CONNS; do
    first=$(med "${RPS[$shape/$c/${NAMES[0]}]}"); noop=$(med "${RPS[$shape/$c/noop]}"); ncpu=$(med "${CPU[$shape/$c/noop]}")
    for name in "${NAMES[@]}"; do
      k="$shape/$c/$name"; [ -n "${RPS[$k]:-}" ] || continue
      r=$(med "${RPS[$k]}"); cpu=$(med "${CPU[$k]}")
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$shape" "$c" "$name" "$(fmt_int "$r")" "$(ratio "$r" "$first")" "$(ratio "$r" "$noop")" \
        "$(us_to_ms "$(med "${P50[$k]}")")" "$(us_to_ms "$(med "${P99[$k]}")")" "$(fmt1 "$cpu")" \
        "$(awk -v a="$cpu" -v b="$ncpu" 'BEGIN { if (a ~ /^-?[0-9.]+$/ && b ~ /^-?[0-9.]+$/) printf "%+.1f\n", a - b; else print "n/a" }')" "$(fmt1 "$(med "${RCPU[$k]}")")"
    done
  done; done
  echo
  echo "other CPU (processes outside this benchmark, % of the machine) per run: median $(med "${OTHER_ALL[*]:-0}"), max $(maxof 0 "${OTHER_ALL[@]:-0}")"
} | tee "$TMP/table.md"
