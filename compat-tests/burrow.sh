#!/usr/bin/env bash
# Burrow (LinkedIn's consumer-lag monitor, Debian's 1.2.1) against gregor
# (issue 16). Burrow reads the group offsets from `__consumer_offsets`
# itself (Kafka's key/value formats, not an admin API) and the log-end
# offsets with ListOffsets, so this checks that gregor's offsets topic is
# readable by a third-party decoder, not only by gregor.
#
# Burrow 1.2 needs a ZooKeeper for its own coordination; Debian's
# ZooKeeper 3.8 is started on a free loopback port (Java 17).
#
# Scenario: topic `lag` with 3 partitions and 3000 keyed records; group G
# consumes them with `gregor consume -g` and stops, and 2000 more keyed
# records are produced. (Burrow only follows partitions the group has
# committed, so every partition gets a commit first.) Burrow must
# report, per partition, the lag gregor's own `group lag` computes, 2000
# in total, and a status other than OK (a stopped consumer with lag); then
# 500 more records raise Burrow's total to 2500; then G consumes the rest
# and Burrow's total lag drops to 0.
#
# Environment: COMPAT_KEEP_LOGS keeps the logs; CI=true makes a missing
# Burrow or ZooKeeper a failure instead of a skip.
set -euo pipefail

cd "$(dirname "$0")"
HERE=$(pwd)
GREGOR=$HERE/../bin/gregor
PY=/usr/bin/python3
START=$(date +%s)

missing() {
  if [[ ${CI:-} == true ]]; then
    echo "FAIL: $1 missing (apt-get install -y burrow zookeeper)"
    exit 1
  fi
  echo "SKIP: $1 missing (apt-get install -y burrow zookeeper)"
  exit 0
}
command -v Burrow >/dev/null 2>&1 || missing Burrow
[[ -f /usr/share/java/zookeeper.jar ]] || missing ZooKeeper
command -v java >/dev/null 2>&1 || missing java
[[ -x $GREGOR ]] || (cd .. && make build)

# shellcheck source=lib.sh
. "$HERE/lib.sh"
compat_work burrow

ZK_PORT=$(free_port)
mkdir -p "$WORK/zk"
cat >"$WORK/zoo.cfg" <<EOF
tickTime=2000
dataDir=$WORK/zk
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=
EOF
# Debian's ZooKeeper jar with its dependencies (netty, slf4j, logback, ...)
# from /usr/share/java.
ZK_CP=$(ls /usr/share/java/*.jar | tr '\n' ':')
java -Xmx256m -cp "$ZK_CP" org.apache.zookeeper.server.ZooKeeperServerMain "$WORK/zoo.cfg" >"$WORK/zk.log" 2>&1 &
PIDS+=($!)

PORT=$(free_port)
CPORT=$(free_port)
"$GREGOR" serve --log-format json \
  --override "listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT" \
  --override "log.dirs=$WORK/data" >"$WORK/gregor.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" "$WORK/gregor.log"
wait_port "$ZK_PORT" "$WORK/zk.log"
export GREGOR_BROKERS=127.0.0.1:$PORT

HTTP_PORT=$(free_port)
mkdir -p "$WORK/burrow"
cat >"$WORK/burrow/burrow.toml" <<EOF
[general]
pidfile="$WORK/burrow.pid"
[logging]
level="info"
[zookeeper]
servers=["127.0.0.1:$ZK_PORT"]
timeout=6
root-path="/burrow"
[client-profile.gregor]
client-id="burrow"
kafka-version="2.0.0"
[cluster.local]
class-name="kafka"
servers=["127.0.0.1:$PORT"]
client-profile="gregor"
topic-refresh=2
offset-refresh=1
[consumer.local]
class-name="kafka"
cluster="local"
servers=["127.0.0.1:$PORT"]
client-profile="gregor"
start-latest=false
[httpserver.default]
address="127.0.0.1:$HTTP_PORT"
[storage.default]
class-name="inmemory"
workers=4
intervals=10
expire-group=604800
min-distance=1
EOF

"$GREGOR" topic create lag -p 3 >/dev/null
seq 1 3000 | sed 's/.*/k&:v&/' | "$GREGOR" produce lag -k : >/dev/null
"$GREGOR" consume lag -g G -n 3000 --from beginning >/dev/null
seq 3001 5000 | sed 's/.*/k&:v&/' | "$GREGOR" produce lag -k : >/dev/null
"$GREGOR" group lag G --format json >"$WORK/gregor-lag.json"

Burrow --config-dir "$WORK/burrow" >"$WORK/burrow.log" 2>&1 &
PIDS+=($!)
wait_port "$HTTP_PORT" "$WORK/burrow.log"

# burrow_lag: Burrow's lag document of group G.
burrow_lag() { curl -sf "http://127.0.0.1:$HTTP_PORT/v3/kafka/local/consumer/G/lag" || true; }

# check NAME PYTHON_EXPR: polls Burrow (30 s) until the expression over
# `b` (Burrow's status document) and `g` (gregor's lag JSON) is true.
cat >"$WORK/check.py" <<'EOF'
import json, sys
g = json.load(open(sys.argv[1]))
b = json.load(sys.stdin)["status"]
ok = eval(sys.argv[2], {}, {"b": b, "g": g,
     "lags": {(p["topic"], p["partition"]): p["current_lag"] for p in b["partitions"]},
     "glags": {(p["topic"], p["partition"]): p["lag"] for p in g["partitions"]}})
sys.exit(0 if ok else 1)
EOF
check() {
  local name=$1 expr=$2 doc=""
  for _ in $(seq 1 60); do
    doc=$(burrow_lag)
    if [[ -n $doc ]] && $PY "$WORK/check.py" "$WORK/gregor-lag.json" "$expr" <<<"$doc" 2>/dev/null; then
      echo "PASS $name"
      return 0
    fi
    sleep 0.5
  done
  echo "FAIL $name: burrow says: $doc"
  echo "gregor says: $(cat "$WORK/gregor-lag.json")"
  exit 1
}

check "burrow lag per partition equals gregor's (2000 in total)" \
  'b["totallag"] == 2000 and g["total_lag"] == 2000 and len(lags) == 3 and lags == glags'
check "burrow flags the stopped consumer (status not OK)" 'b["status"] != "OK"'

seq 5001 5500 | sed 's/.*/k&:v&/' | "$GREGOR" produce lag -k : >/dev/null
check "burrow follows new records (2500 in total)" 'b["totallag"] == 2500'

"$GREGOR" consume lag -g G -n 2500 >/dev/null
check "burrow sees the group catch up (0 in total)" 'b["totallag"] == 0'

echo "burrow: 4/4 passed in $(($(date +%s) - START)) s (Burrow $(dpkg-query -W -f '${Version}' burrow 2>/dev/null || echo '?'))"
