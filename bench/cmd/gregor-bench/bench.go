package main

// gregor-bench bench: load generator and latency meter for any Kafka broker
// (gregor, kfake, Kafka), built on franz-go's kgo.
//
//	gregor-bench bench produce|consume|e2e|latency [flags]
//
// Workloads:
//
//	produce  producers send as fast as they can (or at --rate) for --duration
//	         (or --records); latency is request → ack per record.
//	consume  fills a fresh topic with --records records (not timed), then
//	         consumers read it from offset 0, partitions split between them,
//	         starting each partition over when they reach its end, for
//	         --duration.
//	e2e      producers at --rate (default 10,000/s) and consumers tailing the
//	         topic; latency is produce call → record polled by the consumer
//	         (the send time travels in the record's first 8 bytes).
//	latency  e2e at a fixed low rate (default 1,000/s) with linger 0: the
//	         latency of a quiet broker, not a saturated one.
//
// Each run creates a fresh topic (kadm) with --partitions partitions and
// deletes it afterwards, so runs are independent. Records carry no key and
// --record-size bytes of random (incompressible) value.
//
// Latency is measured from the produce call (with --rate the pacer keeps
// the average rate; at the low fixed rates it is used at no queue builds
// behind a late timer; see produce) and kept in a log-linear
// histogram (3% resolution). With --pid, the broker's CPU time comes from
// /proc/PID/stat over the measured window and its peak RSS from sampling
// /proc/PID/status every 100 ms.
//
// The tool runs with GOGC=400 unless GOGC is set: at 100 the consumers'
// garbage collection (fetch buffers, records) cost a quarter of their
// CPU, and on a small machine the client's CPU is taken from the broker
// under test (consume 1,120-1,190 -> 1,430-1,540 MiB/s against the same
// gregor; produce unchanged).
//
// Progress goes to stderr once a second; the final table to stdout. With
// --result FILE, each series is also appended to FILE as one line of
// key=value pairs (bench/run.sh reads them).

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type benchConfig struct {
	workload    string
	brokers     []string
	topic       string
	keepTopic   bool
	recordSize  int
	partitions  int
	acks        string
	compression string
	linger      time.Duration
	producers   int
	consumers   int
	duration    time.Duration
	warmup      time.Duration
	records     int64
	rate        float64
	pid         int
	resultFile  string
	label       string
	quiet       bool
	txnRecords  int    // txn: records per transaction
	tlsCA       string // PEM CA file: connect over TLS (an SSL listener)
}

const benchUsage = `usage: gregor-bench bench produce|consume|e2e|latency [flags]

  produce   write as fast as possible (or --rate) for --duration or --records
  txn       produce, each producer transactional: a commit every --txn-records records
  consume   fill a fresh topic with --records records, then read it from offset 0, over and over, for --duration
  e2e       produce at --rate with consumers tailing: produce → consume latency
  latency   e2e at a low fixed rate (1,000/s) with linger 0
  rtt       Produce round trips at 1,000/s over one raw connection (no client library): the broker's latency

gregor-bench bench WORKLOAD -h lists the flags.`

func bench(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(os.Stderr, benchUsage)
		return errors.New("bench: missing workload")
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	cfg := benchConfig{workload: args[0]}
	fs := flag.NewFlagSet("bench "+cfg.workload, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), benchUsage+"\n\nflags:"); fs.PrintDefaults() }
	brokers := fs.String("brokers", "127.0.0.1:9092", "seed brokers, comma separated")
	fs.StringVar(&cfg.topic, "topic", "", "topic (default: a fresh bench-<workload>-<time> topic, deleted afterwards)")
	fs.BoolVar(&cfg.keepTopic, "keep-topic", false, "do not delete the topic afterwards")
	fs.IntVar(&cfg.recordSize, "record-size", 1024, "record value bytes (random, incompressible)")
	fs.IntVar(&cfg.partitions, "partitions", 8, "partitions of the topic created for the run")
	fs.StringVar(&cfg.acks, "acks", "all", "all (-1), 1 (leader) or 0 (none)")
	fs.StringVar(&cfg.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	fs.DurationVar(&cfg.linger, "linger", 10*time.Millisecond, "producer linger (kgo's default; latency: 0)")
	fs.IntVar(&cfg.producers, "producers", 1, "producer clients (each its own connections)")
	fs.IntVar(&cfg.consumers, "consumers", 1, "consumer clients (partitions split between them)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to produce after the warmup (consume: how long to read)")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "produce this long before measuring (not with --records)")
	fs.Int64Var(&cfg.records, "records", 0, "produce: stop after this many records; consume: records to fill the topic with (default 262144)")
	fs.Float64Var(&cfg.rate, "rate", 0, "records/s over all producers, 0 = unlimited (e2e default 10000, latency 1000)")
	fs.IntVar(&cfg.pid, "pid", 0, "broker process id: report its CPU seconds per GiB and peak RSS (Linux /proc)")
	fs.StringVar(&cfg.resultFile, "result", "", "append one key=value line per series to this file")
	fs.StringVar(&cfg.label, "label", "", "label for --result lines (e.g. the broker's name)")
	fs.BoolVar(&cfg.quiet, "quiet", false, "no progress lines")
	fs.IntVar(&cfg.txnRecords, "txn-records", 1000, "txn: records per transaction")
	fs.StringVar(&cfg.tlsCA, "tls-ca", "", "PEM file of the CA the broker's certificate is verified against: connect over TLS (not rtt)")
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg.brokers = strings.Split(*brokers, ",")
	switch cfg.workload {
	case "produce":
	case "txn":
		if cfg.acks != "all" && cfg.acks != "-1" {
			return errors.New("bench: txn needs --acks all (transactions are idempotent)")
		}
		if cfg.txnRecords < 1 {
			return errors.New("bench: --txn-records must be at least 1")
		}
	case "consume":
		if cfg.records == 0 {
			cfg.records = 256 << 10
		}
	case "e2e":
		if !set["rate"] {
			cfg.rate = 10000
		}
	case "latency":
		if !set["rate"] {
			cfg.rate = 1000
		}
		if !set["linger"] {
			cfg.linger = 0
		}
	case "rtt":
		if cfg.tlsCA != "" {
			return errors.New("bench: rtt speaks plaintext only (no --tls-ca)")
		}
		if !set["rate"] {
			cfg.rate = 1000
		}
		if !set["partitions"] {
			cfg.partitions = 1
		}
		if cfg.acks == "0" {
			return errors.New("bench: rtt needs responses: --acks all or 1")
		}
	default:
		fmt.Fprintln(os.Stderr, benchUsage)
		return fmt.Errorf("bench: unknown workload %q", cfg.workload)
	}
	if cfg.records > 0 && !set["warmup"] {
		cfg.warmup = 0
	}
	switch {
	case cfg.recordSize < 8 || cfg.recordSize > 1<<20:
		return errors.New("bench: --record-size must be in [8, 1048576]")
	case cfg.partitions < 1, cfg.producers < 1, cfg.consumers < 1:
		return errors.New("bench: --partitions, --producers and --consumers must be positive")
	case cfg.rate < 0 || cfg.duration <= 0 || cfg.warmup < 0 || cfg.records < 0:
		return errors.New("bench: negative --rate, --warmup or --records, or non-positive --duration")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := newBenchRun(cfg)
	if err != nil {
		return err
	}
	return r.run(ctx)
}

// series is one measured stream of records: produce acks or consumed
// records.
type series struct {
	name string
	m    meter
	seen atomic.Int64 // records, warmup included: progress lines
	// last is when the last counted record was acked or consumed
	// (UnixNano): the end of the throughput window.
	last atomic.Int64
	lat  bool // latencies are meaningful
}

func (s *series) add(n int, lat time.Duration, now time.Time) {
	s.m.add(n, lat, s.lat)
	if t := now.UnixNano(); t > s.last.Load() {
		s.last.Store(t) // racy max, good to a few µs
	}
}

type benchRun struct {
	cfg      benchConfig
	base     []kgo.Opt // every client
	prodOpts []kgo.Opt
	values   []byte // random bytes that record values are cut from
	valueIx  atomic.Uint64

	// start is when measuring starts (after the warmup); records due
	// earlier are not counted.
	start  time.Time
	series []*series
	broker *procWatch
	self   *procWatch

	firstErr   sync.Once
	producerIx atomic.Int64 // txn: numbers the producers' transactional ids
}

func newBenchRun(cfg benchConfig) (*benchRun, error) {
	r := &benchRun{cfg: cfg}
	r.base = []kgo.Opt{kgo.SeedBrokers(cfg.brokers...), kgo.ClientID("gregor-bench")}
	if cfg.tlsCA != "" {
		pem, err := os.ReadFile(cfg.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("bench: --tls-ca: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("bench: --tls-ca: %s holds no PEM certificate", cfg.tlsCA)
		}
		r.base = append(r.base, kgo.DialTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	}
	switch cfg.acks {
	case "all", "-1":
		r.prodOpts = append(r.prodOpts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1", "leader":
		r.prodOpts = append(r.prodOpts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0", "none":
		r.prodOpts = append(r.prodOpts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("bench: --acks %q is not all, 1 or 0", cfg.acks)
	}
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	codec, ok := codecs[cfg.compression]
	if !ok {
		return nil, fmt.Errorf("bench: --compression %q is not none, gzip, snappy, lz4 or zstd", cfg.compression)
	}
	r.prodOpts = append(r.prodOpts, kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(cfg.linger))
	// Values are cut from a random buffer at a stride just over the record
	// size: no two records of a batch share bytes, so nothing compresses.
	r.values = make([]byte, max(8<<20, 8*cfg.recordSize))
	rand.Read(r.values)
	if cfg.pid > 0 {
		var err error
		if r.broker, err = newProcWatch(cfg.pid); err != nil {
			return nil, err
		}
	}
	r.self, _ = newProcWatch(os.Getpid())
	return r, nil
}

func (r *benchRun) e2e() bool { return r.cfg.workload == "e2e" || r.cfg.workload == "latency" }

// value returns a record value; e2e values are private copies that carry
// their due time in the first 8 bytes.
func (r *benchRun) value(due time.Time) []byte {
	size := r.cfg.recordSize
	span := uint64(len(r.values) - size)
	off := (r.valueIx.Add(1) * uint64(size+7)) % span
	v := r.values[off : off+uint64(size) : off+uint64(size)]
	if !r.e2e() {
		return v
	}
	c := make([]byte, size)
	copy(c, v)
	binary.BigEndian.PutUint64(c, uint64(due.UnixNano()))
	return c
}

func (r *benchRun) newSeries(name string, lat bool) *series {
	s := &series{name: name, lat: lat}
	r.series = append(r.series, s)
	return s
}

func (r *benchRun) logErr(what string, err error) {
	r.firstErr.Do(func() { fmt.Fprintf(os.Stderr, "bench: %s: %v (further errors only counted)\n", what, err) })
}

func (r *benchRun) run(ctx context.Context) error {
	cfg := r.cfg
	admCl, err := kgo.NewClient(r.base...)
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	topic, created, err := r.createTopic(ctx, adm)
	if err != nil {
		return err
	}
	if created && !cfg.keepTopic {
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := adm.DeleteTopic(dctx, topic); err != nil {
				fmt.Fprintf(os.Stderr, "bench: delete topic %s: %v\n", topic, err)
			}
		}()
	}
	cfg.topic = topic
	r.cfg.topic = topic

	var produced, consumed *series
	switch cfg.workload {
	case "produce", "txn":
		produced = r.newSeries("produce", true)
	case "consume":
		if err := r.fill(ctx); err != nil {
			return err
		}
		consumed = r.newSeries("consume", false)
	case "e2e", "latency":
		produced = r.newSeries("produce", true)
		consumed = r.newSeries("e2e", true)
	case "rtt":
		produced = r.newSeries("rtt", true)
	}
	var rttAddr string
	if cfg.workload == "rtt" {
		if rttAddr, err = leaderAddr(ctx, adm, topic); err != nil {
			return err
		}
	}

	// Consumers first: on a fresh topic they read from offset 0 and miss
	// nothing whenever they get going.
	var starts, ends map[int32]int64 // consume: what there is to read
	if cfg.workload == "consume" {
		if starts, ends, err = r.offsets(ctx, adm); err != nil {
			return err
		}
	}
	r.start = time.Now().Add(cfg.warmup)
	if cfg.workload == "consume" {
		r.start = time.Now()
	}
	cctx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	var cwg sync.WaitGroup
	var consumedAll atomic.Int64
	if consumed != nil {
		for i := 0; i < cfg.consumers; i++ {
			var parts []int32
			for p := i; p < cfg.partitions; p += cfg.consumers {
				parts = append(parts, int32(p))
			}
			if len(parts) == 0 {
				continue
			}
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				r.consume(cctx, parts, starts, ends, consumed, &consumedAll)
			}()
		}
	}

	done := make(chan struct{})
	watchDone := make(chan struct{})
	go func() { r.watch(done); close(watchDone) }()

	var acked atomic.Int64
	if produced != nil {
		var pwg sync.WaitGroup
		pctx, cancel := context.WithDeadline(ctx, r.start.Add(cfg.duration))
		defer cancel()
		var issued atomic.Int64
		for i := 0; i < cfg.producers; i++ {
			pwg.Add(1)
			go func() {
				defer pwg.Done()
				if cfg.workload == "rtt" {
					r.rawProduce(ctx, pctx, rttAddr, produced)
					return
				}
				r.produce(ctx, pctx, produced, &issued, &acked)
			}()
		}
		pwg.Wait()
	}
	if consumed != nil {
		if produced != nil {
			// Drain: wait until consumers have seen every acked record.
			deadline := time.Now().Add(10 * time.Second)
			for consumedAll.Load() < acked.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			stopConsumers()
		} else {
			// consume: read the topic over and over for --duration.
			select {
			case <-time.After(cfg.duration):
			case <-ctx.Done():
			}
			stopConsumers()
		}
		cwg.Wait()
	}
	close(done)
	<-watchDone
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted, partial results")
	}
	return r.report(os.Stdout)
}

// createTopic creates cfg.topic (or a fresh name). created is false when
// the topic already existed.
func (r *benchRun) createTopic(ctx context.Context, adm *kadm.Client) (topic string, created bool, err error) {
	topic = r.cfg.topic
	if topic == "" {
		topic = fmt.Sprintf("bench-%s-%d", r.cfg.workload, time.Now().UnixNano())
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = adm.CreateTopic(cctx, int32(r.cfg.partitions), 1, nil, topic)
	switch {
	case err == nil:
		return topic, true, nil
	case errors.Is(err, kerr.TopicAlreadyExists) && r.cfg.topic != "":
		fmt.Fprintf(os.Stderr, "bench: using existing topic %s\n", topic)
		return topic, false, nil
	default:
		return "", false, fmt.Errorf("bench: create topic %s: %w", topic, err)
	}
}

// offsets returns the start and end offset of every partition.
func (r *benchRun) offsets(ctx context.Context, adm *kadm.Client) (starts, ends map[int32]int64, err error) {
	ls, err := adm.ListStartOffsets(ctx, r.cfg.topic)
	if err == nil {
		err = ls.Error()
	}
	le, err2 := adm.ListEndOffsets(ctx, r.cfg.topic)
	if err2 == nil {
		err2 = le.Error()
	}
	if err := errors.Join(err, err2); err != nil {
		return nil, nil, fmt.Errorf("bench: list offsets: %w", err)
	}
	starts, ends = map[int32]int64{}, map[int32]int64{}
	ls.Each(func(o kadm.ListedOffset) { starts[o.Partition] = o.Offset })
	le.Each(func(o kadm.ListedOffset) {
		if o.Offset > starts[o.Partition] {
			ends[o.Partition] = o.Offset
		}
	})
	return starts, ends, nil
}

// fill produces cfg.records records for the consume workload, untimed.
func (r *benchRun) fill(ctx context.Context) error {
	fmt.Fprintf(os.Stderr, "bench: filling %s with %d records of %d bytes\n", r.cfg.topic, r.cfg.records, r.cfg.recordSize)
	cl, err := kgo.NewClient(append(append(r.base, r.prodOpts...), kgo.DefaultProduceTopic(r.cfg.topic))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var failed atomic.Pointer[error]
	for i := int64(0); i < r.cfg.records && ctx.Err() == nil; i++ {
		cl.Produce(ctx, &kgo.Record{Value: r.value(time.Time{})}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if e := failed.Load(); e != nil {
		return fmt.Errorf("bench: fill: %w", *e)
	}
	return nil
}

// produce runs one producer client until pctx ends or the record budget
// is spent. ctx (not pctx) bounds the final flush.
func (r *benchRun) produce(ctx, pctx context.Context, s *series, issued, acked *atomic.Int64) {
	opts := append(append(r.base, r.prodOpts...), kgo.DefaultProduceTopic(r.cfg.topic))
	txn := r.cfg.workload == "txn"
	if txn {
		opts = append(opts, kgo.TransactionalID(fmt.Sprintf("gregor-bench-%s-%d", r.cfg.topic, r.producerIx.Add(1))))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		r.logErr("producer", err)
		return
	}
	defer cl.Close()
	inTxn := 0 // records produced in the open transaction
	endTxn := func() bool {
		if err := cl.Flush(ctx); err != nil {
			r.logErr("flush", err)
			return false
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			if ctx.Err() == nil {
				r.logErr("end transaction", err)
			}
			return false
		}
		inTxn = 0
		return true
	}
	var interval time.Duration
	if r.cfg.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(r.cfg.producers) / r.cfg.rate)
	}
	next := time.Now()
	timer := time.NewTimer(0)
	<-timer.C
	for pctx.Err() == nil {
		if r.cfg.records > 0 && issued.Add(1) > r.cfg.records {
			break
		}
		due := time.Now()
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-pctx.Done():
					timer.Stop()
				}
				if pctx.Err() != nil {
					break
				}
			}
			// Latency counts from the produce call, not from the slot
			// the pacer aimed at: Go's timers wake up to a millisecond
			// late when the process is otherwise idle (the netpoller
			// sleeps in whole milliseconds), which measured the tool, not
			// the broker (p50 0.67 ms against both gregor and kfake). At
			// a fixed low rate no queue builds up behind a late slot, so
			// nothing is hidden by this (no coordinated omission); the
			// pacer still keeps the average rate by aiming at next.
			due = time.Now()
			next = next.Add(interval)
		}
		if txn && inTxn == 0 {
			if err := cl.BeginTransaction(); err != nil {
				r.logErr("begin transaction", err)
				return
			}
		}
		cl.Produce(ctx, &kgo.Record{Value: r.value(due)}, func(rec *kgo.Record, err error) {
			now := time.Now()
			if err != nil {
				if ctx.Err() == nil {
					s.m.errors.Add(1)
					r.logErr("produce", err)
				}
				return
			}
			acked.Add(1)
			s.seen.Add(1)
			if !due.Before(r.start) {
				s.add(len(rec.Value), now.Sub(due), now)
			}
		})
		if txn {
			if inTxn++; inTxn == r.cfg.txnRecords && !endTxn() {
				return
			}
		}
	}
	if txn {
		if inTxn > 0 {
			endTxn()
		}
		return
	}
	if err := cl.Flush(ctx); err != nil && ctx.Err() == nil {
		r.logErr("flush", err)
	}
}

// consume reads parts from offset 0. With ends (the consume workload) it
// starts each partition over from its start offset whenever it reaches the
// end, so reading goes on for as long as ctx lasts; without, it tails the
// partitions until ctx ends.
func (r *benchRun) consume(ctx context.Context, parts []int32, starts, ends map[int32]int64, s *series, all *atomic.Int64) {
	offsets := map[int32]kgo.Offset{}
	for _, p := range parts {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append(r.base, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.cfg.topic: offsets}))...)
	if err != nil {
		r.logErr("consumer", err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		now := time.Now()
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				s.m.errors.Add(1)
				r.logErr(fmt.Sprintf("fetch %s/%d", t, p), err)
			}
		})
		var rewind map[string]map[int32]kgo.EpochOffset
		fs.EachRecord(func(rec *kgo.Record) {
			all.Add(1)
			s.seen.Add(1)
			if end, ok := ends[rec.Partition]; ok && rec.Offset+1 >= end {
				if rewind == nil {
					rewind = map[string]map[int32]kgo.EpochOffset{r.cfg.topic: {}}
				}
				rewind[r.cfg.topic][rec.Partition] = kgo.EpochOffset{Epoch: -1, Offset: starts[rec.Partition]}
			}
			if !s.lat {
				s.add(len(rec.Value), 0, now)
				return
			}
			if len(rec.Value) < 8 {
				return
			}
			due := time.Unix(0, int64(binary.BigEndian.Uint64(rec.Value)))
			if !due.Before(r.start) {
				s.add(len(rec.Value), now.Sub(due), now)
			}
		})
		if rewind != nil {
			cl.SetOffsets(rewind)
		}
	}
}

// watch samples the broker every 100 ms (peak RSS) and prints progress
// every second, until done is closed. It takes the CPU baseline when the
// measured window starts.
func (r *benchRun) watch(done <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	started := false
	var prevSnaps []*histSnap
	var prevCounts []int64
	var prevCPU time.Duration
	prevAt := time.Now()
	baseline := func() {
		started = true
		if r.broker != nil {
			r.broker.start = r.broker.sample()
			r.broker.peakRSS.Store(r.broker.start.rss)
			prevCPU = r.broker.start.cpu
		}
		if r.self != nil {
			r.self.start = r.self.sample()
		}
	}
	if !time.Now().Before(r.start) {
		baseline() // no warmup: the window starts now
	}
	for n := 1; ; n++ {
		select {
		case <-done:
			if r.broker != nil {
				r.broker.sample()
			}
			if r.self != nil {
				r.self.sample()
			}
			return
		case <-tick.C:
		}
		now := time.Now()
		if !started && !now.Before(r.start) {
			baseline()
		}
		var bs procStat
		if r.broker != nil {
			bs = r.broker.sample()
		}
		if n%10 != 0 || r.cfg.quiet {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%6.1fs", now.Sub(r.start).Seconds())
		if !started {
			b.WriteString(" warmup")
		}
		for i, s := range r.series {
			snap := s.m.lat.snapshot()
			cnt := s.seen.Load()
			if len(prevSnaps) <= i {
				prevSnaps = append(prevSnaps, &histSnap{})
				prevCounts = append(prevCounts, 0)
			}
			d := snap.sub(prevSnaps[i])
			secs := now.Sub(prevAt).Seconds()
			recs := float64(cnt-prevCounts[i]) / secs
			fmt.Fprintf(&b, "  %s %8.1f MiB/s %9.0f rec/s", s.name, recs*float64(r.cfg.recordSize)/(1<<20), recs)
			if s.lat {
				fmt.Fprintf(&b, " p50 %s p99 %s ms", fmtDur(d.quantile(0.5)), fmtDur(d.quantile(0.99)))
			}
			prevSnaps[i], prevCounts[i] = snap, cnt
		}
		if r.broker != nil {
			fmt.Fprintf(&b, "  broker cpu %3.0f%% rss %s MiB", 100*(bs.cpu-prevCPU).Seconds()/now.Sub(prevAt).Seconds(), fmtMiB(bs.rss))
			prevCPU = bs.cpu
		}
		prevAt = now
		fmt.Fprintln(os.Stderr, b.String())
	}
}

// seriesResult is one row of the final table.
type seriesResult struct {
	name               string
	records, bytes     int64
	errors             int64
	secs               float64
	p50, p99, p999, pm time.Duration
}

func (r *benchRun) results() []seriesResult {
	var out []seriesResult
	for _, s := range r.series {
		res := seriesResult{name: s.name, records: s.m.records.Load(), bytes: s.m.bytes.Load(), errors: s.m.errors.Load(), p50: -1, p99: -1, p999: -1, pm: -1}
		if last := s.last.Load(); last > 0 {
			res.secs = time.Unix(0, last).Sub(r.start).Seconds()
		}
		if s.lat {
			snap := s.m.lat.snapshot()
			res.p50, res.p99, res.p999, res.pm = snap.quantile(0.5), snap.quantile(0.99), snap.quantile(0.999), snap.quantile(1)
		}
		out = append(out, res)
	}
	return out
}

func (r *benchRun) report(w io.Writer) error {
	cfg := r.cfg
	fmt.Fprintf(w, "\ngregor-bench bench %s: brokers=%s topic=%s partitions=%d record=%dB acks=%s compression=%s linger=%s producers=%d consumers=%d",
		cfg.workload, strings.Join(cfg.brokers, ","), cfg.topic, cfg.partitions, cfg.recordSize, cfg.acks, cfg.compression, cfg.linger, cfg.producers, cfg.consumers)
	if cfg.rate > 0 {
		fmt.Fprintf(w, " rate=%.0f/s", cfg.rate)
	}
	if cfg.workload != "consume" {
		fmt.Fprintf(w, " warmup=%s duration=%s", cfg.warmup, cfg.duration)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "series\trecords\tMiB\tsecs\tMiB/s\trec/s\tp50 ms\tp99 ms\tp999 ms\tmax ms\terrors\t")
	res := r.results()
	for _, s := range res {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.2f\t%.1f\t%.0f\t%s\t%s\t%s\t%s\t%d\t\n", s.name, s.records, fmtMiB(s.bytes), s.secs,
			rate(float64(s.bytes)/(1<<20), s.secs), rate(float64(s.records), s.secs), fmtDur(s.p50), fmtDur(s.p99), fmtDur(s.p999), fmtDur(s.pm), s.errors)
	}
	tw.Flush()

	// Broker cost per GiB of the primary series (produced, or consumed).
	var cpuPerGiB, peakRSS float64 = -1, -1
	if r.broker != nil && len(res) > 0 {
		cpu := (r.broker.last.cpu - r.broker.start.cpu).Seconds()
		gib := float64(res[0].bytes) / (1 << 30)
		peakRSS = float64(r.broker.peakRSS.Load()) / (1 << 20)
		if gib > 0 {
			cpuPerGiB = cpu / gib
		}
		fmt.Fprintf(w, "broker pid %d: cpu %.2f s over the run = %.2f cpu-s/GiB %s, %.0f%% of a core; peak RSS %.1f MiB (VmHWM since start %s MiB)\n",
			cfg.pid, cpu, cpuPerGiB, res[0].name, 100*cpu/max(res[0].secs, 1e-9), peakRSS, fmtMiB(r.broker.last.hwm))
	}
	if r.self != nil {
		cpu := (r.self.last.cpu - r.self.start.cpu).Seconds()
		if len(res) > 0 && res[0].secs > 0 {
			fmt.Fprintf(w, "bench client: cpu %.2f s, %.0f%% of a core (on a shared machine the client competes with the broker)\n", cpu, 100*cpu/res[0].secs)
		}
	}
	if cfg.resultFile == "" {
		return nil
	}
	f, err := os.OpenFile(cfg.resultFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	for _, s := range res {
		fmt.Fprintf(f, "label=%s workload=%s series=%s records=%d bytes=%d secs=%.3f mib_s=%.2f rec_s=%.0f p50_ms=%s p99_ms=%s p999_ms=%s max_ms=%s errors=%d cpu_s_gib=%s rss_mib=%s\n",
			orDash(cfg.label), cfg.workload, s.name, s.records, s.bytes, s.secs, rate(float64(s.bytes)/(1<<20), s.secs), rate(float64(s.records), s.secs),
			fmtDur(s.p50), fmtDur(s.p99), fmtDur(s.p999), fmtDur(s.pm), s.errors, fmtOpt(cpuPerGiB), fmtOpt(peakRSS))
	}
	return f.Close()
}

func rate(n, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return n / secs
}

func fmtOpt(v float64) string {
	if v < 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
