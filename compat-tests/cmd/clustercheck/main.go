// Command clustercheck checks failover of a three-node gregor cluster
// running in Docker (docker-compose.yml; cluster.sh runs it).
//
//	clustercheck -brokers localhost:19092,localhost:29092,localhost:39092 \
//	  -container 1=ID -container 2=ID -container 3=ID
//
// It creates a topic with replication factor 3, produces to every
// partition at a steady rate with acks=all (idempotent franz-go producer)
// while a consumer reads every partition from offset 0, and then, with
// the load running:
//
//  1. `docker stop`s the leader of partition 0 (controlled shutdown),
//  2. checks the other two nodes keep acknowledging and serving records,
//  3. `docker start`s it and waits until each node, asked on its own,
//     lists 3 brokers and ISR 3 on every partition, all agreeing on
//     leaders and leader epochs,
//  4. does the same with `docker kill` (SIGKILL) of the active controller
//     (or partition 0's leader if the controller leads no partition).
//
// -stop-kill=false skips 1-4. Then, optionally:
//
//   - -kills N (kills.go): N times in a row, `docker kill` partition 0's
//     current leader, wait until both survivors name new leaders and no
//     longer list it and -during more records per partition are
//     acknowledged and read, `docker start` it, wait until it is back in
//     every ISR; a table of the rounds' failover and rejoin times.
//   - -partition (partition.go): cut partition 0's leader (another
//     partition's if that is the active controller; with
//     -partition-controller, the active controller) off the cluster
//     network with `docker network disconnect`. A client that dials only
//     the node's host port must get no acknowledgement (acks=all) for
//     anything it sends after the cut; the majority elects new leaders
//     and keeps acknowledging; after -partition-hold the network heals
//     (`docker network connect`), the node truncates its divergent tail
//     and rejoins every ISR, and a preferred leader election makes it
//     leader again so that the final reads come from its log.
//
// After a kill or the cut, the survivors' logs must show no live broker
// fenced for an expired session (WARN, a known broker bug; -strict fails).
//
// At the end every acknowledged record must be read back exactly once, in
// produce order, at the offset its acknowledgement gave, by the live
// consumer and by a fresh one (and every record of the isolated client
// that was acknowledged, once at its offset; none it sent after the cut).
// Each check prints
//
//	RESULT cluster <check> PASS|FAIL|WARN <detail>
//
// WARN: a restarted node answered Metadata with leader epochs older than
// the survivors' (a known broker bug: it serves its pre-restart state
// until Raft catches it up), or the controller fenced a live broker;
// -strict makes those failures.
//
// and the exit status is 1 if any failed. Every wait has a timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type containers map[int32]string

func (c containers) String() string { return fmt.Sprint(map[int32]string(c)) }

func (c containers) Set(v string) error {
	id, name, ok := strings.Cut(v, "=")
	n, err := strconv.Atoi(id)
	if !ok || err != nil || name == "" {
		return fmt.Errorf("want NODE=CONTAINER, got %q", v)
	}
	c[int32(n)] = name
	return nil
}

var (
	brokers       = flag.String("brokers", "localhost:19092,localhost:29092,localhost:39092", "the addresses of nodes 1, 2 and 3, in that order")
	partitions    = flag.Int("partitions", 3, "partitions of the test topic")
	rate          = flag.Int("rate", 300, "records per second, over all partitions")
	warmup        = flag.Int("warmup", 1000, "records acknowledged per partition before the first failure")
	during        = flag.Int("during", 300, "records per partition that must be acknowledged and consumed while a node is down")
	valueBytes    = flag.Int("value-bytes", 200, "record value size")
	timeout       = flag.Duration("timeout", 0, "the whole check (0: 8m, plus 90s per -kills, plus 4m for -partition)")
	stopWait      = flag.Int("stop-timeout", 40, "docker stop -t: seconds before Docker kills a stopping node")
	strict        = flag.Bool("strict", false, "fail when a restarted node serves metadata older than the quorum's (a known broker bug)")
	retryEOF      = flag.Bool("retry-eof", true, "kgo.AlwaysRetryEOF: retry connections closed before the first response (Docker's port proxy does that while a node starts)")
	metaMinAge    = flag.Duration("metadata-min-age", 500*time.Millisecond, "kgo.MetadataMinAge of the producer and consumer: how soon they may refresh metadata after a failure (franz-go's default is 5s)")
	metaMaxAge    = flag.Duration("metadata-max-age", 0, "kgo.MetadataMaxAge of the producer and consumer (0: franz-go's default, 5m; -partition makes it 5s): a consumer fetching from an isolated leader sees no error, only no new records, until it refreshes metadata")
	stopKill      = flag.Bool("stop-kill", true, "the stop of partition 0's leader and the kill of the controller (steps 1-4 above)")
	kills         = flag.Int("kills", 0, "then kill partition 0's current leader this many times in a row (docker kill, failover, docker start, back in every ISR)")
	partition     = flag.Bool("partition", false, "then cut partition 0's leader (another partition's if that is the active controller) off the cluster network (docker network disconnect), check it stops acknowledging, heal, check it truncates and rejoins")
	network       = flag.String("network", "gregor_gregor", "-partition: the Docker network the nodes talk to each other on")
	cutController = flag.Bool("partition-controller", false, "-partition: cut the active controller instead, if it leads a partition (Raft and partition leader at once)")
	probeNet      = flag.String("probe-network", "gregor_partition_probe", "-partition: a network attached to the isolated node only, which carries its published port while it is cut off")
	alias         = flag.String("alias", "gregor%d", "-partition: the node's DNS name on -network (its Compose service name), restored when the partition heals")
	hold          = flag.Duration("partition-hold", 35*time.Second, "-partition: keep the node isolated at least this long after the majority elected new leaders (longer than replica.lag.time.max.ms, 30s, so the isolated leader tries to shrink its ISR)")
	probeEvery    = flag.Duration("probe-interval", 100*time.Millisecond, "-partition: how often the isolated client sends a record to each partition the isolated node leads")
	ctrs          = containers{}
)

var (
	failed bool
	start  = time.Now()
)

func logf(f string, a ...any) {
	fmt.Printf("%7.2fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(f, a...))
}

func result(check string, err error, detail string, a ...any) {
	d := fmt.Sprintf(detail, a...)
	if err != nil {
		failed = true
		fmt.Printf("RESULT cluster %s FAIL %v %s\n", check, err, d)
		return
	}
	fmt.Printf("RESULT cluster %s PASS %s\n", check, d)
}

func main() {
	flag.Var(ctrs, "container", "NODE=CONTAINER: the Docker container of a node (repeat for each)")
	flag.Parse()
	if len(ctrs) != 3 {
		fmt.Fprintln(os.Stderr, "clustercheck: need -container for nodes 1, 2 and 3")
		os.Exit(2)
	}
	if *timeout == 0 {
		*timeout = 8*time.Minute + time.Duration(*kills)*90*time.Second
		if *partition {
			*timeout += 4 * time.Minute
		}
	}
	if *partition && *metaMaxAge == 0 {
		*metaMaxAge = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx); err != nil {
		result("run", err, "")
	}
	if failed {
		os.Exit(1)
	}
}

// rec is one record as the consumer read it.
type rec struct {
	seq, offset int64
	probe       int64 // -1, or the number of a record of the isolated client (-partition)
}

// state is what the producer and the consumer saw, per partition.
type state struct {
	mu       sync.Mutex
	produced []int64           // next sequence number to produce
	acked    []map[int64]int64 // sequence -> acknowledged offset
	ackOrder [][]int64         // sequences in acknowledgement order
	failures []map[int64]error // sequences the producer gave up on
	read     [][]rec           // what the live consumer read, in order
	lastRead []int64           // highest sequence read
	lat      []time.Duration   // ack latency of every record
	lastAck  []time.Time       // when each partition last acknowledged a record
	ev       *event            // the failure being measured, if any
	readErrs int
	probes   *probeState // -partition: the isolated client's records
}

// event measures one failure: per partition the longest pause between
// two acknowledgements, the worst ack latency, and how many records
// produced after the event were acknowledged.
type event struct {
	at      time.Time
	maxGap  []time.Duration
	maxLat  time.Duration
	ackedAt []int64
}

func newState(n int) *state {
	s := &state{
		produced: make([]int64, n),
		acked:    make([]map[int64]int64, n),
		ackOrder: make([][]int64, n),
		failures: make([]map[int64]error, n),
		read:     make([][]rec, n),
		lastRead: make([]int64, n),
		lastAck:  make([]time.Time, n),
	}
	for p := range n {
		s.acked[p] = map[int64]int64{}
		s.failures[p] = map[int64]error{}
		s.lastRead[p] = -1
	}
	return s
}

func run(ctx context.Context) error {
	seeds := strings.Split(*brokers, ",")
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DialTimeout(2*time.Second), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	// The cluster as the test starts: three brokers, a controller.
	t0 := time.Now()
	m, err := waitMeta(ctx, adm, "3 brokers", 60*time.Second, nil, func(m kadm.Metadata) bool { return len(m.Brokers) == 3 && m.Controller >= 0 })
	result("brokers", err, "%d brokers %v, controller %d (%.1fs)", len(m.Brokers), brokerIDs(m), m.Controller, time.Since(t0).Seconds())
	if err != nil {
		return errors.New("cluster not ready")
	}

	topic := fmt.Sprintf("cluster-test-%d", time.Now().UnixNano())
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = adm.CreateTopic(cctx, int32(*partitions), 3, nil, topic)
	ccancel()
	if err != nil {
		result("create_topic", err, "%s", topic)
		return errors.New("no topic")
	}
	m, err = waitMeta(ctx, adm, "ISR 3 on every partition", 30*time.Second, []string{topic}, func(m kadm.Metadata) bool { return fullISR(m, topic, *partitions) })
	result("create_topic", err, "%s: %d partitions, RF 3, %s", topic, *partitions, describe(m, topic))
	if err != nil {
		return errors.New("topic not replicated")
	}

	st := newState(*partitions)
	prodCtx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	consCtx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	producer, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent: the franz-go default
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(1<<20),
		kgo.DialTimeout(2*time.Second),
		kgo.MetadataMinAge(*metaMinAge),
		metaMaxAgeOpt(),
		retryEOFOpt(),
	)
	if err != nil {
		return err
	}
	defer producer.Close()
	consumer, err := newConsumer(seeds, topic, *partitions)
	if err != nil {
		return err
	}
	defer consumer.Close()

	var prodWG, consWG sync.WaitGroup
	prodWG.Go(func() { produceLoop(prodCtx, producer, st, topic) })
	consWG.Go(func() { consumeLoop(consCtx, consumer, st) })

	// Warm up: everything replicated and acknowledged in steady state.
	err = waitFor(ctx, 120*time.Second, func() bool { return minAcked(st) >= *warmup && minRead(st) >= int64(*warmup-1) })
	result("warmup", err, "%d records per partition acknowledged (acks=all) and read; ack latency %s", *warmup, latencies(st))

	if err == nil && *stopKill {
		if m, err := clusterView(ctx, admCl, topic); err != nil {
			result("stop_failover", err, "")
		} else {
			failover(ctx, admCl, st, topic, "stop_failover", "stop", m.Topics[topic].Partitions[0].Leader)
		}
		if !failed {
			if m, err := clusterView(ctx, admCl, topic); err != nil {
				result("kill_failover", err, "")
			} else {
				victim := m.Topics[topic].Partitions[0].Leader
				for _, p := range m.Topics[topic].Partitions.Sorted() {
					if p.Leader == m.Controller {
						victim = m.Controller // the harder case: partition leader and Raft leader at once
					}
				}
				failover(ctx, admCl, st, topic, "kill_failover", "kill", victim)
			}
		}
	}
	if !failed && *kills > 0 {
		killLoop(ctx, admCl, st, topic)
	}
	if !failed && *partition {
		probes := partitionLeader(ctx, admCl, st, seeds, topic)
		st.mu.Lock()
		st.probes = probes
		st.mu.Unlock()
	}

	// Drain: every record produced must be acknowledged and read.
	stopProducing()
	fctx, fcancel := context.WithTimeout(ctx, 60*time.Second)
	ferr := producer.Flush(fctx)
	fcancel()
	prodWG.Wait() // no more Produce calls
	st.mu.Lock()
	var total, nfail int
	for p := range st.acked {
		total += len(st.acked[p])
		nfail += len(st.failures[p])
	}
	var firstFail error
	for p := range st.failures {
		for _, e := range st.failures[p] {
			firstFail = e
		}
	}
	var unordered []int
	for p := range st.ackOrder { // idempotent producer: acknowledged in produce order
		if !slices.IsSorted(st.ackOrder[p]) {
			unordered = append(unordered, p)
		}
	}
	st.mu.Unlock()
	if ferr == nil && nfail > 0 {
		ferr = fmt.Errorf("%d records failed, e.g.: %w", nfail, firstFail)
	}
	if ferr == nil && len(unordered) > 0 {
		ferr = fmt.Errorf("partitions %v: acknowledgements out of produce order", unordered)
	}
	result("produce", ferr, "%d records acknowledged, %d failed; ack latency %s", total, nfail, latencies(st))

	err = waitFor(ctx, 60*time.Second, func() bool { return caughtUp(st) })
	stopConsuming()
	consWG.Wait()
	st.mu.Lock()
	verr := verify(st.read, st.acked, st.failures)
	perr := st.probes.verify(st.read)
	st.mu.Unlock()
	if err != nil {
		verr = errors.Join(fmt.Errorf("live consumer did not catch up: %w", err), verr)
	}
	result("exactly_once_in_order", verr, "live consumer: %d acknowledged records read once each, in order, at their acknowledged offsets (%d read errors retried)", total, st.readErrs)
	if st.probes != nil {
		result("isolated_client_records", perr, "live consumer: %s", st.probes.summary(st.read))
	}

	// A fresh consumer after both failures: nothing acknowledged was lost
	// by the restarted nodes or the new leaders.
	fresh, rerr := rereadAll(ctx, adm, seeds, topic, *partitions)
	if rerr == nil {
		st.mu.Lock()
		rerr = errors.Join(verify(fresh, st.acked, st.failures), st.probes.verify(fresh))
		st.mu.Unlock()
	}
	result("reread", rerr, "fresh consumer read %d records%s", count(fresh), st.probes.summaryIf(fresh))

	m, err = clusterView(ctx, admCl, topic)
	result("final_state", err, "all three nodes agree: brokers %v, controller %d, %s", brokerIDs(m), m.Controller, describe(m, topic))

	dctx2, dcancel2 := context.WithTimeout(ctx, 30*time.Second)
	defer dcancel2()
	if _, err := adm.DeleteTopic(dctx2, topic); err != nil {
		logf("delete topic %s: %v", topic, err)
	}
	return nil
}

// failover takes node victim down with `docker <how>` under load, checks
// the other two nodes keep serving, brings it back and waits for it to
// rejoin every ISR.
//
// name prefixes its RESULT lines; the figures are returned (ok false if a
// check failed).
func failover(ctx context.Context, admCl *kgo.Client, st *state, topic, name, how string, victim int32) (fs failStats) {
	fs.victim = victim
	ctr, ok := ctrs[victim]
	if !ok {
		result(name, fmt.Errorf("no container for node %d", victim), "")
		return
	}
	m, err := clusterView(ctx, admCl, topic)
	if err != nil {
		result(name, err, "")
		return
	}
	var led []int32
	for _, p := range m.Topics[topic].Partitions.Sorted() {
		if p.Leader == victim {
			led = append(led, p.Partition)
		}
	}
	isController := m.Controller == victim
	fs.controller, fs.led = isController, led
	var survivors []int32
	for _, b := range brokerIDs(m) {
		if b != victim {
			survivors = append(survivors, b)
		}
	}
	logf("%s: node %d (container %.12s) leads partitions %v, controller: %v", how, victim, ctr, led, isController)

	ev := &event{at: time.Now(), maxGap: make([]time.Duration, *partitions), ackedAt: make([]int64, *partitions)}
	st.mu.Lock()
	st.ev = ev
	st.mu.Unlock()
	var args []string
	var dockerTimeout time.Duration
	if how == "stop" {
		args, dockerTimeout = []string{"stop", "-t", strconv.Itoa(*stopWait), ctr}, time.Duration(*stopWait+20)*time.Second
	} else {
		args, dockerTimeout = []string{"kill", ctr}, 20*time.Second
	}
	var dockerTook time.Duration
	dockerDone := make(chan error, 1)
	go func() {
		err := docker(ctx, dockerTimeout, args...)
		dockerTook = time.Since(ev.at)
		dockerDone <- err
	}()

	// Both survivors answer Metadata with new leaders for the victim's
	// partitions and without the victim among the brokers.
	var leaderMoved, gone time.Duration
	var seen kadm.Metadata
	err = waitFor(ctx, 60*time.Second, func() bool {
		moved, unlisted := true, true
		for _, n := range survivors {
			m, err := nodeMetadata(ctx, admCl, n, topic)
			if err != nil {
				return false
			}
			seen = m
			for _, p := range led {
				l := m.Topics[topic].Partitions[p].Leader
				moved = moved && l >= 0 && l != victim
			}
			unlisted = unlisted && !slices.Contains(brokerIDs(m), victim)
		}
		if moved && leaderMoved == 0 {
			leaderMoved = time.Since(ev.at)
		}
		if unlisted && gone == 0 {
			gone = time.Since(ev.at)
		}
		return moved && unlisted
	})
	derr := <-dockerDone
	if derr != nil {
		result(name, derr, "docker %s", strings.Join(args, " "))
		return
	}
	exited := containerExit(ctx, ctr).Sub(ev.at)
	if err != nil {
		result(name, fmt.Errorf("new leaders and victim gone on nodes %v: %w", survivors, err), "node %d: leaders moved after %v, unlisted after %v", victim, leaderMoved, gone)
		return
	}
	logf("%s: container exited after %.2fs; survivors %v: new leaders after %.2fs, node %d unlisted after %.2fs: %s",
		how, exited.Seconds(), survivors, leaderMoved.Seconds(), victim, gone.Seconds(), describe(seen, topic))

	// The other two keep acknowledging (acks=all, min.insync.replicas=2)
	// and serving reads while the victim is down.
	err = waitFor(ctx, 90*time.Second, func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		for p := range ev.ackedAt {
			if ev.ackedAt[p] < int64(*during) {
				return false
			}
		}
		return true
	})
	if err == nil {
		target := make([]int64, *partitions)
		st.mu.Lock()
		for p := range target {
			target[p] = maxAcked(st.acked[p])
		}
		st.mu.Unlock()
		err = waitFor(ctx, 60*time.Second, func() bool {
			st.mu.Lock()
			defer st.mu.Unlock()
			for p := range target {
				if st.lastRead[p] < target[p] {
					return false
				}
			}
			return true
		})
	}
	st.mu.Lock()
	var stall time.Duration
	var gaps []string
	for p, g := range ev.maxGap {
		stall = max(stall, g)
		gaps = append(gaps, fmt.Sprintf("p%d %.2fs", p, g.Seconds()))
	}
	maxLat := ev.maxLat
	st.ev = nil
	st.mu.Unlock()
	running := containerRunning(ctx, ctr)
	if how == "kill" {
		fs.liveFenced = len(fencedLive(ctx, name, survivors, victim, ev.at))
	}
	fs.leaderMoved, fs.gone, fs.stall, fs.maxLat = leaderMoved, gone, stall, maxLat
	result(name, err, "node %d (controller: %v, leader of %v): docker %s returned after %.2fs, container exited after %.2fs; "+
		"both survivors show new leaders after %.2fs and node %d gone after %.2fs; "+
		"longest pause between acks (acks=all) %s, max %.2fs; worst ack latency %.2fs; "+
		"%d more records per partition acknowledged and read with node %d down (still down: %v)",
		victim, isController, led, how, dockerTook.Seconds(), exited.Seconds(),
		leaderMoved.Seconds(), victim, gone.Seconds(),
		strings.Join(gaps, ", "), stall.Seconds(), maxLat.Seconds(),
		*during, victim, !running)
	if err != nil {
		return
	}

	// Back: every node, asked on its own, lists three brokers and ISR 3 on
	// every partition, and all agree on leaders and leader epochs. From
	// `docker start` on, the restarted node's own answers are compared
	// with the survivors' (a node must not serve metadata older than the
	// quorum's).
	back := time.Now()
	startDone := make(chan error, 1)
	go func() { startDone <- docker(ctx, 30*time.Second, "start", ctr) }()
	var registered, answered time.Duration
	var stale string
	var views map[int32]kadm.Metadata
	err = waitFor(ctx, 120*time.Second, func() bool {
		views = map[int32]kadm.Metadata{}
		for n := int32(1); n <= 3; n++ {
			if m, err := nodeMetadata(ctx, admCl, n, topic); err == nil {
				views[n] = m
			}
		}
		v, up := views[victim]
		if up && answered == 0 {
			answered = time.Since(back)
		}
		for _, n := range survivors {
			s, ok := views[n]
			if !ok {
				continue
			}
			if registered == 0 && slices.Contains(brokerIDs(s), victim) {
				registered = time.Since(back)
			}
			if up && stale == "" {
				stale = staleness(v, s, topic, victim, n)
				if stale != "" {
					stale = fmt.Sprintf("%.2fs after docker start: %s", time.Since(back).Seconds(), stale)
				}
			}
		}
		return len(views) == 3 && agree(views, topic, *partitions)
	})
	if serr := <-startDone; serr != nil {
		err = serr
	}
	fs.answered, fs.listed, fs.rejoined = answered, registered, time.Since(back)
	rejoined := fs.rejoined
	if trunc := truncations(ctx, ctr, back, topic); len(trunc) > 0 {
		logf("%s: node %d after docker start: %s", how, victim, strings.Join(trunc, "; "))
		fs.truncated = len(trunc)
	}
	result(name+"_rejoin", err, "node %d: answering %.2fs after docker start, listed by the survivors after %.2fs, all three nodes agree on 3 brokers and ISR 3 after %.2fs: %s",
		victim, answered.Seconds(), registered.Seconds(), rejoined.Seconds(), describe(views[victim], topic))
	if stale != "" {
		staleErr := fmt.Errorf("node %d served stale metadata after restart", victim)
		if *strict {
			result(name+"_restart_metadata", staleErr, "%s", stale)
		} else {
			fmt.Printf("RESULT cluster %s_restart_metadata WARN %v: %s (a broker bug; -strict makes this a failure)\n", name, staleErr, stale)
		}
	} else {
		result(name+"_restart_metadata", nil, "node %d never answered with leader epochs older than the survivors'", victim)
	}
	fs.stale = stale != ""
	fs.ok = err == nil
	return fs
}

// failStats are the figures of one failover.
type failStats struct {
	victim     int32
	controller bool
	led        []int32
	// leaderMoved: both survivors name new leaders for the victim's
	// partitions; gone: neither lists the victim any more (fenced).
	leaderMoved, gone time.Duration
	// stall: the longest pause between two acknowledgements of a
	// partition; maxLat: the worst acknowledgement latency.
	stall, maxLat time.Duration
	// After docker start: the node answers Metadata, the survivors list it,
	// all three agree on ISR 3 everywhere.
	answered, listed, rejoined time.Duration
	truncated                  int // "truncating diverged replica" lines for the topic in its log
	liveFenced                 int // live brokers the controller fenced (a broker bug)
	stale                      bool
	ok                         bool
}

// clusterView waits until the three nodes, asked one by one, agree on
// the controller, 3 brokers, ISR 3 and every leader and leader epoch.
func clusterView(ctx context.Context, cl *kgo.Client, topic string) (kadm.Metadata, error) {
	var views map[int32]kadm.Metadata
	err := waitFor(ctx, 30*time.Second, func() bool {
		views = map[int32]kadm.Metadata{}
		for n := int32(1); n <= 3; n++ {
			if m, err := nodeMetadata(ctx, cl, n, topic); err == nil {
				views[n] = m
			}
		}
		return len(views) == 3 && agree(views, topic, *partitions)
	})
	if err != nil {
		var d []string
		for n := int32(1); n <= 3; n++ {
			m := views[n]
			d = append(d, fmt.Sprintf("node %d: brokers %v controller %d %s", n, brokerIDs(m), m.Controller, describe(m, topic)))
		}
		return views[1], fmt.Errorf("nodes disagree: %w: %s", err, strings.Join(d, " | "))
	}
	return views[1], nil
}

// staleness compares the restarted node's metadata v with survivor n's
// view s, returning a description if v has an older leader epoch for a
// partition (a leader that was replaced while the node was down).
func staleness(v, s kadm.Metadata, topic string, victim, n int32) string {
	vt, ok1 := v.Topics[topic]
	st, ok2 := s.Topics[topic]
	if !ok1 || !ok2 {
		return ""
	}
	var out []string
	for _, p := range vt.Partitions.Sorted() {
		sp, ok := st.Partitions[p.Partition]
		if ok && p.LeaderEpoch < sp.LeaderEpoch {
			out = append(out, fmt.Sprintf("p%d leader %d epoch %d isr %v (node %d: leader %d epoch %d isr %v)",
				p.Partition, p.Leader, p.LeaderEpoch, p.ISR, n, sp.Leader, sp.LeaderEpoch, sp.ISR))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprintf("node %d answered Metadata with brokers %v, %s", victim, brokerIDs(v), strings.Join(out, "; "))
}

// agree reports whether every view lists 3 brokers and ISR 3 everywhere,
// with the same leader and leader epoch for each partition.
func agree(views map[int32]kadm.Metadata, topic string, n int) bool {
	var first kadm.Metadata
	for _, m := range views {
		if len(m.Brokers) != 3 || !fullISR(m, topic, n) {
			return false
		}
		if first.Topics == nil {
			first = m
			continue
		}
		if m.Controller != first.Controller {
			return false
		}
		for p, fp := range first.Topics[topic].Partitions {
			mp := m.Topics[topic].Partitions[p]
			if mp.Leader != fp.Leader || mp.LeaderEpoch != fp.LeaderEpoch {
				return false
			}
		}
	}
	return true
}

// nodeMetadata asks node (1, 2 or 3: -brokers lists their addresses in
// that order) for the cluster and topic metadata.
func nodeMetadata(ctx context.Context, cl *kgo.Client, node int32, topic string) (kadm.Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	seeds := cl.SeedBrokers()
	if node < 1 || int(node) > len(seeds) {
		return kadm.Metadata{}, fmt.Errorf("no address for node %d", node)
	}
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, seeds[node-1])
	if err != nil {
		return kadm.Metadata{}, err
	}
	m := kadm.Metadata{Controller: resp.ControllerID, Topics: kadm.TopicDetails{}}
	for _, b := range resp.Brokers {
		m.Brokers = append(m.Brokers, kadm.BrokerDetail{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		td := kadm.TopicDetail{Topic: *t.Topic, Partitions: kadm.PartitionDetails{}, Err: kerr.ErrorForCode(t.ErrorCode)}
		for _, p := range t.Partitions {
			td.Partitions[p.Partition] = kadm.PartitionDetail{Topic: *t.Topic, Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: p.Replicas, ISR: p.ISR, OfflineReplicas: p.OfflineReplicas, Err: kerr.ErrorForCode(p.ErrorCode)}
		}
		m.Topics[*t.Topic] = td
	}
	return m, nil
}

// containerExit is when the container stopped running (Docker's clock,
// this machine's).
func containerExit(ctx context.Context, ctr string) time.Time {
	var at time.Time
	_ = waitFor(ctx, 30*time.Second, func() bool {
		ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ictx, "docker", "inspect", "-f", "{{.State.Running}} {{.State.FinishedAt}}", ctr).Output()
		f := strings.Fields(string(out))
		if err != nil || len(f) != 2 || f[0] != "false" {
			return false
		}
		at, err = time.Parse(time.RFC3339Nano, f[1])
		return err == nil
	})
	return at
}

func docker(ctx context.Context, timeout time.Duration, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func containerRunning(ctx context.Context, ctr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.State.Running}}", ctr).Output()
	return strings.TrimSpace(string(out)) == "true"
}

// produceLoop produces *rate records a second, round robin over the
// partitions, until ctx ends.
func produceLoop(ctx context.Context, cl *kgo.Client, st *state, topic string) {
	n := len(st.produced)
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	pad := strings.Repeat("x", max(0, *valueBytes-24))
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p := int32(i % n)
		st.mu.Lock()
		seq := st.produced[p]
		st.produced[p]++
		st.mu.Unlock()
		r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d:%d:%s", p, seq, pad)}
		sent := time.Now()
		// A background context: records already handed to the client are
		// acknowledged or failed by it (Flush waits), never abandoned.
		cl.Produce(context.WithoutCancel(ctx), r, func(r *kgo.Record, err error) {
			now := time.Now()
			st.mu.Lock()
			defer st.mu.Unlock()
			if err != nil {
				st.failures[p][seq] = err
				if n := len(st.failures[p]); n <= 3 {
					logf("produce p%d seq %d failed after %v: %v", p, seq, now.Sub(sent), err)
				}
				return
			}
			st.acked[p][seq] = r.Offset
			st.ackOrder[p] = append(st.ackOrder[p], seq)
			lat := now.Sub(sent)
			st.lat = append(st.lat, lat)
			if ev := st.ev; ev != nil {
				ev.maxLat = max(ev.maxLat, lat)
				ev.maxGap[p] = max(ev.maxGap[p], now.Sub(later(st.lastAck[p], ev.at)))
				if !sent.Before(ev.at) {
					ev.ackedAt[p]++
				}
			}
			st.lastAck[p] = now
		})
	}
}

func newConsumer(seeds []string, topic string, n int) (*kgo.Client, error) {
	offs := map[int32]kgo.Offset{}
	for p := range n {
		offs[int32(p)] = kgo.NewOffset().At(0)
	}
	return kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.DialTimeout(2*time.Second), kgo.MetadataMinAge(*metaMinAge), metaMaxAgeOpt(), retryEOFOpt())
}

func consumeLoop(ctx context.Context, cl *kgo.Client, st *state) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		st.mu.Lock()
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				st.readErrs++
				logf("consumer: %s[%d]: %v", t, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			seq, probe := parseSeq(r.Value)
			st.read[r.Partition] = append(st.read[r.Partition], rec{seq: seq, offset: r.Offset, probe: probe})
			st.lastRead[r.Partition] = max(st.lastRead[r.Partition], seq)
		})
		st.mu.Unlock()
	}
}

func retryEOFOpt() kgo.Opt {
	if *retryEOF {
		return kgo.AlwaysRetryEOF()
	}
	return kgo.WithHooks() // no-op
}

func metaMaxAgeOpt() kgo.Opt {
	if *metaMaxAge > 0 {
		return kgo.MetadataMaxAge(*metaMaxAge)
	}
	return kgo.WithHooks() // no-op
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// parseSeq parses a value "P:SEQ:padding" (the producer's) or
// "probe:N:padding" (the isolated client's): it returns SEQ and -1, or -1
// and N.
func parseSeq(v []byte) (seq, probe int64) {
	parts := strings.SplitN(string(v), ":", 3)
	if len(parts) != 3 {
		return -1, -1
	}
	n, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return -1, -1
	}
	if parts[0] == "probe" {
		return -1, n
	}
	return n, -1
}

// verify checks each partition's records: offsets 0, 1, 2, ...; sequence
// numbers strictly increasing (once each, in produce order); every
// acknowledged record present at its acknowledged offset; nothing that was
// never produced. A record the producer gave up on may be there or not.
func verify(read [][]rec, acked []map[int64]int64, failures []map[int64]error) error {
	var errs []error
	for p := range read {
		seen := map[int64]bool{}
		last := int64(-1)
		for i, r := range read[p] {
			if r.offset != int64(i) {
				errs = append(errs, fmt.Errorf("partition %d: record %d has offset %d", p, i, r.offset))
			}
			if r.probe >= 0 {
				continue // the isolated client's: probeState.verify
			}
			switch {
			case r.seq <= last:
				errs = append(errs, fmt.Errorf("partition %d offset %d: sequence %d after %d (duplicate or reordered)", p, r.offset, r.seq, last))
			}
			if off, ok := acked[p][r.seq]; ok && off != r.offset {
				errs = append(errs, fmt.Errorf("partition %d: sequence %d acknowledged at offset %d, read at %d", p, r.seq, off, r.offset))
			} else if !ok && failures[p][r.seq] == nil {
				errs = append(errs, fmt.Errorf("partition %d offset %d: sequence %d was never acknowledged", p, r.offset, r.seq))
			}
			seen[r.seq] = true
			last = max(last, r.seq)
			if len(errs) > 10 {
				return errors.Join(errs...)
			}
		}
		var missing []int64
		for seq := range acked[p] {
			if !seen[seq] {
				missing = append(missing, seq)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			errs = append(errs, fmt.Errorf("partition %d: %d acknowledged records missing, first %v", p, len(missing), missing[:min(5, len(missing))]))
		}
	}
	return errors.Join(errs...)
}

// rereadAll reads every partition from 0 to its end offset with a new client.
func rereadAll(ctx context.Context, adm *kadm.Client, seeds []string, topic string, n int) ([][]rec, error) {
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	ends, err := adm.ListEndOffsets(lctx, topic)
	cancel()
	if err != nil {
		return nil, err
	}
	cl, err := newConsumer(seeds, topic, n)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	st := newState(n)
	done := func() bool {
		for p := range n {
			o, _ := ends.Lookup(topic, int32(p))
			if int64(len(st.read[p])) < o.Offset {
				return false
			}
		}
		return true
	}
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	for !done() {
		if rctx.Err() != nil {
			return nil, fmt.Errorf("fresh consumer: %w", rctx.Err())
		}
		fs := cl.PollFetches(rctx)
		fs.EachRecord(func(r *kgo.Record) {
			seq, probe := parseSeq(r.Value)
			st.read[r.Partition] = append(st.read[r.Partition], rec{seq: seq, offset: r.Offset, probe: probe})
		})
	}
	return st.read, nil
}

func caughtUp(st *state) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for p := range st.acked {
		if st.lastRead[p] < maxAcked(st.acked[p]) {
			return false
		}
	}
	return true
}

func maxAcked(m map[int64]int64) int64 {
	best := int64(-1)
	for seq := range m {
		best = max(best, seq)
	}
	return best
}

func minAcked(st *state) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := -1
	for p := range st.acked {
		if n < 0 || len(st.acked[p]) < n {
			n = len(st.acked[p])
		}
	}
	return n
}

func minRead(st *state) int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := int64(-1)
	for p := range st.lastRead {
		if p == 0 || st.lastRead[p] < n {
			n = st.lastRead[p]
		}
	}
	return n
}

func count(read [][]rec) int {
	n := 0
	for _, r := range read {
		n += len(r)
	}
	return n
}

func latencies(st *state) string {
	st.mu.Lock()
	ls := slices.Clone(st.lat)
	st.mu.Unlock()
	if len(ls) == 0 {
		return "n/a"
	}
	slices.Sort(ls)
	q := func(f float64) time.Duration {
		return ls[min(len(ls)-1, int(f*float64(len(ls))))].Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %v p99 %v max %v", q(0.5), q(0.99), ls[len(ls)-1].Round(time.Millisecond))
}

// metadata asks any live broker, within a few seconds.
func metadata(ctx context.Context, adm *kadm.Client, topics ...string) (kadm.Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return adm.Metadata(ctx, topics...)
}

// waitMeta polls metadata until ok or the timeout, returning the last one.
func waitMeta(ctx context.Context, adm *kadm.Client, what string, timeout time.Duration, topics []string, ok func(kadm.Metadata) bool) (kadm.Metadata, error) {
	var last kadm.Metadata
	err := waitFor(ctx, timeout, func() bool {
		m, err := metadata(ctx, adm, topics...)
		if err != nil {
			return false
		}
		last = m
		return ok(m)
	})
	if err != nil {
		err = fmt.Errorf("%s: %w", what, err)
	}
	return last, err
}

func waitFor(ctx context.Context, timeout time.Duration, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %v", timeout)
		case <-tick.C:
		}
	}
	return nil
}

func fullISR(m kadm.Metadata, topic string, n int) bool {
	td, ok := m.Topics[topic]
	if !ok || td.Err != nil || len(td.Partitions) != n {
		return false
	}
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 || len(p.ISR) != 3 {
			return false
		}
	}
	return true
}

func brokerIDs(m kadm.Metadata) []int32 {
	var ids []int32
	for _, b := range m.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids
}

func describe(m kadm.Metadata, topic string) string {
	td, ok := m.Topics[topic]
	if !ok {
		return "no metadata"
	}
	var s []string
	for _, p := range td.Partitions.Sorted() {
		s = append(s, fmt.Sprintf("p%d leader %d epoch %d isr %v", p.Partition, p.Leader, p.LeaderEpoch, p.ISR))
	}
	return strings.Join(s, "; ")
}
