#!/usr/bin/env bash
# Real Kafka clients against a real gregor process.
#
# Starts two brokers on free loopback ports (one default, one with
# auto.create.topics.enable=false for the unknown-topic scenarios), runs every
# client's scenarios against them, and prints a table. Every scenario prints
#   RESULT <client> <scenario> PASS|FAIL|SKIP <detail>
# and this script builds the table from those lines.
#
# Environment:
#   COMPAT_CLIENTS   space-separated subset of: franz-go sarama kafka-go kcat kafka-python confluent-kafka
#   COMPAT_RUN       go test -run filter for the Go clients (default: all)
#   COMPAT_PY_RUN    space-separated scenario names for the python clients (default: all)
#   COMPAT_RECORDS   records for the volume scenarios (default per client)
#   COMPAT_KEEP_LOGS keep broker and client logs even when everything passed
#   CI=true          a missing client is a failure instead of a skip
set -euo pipefail

cd "$(dirname "$0")"
HERE=$(pwd)
GREGOR=$HERE/../bin/gregor
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
CLIENTS=${COMPAT_CLIENTS:-"franz-go sarama kafka-go kcat kafka-python confluent-kafka"}
INSTALL_HINT="apt-get install -y kcat python3-kafka python3-confluent-kafka python3-snappy python3-lz4 python3-zstandard"
START=$(date +%s)

if [[ ! -x $GREGOR ]]; then
  echo "== building gregor"
  (cd .. && make build)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-compat.XXXXXX")
RESULTS=$WORK/results
VERSIONS=$WORK/versions
: >"$RESULTS"
: >"$VERSIONS"
PIDS=()

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 || -n ${COMPAT_KEEP_LOGS:-} ]]; then
    echo "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_broker NAME PORT [extra overrides...]: starts gregor, waits for the port.
start_broker() {
  local name=$1 port=$2
  shift 2
  local args=(serve --log-format json --override "listeners=PLAINTEXT://127.0.0.1:$port" --override "log.dirs=$WORK/data-$name")
  for o in "$@"; do args+=(--override "$o"); done
  "$GREGOR" "${args[@]}" >"$WORK/broker-$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "== broker $name up on 127.0.0.1:$port (pid $pid)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "broker $name exited:"; cat "$WORK/broker-$name.log"; exit 1
    fi
    sleep 0.1
  done
  echo "broker $name did not open 127.0.0.1:$port in 15s"; cat "$WORK/broker-$name.log"; exit 1
}

PORT=$(free_port)
start_broker main "$PORT"
PORT_NOAUTO=$(free_port)
start_broker noauto "$PORT_NOAUTO" auto.create.topics.enable=false
(cd "$HERE" && go build -o "$WORK/inspect" ./cmd/inspect)
export COMPAT_INSPECT=$WORK/inspect
# group_kill / group_restart start their own brokers (restartable) from this
# binary and keep their broker and member logs under $WORK.
(cd "$HERE" && go build -o "$WORK/groupcheck" ./cmd/groupcheck)
export COMPAT_GROUPCHECK=$WORK/groupcheck
export COMPAT_GREGOR=$GREGOR
export COMPAT_WORK=$WORK
export COMPAT_BOOTSTRAP=127.0.0.1:$PORT
export COMPAT_BOOTSTRAP_NOAUTO=127.0.0.1:$PORT_NOAUTO

result() { echo "RESULT $*" | tee -a "$RESULTS"; }
version() { printf '%s\t%s\n' "$1" "$2" >>"$VERSIONS"; }

missing() { # missing CLIENT WHAT
  if [[ ${CI:-} == true ]]; then
    result "$1" _client FAIL "$2 not installed (CI=true): $INSTALL_HINT"
  else
    result "$1" _client SKIP "$2 not installed: $INSTALL_HINT"
  fi
}

# run_client CLIENT LOG CMD...: runs CMD, streams its RESULT lines, and adds
# a FAIL if the command failed without reporting a failing scenario.
run_client() {
  local client=$1 log=$2
  shift 2
  echo "== $client"
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  grep -a '^RESULT ' "$log" | tee -a "$RESULTS" || true
  if [[ $rc -ne 0 ]] && ! grep -aq "^RESULT $client [^ ]* FAIL" "$log"; then
    result "$client" _run FAIL "exited $rc without a failing scenario; see $log"
    tail -20 "$log"
  fi
  if ! grep -aq "^RESULT $client " "$log"; then
    result "$client" _run FAIL "no scenario reported; see $log"
  fi
}

gomod_version() { (cd "$HERE" && go list -m -f '{{.Version}}' "$1"); }

go_client() { # go_client CLIENT PKG MODULE
  local client=$1 pkg=$2 mod=$3
  version "$client" "$(gomod_version "$mod")"
  run_client "$client" "$WORK/$client.log" \
    go test -count=1 -v -timeout 15m -run "${COMPAT_RUN:-.}" "./$pkg/"
}

for c in $CLIENTS; do
  case $c in
    franz-go) go_client franz-go franz github.com/twmb/franz-go ;;
    sarama) go_client sarama sarama github.com/IBM/sarama ;;
    kafka-go) go_client kafka-go kafkago github.com/segmentio/kafka-go ;;
    kcat)
      if command -v kcat >/dev/null; then
        version kcat "$(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*librdkafka \([^ ]*\).*/\1 (librdkafka \2)/p')"
        run_client kcat "$WORK/kcat.log" go test -count=1 -v -timeout 10m -run "${COMPAT_RUN:-.}" ./kcat/
      else
        version kcat "-"; missing kcat kcat
      fi ;;
    kafka-python)
      if v=$($PY -c 'import kafka; print(kafka.__version__)' 2>/dev/null); then
        version kafka-python "$v"
        run_client kafka-python "$WORK/kafka-python.log" $PY python/kafka_python_compat.py ${COMPAT_PY_RUN:-}
      else
        version kafka-python "-"; missing kafka-python python3-kafka
      fi ;;
    confluent-kafka)
      if v=$($PY -c 'import confluent_kafka as c; print("%s (librdkafka %s)" % (c.version()[0], c.libversion()[0]))' 2>/dev/null); then
        version confluent-kafka "$v"
        run_client confluent-kafka "$WORK/confluent-kafka.log" $PY python/confluent_compat.py ${COMPAT_PY_RUN:-}
      else
        version confluent-kafka "-"; missing confluent-kafka python3-confluent-kafka
      fi ;;
    *) echo "unknown client $c"; exit 2 ;;
  esac
done

for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PIDS=()
for n in main noauto; do
  if grep -aq '"level":"\(panic\|fatal\)"\|^panic:' "$WORK/broker-$n.log"; then
    result gregor broker-$n FAIL "broker log has a panic; see $WORK/broker-$n.log"
  fi
done

echo
awk -v versions="$VERSIONS" '
  BEGIN { FS = "\t"; while ((getline line < versions) > 0) { split(line, a, "\t"); ver[a[1]] = a[2]; if (!(a[1] in seen)) { seen[a[1]] = 1; order[++n] = a[1] } } FS = " " }
  /^RESULT / {
    c = $2; st = $4
    if (!(c in seen)) { seen[c] = 1; order[++n] = c }
    cnt[c, st]++
    if (st != "PASS") { d = $0; sub(/^RESULT [^ ]+ [^ ]+ [^ ]+ ?/, "", d); notes[++m] = sprintf("  %s %s %s: %s", st, c, $3, d) }
  }
  END {
    fmt = "%-16s %-26s %6s %6s %7s\n"
    printf fmt, "client", "version", "passed", "failed", "skipped"
    printf fmt, "------", "-------", "------", "------", "-------"
    for (i = 1; i <= n; i++) { c = order[i]; v = (c in ver) ? ver[c] : "-"
      printf fmt, c, v, cnt[c, "PASS"] + 0, cnt[c, "FAIL"] + 0, cnt[c, "SKIP"] + 0
      tp += cnt[c, "PASS"]; tf += cnt[c, "FAIL"]; ts += cnt[c, "SKIP"] }
    printf fmt, "total", "", tp + 0, tf + 0, ts + 0
    if (m > 0) { print ""; for (i = 1; i <= m; i++) print notes[i] }
  }' "$RESULTS"
echo
echo "compat: $(( $(date +%s) - START ))s"
if grep -q '^RESULT [^ ]* [^ ]* FAIL' "$RESULTS"; then
  exit 1
fi
