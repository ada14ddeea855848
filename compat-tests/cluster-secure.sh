#!/usr/bin/env bash
# The secured three-node cluster in Docker (issue 15): SASL_SSL between
# brokers (mTLS plus PLAIN as broker), SASL_SSL clients (PLAIN as alice),
# the Raft quorum over mutual TLS with a PLAIN login as broker
# (cluster-compose-secure.yml). Makes a CA
# and one key store with openssl, starts the cluster (project
# gregor-secure, host ports CLUSTER_PORT1..3, default 19192 29192 39192),
# waits for 3 brokers over SASL_SSL, produces 1,000 records with acks=all
# to an RF 3 topic with kcat, kills one node, consumes every record back
# from the other two and compares, then removes everything (CLUSTER_KEEP=1
# leaves it up). Needs Docker, the gregor:local image (make docker), kcat,
# jq and openssl.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROJECT=gregor-secure
export CLUSTER_PORT1=${CLUSTER_PORT1:-19192} CLUSTER_PORT2=${CLUSTER_PORT2:-29192} CLUSTER_PORT3=${CLUSTER_PORT3:-39192}
BROKERS=localhost:$CLUSTER_PORT1,localhost:$CLUSTER_PORT2,localhost:$CLUSTER_PORT3
COMPOSE=${COMPOSE:-"docker compose"}
$COMPOSE version >/dev/null 2>&1 || COMPOSE=docker-compose

CLUSTER_PKI=$(mktemp -d "${TMPDIR:-/tmp}/gregor-secure.XXXXXX")
export CLUSTER_PKI
compose() {
  # shellcheck disable=SC2086 # COMPOSE may be two words
  timeout 300 $COMPOSE -p "$PROJECT" -f "$ROOT/docker-compose.yml" -f "$ROOT/compat-tests/cluster-compose-secure.yml" "$@"
}
cleanup() {
  if [[ -z ${CLUSTER_KEEP:-} ]]; then
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$CLUSTER_PKI"
  fi
}
trap cleanup EXIT
log() { echo "== $(date +%T) $*"; }

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=gregor secure CA" \
  -keyout "$CLUSTER_PKI/ca.key" -out "$CLUSTER_PKI/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=gregor-node" \
  -keyout "$CLUSTER_PKI/node.key" -out "$CLUSTER_PKI/node.csr" 2>/dev/null
printf 'subjectAltName=DNS:gregor1,DNS:gregor2,DNS:gregor3,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$CLUSTER_PKI/ext.cnf"
openssl x509 -req -in "$CLUSTER_PKI/node.csr" -CA "$CLUSTER_PKI/ca.pem" -CAkey "$CLUSTER_PKI/ca.key" -CAcreateserial \
  -days 1 -extfile "$CLUSTER_PKI/ext.cnf" -out "$CLUSTER_PKI/node.crt" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$CLUSTER_PKI/node.key" -out "$CLUSTER_PKI/node.p8"
cat "$CLUSTER_PKI/node.crt" "$CLUSTER_PKI/node.p8" >"$CLUSTER_PKI/node.pem"
chmod 0755 "$CLUSTER_PKI"
chmod 0644 "$CLUSTER_PKI"/*.pem # read by the containers' user 65534 (a throw-away key)

KCAT=(kcat -X security.protocol=SASL_SSL -X sasl.mechanisms=PLAIN -X sasl.username=alice
  -X sasl.password=alice-secret -X "ssl.ca.location=$CLUSTER_PKI/ca.pem")

log "starting the secured cluster ($PROJECT)"
compose up -d --no-build
t0=$SECONDS
until [[ $(timeout 10 "${KCAT[@]}" -b "$BROKERS" -L -J -m 5 2>/dev/null | jq '.brokers | length' 2>/dev/null) == 3 ]]; do
  if ((SECONDS - t0 > 90)); then
    echo "cluster-secure.sh: no 3-broker Metadata over SASL_SSL after 90s" >&2
    compose logs --no-color --tail 30 >&2 || true
    exit 1
  fi
  sleep 1
done
log "ready in $((SECONDS - t0))s over SASL_SSL"

if timeout 20 kcat -X security.protocol=SASL_SSL -X sasl.mechanisms=PLAIN -X sasl.username=alice \
  -X sasl.password=wrong -X "ssl.ca.location=$CLUSTER_PKI/ca.pem" -b "$BROKERS" -L -m 5 >/dev/null 2>&1; then
  echo "cluster-secure.sh: a wrong password was let in" >&2
  exit 1
fi

TOPIC=secure-check
seq 1 1000 >"$CLUSTER_PKI/sent"
timeout 60 "${KCAT[@]}" -b "$BROKERS" -P -t "$TOPIC" -p 0 -X request.required.acks=-1 \
  -X topic.metadata.refresh.interval.ms=1000 <"$CLUSTER_PKI/sent"
log "produced 1000 records (acks=all, RF 3 by the cluster's defaults)"
docker kill "$(compose ps -q gregor1)" >/dev/null
log "killed gregor1"
timeout 90 "${KCAT[@]}" -b "localhost:$CLUSTER_PORT2,localhost:$CLUSTER_PORT3" -C -t "$TOPIC" -p 0 -o beginning -c 1000 -e >"$CLUSTER_PKI/got"
if ! cmp -s "$CLUSTER_PKI/sent" "$CLUSTER_PKI/got"; then
  echo "cluster-secure.sh: consumed $(wc -l <"$CLUSTER_PKI/got") records, not the 1000 sent in order" >&2
  exit 1
fi
log "consumed all 1000 records back in order from gregor2 and gregor3"
if compose logs --no-color 2>/dev/null | grep -q 'panic'; then
  echo "cluster-secure.sh: a node panicked" >&2
  exit 1
fi
log "ok"
