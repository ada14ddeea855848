#!/usr/bin/env bash
# kafka-go's own tests against a real gregor process.
#
# kafka-go's tests dial localhost:9092 (hard-coded), so gregor is started on
# 127.0.0.1:9092 advertising localhost:9092, as kafka-go's docker-compose
# Kafka does, with auto.create.topics.enable on. The kafka-go version is the
# one compat-tests/go.mod requires; its source is copied out of the module
# cache and its go.mod tidied so its test dependencies resolve.
#
# Environment:
#   KAFKAGO_RUN   go test -run filter (default: the client fetch tests, TestConn
#                 and the partition reassignment tests)
set -euo pipefail

cd "$(dirname "$0")"
HERE=$(pwd)
GREGOR=$HERE/../bin/gregor
RUN=${KAFKAGO_RUN:-'^(TestClientFetch|TestClientFetchCompressed|TestClientPipeline|TestClientProduceAndConsume|TestConn|TestClientAlterPartitionReassignments|TestClientAlterPartitionReassignmentsMultiTopics|TestClientListPartitionReassignments)$'}

if [[ ! -x $GREGOR ]]; then
  (cd .. && make build)
fi
if (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then
  echo "port 9092 is in use; kafka-go's tests need it" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-kafkago.XXXXXX")
PID=
cleanup() {
  local rc=$?
  if [[ -n $PID ]]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [[ $rc -ne 0 ]]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

version=$(go list -m -f '{{.Version}}' github.com/segmentio/kafka-go)
src=$(go mod download -json "github.com/segmentio/kafka-go@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
cp -r "$src" "$WORK/kafka-go"
chmod -R u+w "$WORK/kafka-go"
(cd "$WORK/kafka-go" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1)

"$GREGOR" serve --log-format json \
  --override "listeners=PLAINTEXT://127.0.0.1:9092" \
  --override "advertised.listeners=PLAINTEXT://localhost:9092" \
  --override "auto.create.topics.enable=true" \
  --override "log.dirs=$WORK/data" >"$WORK/broker.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null && break
  sleep 0.1
done

echo "== kafka-go $version tests against gregor: $RUN"
rc=0
(cd "$WORK/kafka-go" && KAFKA_VERSION=3.7.0 go test -count=1 -v -timeout 10m -run "$RUN" .) >"$WORK/kafka-go.log" 2>&1 || rc=$?
grep -aE -- '--- (PASS|FAIL|SKIP): ' "$WORK/kafka-go.log" | sed 's/^ *//' | sort | uniq -c | awk '{print $3}' | sort | uniq -c
grep -aE -- '--- FAIL: ' "$WORK/kafka-go.log" || true
exit $rc
