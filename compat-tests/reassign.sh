#!/usr/bin/env bash
# sarama's partition reassignment scenario (compat-tests/sarama/reassign_test.go,
# after sarama's TestFuncAdminAlterPartitionReassignments) against three
# `gregor serve` processes on loopback, each a broker and a controller voter.
set -euo pipefail
cd "$(dirname "$0")"
. ./lib.sh
compat_work reassign
GREGOR=$WORK/gregor
(cd .. && go build -o "$GREGOR" ./cmd/gregor)
ports=() raft=() voters=""
for i in 1 2 3; do ports+=("$(free_port)"); raft+=("$(free_port)"); done
for i in 1 2 3; do voters+="${voters:+,}$i@127.0.0.1:${raft[$((i-1))]}"; done
for i in 1 2 3; do
  "$GREGOR" serve --log-format json \
    --override "node.id=$i" \
    --override "listeners=PLAINTEXT://127.0.0.1:${ports[$((i-1))]},CONTROLLER://127.0.0.1:${raft[$((i-1))]}" \
    --override "advertised.listeners=PLAINTEXT://127.0.0.1:${ports[$((i-1))]}" \
    --override "controller.quorum.voters=$voters" \
    --override "log.dirs=$WORK/data/$i" >"$WORK/broker$i.log" 2>&1 &
  PIDS+=("$!")
done
for i in 1 2 3; do wait_port "${ports[$((i-1))]}" "$WORK/broker$i.log"; done
SEEDS="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
for _ in $(seq 1 300); do
  if "$GREGOR" -b "$SEEDS" --format json cluster info 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; sys.exit(0 if len(json.load(sys.stdin)["brokers"]) == 3 else 1)' 2>/dev/null; then break; fi
  sleep 0.2
done
COMPAT_CLUSTER_BOOTSTRAP=$SEEDS COMPAT_BOOTSTRAP=${SEEDS%%,*} go test -count=1 -run 'TestReassign$' -v ./sarama | tee "$WORK/sarama.log" | grep '^RESULT'
grep -q '^RESULT sarama reassign PASS' "$WORK/sarama.log"
