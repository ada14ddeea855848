package main

// gregor-bench scale: how a broker's cost grows with partitions, client
// connections and log size. Each run starts its own gregor broker process
// (--broker-bin serve, data and broker log under --dir), measures it
// through /proc and through the Kafka protocol, restarts it where the run
// asks for it, and stops it at the end.
//
//	gregor-bench scale partitions  --dir DIR --partitions N   topics totalling N partitions
//	gregor-bench scale connections --dir DIR --conns C        C idle client connections
//	gregor-bench scale logsize     --dir DIR --sizes 5,10     one partition grown to each size (GiB)
//	gregor-bench scale report      --result FILE              the tables of a result file
//
// partitions: creates N/--per-topic topics (kadm, 10 topics per request),
// waits until Metadata shows every partition led and then until the
// broker's open file count stops changing (it opens the new logs in the
// background, a few ms each); samples the broker's
// RSS, open fds and threads; times --metadata-requests Metadata requests
// for every topic on one connection; produces one --record-size record to
// every partition (franz-go, acks=all) and reads them back (raw Fetch
// requests for every partition, on a connection opened before producing);
// checks the broker is still alive and answers on an old and a new
// connection; then restarts it (SIGTERM, start) and times how long until
// Metadata shows every partition led again.
//
// connections: opens C TCP connections, each sending ApiVersions and a
// Metadata request and then staying idle; samples the broker; times
// Metadata on one more connection; moves --records records through a
// franz-go producer and consumer while the C are open; checks every one of
// the C still answers; closes them and samples again.
//
// logsize: grows one partition to each size in turn (--producers franz-go
// clients, acks=1, 1 MiB batches), then: an unclean restart right after
// the writes, with the active segment grown to --unclean-fill of
// segment.bytes first, so recovery rescans close to its worst case
// (SIGKILL, start, time until a Fetch at offset 0 returns data),
// a clean restart (SIGTERM, start, the same), Fetch latency at offset 0,
// the middle and the end (the first request, then the median of 5) and a
// ListOffsets timestamp lookup. With --drop-caches the page cache is
// dropped before each start (root), so restarts and first fetches read
// from disk. It refuses to grow the log
// past the point where the file system would keep less than --min-free.
//
// Every run prints what it measured and, with --result FILE, appends one
// key=value line per measurement to FILE; `gregor-bench scale report` turns
// those lines into the tables of bench/SCALE.md. bench/scale.sh drives
// the whole series.

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/wire"
)

const scaleUsage = `usage: gregor-bench scale partitions|connections|logsize|report [flags]

  partitions   topics totalling --partitions partitions: create, Metadata, produce and fetch all, restart
  connections  --conns idle client connections: broker memory and threads, Metadata and produce/consume alongside
  logsize      one partition grown to each of --sizes GiB: clean and unclean restart, fetch at start/middle/end
  report       print the tables of the --result file the runs appended to

Each run starts (and stops) its own broker: --broker-bin serve, data and log under --dir.
gregor-bench scale WHAT -h lists the flags.`

type scaleConfig struct {
	what      string
	brokerBin string
	dir       string
	overrides multiFlag
	result    string
	timeout   time.Duration
	settle    time.Duration

	partitions int
	perTopic   int
	recordSize int
	metaReqs   int

	conns        int
	records      int
	dialParallel int

	sizes       []int64
	producers   int
	minFree     int64
	dropCaches  bool
	uncleanFill float64
}

func scale(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(os.Stderr, scaleUsage)
		return errors.New("scale: missing what to measure")
	}
	cfg := scaleConfig{what: args[0]}
	fs := flag.NewFlagSet("scale "+cfg.what, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), scaleUsage+"\n\nflags:"); fs.PrintDefaults() }
	// The broker binary defaults to bin/gregor next to bin/gregor-bench.
	self, _ := os.Executable()
	fs.StringVar(&cfg.brokerBin, "broker-bin", filepath.Join(filepath.Dir(self), "gregor"), "gregor binary to run as the broker")
	fs.StringVar(&cfg.dir, "dir", "", "work directory: broker data (DIR/data) and log (DIR/broker.log); must not hold data yet")
	fs.Var(&cfg.overrides, "override", "key=value passed to the broker (repeatable)")
	fs.StringVar(&cfg.result, "result", "", "append one key=value line per measurement to this file")
	fs.DurationVar(&cfg.timeout, "timeout", 15*time.Minute, "give up after this long")
	fs.DurationVar(&cfg.settle, "settle", 2*time.Second, "wait this long before sampling the broker's memory")
	fs.IntVar(&cfg.partitions, "partitions", 1000, "partitions: total partitions")
	fs.IntVar(&cfg.perTopic, "per-topic", 100, "partitions: partitions per topic")
	fs.IntVar(&cfg.recordSize, "record-size", 0, "record value bytes (partitions: 1024, connections: 200, logsize: 16384)")
	fs.IntVar(&cfg.metaReqs, "metadata-requests", 20, "Metadata requests timed (median reported)")
	fs.IntVar(&cfg.conns, "conns", 1000, "connections: idle connections")
	fs.IntVar(&cfg.records, "records", 10000, "connections: records produced and consumed while the connections are open")
	fs.IntVar(&cfg.dialParallel, "dial-parallel", 50, "connections: connections opened at once")
	sizes := fs.String("sizes", "5,10,20,40", "logsize: log sizes in GiB, ascending, comma separated (fractions allowed)")
	fs.IntVar(&cfg.producers, "producers", 4, "logsize: producer clients filling the log")
	minFree := fs.Float64("min-free", 20, "logsize: GiB the file system must keep free")
	fs.Float64Var(&cfg.uncleanFill, "unclean-fill", 0.9, "logsize: before the unclean restart, grow the active segment to this share of segment.bytes (what recovery rescans; 0: as it is)")
	fs.BoolVar(&cfg.dropCaches, "drop-caches", false, "logsize: drop the page cache (sync; echo 3 > /proc/sys/vm/drop_caches) before each restart")
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("scale: unexpected argument %q", fs.Arg(0))
	}
	if cfg.what == "report" {
		if cfg.result == "" {
			return errors.New("scale report: --result is required")
		}
		return scaleReport(os.Stdout, cfg.result)
	}
	if cfg.recordSize == 0 {
		cfg.recordSize = map[string]int{"partitions": 1024, "connections": 200, "logsize": 16384}[cfg.what]
	}
	for _, s := range strings.Split(*sizes, ",") {
		g, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || g <= 0 || (len(cfg.sizes) > 0 && int64(g*(1<<30)) <= cfg.sizes[len(cfg.sizes)-1]) {
			return fmt.Errorf("scale: --sizes %q: want ascending positive GiB", *sizes)
		}
		cfg.sizes = append(cfg.sizes, int64(g*(1<<30)))
	}
	cfg.minFree = int64(*minFree * (1 << 30))
	switch {
	case cfg.dir == "":
		return errors.New("scale: --dir is required")
	case cfg.partitions < 1 || cfg.perTopic < 1 || cfg.conns < 0 || cfg.records < 1 || cfg.dialParallel < 1 || cfg.producers < 1 || cfg.metaReqs < 1:
		return errors.New("scale: counts must be positive")
	case cfg.recordSize < 8 || cfg.recordSize > 512<<10:
		return errors.New("scale: --record-size must be in [8, 524288]")
	}
	if cfg.what != "partitions" && cfg.what != "connections" && cfg.what != "logsize" {
		fmt.Fprintln(os.Stderr, scaleUsage)
		return fmt.Errorf("scale: unknown measurement %q", cfg.what)
	}
	if ents, err := os.ReadDir(filepath.Join(cfg.dir, "data")); err == nil && len(ents) > 0 {
		return fmt.Errorf("scale: %s/data is not empty: every run starts from a fresh broker", cfg.dir)
	}
	if err := os.MkdirAll(filepath.Join(cfg.dir, "data"), 0o755); err != nil {
		return err
	}
	// The connections run holds --conns sockets of its own: Go's runtime
	// has already raised the soft RLIMIT_NOFILE to the hard limit.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	s := &scaler{cfg: cfg, res: map[string]string{"step": cfg.what}}
	s.b = &brokerProc{bin: cfg.brokerBin, dataDir: filepath.Join(cfg.dir, "data"), logPath: filepath.Join(cfg.dir, "broker.log"), overrides: cfg.overrides}
	defer s.b.kill()
	var err error
	switch cfg.what {
	case "partitions":
		err = s.partitions(ctx)
	case "connections":
		err = s.connections(ctx)
	case "logsize":
		err = s.logsize(ctx)
	}
	if err != nil {
		s.set("error", err.Error())
		s.note("error: %v", err)
	}
	if cfg.what != "logsize" || err != nil {
		s.flush()
	}
	return err
}

// scaler is one run: the broker it drives and the measurements it keeps.
type scaler struct {
	cfg scaleConfig
	b   *brokerProc
	res map[string]string // the current result line
}

func (s *scaler) set(k string, v any) {
	switch v := v.(type) {
	case time.Duration:
		s.res[k] = strconv.FormatFloat(v.Seconds(), 'f', 3, 64)
	case float64:
		s.res[k] = strconv.FormatFloat(v, 'f', 3, 64)
	case string:
		s.res[k] = strings.Join(strings.Fields(v), "_") // one token
	default:
		s.res[k] = fmt.Sprint(v)
	}
}

func (s *scaler) note(format string, args ...any) {
	fmt.Printf("%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// flush appends the result line to --result and starts a new one.
func (s *scaler) flush() {
	keys := make([]string, 0, len(s.res))
	for k := range s.res {
		if k != "step" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	line := "step=" + s.res["step"]
	for _, k := range keys {
		line += " " + k + "=" + s.res[k]
	}
	fmt.Println("result:", line)
	if s.cfg.result != "" {
		f, err := os.OpenFile(s.cfg.result, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
	s.res = map[string]string{"step": s.cfg.what}
}

// sample records the broker's RSS, its anonymous and file-backed parts and
// the peak RSS since it started (MiB), open fds and threads as
// prefix_rss_mib, prefix_anon_mib, prefix_file_mib, prefix_hwm_mib,
// prefix_fds, prefix_threads.
func (s *scaler) sample(prefix string) procSample {
	p := sampleProc(s.b.pid())
	s.set(prefix+"_rss_mib", float64(p.rssKB)/1024)
	s.set(prefix+"_anon_mib", float64(p.anonKB)/1024)
	s.set(prefix+"_file_mib", float64(p.fileKB)/1024)
	s.set(prefix+"_hwm_mib", float64(p.hwmKB)/1024)
	s.set(prefix+"_fds", p.fds)
	s.set(prefix+"_threads", p.threads)
	s.note("broker %s: RSS %.1f MiB (anon %.1f, file %.1f; peak %.1f), %d open fds, %d threads", prefix,
		float64(p.rssKB)/1024, float64(p.anonKB)/1024, float64(p.fileKB)/1024, float64(p.hwmKB)/1024, p.fds, p.threads)
	return p
}

func (s *scaler) settle(ctx context.Context) {
	select {
	case <-time.After(s.cfg.settle):
	case <-ctx.Done():
	}
}

// waitFdsSettle polls the broker's open file count every 50 ms until it
// has not changed for quiet (or timeout), and returns when it last changed
// (since start) and the count.
func (s *scaler) waitFdsSettle(ctx context.Context, start time.Time, quiet, timeout time.Duration) (time.Duration, int) {
	last := sampleProc(s.b.pid()).fds
	changed := time.Now()
	for time.Since(changed) < quiet && time.Since(start) < timeout && ctx.Err() == nil && s.b.exitErr() == nil {
		time.Sleep(50 * time.Millisecond)
		if n := sampleProc(s.b.pid()).fds; n != last {
			last, changed = n, time.Now()
		}
	}
	return changed.Sub(start), last
}

// startBroker starts the broker and waits until it answers Metadata.
func (s *scaler) startBroker(ctx context.Context, key string) error {
	if s.b.addr == "" {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.b.addr = "127.0.0.1:" + strconv.Itoa(port)
	}
	if err := s.b.start(); err != nil {
		return err
	}
	_, took, err := s.waitMetadata(ctx, nil, 2*time.Minute, func(md *kmsg.MetadataResponse) bool { return len(md.Brokers) > 0 })
	if err != nil {
		return err
	}
	s.set(key, took)
	s.set("nofile_limit", procLimit(s.b.pid(), "Max open files"))
	return nil
}

// waitMetadata polls Metadata (every topic) until ok accepts it, the broker
// exits, or timeout. It returns the accepted response and the time since
// the broker process started. It asks on conn if not nil (an error on it
// ends the wait), else on connections of its own.
func (s *scaler) waitMetadata(ctx context.Context, conn *rawConn, timeout time.Duration, ok func(*kmsg.MetadataResponse) bool) (*kmsg.MetadataResponse, time.Duration, error) {
	rc := conn
	defer func() {
		if rc != nil && rc != conn {
			rc.close()
		}
	}()
	deadline := time.Now().Add(timeout)
	for {
		if err := s.b.exitErr(); err != nil {
			return nil, 0, err
		}
		if rc == nil {
			rc, _ = dialRaw(ctx, s.b.addr, 5*time.Second)
		}
		if rc != nil {
			md, _, err := rc.metadata()
			if err == nil && ok(md) {
				return md, time.Since(s.b.started), nil
			}
			if err != nil && conn != nil {
				return nil, 0, err
			}
			if err != nil {
				rc.close()
				rc = nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, 0, fmt.Errorf("scale: broker not ready after %v (%v)", timeout, cmp.Or(ctx.Err(), errors.New("timeout")))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- partitions ----

func (s *scaler) partitions(ctx context.Context) error {
	cfg := s.cfg
	n := cfg.partitions
	s.set("n", n)
	if err := s.startBroker(ctx, "start_s"); err != nil {
		return err
	}
	// The connections every later step uses are opened first: when the
	// broker runs out of file descriptors it can no longer accept new ones.
	// rc sends Metadata and Fetch; cl's producer connection is warmed up
	// with a record to a one-partition topic.
	rc, err := dialRaw(ctx, s.b.addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer rc.close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.b.addr), kgo.ClientID("gregor-scale"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(30*time.Second),
		kgo.MaxBufferedRecords(max(n, 10000)))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "warmup"); err != nil {
		return fmt.Errorf("scale: create warmup: %w", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "warmup", Value: []byte("warmup")}).FirstErr(); err != nil {
		return fmt.Errorf("scale: produce to warmup: %w", err)
	}
	s.settle(ctx)
	s.sample("base")
	s.note("broker pid %d on %s, RLIMIT_NOFILE %s", s.b.pid(), s.b.addr, s.res["nofile_limit"])

	// Topics scale-00000..., perTopic partitions each (the last one the rest).
	type topicSpec struct {
		name  string
		parts int32
	}
	var specs []topicSpec
	for left, i := n, 0; left > 0; i++ {
		p := min(left, cfg.perTopic)
		specs = append(specs, topicSpec{fmt.Sprintf("scale-%05d", i), int32(p)})
		left -= p
	}
	start := time.Now()
	createErrs := map[string]int{}
	for i := 0; i < len(specs); i += 10 {
		byCount := map[int32][]string{}
		for _, sp := range specs[i:min(i+10, len(specs))] {
			byCount[sp.parts] = append(byCount[sp.parts], sp.name)
		}
		for parts, names := range byCount {
			cctx, ccancel := context.WithTimeout(ctx, time.Minute)
			resps, err := adm.CreateTopics(cctx, parts, 1, nil, names...)
			ccancel()
			if err != nil {
				createErrs[err.Error()] += len(names)
				continue
			}
			for _, r := range resps {
				if r.Err != nil {
					createErrs[r.Err.Error()]++
				}
			}
		}
	}
	createResp := time.Since(start)
	s.set("create_resp_s", createResp)
	s.set("create_errors", errSummary(createErrs))
	allLed := func(md *kmsg.MetadataResponse) bool {
		sum := summarize(md)
		return sum.partitions >= n && sum.led >= n
	}
	md, _, err := s.waitMetadata(ctx, rc, 2*time.Minute, allLed)
	if err != nil {
		return fmt.Errorf("scale: waiting for %d led partitions: %w", n, err)
	}
	created := time.Since(start)
	s.set("create_s", created)
	s.note("created %d topics, %d partitions in %v (responses after %v), errors: %s", len(specs), n, created.Round(time.Millisecond), createResp.Round(time.Millisecond), errSummary(createErrs))
	// The broker opens the new logs in the background after Metadata
	// shows them led: wait until its open files stop changing.
	opened, fds := s.waitFdsSettle(ctx, start, 3*time.Second, 5*time.Minute)
	s.set("open_s", opened)
	s.note("logs opened: the broker's open fds stopped changing at %d, %v after the create requests", fds, opened.Round(time.Millisecond))
	base := parseF(s.res["base_rss_mib"])
	p := s.sample("created")
	s.set("created_kib_per_part", (float64(p.rssKB)/1024-base)*1024/float64(n))
	s.set("fds_per_part", float64(p.fds-parseInt(s.res["base_fds"]))/float64(n))

	// Metadata for every topic, on one connection.
	lat, size, err := timeMetadata(rc, cfg.metaReqs)
	if err != nil {
		return err
	}
	s.set("metadata_p50_ms", ms(median(lat)))
	s.set("metadata_max_ms", ms(slices.Max(lat)))
	s.set("metadata_kib", float64(size)/1024)
	s.note("Metadata (all topics, %d KiB response): median %.2f ms, max %.2f ms over %d requests", size>>10, ms(median(lat)), ms(slices.Max(lat)), len(lat))

	// One record to every partition, acks=all.
	var parts []tpKey
	for _, t := range md.Topics {
		if t.Topic == nil || !strings.HasPrefix(*t.Topic, "scale-") {
			continue
		}
		for _, pt := range t.Partitions {
			parts = append(parts, tpKey{*t.Topic, pt.Partition})
		}
	}
	slices.SortFunc(parts, func(a, b tpKey) int { return cmp.Or(strings.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part)) })
	value := make([]byte, cfg.recordSize)
	for i := range value {
		value[i] = byte(i)
	}
	var mu sync.Mutex
	acked := map[tpKey]bool{}
	prodErrs := map[string]int{}
	var wg sync.WaitGroup
	start = time.Now()
	for _, k := range parts {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: k.topic, Partition: k.part, Value: value}, func(_ *kgo.Record, err error) {
			mu.Lock()
			if err != nil {
				prodErrs[err.Error()]++
			} else {
				acked[k] = true
			}
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	produced := time.Since(start)
	s.set("produce_s", produced)
	s.set("produce_acked", len(acked))
	s.set("produce_errors", errSummary(prodErrs))
	s.note("produced one %d-byte record to each of %d partitions in %v: %d acked, errors: %s", cfg.recordSize, len(parts), produced.Round(time.Millisecond), len(acked), errSummary(prodErrs))
	s.settle(ctx)
	p = s.sample("produced")
	s.set("produced_kib_per_part", (float64(p.rssKB)/1024-base)*1024/float64(n))

	// Read them back: Fetch for every partition, as a consumer of every
	// topic would send, on the connection opened before producing.
	start = time.Now()
	got, fetchErrs, err := fetchAll(ctx, rc, parts, acked, time.Minute)
	consumed := time.Since(start)
	if err != nil {
		fetchErrs["request: "+err.Error()]++
	}
	s.set("consume_s", consumed)
	s.set("consume_got", got)
	s.set("consume_errors", errSummary(fetchErrs))
	s.note("fetched back %d of %d acked records in %v, partition errors: %s", got, len(acked), consumed.Round(time.Millisecond), errSummary(fetchErrs))

	// Still serving? The old connection, a new one, and a write to a
	// partition that took one before.
	s.set("alive", s.b.exitErr() == nil)
	_, _, err = rc.metadata()
	s.set("old_conn_ok", err == nil)
	s.set("new_conn_ok", newConnMetadata(ctx, s.b.addr, 5*time.Second) == nil)
	if len(acked) > 0 {
		var first tpKey
		for _, k := range parts {
			if acked[k] {
				first = k
				break
			}
		}
		pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
		err := cl.ProduceSync(pctx, &kgo.Record{Topic: first.topic, Partition: first.part, Value: value}).FirstErr()
		pcancel()
		s.set("produce_again_ok", err == nil)
		if err != nil {
			s.set("produce_again_error", err.Error())
		}
	}
	s.note("afterwards: broker alive %s, old connection answers %s, new connection answers %s, produce again to an acked partition %s %s",
		s.res["alive"], s.res["old_conn_ok"], s.res["new_conn_ok"], s.res["produce_again_ok"], s.res["produce_again_error"])
	cl.Close()
	rc.close()

	// Restart: SIGTERM, start, every partition led again.
	if s.b.exitErr() == nil {
		shut, err := s.b.stop(syscall.SIGTERM, 2*time.Minute)
		s.set("shutdown_s", shut)
		if err != nil {
			s.set("shutdown_exit", err.Error())
		}
		if err := s.b.start(); err != nil {
			return err
		}
		_, took, err := s.waitMetadata(ctx, nil, 3*time.Minute, allLed)
		if err != nil {
			s.set("restart_error", err.Error())
			s.note("restart failed: %v", err)
		} else {
			s.set("restart_s", took)
			s.note("restarted (shutdown %v): every partition led %v after the start", shut.Round(time.Millisecond), took.Round(time.Millisecond))
			s.settle(ctx)
			s.sample("restarted")
		}
	}
	s.brokerLog()
	if _, err := s.b.stop(syscall.SIGTERM, 2*time.Minute); err != nil && s.res["restart_error"] == "" {
		s.set("final_exit", err.Error())
	}
	return nil
}

type tpKey struct {
	topic string
	part  int32
}

// fetchAll fetches every partition from offset 0 until each partition in
// acked returned a record batch, every other partition answered once, or
// timeout. It returns the partitions with data and the error codes seen.
func fetchAll(ctx context.Context, rc *rawConn, parts []tpKey, acked map[tpKey]bool, timeout time.Duration) (int, map[string]int, error) {
	errs := map[string]int{}
	pending := map[tpKey]bool{}
	for _, k := range parts {
		pending[k] = true
	}
	got := 0
	deadline := time.Now().Add(timeout)
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.MaxWaitMillis = 100
		req.MinBytes = 1
		req.MaxBytes = 50 << 20
		byTopic := map[string]int{}
		for _, k := range parts {
			if !pending[k] {
				continue
			}
			i, ok := byTopic[k.topic]
			if !ok {
				i = len(req.Topics)
				byTopic[k.topic] = i
				t := kmsg.NewFetchRequestTopic()
				t.Topic = k.topic
				req.Topics = append(req.Topics, t)
			}
			p := kmsg.NewFetchRequestTopicPartition()
			p.Partition = k.part
			p.PartitionMaxBytes = 64 << 10
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
		}
		r, _, err := rc.do(req)
		if err != nil {
			return got, errs, err
		}
		for _, t := range r.(*kmsg.FetchResponse).Topics {
			for _, p := range t.Partitions {
				k := tpKey{t.Topic, p.Partition}
				if !pending[k] {
					continue
				}
				switch {
				case p.ErrorCode != 0:
					errs[kerr.ErrorForCode(p.ErrorCode).Error()]++
					if !acked[k] {
						delete(pending, k)
					}
				case len(p.RecordBatches) > 0:
					got++
					delete(pending, k)
				case !acked[k]:
					delete(pending, k) // nothing written, nothing to wait for
				}
			}
		}
	}
	return got, errs, nil
}

// ---- connections ----

func (s *scaler) connections(ctx context.Context) error {
	cfg := s.cfg
	s.set("c", cfg.conns)
	if err := s.startBroker(ctx, "start_s"); err != nil {
		return err
	}
	topic := "scale-conns"
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.b.addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 4, 1, nil, topic); err != nil {
		return fmt.Errorf("scale: create %s: %w", topic, err)
	}
	cl.Close()
	s.settle(ctx)
	base := s.sample("base")
	s.note("broker pid %d on %s, RLIMIT_NOFILE %s", s.b.pid(), s.b.addr, s.res["nofile_limit"])

	conns := make([]*rawConn, cfg.conns)
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	start := time.Now()
	parallel(cfg.conns, cfg.dialParallel, func(i int) {
		rc, err := dialRaw(ctx, s.b.addr, 30*time.Second)
		if err == nil {
			if _, _, err = rc.do(apiVersionsRequest()); err == nil {
				_, _, err = rc.metadata()
			}
			if err != nil {
				rc.close()
			}
		}
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		conns[i] = rc
	})
	opened := time.Since(start)
	s.set("open_s", opened)
	s.set("open_failed", failed.Load())
	if e := firstErr.Load(); e != nil {
		s.set("open_error", (*e).Error())
	}
	s.note("opened %d connections (ApiVersions + Metadata each) in %v, %d failed", cfg.conns, opened.Round(time.Millisecond), failed.Load())
	s.settle(ctx)
	p := s.sample("open")
	if cfg.conns > 0 {
		s.set("kib_per_conn", float64(p.rssKB-base.rssKB)/float64(cfg.conns))
	}

	rc, err := dialRaw(ctx, s.b.addr, 30*time.Second)
	if err != nil {
		return err
	}
	lat, _, err := timeMetadata(rc, cfg.metaReqs)
	rc.close()
	if err != nil {
		return err
	}
	s.set("metadata_p50_ms", ms(median(lat)))
	s.set("metadata_max_ms", ms(slices.Max(lat)))
	s.note("Metadata on one more connection: median %.2f ms, max %.2f ms", ms(median(lat)), ms(slices.Max(lat)))

	start = time.Now()
	err = produceConsume(ctx, loadtestConfig{records: cfg.records, valueSize: cfg.recordSize}, []string{s.b.addr}, topic)
	took := time.Since(start)
	s.set("pc_ok", err == nil)
	s.set("pc_s", took)
	if err != nil {
		s.set("pc_error", err.Error())
	}
	s.note("franz-go producer + consumer, %d records: %v in %v", cfg.records, cmp.Or[any](err, "ok"), took.Round(time.Millisecond))
	s.sample("pc")

	var answered atomic.Int64
	start = time.Now()
	parallel(cfg.conns, cfg.dialParallel, func(i int) {
		if conns[i] == nil {
			return
		}
		if _, _, err := conns[i].metadata(); err == nil {
			answered.Add(1)
		}
	})
	s.set("still_answer", answered.Load())
	s.set("still_answer_s", time.Since(start))
	s.note("%d of %d connections still answer Metadata (all asked at once, %d at a time: %v)", answered.Load(), cfg.conns, cfg.dialParallel, time.Since(start).Round(time.Millisecond))
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
	time.Sleep(3 * time.Second)
	s.sample("closed")
	s.set("alive", s.b.exitErr() == nil)
	s.brokerLog()
	if _, err := s.b.stop(syscall.SIGTERM, 2*time.Minute); err != nil {
		s.set("final_exit", err.Error())
	}
	return nil
}

// parallel runs fn(0..n-1) with at most k at once.
func parallel(n, k int, fn func(int)) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range min(n, k) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// ---- logsize ----

const logTopic = "scale-log"

func (s *scaler) logsize(ctx context.Context) error {
	cfg := s.cfg
	if err := s.startBroker(ctx, "start_s"); err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.b.addr))
	if err != nil {
		return err
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, logTopic); err != nil {
		cl.Close()
		return fmt.Errorf("scale: create %s: %w", logTopic, err)
	}
	cl.Close()
	partDir := filepath.Join(s.b.dataDir, logTopic+"-0")
	for _, size := range cfg.sizes {
		s.set("gib", float64(size)/(1<<30))
		have := dirStats(partDir).logBytes
		var st syscall.Statfs_t
		if err := syscall.Statfs(s.b.dataDir, &st); err != nil {
			return err
		}
		free := int64(st.Bavail) * int64(st.Bsize)
		if free-(size-have)-s.segmentBytes() < cfg.minFree { // the fill, then the active segment's top-up
			s.set("skipped", fmt.Sprintf("%.1f_GiB_free", float64(free)/(1<<30)))
			s.note("skipping %.1f GiB: %.1f GiB free, growing by %.1f GiB would leave less than %.1f GiB", float64(size)/(1<<30), float64(free)/(1<<30), float64(size-have)/(1<<30), float64(cfg.minFree)/(1<<30))
			s.flush()
			break
		}
		start := time.Now()
		n, err := s.fill(ctx, max(size-have, 0))
		if err != nil {
			return err
		}
		took := time.Since(start)
		if n > 0 {
			s.set("fill_mib_s", float64(n)/(1<<20)/took.Seconds())
		}
		ds := dirStats(partDir)
		s.set("segments", ds.segments)
		s.set("log_gib", float64(ds.logBytes)/(1<<30))
		s.set("index_kib", float64(ds.indexBytes)/1024)
		s.set("active_mib", float64(ds.activeBytes)/(1<<20))
		s.note("log at %.2f GiB (%d segments, indexes %d KiB, active segment %d MiB), filled at %.0f MiB/s",
			float64(ds.logBytes)/(1<<30), ds.segments, ds.indexBytes>>10, ds.activeBytes>>20, float64(n)/(1<<20)/took.Seconds())
		s.sample("filled")

		leo, err := s.logEnd(ctx)
		if err != nil {
			return err
		}
		s.set("leo", leo)

		// Unclean restart right after the writes, as after a crash:
		// everything after the recovery point (the start of the active
		// segment: segments are fsynced when they roll) is scanned again.
		// The active segment is grown first (--unclean-fill), so that the
		// rescan is close to its worst case rather than whatever the fill
		// happened to leave.
		if want := int64(s.cfg.uncleanFill * float64(s.segmentBytes())); ds.activeBytes < want {
			if _, err := s.fill(ctx, want-ds.activeBytes); err != nil {
				return err
			}
			ds = dirStats(partDir)
			s.set("log_gib", float64(ds.logBytes)/(1<<30))
			s.set("segments", ds.segments)
			s.set("index_kib", float64(ds.indexBytes)/1024)
			if leo, err = s.logEnd(ctx); err != nil {
				return err
			}
			s.set("leo", leo)
			s.note("active segment grown to %d MiB (log %.2f GiB) before the unclean restart", ds.activeBytes>>20, float64(ds.logBytes)/(1<<30))
		}
		s.set("unclean_scan_mib", float64(ds.activeBytes)/(1<<20))
		if _, err := s.b.stop(syscall.SIGKILL, time.Minute); err != nil && !strings.Contains(err.Error(), "killed") {
			s.set("kill_exit", err.Error())
		}
		if err := s.restartForFetch(ctx, "unclean"); err != nil {
			return err
		}
		leo2, err := s.logEnd(ctx)
		if err != nil {
			return err
		}
		s.set("unclean_leo_kept", leo2 == leo)
		s.note("after the unclean restart the log ends at %d (before: %d)", leo2, leo)
		s.settle(ctx)
		s.sample("unclean")

		// Clean restart.
		shut, err := s.b.stop(syscall.SIGTERM, 5*time.Minute)
		s.set("shutdown_s", shut)
		if err != nil {
			s.set("shutdown_exit", err.Error())
		}
		if err := s.restartForFetch(ctx, "clean"); err != nil {
			return err
		}
		s.settle(ctx)
		s.sample("clean")
		if err := s.fetchTimes(ctx, leo); err != nil {
			return err
		}
		s.flush()
	}
	s.brokerLog()
	if _, err := s.b.stop(syscall.SIGTERM, 5*time.Minute); err != nil {
		s.set("final_exit", err.Error())
		s.flush()
	}
	return nil
}

// logEnd returns the log end offset of the log topic.
func (s *scaler) logEnd(ctx context.Context) (int64, error) {
	rc, err := dialRaw(ctx, s.b.addr, 30*time.Second)
	if err != nil {
		return 0, err
	}
	defer rc.close()
	return rc.listOffset(-1)
}

// segmentBytes is the broker's log.segment.bytes (its default unless
// --override sets it).
func (s *scaler) segmentBytes() int64 {
	for _, o := range s.cfg.overrides {
		if k, v, ok := strings.Cut(o, "="); ok && strings.TrimSpace(k) == "log.segment.bytes" {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return n
			}
		}
	}
	return 1 << 30
}

// restartForFetch starts the broker (after dropping the page cache if
// asked) and records KIND_s: the time until a Fetch at offset 0 returns data.
func (s *scaler) restartForFetch(ctx context.Context, kind string) error {
	if s.cfg.dropCaches {
		syscall.Sync()
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
			s.set("drop_caches_error", err.Error())
		} else {
			s.set("cold", true)
		}
	}
	if err := s.b.start(); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if err := s.b.exitErr(); err != nil {
			return fmt.Errorf("scale: %s restart: %w", kind, err)
		}
		if rc, err := dialRaw(ctx, s.b.addr, 5*time.Second); err == nil {
			p, _, err := rc.fetch(0)
			rc.close()
			if err == nil && p.ErrorCode == 0 && len(p.RecordBatches) > 0 {
				took := time.Since(s.b.started)
				s.set(kind+"_s", took)
				s.note("%s restart: Fetch at offset 0 returned data %v after the start", kind, took.Round(time.Millisecond))
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("scale: %s restart: no data at offset 0 after 5m", kind)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fetchTimes times Fetch at offset 0, the middle and the end of the log
// (the first request, then the median of 5) and a ListOffsets timestamp
// lookup of the middle.
func (s *scaler) fetchTimes(ctx context.Context, leo int64) error {
	rc, err := dialRaw(ctx, s.b.addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer rc.close()
	var midTs int64 = -1
	for _, at := range []struct {
		name string
		off  int64
	}{{"start", 0}, {"mid", leo / 2}, {"end", leo - 1}} {
		var lat []time.Duration
		for i := 0; i < 6; i++ {
			t := time.Now()
			p, _, err := rc.fetch(at.off)
			lat = append(lat, time.Since(t))
			if err == nil && p.ErrorCode != 0 {
				err = kerr.ErrorForCode(p.ErrorCode)
			}
			if err == nil && len(p.RecordBatches) == 0 {
				err = fmt.Errorf("no data at offset %d", at.off)
			}
			if err != nil {
				return fmt.Errorf("scale: fetch at %d: %w", at.off, err)
			}
			if at.name == "mid" && i == 0 {
				var b kmsg.RecordBatch
				if err := b.ReadFrom(firstBatch(p.RecordBatches)); err == nil {
					midTs = b.FirstTimestamp
				}
			}
		}
		s.set("fetch_"+at.name+"_first_ms", ms(lat[0]))
		s.set("fetch_"+at.name+"_ms", ms(median(lat[1:])))
	}
	if midTs >= 0 {
		var lat []time.Duration
		var off int64
		for i := 0; i < 6; i++ {
			t := time.Now()
			off, err = rc.listOffset(midTs)
			lat = append(lat, time.Since(t))
			if err != nil {
				return err
			}
		}
		s.set("ts_lookup_first_ms", ms(lat[0]))
		s.set("ts_lookup_ms", ms(median(lat[1:])))
		s.set("ts_lookup_off_ok", off <= leo/2 && off >= leo/2-(1<<20))
	}
	s.note("fetch ms (first/median): start %s/%s, middle %s/%s, end %s/%s; timestamp lookup %s/%s",
		s.res["fetch_start_first_ms"], s.res["fetch_start_ms"], s.res["fetch_mid_first_ms"], s.res["fetch_mid_ms"],
		s.res["fetch_end_first_ms"], s.res["fetch_end_ms"], s.res["ts_lookup_first_ms"], s.res["ts_lookup_ms"])
	return nil
}

func firstBatch(b []byte) []byte {
	if len(b) < 12 {
		return b
	}
	if n := 12 + int(binary.BigEndian.Uint32(b[8:])); n <= len(b) {
		return b[:n]
	}
	return b
}

// fill produces n bytes of record values into the log topic (acks=1,
// 1 MiB batches) and returns the bytes acknowledged.
func (s *scaler) fill(ctx context.Context, n int64) (int64, error) {
	size := int64(s.cfg.recordSize)
	var issued, acked atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	values := make([]byte, 64<<20)
	for i := 0; i+8 <= len(values); i += 8 {
		binary.LittleEndian.PutUint64(values[i:], uint64(i)*0x9e3779b97f4a7c15)
	}
	for w := 0; w < s.cfg.producers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cl, err := kgo.NewClient(kgo.SeedBrokers(s.b.addr), kgo.DefaultProduceTopic(logTopic),
				kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
				kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20),
				kgo.MaxBufferedBytes(64<<20))
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			defer cl.Close()
			span := int64(len(values)) - size
			for i := int64(w); issued.Add(size) <= n && ctx.Err() == nil && firstErr.Load() == nil; i += int64(s.cfg.producers) {
				off := (i * (size + 7)) % span
				cl.Produce(ctx, &kgo.Record{Value: values[off : off+size]}, func(r *kgo.Record, err error) {
					if err != nil {
						firstErr.CompareAndSwap(nil, &err)
						return
					}
					acked.Add(int64(len(r.Value)))
				})
			}
			if err := cl.Flush(ctx); err != nil {
				firstErr.CompareAndSwap(nil, &err)
			}
		}(w)
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return acked.Load(), fmt.Errorf("scale: fill: %w", *e)
	}
	return acked.Load(), ctx.Err()
}

type logDirStats struct {
	segments             int
	logBytes, indexBytes int64
	activeBytes          int64 // the newest .log file
	activeBase           string
}

func dirStats(dir string) logDirStats {
	var st logDirStats
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue
		}
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".log"):
			st.segments++
			st.logBytes += info.Size()
			if name > st.activeBase { // 20-digit names sort by offset
				st.activeBase, st.activeBytes = name, info.Size()
			}
		case strings.HasSuffix(name, ".index"), strings.HasSuffix(name, ".timeindex"):
			st.indexBytes += info.Size()
		}
	}
	return st
}

// ---- the broker process ----

type brokerProc struct {
	bin, dataDir, logPath, addr string
	overrides                   []string

	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	err     error // exit status, once done is closed
	logOff  int64 // broker.log size when this incarnation started
}

func (b *brokerProc) start() error {
	f, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if info, err := f.Stat(); err == nil {
		b.logOff = info.Size()
	}
	args := []string{"serve", "--log-format", "json", "--override", "log.dirs=" + b.dataDir, "--override", "listeners=PLAINTEXT://" + b.addr}
	for _, o := range b.overrides {
		args = append(args, "--override", o)
	}
	cmd := exec.Command(b.bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// The broker dies with this process (also when it is killed).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	b.started = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("scale: start broker: %w", err)
	}
	b.cmd = cmd
	done := make(chan struct{})
	b.done = done
	go func() {
		err := cmd.Wait()
		f.Close()
		if err == nil {
			err = errExitedZero
		}
		b.err = err
		close(done)
	}()
	return nil
}

var errExitedZero = errors.New("exit status 0")

func (b *brokerProc) pid() int {
	if b.cmd == nil || b.cmd.Process == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// exitErr is nil while the broker runs, else how it ended (with the last
// error line of its log).
func (b *brokerProc) exitErr() error {
	if b.done == nil {
		return errors.New("broker not started")
	}
	select {
	case <-b.done:
		return fmt.Errorf("broker exited (%v): %s", b.err, b.lastLogLine())
	default:
		return nil
	}
}

// stop signals the broker and waits for it to exit (SIGKILL after
// timeout). It returns how long it took and the exit status unless that
// was a clean 0.
func (b *brokerProc) stop(sig syscall.Signal, timeout time.Duration) (time.Duration, error) {
	if b.done == nil {
		return 0, nil
	}
	select {
	case <-b.done:
		return 0, b.err
	default:
	}
	start := time.Now()
	b.cmd.Process.Signal(sig)
	select {
	case <-b.done:
	case <-time.After(timeout):
		b.cmd.Process.Kill()
		<-b.done
		return time.Since(start), fmt.Errorf("did not exit within %v of %v: killed", timeout, sig)
	}
	took := time.Since(start)
	if errors.Is(b.err, errExitedZero) {
		return took, nil
	}
	return took, b.err
}

func (b *brokerProc) kill() {
	if b.done != nil {
		b.stop(syscall.SIGKILL, time.Minute)
	}
}

// lastLogLine returns the last line this incarnation wrote that is not
// info level (for JSON lines: its message and error).
func (b *brokerProc) lastLogLine() string {
	var last string
	b.eachLogLine(func(raw string, l brokerLogLine) {
		if l.Level != "info" && l.Level != "debug" {
			last = cmp.Or(strings.TrimSpace(l.Message+" "+l.Error), raw)
		}
	})
	return last
}

type brokerLogLine struct {
	Level   string `json:"level"`
	Message string `json:"message"`
	Error   string `json:"error"`
}

// eachLogLine calls fn for every line of broker.log this incarnation
// wrote; lines that are not JSON come with a zero brokerLogLine.
func (b *brokerProc) eachLogLine(fn func(raw string, l brokerLogLine)) {
	f, err := os.Open(b.logPath)
	if err != nil {
		return
	}
	defer f.Close()
	f.Seek(b.logOff, io.SeekStart)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l brokerLogLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			l = brokerLogLine{Level: "raw", Message: sc.Text()}
		}
		fn(sc.Text(), l)
	}
}

var digits = regexp.MustCompile(`[0-9]+`)

// brokerLog summarises the whole broker log of the run: lines per level
// and the commonest warn/error messages (digits folded into N).
func (s *scaler) brokerLog() {
	off := s.b.logOff
	s.b.logOff = 0
	defer func() { s.b.logOff = off }()
	levels := map[string]int{}
	msgs := map[string]int{}
	examples := map[string]string{}
	s.b.eachLogLine(func(raw string, l brokerLogLine) {
		levels[l.Level]++
		if l.Level == "info" || l.Level == "debug" {
			return
		}
		key := l.Level + ": " + digits.ReplaceAllString(l.Message+": "+l.Error, "N")
		msgs[key]++
		if _, ok := examples[key]; !ok {
			examples[key] = raw
		}
	})
	s.set("log_warn", levels["warn"])
	s.set("log_error", levels["error"]+levels["fatal"]+levels["panic"]+levels["raw"])
	keys := make([]string, 0, len(msgs))
	for k := range msgs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(msgs[b], msgs[a]), strings.Compare(a, b)) })
	s.note("broker log: %d info, %d warn, %d error lines, %d other", levels["info"], levels["warn"], levels["error"], levels["raw"])
	for i, k := range keys {
		if i == 6 {
			s.note("  ... %d more kinds", len(keys)-i)
			break
		}
		s.note("  %6d × %s", msgs[k], k)
		s.note("         e.g. %.400s", examples[k])
	}
}

// ---- /proc ----

type procSample struct {
	rssKB, hwmKB   int64
	anonKB, fileKB int64 // RssAnon (heap, stacks) and RssFile (mapped files: the binary, index files)
	threads        int64
	fds            int
}

func sampleProc(pid int) procSample {
	p := procSample{rssKB: procKB(pid, "VmRSS"), hwmKB: procKB(pid, "VmHWM"), anonKB: procKB(pid, "RssAnon"), fileKB: procKB(pid, "RssFile"),
		threads: procKB(pid, "Threads"), fds: -1}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		p.fds = len(ents)
	}
	return p
}

// procLimit returns the soft limit of a /proc/PID/limits line ("-" if unknown).
func procLimit(pid int, name string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "-"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return "-"
}

// ---- a raw Kafka connection ----

type rawConn struct{ c *wire.Client }

func dialRaw(ctx context.Context, addr string, timeout time.Duration) (*rawConn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return newRawConn(c, timeout), nil
}

func newRawConn(c net.Conn, timeout time.Duration) *rawConn {
	wc := wire.NewClient(c, "gregor-scale")
	wc.Timeout = timeout
	return &rawConn{c: wc}
}

func (rc *rawConn) close() { rc.c.Close() }

// do sends req and reads its response; it returns the response and the
// response frame's size.
func (rc *rawConn) do(req kmsg.Request) (kmsg.Response, int, error) {
	resp, err := rc.c.Do(context.Background(), req)
	if err != nil {
		return nil, 0, err
	}
	return resp, rc.c.LastResponseSize(), nil
}

func apiVersionsRequest() kmsg.Request {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "gregor-scale"
	req.ClientSoftwareVersion = "1.0"
	return req
}

// metadata asks for every topic (v12, as current clients do).
func (rc *rawConn) metadata() (*kmsg.MetadataResponse, int, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	req.Topics = nil
	req.AllowAutoTopicCreation = false
	r, n, err := rc.do(req)
	if err != nil {
		return nil, 0, err
	}
	return r.(*kmsg.MetadataResponse), n, nil
}

func newConnMetadata(ctx context.Context, addr string, timeout time.Duration) error {
	rc, err := dialRaw(ctx, addr, timeout)
	if err != nil {
		return err
	}
	defer rc.close()
	_, _, err = rc.metadata()
	return err
}

func timeMetadata(rc *rawConn, n int) ([]time.Duration, int, error) {
	var lat []time.Duration
	var size int
	for range n {
		t := time.Now()
		_, sz, err := rc.metadata()
		if err != nil {
			return nil, 0, fmt.Errorf("scale: metadata: %w", err)
		}
		lat = append(lat, time.Since(t))
		size = sz
	}
	return lat, size, nil
}

type mdSummary struct{ topics, partitions, led int }

// summarize counts the scale-* topics of a Metadata response and their
// partitions with a leader and no error.
func summarize(md *kmsg.MetadataResponse) mdSummary {
	var s mdSummary
	for _, t := range md.Topics {
		if t.Topic == nil || !strings.HasPrefix(*t.Topic, "scale-") || t.ErrorCode != 0 {
			continue
		}
		s.topics++
		for _, p := range t.Partitions {
			s.partitions++
			if p.ErrorCode == 0 && p.Leader >= 0 {
				s.led++
			}
		}
	}
	return s
}

// fetch reads partition 0 of the log topic at off (up to 1 MiB).
func (rc *rawConn) fetch(off int64) (*kmsg.FetchResponseTopicPartition, int, error) {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	t := kmsg.NewFetchRequestTopic()
	t.Topic = logTopic
	p := kmsg.NewFetchRequestTopicPartition()
	p.FetchOffset = off
	p.PartitionMaxBytes = 1 << 20
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	r, n, err := rc.do(req)
	if err != nil {
		return nil, 0, err
	}
	resp := r.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return nil, 0, kerr.ErrorForCode(resp.ErrorCode)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, 0, errors.New("fetch response without the partition")
	}
	return &resp.Topics[0].Partitions[0], n, nil
}

// listOffset looks up partition 0 of the log topic: ts -1 is the log end,
// otherwise the first offset with a timestamp at or after ts.
func (rc *rawConn) listOffset(ts int64) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = logTopic
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Timestamp = ts
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	r, _, err := rc.do(req)
	if err != nil {
		return 0, err
	}
	resp := r.(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, errors.New("list offsets response without the partition")
	}
	rp := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
		return 0, err
	}
	return rp.Offset, nil
}

// ---- helpers ----

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func parseInt(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func parseF(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// errSummary renders error counts as "3×TEXT;1×TEXT" ("none" if empty).
func errSummary(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b)) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%s", m[k], k))
	}
	return strings.Join(parts, ";")
}

// ---- report ----

// scaleReport prints the result lines of file as three markdown tables,
// then the errors and notes of each row.
func scaleReport(w io.Writer, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	rows := map[string][]map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		r := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				r[k] = v
			}
		}
		if r["step"] != "" {
			rows[r["step"]] = append(rows[r["step"]], r)
		}
	}
	type col struct {
		head string
		val  func(r map[string]string) string
	}
	get := func(keys ...string) func(map[string]string) string {
		return func(r map[string]string) string {
			var vs []string
			for _, k := range keys {
				vs = append(vs, fmtCell(r[k]))
			}
			return strings.Join(vs, " / ")
		}
	}
	with := func(key, paren string) func(map[string]string) string {
		return func(r map[string]string) string {
			if r[paren] == "" {
				return fmtCell(r[key])
			}
			return fmtCell(r[key]) + " (" + fmtCell(r[paren]) + ")"
		}
	}
	// rss shows PREFIX_rss_mib with its anonymous and file-backed parts.
	rss := func(prefix string) func(map[string]string) string {
		return func(r map[string]string) string {
			if r[prefix+"_anon_mib"] == "" {
				return fmtCell(r[prefix+"_rss_mib"])
			}
			return fmt.Sprintf("%s (%s + %s)", fmtCell(r[prefix+"_rss_mib"]), fmtCell(r[prefix+"_anon_mib"]), fmtCell(r[prefix+"_file_mib"]))
		}
	}
	table := func(title string, rs []map[string]string, cols []col, notes []string) {
		if len(rs) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s\n\n|", title)
		for _, c := range cols {
			fmt.Fprintf(w, " %s |", c.head)
		}
		fmt.Fprint(w, "\n|")
		for range cols {
			fmt.Fprint(w, "---:|")
		}
		fmt.Fprintln(w)
		for _, r := range rs {
			fmt.Fprint(w, "|")
			for _, c := range cols {
				fmt.Fprintf(w, " %s |", c.val(r))
			}
			fmt.Fprintln(w)
		}
		first := true
		for _, r := range rs {
			for _, k := range notes {
				v := r[k]
				if v == "" || v == "none" || v == "true" {
					continue
				}
				if first {
					fmt.Fprintln(w)
					first = false
				}
				fmt.Fprintf(w, "- %s %s: %s = %s\n", cols[0].head, cols[0].val(r), k, strings.ReplaceAll(v, "_", " "))
			}
		}
	}
	table("Partitions (one broker; N/100 topics of 100 partitions, replication factor 1)", rows["partitions"], []col{
		{"partitions", get("n")},
		{"create s: all led / logs open", get("create_s", "open_s")},
		{"RSS after create MiB (KiB/partition)", with("created_rss_mib", "created_kib_per_part")},
		{"fds after create (per partition)", with("created_fds", "fds_per_part")},
		{"Metadata all topics p50 ms (response KiB)", with("metadata_p50_ms", "metadata_kib")},
		{"produce 1 KiB to each s (acked)", with("produce_s", "produce_acked")},
		{"RSS after produce MiB (KiB/partition)", with("produced_rss_mib", "produced_kib_per_part")},
		{"fds after produce", get("produced_fds")},
		{"fetch all back s (partitions with data)", with("consume_s", "consume_got")},
		{"alive / old conn / new conn / produce again", get("alive", "old_conn_ok", "new_conn_ok", "produce_again_ok")},
		{"restart: shutdown s / all led s", get("shutdown_s", "restart_s")},
		{"RSS after restart MiB (anon + file)", rss("restarted")},
		{"fds after restart", get("restarted_fds")},
	}, []string{"create_errors", "produce_errors", "consume_errors", "produce_again_error", "shutdown_exit", "restart_error", "final_exit", "error"})
	table("Connections (idle, each after ApiVersions + Metadata)", rows["connections"], []col{
		{"connections", get("c")},
		{"open all s (failed)", with("open_s", "open_failed")},
		{"RSS MiB (KiB/conn)", with("open_rss_mib", "kib_per_conn")},
		{"RSS before MiB", get("base_rss_mib")},
		{"fds", get("open_fds")},
		{"threads (before)", with("open_threads", "base_threads")},
		{"Metadata p50 / max ms on one more conn", get("metadata_p50_ms", "metadata_max_ms")},
		{"10k records produce+consume ok (s)", with("pc_ok", "pc_s")},
		{"conns still answering (s)", with("still_answer", "still_answer_s")},
		{"after close: RSS MiB / fds / threads", get("closed_rss_mib", "closed_fds", "closed_threads")},
	}, []string{"open_error", "pc_error", "final_exit", "error"})
	table("Log size (one partition, 1 GiB segments, 16 KiB records in ~1 MiB batches)", rows["logsize"], []col{
		{"log GiB", get("log_gib")},
		{"segments", get("segments")},
		{"index files KiB", get("index_kib")},
		{"fill MiB/s", get("fill_mib_s")},
		{"RSS before restart MiB", get("filled_rss_mib")},
		{"clean restart s (shutdown s)", with("clean_s", "shutdown_s")},
		{"RSS MiB after (anon + file)", rss("clean")},
		{"fds after", get("clean_fds")},
		{"fetch ms first: start / mid / end", get("fetch_start_first_ms", "fetch_mid_first_ms", "fetch_end_first_ms")},
		{"fetch ms median: start / mid / end", get("fetch_start_ms", "fetch_mid_ms", "fetch_end_ms")},
		{"timestamp lookup ms first / median", get("ts_lookup_first_ms", "ts_lookup_ms")},
		{"unclean restart s (active segment MiB rescanned)", with("unclean_s", "unclean_scan_mib")},
		{"RSS MiB after unclean (anon + file)", rss("unclean")},
		{"log end kept", get("unclean_leo_kept")},
	}, []string{"skipped", "ts_lookup_off_ok", "shutdown_exit", "kill_exit", "drop_caches_error", "final_exit", "error"})
	return nil
}

// fmtCell shortens numbers to a readable precision.
func fmtCell(v string) string {
	if v == "" {
		return "-"
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !strings.Contains(v, ".") {
		return strings.ReplaceAll(v, "_", " ")
	}
	switch a := max(f, -f); {
	case a >= 100:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(f, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(f, 'f', 2, 64)
	default:
		return strconv.FormatFloat(f, 'f', 3, 64)
	}
}
