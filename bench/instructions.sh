#!/usr/bin/env bash
# Instructions per request of GET /auth/me's steps (bench/steps-server.ts) and of raw Bun.serve, counted
# with callgrind over the whole server process (every thread) while wrk drives it. On a shared machine
# this is the steady figure where CPU time swings by half: user space only (the kernel's share of a
# request is left out), and about 50 times slower than a normal run, so the counts, not the rates, matter.
# Needs valgrind and wrk, and the 1k database that `bun run bench` seeds.
#   bash bench/instructions.sh                 # raw json headers: the floor, a native route, reading headers
#   bash bench/instructions.sh check echo id   # read these with care: below
# Steps that hash the skey or draw a random id (check, echo, id) serve 3-10 times fewer requests under
# valgrind than the others, so work that runs by the clock (timers, the GC's own schedule) is charged to
# fewer requests: their counts run high and do not compare with the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in valgrind callgrind_control wrk curl; do
  command -v "$tool" > /dev/null || { echo "instructions.sh: $tool is missing (apt-get install -y valgrind wrk curl)" >&2; exit 1; }
done
SEEDED="${TMPDIR:-/tmp}/wxauth-bench/sessions-1k.db"
[ -f "$SEEDED" ] || { echo "instructions.sh: run \`bun run bench\` once first: it seeds $SEEDED" >&2; exit 1; }
SKEY=$(cat "$SEEDED.skey")
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2> /dev/null || true; rm -rf "$WORK"' EXIT
SECONDS_MEASURED=${SECONDS_MEASURED:-20}

# The URL a server printed when it started listening.
listening() {
  local log=$1 url=""
  for _ in $(seq 120); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -1 | cut -d' ' -f3 || true)
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 1
  done
  echo "instructions.sh: no server started, see $log" >&2
  cat "$log" >&2
  exit 1
}

# count NAME PATH COMMAND...: warms the server up, then counts a measured wrk run's instructions.
count() {
  local name=$1 path=$2
  shift 2
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$WORK/$name.out" "$@" > "$WORK/$name.log" 2>&1 &
  local pid=$!
  local url
  url="$(listening "$WORK/$name.log")$path"
  wrk -t1 -c8 -d20s -H "skey: $SKEY" "$url" > /dev/null
  callgrind_control -z "$pid" > /dev/null 2>&1
  local report
  report=$(wrk -t1 -c8 -d"${SECONDS_MEASURED}s" -H "skey: $SKEY" "$url")
  callgrind_control -d "$pid" > /dev/null 2>&1
  kill "$pid"
  wait "$pid" 2> /dev/null || true
  local requests instructions
  requests=$(awk '/requests in/ { print $1 }' <<< "$report")
  if grep -q 'Non-2xx' <<< "$report"; then echo "instructions.sh: $name answered errors" >&2; exit 1; fi
  instructions=$(awk '/^(summary|totals):/ { print $2; exit }' "$WORK/$name.out.1")
  printf '%-8s %8d instructions per request (%d requests)\n' "$name" $((instructions / requests)) "$requests"
}

# With its write-ahead log: the seeded rows may not be checkpointed into the file yet.
for suffix in '' -wal; do
  if [ -f "$SEEDED$suffix" ]; then cp "$SEEDED$suffix" "$WORK/sessions.db$suffix"; fi
done
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(raw json headers)
for step in "${STEPS[@]}"; do
  if [ "$step" = raw ]; then
    # The floor of the targets: raw Bun.serve answering the very JSON /auth/me answers, read from the
    # json step (which answers it) run without valgrind.
    STEP=json DATABASE_PATH="$WORK/sessions.db" SKEY=$SKEY bun bench/steps-server.ts > "$WORK/body.log" 2>&1 &
    body=$(curl -sf -H "skey: $SKEY" "$(listening "$WORK/body.log")/auth/me")
    kill $!
    RAW_BODY=$body PORT=0 count raw / bun bench/raw-server.ts
  else
    STEP=$step DATABASE_PATH="$WORK/sessions.db" SKEY=$SKEY count "$step" /auth/me bun bench/steps-server.ts
  fi
done
