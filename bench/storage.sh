#!/usr/bin/env bash
# Storage and fetch-path evidence on this machine:
#
#   1. a fresh gregor process is filled with `gregor-bench bench produce`, then the
#      topic is read from the beginning while strace follows the broker's
#      sendfile(2) calls: the bytes sendfile carried against the bytes of the
#      topic's .log files;
#   2. consume throughput from the page cache (`gregor-bench bench consume`, and
#      BenchmarkRawFetch: Fetch without decoding records) next to one
#      loopback TCP connection's limit (BenchmarkLoopbackTCP: write and
#      sendfile);
#   3. TestReopenLargeLog at STORAGE_RECOVERY_BYTES: Open after a clean
#      shutdown, after a crash, and after a crash with the recovery point
#      lost, with a cold page cache.
#
# Needs strace (apt-get install -y strace); kcat is used as the strace-d
# consumer when present, otherwise BenchmarkRawFetch.
#
# Environment (defaults in brackets):
#   STORAGE_PRODUCE_DURATION  produce time that fills the topic [5s]
#   STORAGE_RECOVERY_BYTES    size of the reopened log; 0 skips step 3 [1073741824]
#   STORAGE_KEEP=1            keep the work dir (broker log, strace output)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${STORAGE_PRODUCE_DURATION:-5s}
RECOVERY=${STORAGE_RECOVERY_BYTES:-1073741824}

command -v strace >/dev/null || { echo "strace not found: apt-get install -y strace" >&2; exit 1; }
make -s build build-bench
WORK=$(mktemp -d)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
	if [ -n "${STORAGE_KEEP:-}" ]; then echo "work dir: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ADDR=127.0.0.1:$PORT
bin/gregor serve --override log.dirs="$WORK/data" --override listeners=PLAINTEXT://$ADDR >"$WORK/broker.log" 2>&1 &
PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

echo "== produce ($DURATION) into topic t"
bin/gregor-bench bench produce --brokers $ADDR --duration "$DURATION" --topic t --keep-topic --quiet 2>&1 | grep -E '^ *(series|produce) '
LOGBYTES=$(find "$WORK"/data/t-* -name '*.log' -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s}')

echo "== consume topic t from the beginning under strace -f -e trace=sendfile"
strace -f -p $PID -e trace=sendfile -o "$WORK/strace.out" 2>/dev/null &
STRACE=$!
sleep 1
if command -v kcat >/dev/null; then
	kcat -b $ADDR -C -t t -o beginning -e -q -f '%o\n' | wc -l | sed 's/^/records consumed: /'
else
	GREGOR_BENCH_BROKER=$ADDR GREGOR_BENCH_TOPIC=t go test -run '^$' -bench BenchmarkRawFetch -benchtime 100x ./broker | grep Benchmark
fi
sleep 0.5
kill $STRACE; wait $STRACE 2>/dev/null || true
grep -m3 'sendfile(' "$WORK/strace.out" || true
# A call another thread interrupted in strace's output ends on a
# "<... sendfile resumed>" line.
awk -v disk="$LOGBYTES" '/sendfile/ && / = [0-9]+$/ {n++; s += $NF} /sendfile/ && / = -1 EAGAIN/ {eagain++}
	END {printf "sendfile: %d calls carried %.0f bytes (%.1f MiB, %.0f bytes per call; %d EAGAIN); topic .log files: %.0f bytes\n", n, s, s/1048576, s/(n?n:1), eagain, disk}' "$WORK/strace.out"

echo "== consume throughput from the page cache vs loopback TCP"
bin/gregor-bench bench consume --brokers $ADDR --duration 5s --pid $PID --quiet 2>&1 | grep -E '^ *(series|consume) |^broker pid'
GREGOR_BENCH_BROKER=$ADDR GREGOR_BENCH_TOPIC=t go test -run '^$' -bench 'BenchmarkRawFetch|BenchmarkLoopbackTCP' -benchtime 3s ./broker | grep Benchmark

if [ "$RECOVERY" != 0 ]; then
	echo "== reopen a $RECOVERY-byte log (cold page cache)"
	df -h "${TMPDIR:-/tmp}" | tail -1
	GREGOR_RECOVERY_BYTES=$RECOVERY GREGOR_RECOVERY_COLD=1 GREGOR_RECOVERY_DIR="$WORK" \
		go test -count=1 -run TestReopenLargeLog -v -timeout 60m ./storage | grep -E 'built|reopen|recovery:|^(ok|FAIL|---)'
fi
