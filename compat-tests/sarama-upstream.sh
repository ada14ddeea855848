#!/usr/bin/env bash
# sarama's own functional suite (go test -tags functional, from the sarama
# module source, unchanged) against a five-node gregor cluster behind a real
# toxiproxy, the environment sarama's docker-compose.yml builds with Kafka.
#
# sarama's testMain, given TOXIPROXY_ADDR and KAFKA_VERSION, uses an
# existing environment: toxiproxy proxies kafka1..kafka5 on
# 127.0.0.1:29091..29095, then it deletes, creates and seeds test.1, test.4,
# test.64, ... (RF 3). Here toxiproxy (github.com/Shopify/toxiproxy/v2
# cmd/server, built from the module cache) fronts five `gregor serve`
# processes on loopback: gregor i listens on a free port and advertises
# 127.0.0.1:2909i, so every client connection goes through proxy kafka<i>
# and sarama's toxics (reset_peer, disabled proxies) hit it. Replication and
# Raft use their own listeners (BROKER, CONTROLLER), as docker-compose's
# LISTENER_INTERNAL does, so toxics cut clients only. The broker settings
# follow docker-compose.yml: default/offsets/transaction RF 2,
# auto.create.topics.enable=false, group.initial.rebalance.delay.ms=0,
# broker.rack=i with the rack-aware replica selector.
#
# Tests that need `docker compose exec` (Java console tools, broker-side
# scripts) skip themselves in an existing environment
# (skipIfExistingEnvironment). A few stop and restart a broker with
# `docker compose stop|start kafka-<i>` regardless; a `docker` shim on the
# suite's PATH does that to gregor i.
#
# Environment:
#   SARAMA_UPSTREAM_RUN      go test -run filter (default: every Test of the
#                            functional-tagged files, not sarama's unit tests)
#   SARAMA_UPSTREAM_SKIP     go test -skip pattern (default:
#                            TestFuncIdempotentBufferedSequence, see below)
#   SARAMA_UPSTREAM_TIMEOUT  go test -timeout (default 25m)
#   SARAMA_KAFKA_VERSION     KAFKA_VERSION given to the suite (default 4.0.0)
#   TOXIPROXY_VERSION        github.com/Shopify/toxiproxy/v2 version (default v2.5.0)
set -euo pipefail

cd "$(dirname "$0")"
HERE=$(pwd)
GREGOR=$HERE/../bin/gregor
SARAMA_VERSION=$(go list -m -f '{{.Version}}' github.com/IBM/sarama)
TIMEOUT=${SARAMA_UPSTREAM_TIMEOUT:-25m}
KAFKA_VERSION=${SARAMA_KAFKA_VERSION:-4.0.0}
TOXIPROXY_VERSION=${TOXIPROXY_VERSION:-v2.5.0}

if [[ ! -x $GREGOR ]]; then (cd .. && make build); fi
for p in 29091 29092 29093 29094 29095; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "port $p is in use; sarama's functional tests need 29091-29095" >&2
    exit 1
  fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-sarama.XXXXXX")
PIDS=()
cleanup() {
  for f in "$WORK"/broker*.pid; do [[ -f $f ]] && PIDS+=("$(cat "$f")"); done
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done # a restarted broker is not our child
  done
  chmod -R u+w "$WORK" 2>/dev/null || true
  echo "logs in $WORK (go test output: $WORK/sarama.log)"
  rm -rf "$WORK/sarama" "$WORK/toxiproxy" "$WORK/data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port and wait_port come from lib.sh.
. ./lib.sh
moddir() { go mod download -json "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }

echo "== toxiproxy $TOXIPROXY_VERSION server"
cp -r "$(moddir "github.com/Shopify/toxiproxy/v2@$TOXIPROXY_VERSION")" "$WORK/toxiproxy"
chmod -R u+w "$WORK/toxiproxy"
(cd "$WORK/toxiproxy" && go build -o "$WORK/toxiproxy-server" ./cmd/server)

echo "== sarama $SARAMA_VERSION source"
cp -r "$(moddir "github.com/IBM/sarama@$SARAMA_VERSION")" "$WORK/sarama"
chmod -R u+w "$WORK/sarama"
(cd "$WORK/sarama" && go test -tags functional -c -o /dev/null .) # compile once

TP=$(free_port)
"$WORK/toxiproxy-server" -host 127.0.0.1 -port "$TP" >"$WORK/toxiproxy.log" 2>&1 &
PIDS+=("$!")
wait_port "$TP" "$WORK/toxiproxy.log"

echo "== five gregor brokers behind toxiproxy (127.0.0.1:29091-29095)"
ports=() ib=() raft=() voters=""
for i in 1 2 3 4 5; do ports+=("$(free_port)"); ib+=("$(free_port)"); raft+=("$(free_port)"); done
for i in 1 2 3 4 5; do voters+="${voters:+,}$i@127.0.0.1:${raft[$((i-1))]}"; done
for i in 1 2 3 4 5; do
  p=${ports[$((i-1))]} b=${ib[$((i-1))]} r=${raft[$((i-1))]}
  curl -fsS -X POST "http://127.0.0.1:$TP/proxies" \
    -d "{\"name\":\"kafka$i\",\"listen\":\"127.0.0.1:2909$i\",\"upstream\":\"127.0.0.1:$p\",\"enabled\":true}" >/dev/null
  # $WORK/start-broker<i> (re)starts gregor i with the same data dir and
  # records its pid; the docker shim below uses it too.
  cat >"$WORK/start-broker$i" <<EOS
#!/usr/bin/env bash
"$GREGOR" serve --log-format json \\
  --override node.id=$i \\
  --override listeners=PLAINTEXT://127.0.0.1:$p,BROKER://127.0.0.1:$b,CONTROLLER://127.0.0.1:$r \\
  --override advertised.listeners=PLAINTEXT://127.0.0.1:2909$i,BROKER://127.0.0.1:$b \\
  --override inter.broker.listener.name=BROKER \\
  --override controller.quorum.voters=$voters \\
  --override log.dirs=$WORK/data/$i \\
  --override broker.rack=$i \\
  --override replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector \\
  --override default.replication.factor=2 --override offsets.topic.replication.factor=2 \\
  --override transaction.state.log.replication.factor=2 \\
  --override auto.create.topics.enable=false \\
  --override group.initial.rebalance.delay.ms=0 \\
  >>"$WORK/broker$i.log" 2>&1 </dev/null &
echo \$! >"$WORK/broker$i.pid"
EOS
  chmod +x "$WORK/start-broker$i"
  "$WORK/start-broker$i"
  echo "$p" >"$WORK/broker$i.port"
done
for i in 1 2 3 4 5; do wait_port "${ports[$((i-1))]}" "$WORK/broker$i.log"; done
SEEDS="127.0.0.1:29091,127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094,127.0.0.1:29095"
registered=
for _ in $(seq 1 300); do
  if "$GREGOR" -b "$SEEDS" --format json cluster info 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; sys.exit(0 if len(json.load(sys.stdin)["brokers"]) == 5 else 1)' 2>/dev/null; then registered=1; break; fi
  sleep 0.2
done
if [[ -z $registered ]]; then echo "five brokers did not register"; exit 1; fi

# A `docker` on the suite's PATH for the two commands some tests run even in
# an existing environment: `docker compose stop kafka-<i>` (SIGTERM gregor i,
# wait for it to exit) and `docker compose start kafka-<i>` (restart it on
# its data dir, wait for its listener). Anything else (exec, logs) fails.
mkdir -p "$WORK/bin"
cat >"$WORK/bin/docker" <<EOS
#!/usr/bin/env bash
[[ \$1 == compose ]] || { echo "docker shim: only 'compose stop|start kafka-N'" >&2; exit 1; }
shift
case "\$1 \$2" in
  "stop kafka-"[1-5])
    i=\${2#kafka-}; pid=\$(cat "$WORK/broker\$i.pid")
    kill -TERM "\$pid" 2>/dev/null || true
    while kill -0 "\$pid" 2>/dev/null; do sleep 0.1; done
    echo "docker shim: stopped kafka-\$i" >&2 ;;
  "start kafka-"[1-5])
    i=\${2#kafka-}
    if kill -0 "\$(cat "$WORK/broker\$i.pid")" 2>/dev/null; then exit 0; fi
    "$WORK/start-broker\$i"
    port=\$(cat "$WORK/broker\$i.port")
    for _ in \$(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/\$port") 2>/dev/null && break; sleep 0.1; done
    echo "docker shim: started kafka-\$i" >&2 ;;
  *) echo "docker shim: unsupported: compose \$*" >&2; exit 1 ;;
esac
EOS
chmod +x "$WORK/bin/docker"

# The functional tests only (sarama's unit tests share the package).
FUNC_TESTS=$(cd "$WORK/sarama" && grep -ho '^func Test[A-Za-z0-9_]*(t \*testing.T)' $(grep -l '^//go:build functional' ./*_test.go) |
  sed 's/^func \(Test[A-Za-z0-9_]*\).*/\1/' | sort -u | paste -sd'|')
RUN=${SARAMA_UPSTREAM_RUN:-"^($FUNC_TESTS)\$"}
# TestFuncIdempotentBufferedSequence ends by grepping `docker compose logs`
# of the leader for Java's OutOfOrderSequenceException: a Kafka log line
# gregor cannot be held to, so it is skipped unless SARAMA_UPSTREAM_SKIP
# is set (e.g. to '^$').
SKIP=${SARAMA_UPSTREAM_SKIP:-'^TestFuncIdempotentBufferedSequence$'}
echo "== go test -tags functional -run '${SARAMA_UPSTREAM_RUN:-<the functional tests>}' -skip '$SKIP' (KAFKA_VERSION=$KAFKA_VERSION), timeout $TIMEOUT"
rc=0 start=$SECONDS
(cd "$WORK/sarama" && PATH="$WORK/bin:$PATH" TOXIPROXY_ADDR="http://127.0.0.1:$TP" KAFKA_VERSION=$KAFKA_VERSION \
  timeout --signal=QUIT "$TIMEOUT" go test -tags functional -count=1 -v -timeout "$TIMEOUT" \
  -run "$RUN" -skip "$SKIP" .) >"$WORK/sarama.log" 2>&1 || rc=$?
if [[ $rc -eq 124 ]] || grep -aq '^panic: test timed out' "$WORK/sarama.log"; then
  echo "   TIMED OUT after $TIMEOUT (running test: $(grep -a '^=== RUN' "$WORK/sarama.log" | tail -1 | awk '{print $3}'))"
fi
if grep -aq '^panic: ' "$WORK/sarama.log"; then grep -a -m1 -A3 '^panic: ' "$WORK/sarama.log"; fi
# Top-level results only (subtests are indented).
grep -aE '^--- (PASS|FAIL|SKIP): ' "$WORK/sarama.log" | awk '{print $3, $2, $4}' | tr -d ':()' >"$WORK/results" || true
echo
echo "per test (sarama $SARAMA_VERSION functional suite, KAFKA_VERSION=$KAFKA_VERSION):"
awk '{printf "%-60s %s %s\n", $1, $2, $3}' "$WORK/results"
p=$(grep -c ' PASS ' "$WORK/results" || true)
f=$(grep -c ' FAIL ' "$WORK/results" || true)
s=$(grep -c ' SKIP ' "$WORK/results" || true)
echo
echo "gregor x5: $p passed, $f failed, $s skipped (go test exit $rc, $((SECONDS - start)) s)"
for b in 1 2 3 4 5; do
  if grep -aq '"level":"panic"\|^panic: ' "$WORK/broker$b.log"; then echo "broker $b log has a panic"; rc=1; fi
done
if [[ $f -gt 0 || $rc -ne 0 ]]; then exit 1; fi
