#!/usr/bin/env bash
# franz-go's own SCRAM tests (TestSCRAMAuth, TestSCRAMAuthBadCredentials in
# ./pkg/kgo, enabled by KGO_TEST_SCRAM and KGO_TEST_SCRAM_SEEDS) against a
# SCRAM-enabled gregor: once with a SCRAM-SHA-256 user, once with a
# SCRAM-SHA-512 one. Kept apart from upstream.sh (owned with the rest of the
# suite) so the two can be combined by the caller.
#
# gregor gets a SASL listener (COMPAT_SASL_PROTOCOL, default SASL_PLAINTEXT;
# COMPAT_SASL_OVERRIDES adds broker overrides, one per line) with users from
# `serve --add-scram`, and a PLAINTEXT listener for KGO_SEEDS.
#
# Environment: UPSTREAM_TIMEOUT (default 3m).
set -euo pipefail

cd "$(dirname "$0")"
FRANZ_VERSION=$(go list -m -f '{{.Version}}' github.com/twmb/franz-go)
TIMEOUT=${UPSTREAM_TIMEOUT:-3m}
PROTO=${COMPAT_SASL_PROTOCOL:-SASL_PLAINTEXT}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-upstream-scram.XXXXXX")
PID=
cleanup() {
  if [[ -n $PID ]]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK/franz-go" "$WORK/data"
  echo "logs in $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

(cd .. && go build -o "$WORK/gregor" ./cmd/gregor)
DIR=$(go mod download -json "github.com/twmb/franz-go@$FRANZ_VERSION" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
cp -r "$DIR" "$WORK/franz-go"
chmod -R u+w "$WORK/franz-go"

SPORT=$(free_port)
PPORT=$(free_port)
args=(serve --log-format json
  --override "listeners=SASL://127.0.0.1:$SPORT,PLAIN://127.0.0.1:$PPORT"
  --override "listener.security.protocol.map=SASL:$PROTO,PLAIN:PLAINTEXT"
  --override "inter.broker.listener.name=PLAIN"
  --override "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512"
  --override "log.dirs=$WORK/data"
  --add-scram 'SCRAM-SHA-256=[name=kgo256,password=kgo256-secret]'
  --add-scram 'SCRAM-SHA-512=[name=kgo512,password=kgo512-secret]')
while IFS= read -r o; do [[ -n $o ]] && args+=(--override "$o"); done <<<"${COMPAT_SASL_OVERRIDES:-}"
"$WORK/gregor" "${args[@]}" >"$WORK/broker.log" 2>&1 &
PID=$!
for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$SPORT") 2>/dev/null && break; sleep 0.1; done

rc=0
for spec in kgo256:kgo256-secret:256 kgo512:kgo512-secret:512; do
  name=scram-${spec##*:}
  echo "== franz-go $FRANZ_VERSION TestSCRAMAuth* against gregor $PROTO, KGO_TEST_SCRAM=${spec%%:*}:***:${spec##*:}"
  (cd "$WORK/franz-go" && KGO_SEEDS=127.0.0.1:$PPORT KGO_TEST_SCRAM_SEEDS=127.0.0.1:$SPORT KGO_TEST_SCRAM=$spec \
    timeout --signal=QUIT "$TIMEOUT" go test -count=1 -v -timeout "$TIMEOUT" -run '^TestSCRAMAuth' ./pkg/kgo) >"$WORK/$name.log" 2>&1 || rc=1
  grep -aE '^--- (PASS|FAIL|SKIP): ' "$WORK/$name.log" | sed "s/^/   $name /"
  if grep -aq -- '--- SKIP' "$WORK/$name.log" || ! grep -aq -- '--- PASS: TestSCRAMAuth ' "$WORK/$name.log"; then rc=1; fi
done
exit $rc
