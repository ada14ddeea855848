#!/usr/bin/env bash
# gregor against franz-go's kfake, side by side (`make bench`).
#
# Starts one fresh gregor process (temp data dir, loopback port) and one
# kfake cluster process (bench/kfake: one broker, loopback port, its own
# temp data dir), then runs the standard workloads of `gregor-bench bench` against
# both, interleaved (gregor, kfake, gregor, kfake, ...), BENCH_REPS times,
# and prints the median of each figure with the ratio gregor/kfake:
#
#   produce  1 KiB random records, 8 partitions, acks=all, as fast as possible
#   txn      the same, each producer transactional, a commit every 1,000 records
#   consume  fill 256 MiB, then read it from offset 0 over and over
#   latency  1,000 records/s, linger 0: produce->ack and produce->consume
#   rtt      1,000 Produce requests/s of one record over one raw connection
#            (no client library): the broker's own round trip
#
# Every run gets a fresh topic, deleted afterwards. On a shared or small
# machine the client competes with the broker for CPU: figures are noisy,
# compare ratios from the same run rather than absolute numbers across runs.
#
# Environment (defaults in brackets):
#   BENCH_REPS              runs per workload and broker, median reported [3]
#   BENCH_WORKLOADS         subset of: produce txn consume latency rtt ["produce txn consume latency rtt"]
#   BENCH_TARGETS           subset of: gregor kfake baseline ["gregor kfake"]
#   BENCH_DURATION          measured time of produce and latency [8s]
#   BENCH_WARMUP            unmeasured time before it [1s]
#   BENCH_CONSUME_DURATION  read time of consume [5s]
#   BENCH_CONSUME_RECORDS   records the consume topic is filled with [262144]
#   BENCH_RECORD_SIZE       record value bytes [1024]
#   BENCH_PARTITIONS        partitions per topic [8]
#   BENCH_ACKS              produce acks [all]
#   BENCH_TXN_RECORDS       records per transaction of txn (transactional produce, acks=all) [1000]
#   BENCH_PRODUCERS         producer clients in produce [1]
#   BENCH_CONSUMERS         consumer clients in consume [2]
#   BENCH_LATENCY_RATE      records/s of latency [1000]
#   BENCH_KFAKE_MEMORY=1    keep kfake's data in memory (default: on disk, like gregor)
#   BENCH_KEEP_LOGS=1       keep the work dir (broker logs, raw results)
#   BENCH_BASELINE          another gregor binary, run as target "baseline" (A/B of two builds:
#                           BENCH_TARGETS="gregor baseline" BENCH_VS=baseline)
#   BENCH_VS                the target the table compares gregor with [kfake]
#
# Target "metrics" is this gregor with its HTTP listener on and /metrics
# scraped every BENCH_SCRAPE_INTERVAL [1] seconds (15x Prometheus's default
# rate), to compare with "gregor" (no HTTP listener, nothing scraped):
# `make bench-metrics` is BENCH_TARGETS="gregor metrics" BENCH_VS=metrics.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
GREGOR=$ROOT/bin/gregor
TOOL=$ROOT/bin/gregor-bench
REPS=${BENCH_REPS:-3}
WORKLOADS=${BENCH_WORKLOADS:-"produce txn consume latency rtt"}
TARGETS=${BENCH_TARGETS:-"gregor kfake"}
DURATION=${BENCH_DURATION:-8s}
WARMUP=${BENCH_WARMUP:-1s}
CONSUME_DURATION=${BENCH_CONSUME_DURATION:-5s}
CONSUME_RECORDS=${BENCH_CONSUME_RECORDS:-262144}
RECORD_SIZE=${BENCH_RECORD_SIZE:-1024}
PARTITIONS=${BENCH_PARTITIONS:-8}
ACKS=${BENCH_ACKS:-all}
TXN_RECORDS=${BENCH_TXN_RECORDS:-1000}
PRODUCERS=${BENCH_PRODUCERS:-1}
CONSUMERS=${BENCH_CONSUMERS:-2}
LATENCY_RATE=${BENCH_LATENCY_RATE:-1000}
VS=${BENCH_VS:-kfake}
START=$(date +%s)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-bench.XXXXXX")
RESULTS=$WORK/results
: >"$RESULTS"
PIDS=()

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 || -n ${BENCH_KEEP_LOGS:-} ]]; then
    echo "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building"
if [[ ! -x $GREGOR || ! -x $TOOL || -n ${BENCH_REBUILD:-} ]]; then
  make -s build build-bench
fi
(cd bench/kfake && go build -o "$WORK/kfake" .)

# wait_addr FILE PATTERN: waits up to 15 s for PATTERN (a host:port regex
# match) in FILE and prints the first match.
wait_addr() {
  local file=$1 pattern=$2 addr
  for _ in $(seq 150); do
    addr=$(grep -oE "$pattern" "$file" 2>/dev/null | head -1 || true)
    if [[ -n $addr ]]; then
      echo "$addr"
      return 0
    fi
    sleep 0.1
  done
  echo "broker did not start; log:" >&2
  cat "$file" >&2
  return 1
}

declare -A ADDR PID
for t in $TARGETS; do
  case $t in
  gregor | baseline | metrics)
    bin=$GREGOR
    if [[ $t == baseline ]]; then
      bin=${BENCH_BASELINE:?BENCH_BASELINE names the gregor binary of the baseline target}
    fi
    extra=()
    if [[ $t == metrics ]]; then
      hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
      extra=(--override "http.listeners=http://127.0.0.1:$hport")
    fi
    mkdir -p "$WORK/$t-data"
    "$bin" serve --log-format json --log-level info \
      --override "log.dirs=$WORK/$t-data" \
      --override "listeners=PLAINTEXT://127.0.0.1:0" "${extra[@]}" \
      >"$WORK/$t.log" 2>&1 &
    PID[$t]=$!
    PIDS+=("$!")
    # The "listening" line carries the port the kernel chose.
    ADDR[$t]=$(wait_addr "$WORK/$t.log" '"listener":"PLAINTEXT","addr":"127\.0\.0\.1:[0-9]+' | sed 's/.*"//')
    if [[ $t == metrics ]]; then
      (
        n=0
        while sleep "${BENCH_SCRAPE_INTERVAL:-1}"; do
          curl -sf "http://127.0.0.1:$hport/metrics" >/dev/null && n=$((n + 1)) && echo "$n" >"$WORK/scrapes"
        done
      ) &
      PIDS+=("$!")
    fi
    ;;
  kfake)
    kargs=(--port 0)
    if [[ -z ${BENCH_KFAKE_MEMORY:-} ]]; then
      kargs+=(--data-dir "$WORK/kfake-data")
    fi
    "$WORK/kfake" "${kargs[@]}" >"$WORK/kfake.log" 2>&1 &
    PID[kfake]=$!
    PIDS+=("$!")
    ADDR[kfake]=$(wait_addr "$WORK/kfake.log" '127\.0\.0\.1:[0-9]+')
    ;;
  *)
    echo "unknown target $t (want gregor, kfake, baseline or metrics)" >&2
    exit 2
    ;;
  esac
  echo "   $t: ${ADDR[$t]} pid ${PID[$t]}"
done

echo "== machine: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), $(go version | cut -d' ' -f3)"
echo "== $REPS reps of [$WORKLOADS] against [$TARGETS], interleaved"

workload_args() {
  case $1 in
  produce) echo "--duration $DURATION --warmup $WARMUP --producers $PRODUCERS --acks $ACKS" ;;
  txn) echo "--duration $DURATION --warmup $WARMUP --producers $PRODUCERS --acks all --txn-records $TXN_RECORDS" ;;
  consume) echo "--duration $CONSUME_DURATION --records $CONSUME_RECORDS --consumers $CONSUMERS" ;;
  latency) echo "--duration $DURATION --warmup $WARMUP --rate $LATENCY_RATE --acks $ACKS" ;;
  rtt) echo "--duration $DURATION --warmup $WARMUP --rate $LATENCY_RATE --acks $ACKS --partitions 1" ;;
  *)
    echo "unknown workload $1" >&2
    return 2
    ;;
  esac
}

for w in $WORKLOADS; do
  args=$(workload_args "$w")
  for rep in $(seq "$REPS"); do
    for t in $TARGETS; do
      before=$(wc -l <"$RESULTS")
      # shellcheck disable=SC2086
      if ! "$TOOL" bench "$w" --quiet --brokers "${ADDR[$t]}" --pid "${PID[$t]}" --label "$t" \
        --result "$RESULTS" --record-size "$RECORD_SIZE" --partitions "$PARTITIONS" $args \
        >"$WORK/$w-$t-$rep.out" 2>&1; then
        echo "   $w $t #$rep FAILED:" >&2
        cat "$WORK/$w-$t-$rep.out" >&2
        exit 1
      fi
      tail -n +"$((before + 1))" "$RESULTS" | while read -r line; do
        printf '   %-8s %-7s #%s %s\n' "$w" "$t" "$rep" \
          "$(tr ' ' '\n' <<<"$line" | grep -E '^(series|mib_s|p99_ms|cpu_s_gib|rss_mib|errors)=' | tr '\n' ' ')"
      done
    done
  done
done

# field LINE KEY: the value of KEY=... in a result line.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# median TARGET WORKLOAD SERIES KEY: median over the reps ("-" if none).
# cpu_pct is derived: broker CPU as % of a core (cpu-s/GiB × GiB/s).
median() {
  local vals=() line v
  while read -r line; do
    [[ -z $line ]] && continue
    if [[ $4 == cpu_pct ]]; then
      local c m
      c=$(field "$line" cpu_s_gib)
      m=$(field "$line" mib_s)
      [[ $c == - ]] && continue
      v=$(awk -v c="$c" -v m="$m" 'BEGIN { printf "%.1f", c * m / 1024 * 100 }')
    else
      v=$(field "$line" "$4")
    fi
    [[ $v == - || -z $v ]] && continue
    vals+=("$v")
  done < <(grep -E "^label=$1 workload=$2 series=$3 " "$RESULTS" || true)
  if [[ ${#vals[@]} -eq 0 ]]; then
    echo -
    return
  fi
  printf '%s\n' "${vals[@]}" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

ratio() {
  if [[ $1 == - || $2 == - ]]; then
    echo -
  else
    awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'
  fi
}

echo
echo "== gregor vs $VS: median of $REPS (noisy: $(nproc) shared cpus, load now $(cut -d' ' -f1-3 /proc/loadavg))"
echo "   ratio = gregor/$VS: above 1 is better for throughput, below 1 is better for cpu, latency and memory"
printf '%-8s %-26s %12s %12s %9s\n' workload metric gregor "$VS" ratio
row() { # WORKLOAD SERIES KEY LABEL
  local g k
  g=$(median gregor "$1" "$2" "$3")
  k=$(median "$VS" "$1" "$2" "$3")
  printf '%-8s %-26s %12s %12s %9s\n' "$1" "$4" "$g" "$k" "$(ratio "$g" "$k")"
}
for w in $WORKLOADS; do
  case $w in
  txn)
    row txn produce mib_s "MiB/s"
    row txn produce rec_s "records/s"
    row txn produce p99_ms "p99 produce->ack ms"
    row txn produce cpu_s_gib "broker cpu-s/GiB"
    ;;
  produce)
    row produce produce mib_s "MiB/s"
    row produce produce rec_s "records/s"
    row produce produce p99_ms "p99 produce->ack ms"
    row produce produce cpu_s_gib "broker cpu-s/GiB"
    row produce produce rss_mib "broker peak RSS MiB"
    ;;
  consume)
    row consume consume mib_s "MiB/s"
    row consume consume cpu_s_gib "broker cpu-s/GiB"
    row consume consume rss_mib "broker peak RSS MiB"
    ;;
  latency)
    row latency produce p50_ms "p50 produce->ack ms"
    row latency produce p99_ms "p99 produce->ack ms"
    row latency e2e p50_ms "p50 produce->consume ms"
    row latency e2e p99_ms "p99 produce->consume ms"
    row latency e2e p999_ms "p999 produce->consume ms"
    row latency produce cpu_pct "broker cpu % of a core"
    ;;
  rtt)
    row rtt rtt p50_ms "p50 raw produce RTT ms"
    row rtt rtt p99_ms "p99 raw produce RTT ms"
    row rtt rtt p999_ms "p999 raw produce RTT ms"
    ;;
  esac
done
if [[ -f $WORK/scrapes ]]; then
  echo "== metrics: /metrics scraped $(cat "$WORK/scrapes") times, $(curl -sf "http://127.0.0.1:$hport/metrics" | wc -c) bytes each"
fi
echo "== done in $(($(date +%s) - START))s"
