#!/usr/bin/env bash
# The admin CLI's walkthrough (issue 16, done-means 1) against a real
# gregor and against franz-go's kfake: the same `gregor` commands, the
# same checks on their output. kfake is an independent implementation of
# the protocol, so a command that only works because of a gregor quirk
# fails here.
#
#   topic create demo -p 3 / list / describe demo
#   seq 1 100000 | produce demo
#   consume demo -n 10 --from beginning
#   consume -g G -n 60000 --from beginning, then group lag G (json: lag
#   fields, 40000 in total, per partition log-end - committed)
#   group seek G --to earliest --topic demo --dry-run (changes nothing),
#   then without --dry-run (lag 100000)
#   an unreachable broker: one line on stderr, exit 1
#
# Environment: CLI_TARGETS "gregor kfake" (default both), COMPAT_KEEP_LOGS.
set -euo pipefail

cd "$(dirname "$0")"
HERE=$(pwd)
GREGOR=$HERE/../bin/gregor
PY=/usr/bin/python3
TARGETS=${CLI_TARGETS:-"gregor kfake"}
START=$(date +%s)
[[ -x $GREGOR ]] || (cd .. && make build)

# shellcheck source=lib.sh
. "$HERE/lib.sh"
compat_work cli

PASSED=0
FAILED=0
ok() { echo "PASS $T: $1"; PASSED=$((PASSED + 1)); }
bad() { echo "FAIL $T: $1"; FAILED=$((FAILED + 1)); }
# expect NAME PYTHON_EXPR FILE: the expression over `out` (the file's
# text) and `j` (the file as JSON, when it is JSON) must be true.
expect() {
  if $PY - "$2" "$3" <<'EOF'; then ok "$1"; else bad "$1"; echo "---"; cat "$3"; echo "---"; fi
import json, sys
out = open(sys.argv[2]).read()
try:
    j = json.loads(out)
except ValueError:
    j = None
sys.exit(0 if eval(sys.argv[1], {}, {"out": out, "j": j, "lines": out.splitlines()}) else 1)
EOF
}

walk() { # walk TARGET
  local g=$GREGOR d=$WORK/$T
  mkdir -p "$d"
  $g topic create demo -p 3 >"$d/create" 2>&1 && ok "topic create" || bad "topic create: $(cat "$d/create")"
  $g topic list --format json >"$d/list" 2>&1
  expect "topic list shows demo with 3 partitions" \
    'any(t.get("topic", t.get("name")) == "demo" and t.get("partitions") == 3 for t in j)' "$d/list"
  $g topic describe demo --format json >"$d/describe" 2>&1
  expect "topic describe lists partitions 0-2 with leaders" \
    'sorted(p["partition"] for p in j["partitions"]) == [0, 1, 2] and all(p["leader"] >= 0 for p in j["partitions"])' "$d/describe"
  seq 1 100000 | $g produce demo >"$d/produce" 2>&1
  expect "produce 100000 lines" '"produced 100000 records" in out' "$d/produce"
  $g consume demo -n 10 --from beginning >"$d/consume" 2>&1
  expect "consume -n 10 --from beginning prints 10 values" \
    'len(lines) == 10 and all(l.isdigit() and 1 <= int(l) <= 100000 for l in lines)' "$d/consume"
  $g consume demo -g G -n 60000 --from beginning >"$d/group-consume" 2>&1
  expect "a group consumes 60000" 'len(lines) == 60000' "$d/group-consume"
  $g group lag G --format json >"$d/lag" 2>&1
  expect "group lag: 40000 in total, each partition log-end minus committed" \
    'j["total_lag"] == 40000 and sum(p["log_end_offset"] for p in j["partitions"]) == 100000 and all(p["lag"] == p["log_end_offset"] - max(p["committed_offset"], 0) for p in j["partitions"])' "$d/lag"
  $g group seek G --to earliest --topic demo --dry-run >"$d/dry" 2>&1
  $g group lag G --format json >"$d/lag-after-dry" 2>&1
  expect "seek --dry-run prints old -> new and says nothing changed" \
    '"dry run" in out and "OLD-OFFSET" in out' "$d/dry"
  if cmp -s "$d/lag" "$d/lag-after-dry"; then ok "seek --dry-run changes nothing"; else bad "seek --dry-run changed offsets"; diff "$d/lag" "$d/lag-after-dry" || true; fi
  $g group seek G --to earliest --topic demo >"$d/seek" 2>&1 || true
  $g group lag G --format json >"$d/lag-after-seek" 2>&1
  expect "seek --to earliest: lag 100000" 'j["total_lag"] == 100000 and all(p["committed_offset"] == 0 for p in j["partitions"])' "$d/lag-after-seek"
}

for T in $TARGETS; do
  port=$(free_port)
  case $T in
    gregor)
      "$GREGOR" serve --log-format json \
        --override "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$(free_port)" \
        --override "log.dirs=$WORK/gregor-data" >"$WORK/gregor.log" 2>&1 &
      PIDS+=($!)
      wait_port "$port" "$WORK/gregor.log"
      ;;
    kfake)
      go build -o "$WORK/kfakeserver" ./kfakeserver
      "$WORK/kfakeserver" -port "$port" >"$WORK/kfake.log" 2>&1 &
      PIDS+=($!)
      wait_port "$port" "$WORK/kfake.log"
      ;;
    *) echo "unknown target $T"; exit 2 ;;
  esac
  export GREGOR_BROKERS=127.0.0.1:$port
  walk
done

T=unreachable
set +e
GREGOR_BROKERS=127.0.0.1:1 "$GREGOR" topic list >"$WORK/unreach.out" 2>"$WORK/unreach.err"
rc=$?
set -e
if [[ $rc -eq 1 && $(wc -l <"$WORK/unreach.err") -eq 1 && ! -s "$WORK/unreach.out" ]] && grep -q 'cannot reach' "$WORK/unreach.err"; then
  ok "unreachable broker: one line, exit 1"
else
  bad "unreachable broker: exit $rc, stderr: $(cat "$WORK/unreach.err")"
fi

echo "cli: $PASSED passed, $FAILED failed in $(($(date +%s) - START)) s (targets: $TARGETS)"
[[ $FAILED -eq 0 ]]
