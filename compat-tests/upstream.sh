#!/usr/bin/env bash
# franz-go's own integration suite (go test ./pkg/kgo from the franz-go
# module source) against gregor, and the same suite against franz-go's kfake,
# side by side.
#
# Environment:
#   UPSTREAM_TIMEOUT  per-run bound (default 8m)
#   UPSTREAM_SKIP     go test -skip pattern; by default TestTxnEtl is skipped
#                     against a broker that does not advertise EndTxn (its
#                     transactional consumers wait forever instead of failing)
#   UPSTREAM_RUN      go test -run filter (default: all)
#   KGO_TEST_RECORDS  records per produce/consume test (default 20000 here)
#   UPSTREAM_TARGETS  "gregor kfake" (default both)
set -euo pipefail

cd "$(dirname "$0")"
HERE=$(pwd)
GREGOR=$HERE/../bin/gregor
FRANZ_VERSION=$(go list -m -f '{{.Version}}' github.com/twmb/franz-go)
TIMEOUT=${UPSTREAM_TIMEOUT:-8m}
TARGETS=${UPSTREAM_TARGETS:-"gregor kfake"}
export KGO_TEST_RECORDS=${KGO_TEST_RECORDS:-20000}
export KGO_TEST_RF=1

if [[ ! -x $GREGOR ]]; then (cd .. && make build); fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-upstream.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  chmod -R u+w "$WORK" 2>/dev/null || true
  echo "logs in $WORK (go test output: $WORK/*.log)"
  rm -rf "$WORK/franz-go" "$WORK/data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listening on $1"; return 1
}

echo "== franz-go $FRANZ_VERSION source"
DIR=$(go mod download -json "github.com/twmb/franz-go@$FRANZ_VERSION" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
cp -r "$DIR" "$WORK/franz-go"
chmod -R u+w "$WORK/franz-go"
(cd "$WORK/franz-go" && go test -count=1 -run '^$' ./pkg/kgo >/dev/null) # compile once

run_suite() { # run_suite NAME SEEDS
  local name=$1 seeds=$2 rc=0 skip=${UPSTREAM_SKIP-}
  if [[ -z ${UPSTREAM_SKIP+x} ]] && ! COMPAT_BOOTSTRAP=$seeds /usr/bin/python3 -c '
import sys; sys.path.insert(0, "python"); import common
sys.exit(0 if 26 in common.api_versions() else 1)'; then
    skip=TestTxnEtl
    echo "   $name does not advertise EndTxn: skipping TestTxnEtl (it hangs without transactions)"
  fi
  echo "== go test ./pkg/kgo against $name ($seeds), timeout $TIMEOUT"
  (cd "$WORK/franz-go" && KGO_SEEDS=$seeds timeout --signal=QUIT "$TIMEOUT" \
    go test -count=1 -v -timeout "$TIMEOUT" -run "${UPSTREAM_RUN:-.}" -skip "${skip:-^$}" ./pkg/kgo) >"$WORK/$name.log" 2>&1 || rc=$?
  # Top-level test results only (subtests are indented).
  grep -aE '^--- (PASS|FAIL|SKIP): ' "$WORK/$name.log" | awk '{print $3, $2}' | tr -d ':' >"$WORK/$name.results" || true
  local p f s
  p=$(grep -c ' PASS$' "$WORK/$name.results" || true)
  f=$(grep -c ' FAIL$' "$WORK/$name.results" || true)
  s=$(grep -c ' SKIP$' "$WORK/$name.results" || true)
  if [[ $rc -eq 124 ]] || grep -aq '^panic: test timed out\|SIGQUIT' "$WORK/$name.log"; then
    echo "   $name: TIMED OUT after $TIMEOUT (running test: $(grep -a '^=== RUN' "$WORK/$name.log" | tail -1 | awk '{print $3}'))"
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$p" "$f" "$s" "$rc" >>"$WORK/summary"
}

: >"$WORK/summary"
for target in $TARGETS; do
  case $target in
    gregor)
      port=$(free_port)
      "$GREGOR" serve --log-format json --override "listeners=PLAINTEXT://127.0.0.1:$port" --override "log.dirs=$WORK/data" >"$WORK/gregor-broker.log" 2>&1 &
      pid=$!; PIDS+=("$pid")
      wait_port "$port"
      run_suite gregor "127.0.0.1:$port"
      kill -TERM "$pid"; wait "$pid" 2>/dev/null || true ;;
    kfake)
      go build -o "$WORK/kfakeserver" ./kfakeserver
      port=$(free_port)
      "$WORK/kfakeserver" -port "$port" >"$WORK/kfake-broker.log" 2>&1 &
      pid=$!; PIDS+=("$pid")
      wait_port "$port"
      run_suite kfake "127.0.0.1:$port"
      kill -TERM "$pid"; wait "$pid" 2>/dev/null || true ;;
  esac
done

echo
printf '%-8s %6s %6s %7s %s\n' target passed failed skipped "go test exit"
awk -F'\t' '{printf "%-8s %6s %6s %7s %s\n", $1, $2, $3, $4, $5}' "$WORK/summary"
echo
echo "per test (franz-go $FRANZ_VERSION ./pkg/kgo):"
/usr/bin/python3 - "$WORK" $TARGETS <<'PY'
import sys, os
work, targets = sys.argv[1], sys.argv[2:]
res = {}
for t in targets:
    p = os.path.join(work, t + ".results")
    if os.path.exists(p):
        for line in open(p):
            name, st = line.split()
            res.setdefault(name, {})[t] = st
print("%-50s " % "test" + " ".join("%-7s" % t for t in targets))
for name in sorted(res):
    print("%-50s " % name + " ".join("%-7s" % res[name].get(t, "-") for t in targets))
PY
# Fail on any gregor failure, timeout or non-zero go test exit.
if awk -F'\t' '$1=="gregor" && ($3>0 || $5!=0) {bad=1} END {exit !bad}' "$WORK/summary"; then exit 1; fi
