#!/usr/bin/env bash
# franz-go's own integration suite (go test ./pkg/kgo from the franz-go
# module source) against one gregor, a three-node gregor cluster (RF 3) and
# franz-go's kfake, side by side. Every test runs, TestTxnEtl and the other
# TestTxn* included.
#
# Environment:
#   UPSTREAM_TIMEOUT  per-run bound (default 8m)
#   UPSTREAM_SKIP     go test -skip pattern (default: none)
#   UPSTREAM_RUN      go test -run filter (default: all)
#   KGO_TEST_RECORDS  records per produce/consume test (default 20000 here)
#   UPSTREAM_TARGETS  "gregor gregor3 kfake" (default all three); gregor3 is
#                     three `gregor serve` processes on loopback, each a
#                     broker and a controller voter, KGO_TEST_RF=3
set -euo pipefail

cd "$(dirname "$0")"
HERE=$(pwd)
GREGOR=$HERE/../bin/gregor
FRANZ_VERSION=$(go list -m -f '{{.Version}}' github.com/twmb/franz-go)
TIMEOUT=${UPSTREAM_TIMEOUT:-8m}
TARGETS=${UPSTREAM_TARGETS:-"gregor gregor3 kfake"}
export KGO_TEST_RECORDS=${KGO_TEST_RECORDS:-20000}

if [[ ! -x $GREGOR ]]; then (cd .. && make build); fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-upstream.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  chmod -R u+w "$WORK" 2>/dev/null || true
  echo "logs in $WORK (go test output: $WORK/*.log)"
  rm -rf "$WORK/franz-go" "$WORK/data" "$WORK/data3"
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

run_suite() { # run_suite NAME SEEDS RF
  local name=$1 seeds=$2 rf=$3 rc=0 skip=${UPSTREAM_SKIP-} start=$SECONDS
  echo "== go test ./pkg/kgo against $name ($seeds, KGO_TEST_RF=$rf), timeout $TIMEOUT"
  (cd "$WORK/franz-go" && KGO_SEEDS=$seeds KGO_TEST_RF=$rf timeout --signal=QUIT "$TIMEOUT" \
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
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$p" "$f" "$s" "$rc" "$((SECONDS - start))" >>"$WORK/summary"
  # The transaction tests (TestTxnEtl, TestAudit*Txn*) with their times.
  grep -aE '^--- (PASS|FAIL|SKIP): Test[A-Za-z0-9]*Txn' "$WORK/$name.log" | sed "s/^/   $name /" || true
}

# start_cluster: three gregor serve processes, each a broker and a
# controller voter on loopback, RF 3 defaults for every topic and for
# __consumer_offsets and __transaction_state. Sets SEEDS.
start_cluster() {
  local ports=() raft=() voters="" i
  for i in 1 2 3; do ports+=("$(free_port)"); raft+=("$(free_port)"); done
  for i in 1 2 3; do voters+="${voters:+,}$i@127.0.0.1:${raft[$((i-1))]}"; done
  for i in 1 2 3; do
    local p=${ports[$((i-1))]} r=${raft[$((i-1))]}
    "$GREGOR" serve --log-format json \
      --override "node.id=$i" \
      --override "listeners=PLAINTEXT://127.0.0.1:$p,CONTROLLER://127.0.0.1:$r" \
      --override "advertised.listeners=PLAINTEXT://127.0.0.1:$p" \
      --override "controller.quorum.voters=$voters" \
      --override "log.dirs=$WORK/data3/$i" \
      --override default.replication.factor=3 --override min.insync.replicas=2 \
      --override offsets.topic.replication.factor=3 \
      --override transaction.state.log.replication.factor=3 --override transaction.state.log.min.isr=2 \
      >"$WORK/gregor3-broker$i.log" 2>&1 &
    PIDS+=("$!"); CLUSTER_PIDS+=("$!")
  done
  for p in "${ports[@]}"; do wait_port "$p"; done
  SEEDS="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
  # Every broker registered with the quorum.
  for _ in $(seq 1 300); do
    if "$GREGOR" -b "$SEEDS" --format json cluster info 2>/dev/null |
      /usr/bin/python3 -c 'import json,sys; sys.exit(0 if len(json.load(sys.stdin)["brokers"]) == 3 else 1)' 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "three brokers did not register"; return 1
}

: >"$WORK/summary"
for target in $TARGETS; do
  case $target in
    gregor)
      port=$(free_port)
      "$GREGOR" serve --log-format json --override "listeners=PLAINTEXT://127.0.0.1:$port" --override "log.dirs=$WORK/data" >"$WORK/gregor-broker.log" 2>&1 &
      pid=$!; PIDS+=("$pid")
      wait_port "$port"
      run_suite gregor "127.0.0.1:$port" 1
      kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true ;;
    gregor3)
      CLUSTER_PIDS=()
      start_cluster
      run_suite gregor3 "$SEEDS" 3
      for pid in "${CLUSTER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
      for pid in "${CLUSTER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done ;;
    kfake)
      go build -o "$WORK/kfakeserver" ./kfakeserver
      port=$(free_port)
      "$WORK/kfakeserver" -port "$port" >"$WORK/kfake-broker.log" 2>&1 &
      pid=$!; PIDS+=("$pid")
      wait_port "$port"
      run_suite kfake "127.0.0.1:$port" 1
      kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true ;;
  esac
done

echo
printf '%-8s %6s %6s %7s %12s %s\n' target passed failed skipped "go test exit" seconds
awk -F'\t' '{printf "%-8s %6s %6s %7s %12s %s\n", $1, $2, $3, $4, $5, $6}' "$WORK/summary"
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
if awk -F'\t' '$1 ~ /^gregor/ && ($3>0 || $5!=0) {bad=1} END {exit !bad}' "$WORK/summary"; then exit 1; fi
