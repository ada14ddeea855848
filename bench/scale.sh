#!/usr/bin/env bash
# How one gregor broker's cost grows with partitions, client connections
# and log size (`make scale`; results and method in bench/SCALE.md).
#
# Every measurement is one `gregor-bench scale` run, which starts its own fresh
# broker process (data and broker log in a work dir of its own, deleted
# afterwards), measures it, restarts it where the run asks, and stops it:
#
#   partitions   for each N: topics of 100 partitions totalling N; create
#                time (until led, until the logs are open), broker RSS and
#                open fds, Metadata latency, one 1 KiB
#                record produced to every partition (acks=all) and fetched
#                back, then a restart (SIGTERM, start) until every
#                partition is led again
#   connections  for each C: C idle connections (ApiVersions + Metadata
#                each); broker RSS, threads, Metadata on one more
#                connection, 10,000 records through franz-go alongside
#   logsize      one partition grown to each size in turn; unclean
#                (SIGKILL) and clean (SIGTERM) restart times, RSS, fetch at
#                the start, middle and end, timestamp lookup
#
# Then it prints the tables (`gregor-bench scale report`).
#
# The work dir must be on a real disk (the log size runs write tens of GiB):
# a tmpfs is refused. The log size run never leaves less than
# SCALE_MIN_FREE GiB free on it.
#
# Environment (defaults in brackets):
#   SCALE_WHAT         subset of: partitions connections logsize ["partitions connections logsize"]
#   SCALE_PARTITIONS   partition counts ["1000 2000 5000 10000"]
#   SCALE_CONNS        connection counts ["1000 2500 5000"]
#   SCALE_SIZES        log sizes in GiB, ascending, comma separated ["5,10,20,40"]
#   SCALE_MIN_FREE     GiB the file system must keep free [20]
#   SCALE_DROP_CACHES  1: drop the page cache before each log size restart
#                      (needs root) [1 if /proc/sys/vm/drop_caches is writable]
#   SCALE_TMPDIR       where the work dir is made [${TMPDIR:-/var/tmp}]
#   SCALE_BIN          gregor binary (the broker) [bin/gregor, built by make build]
#   SCALE_TOOL         gregor-bench binary (the tool) [bin/gregor-bench, built by make build-bench]
#   SCALE_KEEP=1       keep the work dir's outputs and broker logs (data is always deleted)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
WHAT=${SCALE_WHAT:-"partitions connections logsize"}
PARTITIONS=${SCALE_PARTITIONS:-"1000 2000 5000 10000"}
CONNS=${SCALE_CONNS:-"1000 2500 5000"}
SIZES=${SCALE_SIZES:-"5,10,20,40"}
MIN_FREE=${SCALE_MIN_FREE:-20}
TMPBASE=${SCALE_TMPDIR:-${TMPDIR:-/var/tmp}}
if [[ -z ${SCALE_DROP_CACHES:-} ]]; then
  if [[ -w /proc/sys/vm/drop_caches ]]; then SCALE_DROP_CACHES=1; else SCALE_DROP_CACHES=0; fi
fi
START=$(date +%s)

if [[ -z ${SCALE_BIN:-} ]]; then
  make -s build
  GREGOR=$ROOT/bin/gregor
else
  GREGOR=$SCALE_BIN
fi
if [[ -z ${SCALE_TOOL:-} ]]; then
  make -s build-bench
  BENCHTOOL=$ROOT/bin/gregor-bench
else
  BENCHTOOL=$SCALE_TOOL
fi

mkdir -p "$TMPBASE"
if [[ $(stat -f -c %T "$TMPBASE") == tmpfs ]]; then
  echo "scale: $TMPBASE is a tmpfs; set SCALE_TMPDIR to a directory on a disk" >&2
  exit 2
fi
WORK=$(mktemp -d "$TMPBASE/gregor-scale.XXXXXX")
RESULTS=$WORK/results
: >"$RESULTS"
TOOL=

cleanup() {
  local rc=$?
  # The tool's brokers die with it (PR_SET_PDEATHSIG).
  if [[ -n $TOOL ]]; then kill -TERM "$TOOL" 2>/dev/null && wait "$TOOL" 2>/dev/null || true; fi
  find "$WORK" -mindepth 2 -maxdepth 2 -name data -type d -exec rm -rf {} + 2>/dev/null || true
  if [[ -n ${SCALE_KEEP:-} || $rc -ne 0 ]]; then
    echo "work dir kept (broker logs, outputs; data deleted): $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run NAME ARGS...: one `gregor-bench scale` run in $WORK/NAME, its output shown
# and kept in $WORK/NAME.out; its data deleted afterwards.
run() {
  local name=$1
  shift
  echo "== $name"
  : >"$WORK/$name.out"
  "$BENCHTOOL" scale "$@" --broker-bin "$GREGOR" --dir "$WORK/$name" --result "$RESULTS" >"$WORK/$name.out" 2>&1 &
  TOOL=$!
  tail -n +1 -f --pid "$TOOL" "$WORK/$name.out" | grep -v '  e\.g\. ' || true
  if ! wait "$TOOL"; then
    echo "   $name FAILED (see above)"
  fi
  TOOL=
  rm -rf "$WORK/$name/data"
}

mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
virt=$(dmesg 2>/dev/null | grep -o -m1 'Hypervisor detected: .*' | sed 's/.*: /hypervisor /' || true)
if [[ -z $virt ]]; then
  if grep -qw hypervisor /proc/cpuinfo; then virt="virtual machine"; else virt="no hypervisor flag"; fi
fi
if ct=$(systemd-detect-virt --container 2>/dev/null); then virt="$virt, container $ct"; fi
fs=$(df --output=fstype "$WORK" | tail -1)
free=$(df -BG --output=avail "$WORK" | tail -1 | tr -d ' ')
echo "== machine: $(nproc) cpus ($cpu), $mem RAM, $virt, kernel $(uname -r), work dir $WORK on $fs ($free free)"
if commit=$(git rev-parse --short HEAD 2>/dev/null); then
  git diff --quiet HEAD -- . 2>/dev/null || commit="$commit + uncommitted changes"
else
  commit="not a git checkout"
fi
echo "== $GREGOR ($("$GREGOR" version)), $(go version 2>/dev/null | cut -d' ' -f3), source: $commit"
echo "== RLIMIT_NOFILE: soft $(ulimit -Sn), hard $(ulimit -Hn) (a Go broker raises its soft limit to the hard one)"

for what in $WHAT; do
  case $what in
  partitions)
    for n in $PARTITIONS; do
      run "partitions-$n" partitions --partitions "$n"
    done
    ;;
  connections)
    for c in $CONNS; do
      run "connections-$c" connections --conns "$c"
    done
    ;;
  logsize)
    args=(logsize --sizes "$SIZES" --min-free "$MIN_FREE")
    if [[ $SCALE_DROP_CACHES == 1 ]]; then args+=(--drop-caches); fi
    run logsize "${args[@]}"
    ;;
  *)
    echo "unknown SCALE_WHAT entry $what (want partitions, connections or logsize)" >&2
    exit 2
    ;;
  esac
done

echo
echo "== results (page cache dropped before log size restarts: $SCALE_DROP_CACHES)"
"$BENCHTOOL" scale report --result "$RESULTS"
echo
echo "== done in $(($(date +%s) - START))s"
