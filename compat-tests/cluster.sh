#!/usr/bin/env bash
# The three-node gregor cluster in Docker (../docker-compose.yml, Compose
# project "gregor", image gregor:local from `make docker`).
#
#   cluster.sh up     start the cluster, wait until it is ready
#   cluster.sh wait   wait until every node answers Metadata with 3 brokers
#   cluster.sh down   remove the containers, the network and the volumes
#   cluster.sh grow   add gregor4 (profile grow) to the running cluster and
#                     move a partition onto it (README, "Adding a fourth
#                     broker"); prints CLUSTER GROW PASS|FAIL
#   cluster.sh test   failover test (below); prints CLUSTER TEST PASS|FAIL
#   cluster.sh test-kills      the same run with, instead of the stop and
#                     the controller kill, CLUSTER_KILLS (10) kills in a row
#                     of partition 0's current leader (clustercheck -kills)
#   cluster.sh test-partition  the same run with, instead, a network
#                     partition of partition 0's leader, or another
#                     partition's if that is the controller (clustercheck
#                     -partition): `docker network disconnect` from the
#                     cluster network, the isolated node must acknowledge
#                     nothing (acks=all) a client talking only to it sends,
#                     the majority elects new leaders and keeps writing;
#                     healed, the node truncates and rejoins every ISR
#                     (CLUSTER_ARGS=-partition-controller cuts the active
#                     controller instead)
#
# Every command layers cluster-compose.yml on ../docker-compose.yml:
# broker.session.timeout.ms=4000 and broker.heartbeat.interval.ms=500
# (Kafka: 9000 and 2000), so a killed or cut-off node is fenced, and its
# partitions move, about 4 s after its last heartbeat.
#
# The test starts the cluster (or uses the running one), runs
# cmd/clustercheck (franz-go: RF 3 topic, steady acks=all load and a
# consumer; `docker stop` of a partition leader, then `docker kill` of the
# controller, then CLUSTER_KILLS (2) kills of partition 0's leader; the
# other two keep serving; each node rejoins, ISR back to 3;
# every acknowledged record read exactly once, in order, at its offset),
# then checks the cluster with kcat (librdkafka) and the node logs for
# panics, and removes the cluster it started (a cluster that was already
# running is left running, all three nodes up). Every check prints
# `RESULT cluster <check> PASS|FAIL|WARN <detail>`; WARN is a known broker
# bug that does not fail the run (CLUSTER_ARGS=-strict makes it fail).
#
# Environment:
#   COMPOSE        "docker compose" or "docker-compose" (the Makefile detects it)
#   CLUSTER_PORT1..3  host ports of the EXTERNAL listeners (19092 29092 39092)
#   CLUSTER_WAIT   seconds `up` waits for the nodes (default 90)
#   CLUSTER_KEEP=1 `test` leaves the cluster up
#   CLUSTER_LOGS=DIR  copy the node logs and clustercheck's output to DIR
#                  (otherwise kept only when the test fails)
#   CLUSTER_ARGS   extra clustercheck flags, e.g. "-rate 600 -during 500"
#   CLUSTER_KILLS  kills of partition 0's leader: test-kills 10, test 2
#   CLUSTER_SESSION_TIMEOUT_MS, CLUSTER_HEARTBEAT_INTERVAL_MS
#                  broker.session.timeout.ms and broker.heartbeat.interval.ms
#                  of the nodes (4000, 500; cluster-compose.yml)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROJECT=gregor
IMAGE=gregor:local
PORTS=("${CLUSTER_PORT1:-19092}" "${CLUSTER_PORT2:-29092}" "${CLUSTER_PORT3:-39092}")
BROKERS=localhost:${PORTS[0]},localhost:${PORTS[1]},localhost:${PORTS[2]}
export CLUSTER_PORT1=${PORTS[0]} CLUSTER_PORT2=${PORTS[1]} CLUSTER_PORT3=${PORTS[2]}

if [[ -z ${COMPOSE:-} ]]; then
  if docker compose version >/dev/null 2>&1; then
    COMPOSE="docker compose"
  elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=docker-compose
  else
    echo "cluster.sh: neither 'docker compose' nor 'docker-compose' found" >&2
    exit 1
  fi
fi

compose() {
  # shellcheck disable=SC2086 # COMPOSE may be two words
  timeout 300 $COMPOSE -p "$PROJECT" -f "$ROOT/docker-compose.yml" -f "$ROOT/compat-tests/cluster-compose.yml" "$@"
}

log() { echo "== $(date +%T) $*"; }

# running: how many of the project's containers are running.
running() { compose ps -q 2>/dev/null | xargs -r docker inspect -f '{{.State.Running}}' | grep -c true || true; }

# ready PORT: the node behind PORT answers Metadata listing 3 brokers.
ready() {
  local out
  out=$(timeout 10 kcat -b "localhost:$1" -L -J -m 5 2>/dev/null) || return 1
  [[ $(jq '.brokers | length' <<<"$out" 2>/dev/null) == 3 ]]
}

cmd_wait() {
  local limit=${CLUSTER_WAIT:-90} t0=$SECONDS pending
  while :; do
    pending=()
    for p in "${PORTS[@]}"; do
      ready "$p" || pending+=("$p")
    done
    if [[ ${#pending[@]} -eq 0 ]]; then
      log "cluster ready in $((SECONDS - t0))s: $BROKERS"
      timeout 10 kcat -b "$BROKERS" -L -m 5 2>/dev/null | sed -n '/brokers:/,/topics:/p' || true
      return 0
    fi
    if ((SECONDS - t0 >= limit)); then
      echo "cluster.sh: not ready after ${limit}s (no 3-broker Metadata from ports ${pending[*]})" >&2
      compose ps >&2 || true
      compose logs --no-color --tail 20 >&2 || true
      return 1
    fi
    sleep 1
  done
}

cmd_up() {
  if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "cluster.sh: no image $IMAGE: run make docker" >&2
    return 1
  fi
  if [[ $(running) -eq 0 ]]; then
    for i in 0 1 2; do
      if (exec 3<>"/dev/tcp/127.0.0.1/${PORTS[$i]}") 2>/dev/null; then
        echo "cluster.sh: port ${PORTS[$i]} is in use: stop what listens there or set CLUSTER_PORT$((i + 1))" >&2
        return 1
      fi
    done
  fi
  log "starting the cluster ($COMPOSE, project $PROJECT)"
  compose up -d --no-build
  cmd_wait
}

# cmd_grow follows the README's "Adding a fourth broker" on the running
# cluster: gregor4 starts as an observer; AddRaftVoter makes the quorum
# leader replicate the metadata to it (and RemoveRaftVoter keeps three
# voters, gregor4 staying an observer broker); a partition of a new topic
# moves onto it; every record is read back through gregor4.
cmd_grow() {
  local gregor=$ROOT/bin/gregor port4=${CLUSTER_PORT4:-49092} t0 out
  export CLUSTER_PORT4=$port4
  [[ -x $gregor ]] || { echo "cluster.sh: no $gregor: run make build" >&2; return 1; }
  log "starting gregor4 (profile grow)"
  compose --profile grow up -d --no-build gregor4
  t0=$SECONDS
  until out=$("$gregor" -b "$BROKERS" cluster quorum add-voter 4 gregor4:9093 2>&1); do
    if ((SECONDS - t0 > 60)); then echo "cluster.sh: add-voter 4: $out" >&2; echo "CLUSTER GROW FAIL"; return 1; fi
    sleep 1
  done
  log "$out"
  until [[ $(timeout 10 kcat -b "localhost:$port4" -L -J -m 5 2>/dev/null | jq '.brokers | length' 2>/dev/null) == 4 ]]; do
    if ((SECONDS - t0 > 90)); then echo "cluster.sh: gregor4 never listed 4 brokers" >&2; echo "CLUSTER GROW FAIL"; return 1; fi
    sleep 1
  done
  log "gregor4 registered in $((SECONDS - t0))s"
  "$gregor" -b "$BROKERS" cluster quorum remove-voter 4
  "$gregor" -b "$BROKERS" topic create grow-demo -p 3 -r 3
  seq 1 300 | sed 's/^/grow-/' | kcat -b "$BROKERS" -P -t grow-demo -p 0
  "$gregor" -b "$BROKERS" partition move grow-demo:0=4,2,3
  out=$(timeout 60 kcat -b "localhost:$port4" -C -t grow-demo -p 0 -o beginning -e -q 2>/dev/null | sort | md5sum)
  if [[ $out != $(seq 1 300 | sed 's/^/grow-/' | sort | md5sum) ]]; then
    echo "cluster.sh: grow-demo/0 read through gregor4 differs" >&2
    echo "CLUSTER GROW FAIL"
    return 1
  fi
  "$gregor" -b "$BROKERS" topic describe grow-demo
  log "300 records of grow-demo/0 read back after its move onto gregor4"
  echo "CLUSTER GROW PASS"
}

# The network clustercheck -partition attaches a cut-off node to (it
# removes it itself; this is for a run that was interrupted).
PROBE_NET=${PROJECT}_partition_probe

cmd_down() {
  log "removing the cluster (containers, network, volumes)"
  compose --profile grow down -v --remove-orphans
  if docker network inspect "$PROBE_NET" >/dev/null 2>&1; then
    docker network rm "$PROBE_NET" >/dev/null || true
  fi
}

# cmd_test MODE: MODE is test, test-kills or test-partition.
cmd_test() {
  local mode=$1 need
  for need in docker kcat jq go; do
    command -v "$need" >/dev/null || { echo "cluster.sh: $need is required" >&2; return 1; }
  done
  local rc=0
  # Globals: the EXIT trap below reads them after this function returned.
  T0=$SECONDS
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-cluster.XXXXXX")
  WAS_RUNNING=$(running)

  # shellcheck disable=SC2317 # invoked by the trap
  finish() {
    local code=$?
    trap - EXIT INT TERM
    compose logs --no-color >"$WORK/nodes.log" 2>&1 || true
    if [[ -n ${CLUSTER_LOGS:-} ]]; then
      mkdir -p "$CLUSTER_LOGS" && cp "$WORK"/*.log "$CLUSTER_LOGS"/ || true
    fi
    if [[ $WAS_RUNNING -gt 0 ]]; then
      compose up -d --no-build >/dev/null 2>&1 || true # all three back up
    elif [[ -z ${CLUSTER_KEEP:-} ]]; then
      cmd_down || true
    fi
    if [[ $code -eq 0 ]]; then
      rm -rf "$WORK"
      echo "CLUSTER TEST PASS ($((SECONDS - T0))s)"
    else
      echo "node logs and clustercheck output kept in $WORK"
      echo "CLUSTER TEST FAIL ($((SECONDS - T0))s)"
    fi
    exit "$code"
  }
  trap finish EXIT
  trap 'exit 130' INT TERM

  log "building clustercheck"
  (cd "$ROOT/compat-tests" && timeout 300 go build -o "$WORK/clustercheck" ./cmd/clustercheck)
  if [[ $WAS_RUNNING -gt 0 ]]; then
    log "using the running cluster ($WAS_RUNNING containers up)"
    compose up -d --no-build
    cmd_wait
  else
    cmd_up
  fi

  local args=() i id net limit
  for i in 1 2 3; do
    id=$(compose ps -q "gregor$i")
    [[ -n $id ]] || { echo "cluster.sh: no container for gregor$i" >&2; return 1; }
    args+=(-container "$i=$id")
  done
  # The Compose network's real name (gregor_gregor): -partition cuts it.
  net=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{println $k}}{{end}}' "$id" | grep -vx "$PROBE_NET" | grep . | head -1)
  args+=(-network "$net" -probe-network "$PROBE_NET")
  # Every wait in clustercheck has its own timeout; -timeout bounds the
  # whole check, and `timeout` clustercheck itself.
  case $mode in
  test) limit=$((480 + 90 * ${CLUSTER_KILLS:-2})) args+=(-kills "${CLUSTER_KILLS:-2}") ;;
  test-kills) limit=$((480 + 90 * ${CLUSTER_KILLS:-10})) args+=(-stop-kill=false -kills "${CLUSTER_KILLS:-10}") ;;
  test-partition) limit=720 args+=(-stop-kill=false -partition) ;;
  esac
  args+=(-timeout "${limit}s")
  log "clustercheck -brokers $BROKERS ${args[*]} ${CLUSTER_ARGS:-}"
  # shellcheck disable=SC2086 # CLUSTER_ARGS is a list of flags
  timeout $((limit + 60)) "$WORK/clustercheck" -brokers "$BROKERS" "${args[@]}" ${CLUSTER_ARGS:-} | tee "$WORK/clustercheck.log" || rc=1

  # librdkafka's view after the failures: 3 brokers, a new RF 3 topic
  # (default.replication.factor) fully in sync, records round-trip.
  local topic=cluster-kcat-$$-$RANDOM meta n
  log "kcat: produce 100 records (acks=all) to $topic and read them back"
  if seq 1 100 | timeout 60 kcat -b "$BROKERS" -P -t "$topic" -X acks=all 2>"$WORK/kcat.err" &&
    n=$(timeout 60 kcat -b "$BROKERS" -C -t "$topic" -o beginning -e -q 2>>"$WORK/kcat.err" | wc -l) &&
    meta=$(timeout 20 kcat -b "$BROKERS" -L -J -t "$topic" -m 5 2>>"$WORK/kcat.err") &&
    [[ $n -eq 100 ]] &&
    [[ $(jq '.brokers | length' <<<"$meta") -eq 3 ]] &&
    [[ $(jq "[.topics[0].partitions[] | select((.isrs | length) == 3)] | length" <<<"$meta") -eq \
      $(jq '.topics[0].partitions | length' <<<"$meta") ]]; then
    echo "RESULT cluster kcat PASS 100 records round-trip; $(jq -c '{brokers: [.brokers[].name], partitions: [.topics[0].partitions[] | {p: .partition, leader, isr: [.isrs[].id]}]}' <<<"$meta")"
  else
    echo "RESULT cluster kcat FAIL read ${n:-?} of 100; ${meta:-no metadata}; $(tail -3 "$WORK/kcat.err" | tr '\n' ' ')"
    rc=1
  fi

  if compose logs --no-color 2>&1 | grep -E '^[^|]*\| (panic:|fatal error:)' >"$WORK/panics.log"; then
    echo "RESULT cluster node_logs FAIL $(head -3 "$WORK/panics.log" | tr '\n' ' ')"
    rc=1
  else
    echo "RESULT cluster node_logs PASS no panic in any node's log"
  fi
  return "$rc"
}

case ${1:-} in
up) cmd_up ;;
wait) cmd_wait ;;
down) cmd_down ;;
grow) cmd_grow ;;
test | test-kills | test-partition) cmd_test "$1" ;;
*)
  echo "usage: $0 up|wait|down|test|test-kills|test-partition" >&2
  exit 2
  ;;
esac
