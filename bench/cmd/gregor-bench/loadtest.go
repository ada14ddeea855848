package main

// gregor-bench loadtest: a hostile crowd against a running broker. Many
// connections (a share of them sending garbage, oversized or never-finished
// frames, or nothing at all; the rest polite Metadata requests) while a
// franz-go producer and consumer move records through one topic. It checks
// the records arrive exactly once and intact and that the broker answers
// afterwards, and reports the broker's peak RSS (VmHWM) when given its pid.

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/gregortest/crowd"
)

type loadtestConfig struct {
	brokers    string
	conns      int
	hostile    float64
	records    int
	partitions int
	valueSize  int
	frameMax   int
	pid        int
	minCrowd   time.Duration
	timeout    time.Duration
}

func loadtest(args []string) error {
	var cfg loadtestConfig
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.StringVar(&cfg.brokers, "brokers", "localhost:9092", "seed brokers, comma separated")
	fs.IntVar(&cfg.conns, "conns", 1000, "concurrent crowd connections")
	fs.Float64Var(&cfg.hostile, "hostile", 0.5, "share of the crowd that misbehaves")
	fs.IntVar(&cfg.records, "records", 200000, "records the franz-go producer sends and the consumer checks")
	fs.IntVar(&cfg.partitions, "partitions", 4, "partitions of the test topic")
	fs.IntVar(&cfg.valueSize, "value-size", 200, "largest record value in bytes")
	fs.IntVar(&cfg.frameMax, "frame-max", 104857600, "the broker's socket.request.max.bytes (oversized frames go past it)")
	fs.IntVar(&cfg.pid, "pid", 0, "the broker's pid: report its peak RSS (VmHWM) from /proc")
	fs.DurationVar(&cfg.minCrowd, "crowd-time", 10*time.Second, "keep the crowd going at least this long")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "give up after this long")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if cfg.conns < 0 || cfg.records <= 0 || cfg.partitions <= 0 || cfg.hostile < 0 || cfg.hostile > 1 {
		return errors.New("loadtest: --conns, --records, --partitions must be positive and --hostile in [0, 1]")
	}
	if err := raiseNoFile(uint64(cfg.conns) + 256); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	return runLoadtest(ctx, cfg)
}

// raiseNoFile raises this process's RLIMIT_NOFILE to n if the hard limit allows.
func raiseNoFile(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("loadtest: getrlimit: %w", err)
	}
	if lim.Cur >= n {
		return nil
	}
	if lim.Max < n {
		return fmt.Errorf("loadtest: RLIMIT_NOFILE hard limit %d is below the %d needed", lim.Max, n)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("loadtest: setrlimit: %w", err)
	}
	return nil
}

// procKB returns a "Name: N kB" field of /proc/<pid>/status.
func procKB(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

func runLoadtest(ctx context.Context, cfg loadtestConfig) error {
	seeds := strings.Split(cfg.brokers, ",")
	topic := fmt.Sprintf("gregor-loadtest-%d", time.Now().UnixNano())
	adm, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, int32(cfg.partitions), 1, nil, topic); err != nil {
		return fmt.Errorf("loadtest: create topic: %w", err)
	}
	fmt.Printf("topic %s, %d connections (%.0f%% hostile), %d records\n", topic, cfg.conns, cfg.hostile*100, cfg.records)

	crowdCtx, stopCrowd := context.WithCancel(ctx)
	cr := crowd.Start(crowdCtx, crowd.Config{
		Addrs: seeds, Conns: cfg.conns, Hostile: cfg.hostile, FrameMax: cfg.frameMax, Topic: topic,
	})
	var peakRSS, peakHWM int64
	sampleDone := make(chan struct{})
	if cfg.pid > 0 {
		go func() {
			defer close(sampleDone)
			for {
				peakRSS = max(peakRSS, procKB(cfg.pid, "VmRSS"))
				select {
				case <-crowdCtx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	} else {
		close(sampleDone)
	}

	// The records flow once the crowd is in place.
	crowdStart := time.Now()
	for cr.Opened() < int64(cfg.conns) && time.Since(crowdStart) < 30*time.Second && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("crowd of %d connected in %v\n", cr.Opened(), time.Since(crowdStart).Round(time.Millisecond))
	start := time.Now()
	err = produceConsume(ctx, cfg, seeds, topic)
	took := time.Since(start)
	if rest := cfg.minCrowd - time.Since(crowdStart); err == nil && rest > 0 {
		select {
		case <-time.After(rest):
		case <-ctx.Done():
		}
	}
	stopCrowd()
	res := cr.Stop()
	<-sampleDone
	if cfg.pid > 0 {
		peakHWM = procKB(cfg.pid, "VmHWM")
	}
	fmt.Printf("crowd: %d connections opened, %d closed by the broker, %d polite answers, %d polite failures\n",
		res.Opened, res.ClosedByBroker, res.Answered, res.PoliteFailed)
	if err != nil {
		return err
	}
	fmt.Printf("records: %d produced and consumed intact in %v (%.0f records/s)\n", cfg.records, took.Round(time.Millisecond), float64(cfg.records)/took.Seconds())
	if cfg.pid > 0 {
		fmt.Printf("broker pid %d: peak RSS sampled %d MiB, VmHWM %d MiB\n", cfg.pid, peakRSS>>10, peakHWM>>10)
	}
	// Healthy afterwards: a fresh client gets metadata.
	hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
	defer hcancel()
	if _, err := kadm.NewClient(adm).ListTopics(hctx, topic); err != nil {
		return fmt.Errorf("loadtest: broker unhealthy afterwards: %w", err)
	}
	kadm.NewClient(adm).DeleteTopics(hctx, topic)
	if res.PoliteFailed > 0 {
		return fmt.Errorf("loadtest: %d polite connections failed, the first: %w", res.PoliteFailed, res.PoliteErr)
	}
	fmt.Println("ok: broker healthy afterwards")
	return nil
}

// produceConsume sends cfg.records keyed records and reads them back,
// checking each arrives once, intact and in offset order per partition.
func produceConsume(ctx context.Context, cfg loadtestConfig, seeds []string, topic string) error {
	value := func(i int) []byte {
		v := make([]byte, 8+i%max(cfg.valueSize-8, 1))
		binary.BigEndian.PutUint64(v, uint64(i))
		for j := 8; j < len(v); j++ {
			v[j] = byte(i + j)
		}
		return v
	}
	p, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		return err
	}
	defer p.Close()
	prodErr := make(chan error, 1)
	go func() {
		var first atomic.Value
		var wg sync.WaitGroup
		for i := 0; i < cfg.records; i++ {
			wg.Add(1)
			p.Produce(ctx, &kgo.Record{Key: strconv.AppendInt(nil, int64(i), 10), Value: value(i)}, func(_ *kgo.Record, err error) {
				if err != nil {
					first.CompareAndSwap(nil, err)
				}
				wg.Done()
			})
		}
		wg.Wait()
		err, _ := first.Load().(error)
		prodErr <- err
	}()
	c, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer c.Close()
	seen := make([]bool, cfg.records)
	next := map[int32]int64{}
	var bad error
	for n := 0; n < cfg.records && bad == nil; {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("loadtest: consumed %d of %d records: %w", n, cfg.records, err)
		}
		fs.EachError(func(t string, p int32, err error) { bad = fmt.Errorf("loadtest: fetch %s/%d: %w", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			i, err := strconv.Atoi(string(r.Key))
			switch {
			case bad != nil:
			case err != nil || i < 0 || i >= cfg.records:
				bad = fmt.Errorf("loadtest: record with bad key %q", r.Key)
			case seen[i]:
				bad = fmt.Errorf("loadtest: record %d twice", i)
			case string(r.Value) != string(value(i)):
				bad = fmt.Errorf("loadtest: record %d corrupt", i)
			case r.Offset != next[r.Partition]:
				bad = fmt.Errorf("loadtest: partition %d offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
			default:
				seen[i] = true
				next[r.Partition]++
				n++
			}
		})
	}
	if bad != nil {
		return bad
	}
	if err := <-prodErr; err != nil {
		return fmt.Errorf("loadtest: produce: %w", err)
	}
	return nil
}
