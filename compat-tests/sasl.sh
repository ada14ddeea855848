#!/usr/bin/env bash
# Real clients logging in to gregor over SASL (issue 15): sarama with
# SCRAM-SHA-256 (SaslHandshake v1 and v0), kcat with SCRAM-SHA-512 and PLAIN,
# confluent-kafka with SCRAM-SHA-512 and PLAIN, kafka-python 2.0.2 with PLAIN,
# SCRAM-SHA-256 and SCRAM-SHA-512 (SaslHandshake v0). Each produces and
# consumes byte-identical records; a wrong password fails and its request
# never runs (the topic it named does not exist afterwards).
#
# One gregor is started with a SASL listener whose SCRAM users come from
# `serve --add-scram` (admin and bob SCRAM-SHA-512, alice SCRAM-SHA-256) and
# whose PLAIN users (admin, alice) from the JAAS line.
#
# Environment:
#   COMPAT_SASL_PROTOCOL   SASL_PLAINTEXT (default) or SASL_SSL
#   COMPAT_SASL_OVERRIDES  extra broker overrides, one key=value per line
#                          (the TLS keystore for SASL_SSL)
#   COMPAT_SASL_CA         PEM CA file the clients trust (SASL_SSL)
#   COMPAT_CLIENTS         subset of: sarama kcat confluent-kafka kafka-python
#   COMPAT_KEEP_LOGS       keep the logs even when everything passed
set -euo pipefail

cd "$(dirname "$0")"
HERE=$(pwd)
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
PROTO=${COMPAT_SASL_PROTOCOL:-SASL_PLAINTEXT}
CLIENTS=${COMPAT_CLIENTS:-"sarama kcat confluent-kafka kafka-python"}
START=$(date +%s)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-sasl.XXXXXX")
RESULTS=$WORK/results
: >"$RESULTS"
PID=
cleanup() {
  local rc=$?
  if [[ -n $PID ]]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [[ $rc -ne 0 || -n ${COMPAT_KEEP_LOGS:-} ]]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

GREGOR=$WORK/gregor
(cd .. && go build -o "$GREGOR" ./cmd/gregor)

PORT=$(free_port)
IPORT=$(free_port)
args=(serve --log-format json
  --override "listeners=SASL://127.0.0.1:$PORT,INTERNAL://127.0.0.1:$IPORT"
  --override "listener.security.protocol.map=SASL:$PROTO,INTERNAL:PLAINTEXT"
  --override "inter.broker.listener.name=INTERNAL"
  --override "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"
  --override 'plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";'
  --override "connection.failed.authentication.delay.ms=100"
  --override "log.dirs=$WORK/data"
  --add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]'
  --add-scram 'SCRAM-SHA-256=[name=alice,password=alice-secret,iterations=8192]'
  --add-scram 'SCRAM-SHA-512=[name=bob,password=bob-secret]')
while IFS= read -r o; do
  [[ -n $o ]] && args+=(--override "$o")
done <<<"${COMPAT_SASL_OVERRIDES:-}"
"$GREGOR" "${args[@]}" >"$WORK/broker.log" 2>&1 &
PID=$!
for _ in $(seq 1 150); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { echo "broker exited:"; cat "$WORK/broker.log"; exit 1; }
  sleep 0.1
done
echo "== gregor $PROTO on 127.0.0.1:$PORT (pid $PID)"
export COMPAT_SASL_BOOTSTRAP=127.0.0.1:$PORT COMPAT_SASL_PROTOCOL=$PROTO COMPAT_SASL_CA=${COMPAT_SASL_CA:-}

run_client() { # run_client CLIENT CMD...
  local client=$1 log=$WORK/$1.log rc=0
  shift
  echo "== $client"
  "$@" >"$log" 2>&1 || rc=$?
  grep -a '^RESULT ' "$log" | tee -a "$RESULTS" || true
  if [[ $rc -ne 0 ]] && ! grep -aq "^RESULT $client [^ ]* FAIL" "$log"; then
    echo "RESULT $client _run FAIL exited $rc; see $log" | tee -a "$RESULTS"; tail -20 "$log"
  fi
  grep -aq "^RESULT $client " "$log" || echo "RESULT $client _run FAIL no scenario reported; see $log" | tee -a "$RESULTS"
}
skip() { echo "RESULT $1 _client SKIP $2 not installed" | tee -a "$RESULTS"; }

for c in $CLIENTS; do
  case $c in
    sarama) run_client sarama go test -count=1 -v -timeout 5m -run 'TestSASL$' ./sarama/ ;;
    kcat) if command -v kcat >/dev/null; then run_client kcat go test -count=1 -v -timeout 5m -run 'TestSASL$' ./kcat/; else skip kcat kcat; fi ;;
    confluent-kafka|kafka-python)
      mod=${c/confluent-kafka/confluent_kafka}; mod=${mod/kafka-python/kafka}
      if $PY -c "import $mod" 2>/dev/null; then run_client "$c" $PY python/sasl_compat.py "$c"; else skip "$c" "python3 $mod"; fi ;;
    *) echo "unknown client $c"; exit 2 ;;
  esac
done

kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=
if grep -aq '"level":"\(panic\|fatal\)"\|^panic:' "$WORK/broker.log"; then
  echo "RESULT gregor broker FAIL broker log has a panic; see $WORK/broker.log" | tee -a "$RESULTS"
fi
echo
echo "sasl ($PROTO): $(grep -c ' PASS' "$RESULTS" || true) passed, $(grep -c ' FAIL' "$RESULTS" || true) failed, $(grep -c ' SKIP' "$RESULTS" || true) skipped in $(( $(date +%s) - START ))s"
grep ' FAIL\| SKIP' "$RESULTS" || true
! grep -q '^RESULT [^ ]* [^ ]* FAIL' "$RESULTS"
