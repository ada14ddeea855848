package main

// -partition: cut partition 0's leader off the cluster network.
//
// `docker network disconnect` of a container from its only network also
// takes away its published ports (Docker 20.10: the DNAT rule points at
// the container's address on that network; the host port then refuses
// connections until `docker network connect`). So before the cut the node
// is attached to a second network, -probe-network, that nobody else is on:
// Docker moves the published port there, the host still reaches the node
// at its host port, and the other nodes cannot (its DNS name and address
// on -network are gone, and they share no other network with it).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Phases of an isolated-client record: when it was sent.
const (
	beforeCut = iota // the node was still on the cluster network
	duringCut        // while `docker network disconnect` ran
	afterCut         // the node was cut off: must never be acknowledged
)

var phaseNames = []string{"before the cut", "during docker network disconnect", "after the cut"}

type probe struct {
	id     int64
	part   int32
	sent   time.Time
	phase  int
	done   bool
	acked  bool
	offset int64
	lat    time.Duration
	err    error
}

// probeState is what the isolated client sent and what it was told.
type probeState struct {
	mu     sync.Mutex
	phase  int
	probes []*probe
	// What the client was told per produce request after the cut, from
	// its log (a record that fails only says it was retried too often).
	reqErrs map[string]int
}

// probeLogger counts the errors franz-go logs for the isolated client
// after the cut (produce requests and responses, metadata, connections).
type probeLogger struct{ ps *probeState }

func (probeLogger) Level() kgo.LogLevel { return kgo.LogLevelDebug }

func (l probeLogger) Log(_ kgo.LogLevel, msg string, kv ...any) {
	for i := 0; i+1 < len(kv); i += 2 {
		if k, _ := kv[i].(string); k == "err" {
			if err, ok := kv[i+1].(error); ok {
				l.ps.mu.Lock()
				if l.ps.phase == afterCut {
					if l.ps.reqErrs == nil {
						l.ps.reqErrs = map[string]int{}
					}
					l.ps.reqErrs[errName(err)+" ("+msg+")"]++
				}
				l.ps.mu.Unlock()
			}
		}
	}
}

func (ps *probeState) setPhase(ph int) {
	ps.mu.Lock()
	ps.phase = ph
	ps.mu.Unlock()
}

// counts returns, for a phase, records sent, acknowledged, failed, and
// the failures by error.
func (ps *probeState) counts(ph int) (sent, acked, failedN int, errs map[string]int, failLat []time.Duration) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	errs = map[string]int{}
	for _, p := range ps.probes {
		if p.phase != ph {
			continue
		}
		sent++
		switch {
		case p.acked:
			acked++
		case p.done:
			failedN++
			errs[errName(p.err)]++
			failLat = append(failLat, p.lat)
		}
	}
	return
}

func errName(err error) string {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Message
	case errors.Is(err, context.DeadlineExceeded):
		return "client timeout (context deadline)"
	case errors.Is(err, kgo.ErrRecordTimeout):
		return "record delivery timeout"
	case errors.Is(err, kgo.ErrClientClosed):
		return "client closed"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// verify checks the isolated client's records in a read of the topic:
// each acknowledged one once, at its offset; none sent after the cut (the
// isolated leader may have appended them, and must have truncated them
// when it rejoined); none twice.
func (ps *probeState) verify(read [][]rec) error {
	if ps == nil {
		return nil
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	byID := map[int64]*probe{}
	for _, p := range ps.probes {
		byID[p.id] = p
	}
	var errs []error
	seen := map[int64]int64{}
	for part := range read {
		for _, r := range read[part] {
			if r.probe < 0 {
				continue
			}
			p := byID[r.probe]
			switch {
			case p == nil:
				errs = append(errs, fmt.Errorf("partition %d offset %d: isolated-client record %d was never sent", part, r.offset, r.probe))
			case seen[r.probe] > 0:
				errs = append(errs, fmt.Errorf("partition %d offset %d: isolated-client record %d again (first at offset %d)", part, r.offset, r.probe, seen[r.probe]-1))
			case p.phase == afterCut:
				errs = append(errs, fmt.Errorf("partition %d offset %d: isolated-client record %d, sent %s, survived (acknowledged: %v)", part, r.offset, r.probe, phaseNames[p.phase], p.acked))
			case p.acked && p.offset != r.offset:
				errs = append(errs, fmt.Errorf("partition %d: isolated-client record %d acknowledged at offset %d, read at %d", part, r.probe, p.offset, r.offset))
			}
			seen[r.probe] = r.offset + 1
		}
	}
	var missing []int64
	for _, p := range ps.probes {
		if p.acked && seen[p.id] == 0 {
			missing = append(missing, p.id)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("%d acknowledged isolated-client records missing, e.g. %v", len(missing), missing[:min(5, len(missing))]))
	}
	if len(errs) > 10 {
		errs = errs[:10]
	}
	return errors.Join(errs...)
}

func (ps *probeState) summary(read [][]rec) string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var sent, acked [3]int
	for _, p := range ps.probes {
		sent[p.phase]++
		if p.acked {
			acked[p.phase]++
		}
	}
	present := 0
	for part := range read {
		for _, r := range read[part] {
			if r.probe >= 0 {
				present++
			}
		}
	}
	return fmt.Sprintf("isolated client sent %d/%d/%d records before/during/after the cut, %d/%d/%d acknowledged; %d in the log, every acknowledged one once at its offset, none sent after the cut",
		sent[0], sent[1], sent[2], acked[0], acked[1], acked[2], present)
}

func (ps *probeState) summaryIf(read [][]rec) string {
	if ps == nil {
		return ""
	}
	return "; " + ps.summary(read)
}

// isolatedClient produces acks=all records (not idempotent, no retries:
// each record's own answer) to parts, every *probeEvery, through a client
// that dials only addr, whatever broker it means to reach.
func isolatedClient(ctx context.Context, ps *probeState, addr, topic string, parts []int32) (stop func()) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: 2 * time.Second}
			return d.DialContext(ctx, network, addr)
		}),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.ProduceRequestTimeout(3*time.Second),
		kgo.RequestTimeoutOverhead(3*time.Second),
		kgo.RecordRetries(0),
		kgo.RecordDeliveryTimeout(10*time.Second),
		kgo.MetadataMinAge(500*time.Millisecond),
		kgo.DialTimeout(2*time.Second),
		kgo.WithLogger(probeLogger{ps}),
		retryEOFOpt(),
	)
	if err != nil {
		logf("isolated client: %v", err)
		return func() {}
	}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(*probeEvery)
		defer tick.Stop()
		pad := strings.Repeat("y", max(0, *valueBytes-24))
		for {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
			}
			for _, part := range parts {
				ps.mu.Lock()
				p := &probe{id: int64(len(ps.probes)), part: part, sent: time.Now(), phase: ps.phase}
				ps.probes = append(ps.probes, p)
				ps.mu.Unlock()
				r := &kgo.Record{Topic: topic, Partition: part, Value: fmt.Appendf(nil, "probe:%d:%s", p.id, pad)}
				cl.Produce(context.WithoutCancel(pctx), r, func(r *kgo.Record, err error) {
					ps.mu.Lock()
					defer ps.mu.Unlock()
					p.done, p.lat, p.err = true, time.Since(p.sent), err
					if err == nil {
						p.acked, p.offset = true, r.Offset
						if p.phase == afterCut {
							logf("isolated client: record %d sent after the cut acknowledged at p%d offset %d", p.id, part, r.Offset)
						}
					}
				})
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		fctx, fcancel := context.WithTimeout(ctx, 20*time.Second)
		_ = cl.Flush(fctx) // every record answered or timed out
		fcancel()
		cl.Close()
	}
}

// partitionLeader cuts partition 0's leader (another partition's if that
// is the active controller; the controller with -partition-controller)
// off the cluster network with
// the load running, checks the isolated node acknowledges nothing a client
// talking only to it sends while the majority elects new leaders and keeps
// acknowledging, heals the network and checks the node truncates and
// rejoins every ISR; then makes the preferred replicas leaders again so
// the final reads come from the healed node's log where it is preferred.
func partitionLeader(ctx context.Context, admCl *kgo.Client, st *state, seeds []string, topic string) *probeState {
	const name = "partition"
	m, err := clusterView(ctx, admCl, topic)
	if err != nil {
		result(name, err, "")
		return nil
	}
	td := m.Topics[topic]
	victim := td.Partitions[0].Leader
	for _, p := range td.Partitions.Sorted() {
		switch {
		case *cutController && p.Leader == m.Controller:
			victim = m.Controller // partition leader and Raft leader at once
		case !*cutController && victim == m.Controller && p.Leader != m.Controller:
			// A partition leader only: the controller's case is
			// -partition-controller's.
			victim = p.Leader
		}
	}
	ctr, ok := ctrs[victim]
	if !ok || int(victim) > len(seeds) {
		result(name, fmt.Errorf("no container or address for node %d", victim), "")
		return nil
	}
	addr := seeds[victim-1]
	var led []int32
	for _, p := range td.Partitions.Sorted() {
		if p.Leader == victim {
			led = append(led, p.Partition)
		}
	}
	var survivors []int32
	for _, b := range brokerIDs(m) {
		if b != victim {
			survivors = append(survivors, b)
		}
	}
	dnsName := fmt.Sprintf(*alias, victim)
	logf("partition: node %d (container %.12s, %s on %s, host port %s) leads partitions %v, controller: %v",
		victim, ctr, dnsName, *network, addr, led, m.Controller == victim)

	// The probe network, and a cleanup that leaves the node on the cluster
	// network only whatever happens below.
	_ = docker(ctx, 30*time.Second, "network", "create", "--label", "gregor.clustercheck=probe", *probeNet)
	healed := false
	heal := func() error {
		if healed {
			return nil
		}
		healed = true
		var errs []error
		if err := docker(ctx, 30*time.Second, "network", "connect", "--alias", dnsName, *network, ctr); err != nil && !strings.Contains(err.Error(), "already exists") {
			errs = append(errs, err)
		}
		if err := docker(ctx, 30*time.Second, "network", "disconnect", *probeNet, ctr); err != nil && !strings.Contains(err.Error(), "is not connected") {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err := heal(); err != nil {
			logf("partition cleanup: %v", err)
		}
		if err := docker(ctx, 30*time.Second, "network", "rm", *probeNet); err != nil {
			logf("partition cleanup: %v", err)
		}
	}()
	if err := docker(ctx, 30*time.Second, "network", "connect", *probeNet, ctr); err != nil {
		result(name, err, "")
		return nil
	}

	// The isolated client: dials only the node's host port. It must get
	// acknowledgements while the node is connected.
	ps := &probeState{}
	stopProbes := isolatedClient(ctx, ps, addr, topic, led)
	probesStopped := false
	defer func() {
		if !probesStopped {
			stopProbes()
		}
	}()
	err = waitFor(ctx, 30*time.Second, func() bool { _, acked, _, _, _ := ps.counts(beforeCut); return acked >= 10 })
	_, acked, nfail, errs, _ := ps.counts(beforeCut)
	result("partition_isolated_client_before", err, "a client dialing only %s (node %d): %d records acknowledged (acks=all), %d failed %v, before the cut", addr, victim, acked, nfail, errs)
	if err != nil {
		return ps
	}

	// The cut.
	ev := &event{at: time.Now(), maxGap: make([]time.Duration, *partitions), ackedAt: make([]int64, *partitions)}
	st.mu.Lock()
	st.ev = ev
	st.mu.Unlock()
	ps.setPhase(duringCut)
	err = docker(ctx, 30*time.Second, "network", "disconnect", *network, ctr)
	ps.setPhase(afterCut)
	cut := time.Now()
	if err != nil {
		result(name, err, "")
		return ps
	}
	logf("partition: node %d disconnected from %s in %.2fs", victim, *network, cut.Sub(ev.at).Seconds())

	// The host port still reaches the node (through the probe network).
	var vm kadm.Metadata
	err = waitFor(ctx, 15*time.Second, func() bool {
		var e error
		vm, e = nodeMetadata(ctx, admCl, victim, topic)
		return e == nil
	})
	result("partition_host_port", err, "node %d answers Metadata on %s while cut off from %s (its published port moved to %s): brokers %v, controller %d, %s",
		victim, addr, *network, *probeNet, brokerIDs(vm), vm.Controller, describe(vm, topic))

	// The majority: new leaders for the isolated node's partitions, the
	// node fenced (no longer listed).
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
			leaderMoved = time.Since(cut)
		}
		if unlisted && gone == 0 {
			gone = time.Since(cut)
		}
		return moved && unlisted
	})
	failedOver := time.Now()
	result("partition_failover", err, "majority %v: new leaders after %.2fs, node %d fenced (unlisted) after %.2fs (from the end of docker network disconnect): controller %d, %s",
		survivors, leaderMoved.Seconds(), victim, gone.Seconds(), seen.Controller, describe(seen, topic))
	if err != nil {
		fencedLive(ctx, "partition", survivors, victim, ev.at)
		return ps
	}

	// Writes continue on the majority side: -during more records per
	// partition acknowledged and read; and the node stays cut off for
	// -partition-hold, asked now and then what it thinks.
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
	st.mu.Unlock()
	result("partition_majority_writes", err, "%d more records per partition acknowledged (acks=all) and read with node %d cut off; longest pause between acks %s; worst ack latency %.2fs",
		*during, victim, strings.Join(gaps, ", "), maxLat.Seconds())
	fencedLive(ctx, "partition", survivors, victim, ev.at)

	for time.Since(failedOver) < *hold && ctx.Err() == nil {
		time.Sleep(time.Second)
	}
	vm2, verr := nodeMetadata(ctx, admCl, victim, topic)
	victimView := fmt.Sprintf("brokers %v, controller %d, %s", brokerIDs(vm2), vm2.Controller, describe(vm2, topic))
	if verr != nil {
		victimView = verr.Error()
	}

	// Stop the isolated client before healing: everything it sent went to
	// a node that could not replicate it.
	stopProbes()
	probesStopped = true
	sent, acked, nfail, errs, failLat := ps.counts(afterCut)
	dSent, dAcked, _, _, _ := ps.counts(duringCut)
	slices.Sort(failLat)
	latDesc := "n/a"
	if len(failLat) > 0 {
		latDesc = fmt.Sprintf("p50 %.2fs max %.2fs", failLat[len(failLat)/2].Seconds(), failLat[len(failLat)-1].Seconds())
	}
	err = nil
	if acked > 0 {
		err = fmt.Errorf("node %d acknowledged %d of %d acks=all records sent after it was cut off", victim, acked, sent)
	} else if sent == 0 || nfail < sent {
		err = fmt.Errorf("%d records sent after the cut, %d answered", sent, nfail)
	}
	ps.mu.Lock()
	reqErrs := fmt.Sprint(ps.reqErrs)
	ps.mu.Unlock()
	result("partition_isolated_leader", err, "a client talking only to node %d sent %d acks=all records over %.0fs after the cut: %d acknowledged, %d failed %v (time to failure %s; produce request errors %s); %d sent during the disconnect, %d acknowledged; node %d's own view %.0fs after the cut: %s",
		victim, sent, time.Since(cut).Seconds(), acked, nfail, errs, latDesc, reqErrs, dSent, dAcked, victim, time.Since(cut).Seconds(), victimView)

	// Heal.
	healAt := time.Now()
	herr := heal()
	logf("partition: node %d reconnected to %s (alias %s) in %.2fs, off %s", victim, *network, dnsName, time.Since(healAt).Seconds(), *probeNet)
	if herr != nil {
		result("partition_heal", herr, "")
		return ps
	}
	st.mu.Lock()
	st.ev = nil
	st.mu.Unlock()
	var answered time.Duration
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
			answered = time.Since(healAt)
		}
		for _, n := range survivors {
			if s, ok := views[n]; ok && up && stale == "" {
				if stale = staleness(v, s, topic, victim, n); stale != "" {
					stale = fmt.Sprintf("%.2fs after the heal: %s", time.Since(healAt).Seconds(), stale)
				}
			}
		}
		return len(views) == 3 && agree(views, topic, *partitions)
	})
	rejoined := time.Since(healAt)
	trunc := truncations(ctx, ctr, healAt, topic)
	truncDesc := "none logged"
	if len(trunc) > 0 {
		truncDesc = strings.Join(trunc, "; ")
	}
	if stale == "" {
		stale = "none"
	}
	result("partition_rejoin", err, "node %d: host port answering %.2fs after the heal, all three nodes agree on 3 brokers and ISR 3 after %.2fs: %s; truncation on node %d: %s; stale leader epochs served by node %d after the heal: %s",
		victim, answered.Seconds(), rejoined.Seconds(), describe(views[victim], topic), victim, truncDesc, victim, stale)
	if err != nil {
		return ps
	}

	// Preferred leaders back: partitions whose first replica is the healed
	// node are read from its log by the final checks.
	ectx, ecancel := context.WithTimeout(ctx, 30*time.Second)
	parts := make([]int32, *partitions)
	for i := range parts {
		parts[i] = int32(i)
	}
	_, eerr := admElect(ectx, admCl, topic, parts)
	ecancel()
	var fm kadm.Metadata
	err = waitFor(ctx, 60*time.Second, func() bool {
		var e error
		fm, e = clusterView(ctx, admCl, topic)
		if e != nil {
			return false
		}
		for _, p := range fm.Topics[topic].Partitions {
			if len(p.Replicas) == 0 || p.Leader != p.Replicas[0] {
				return false
			}
		}
		return true
	})
	var back []int32
	for _, p := range fm.Topics[topic].Partitions.Sorted() {
		if p.Leader == victim {
			back = append(back, p.Partition)
		}
	}
	if err != nil && eerr != nil {
		err = errors.Join(err, eerr)
	}
	result("partition_preferred_leaders", err, "node %d leads %v again (the final reads of those come from its log): %s", victim, back, describe(fm, topic))
	return ps
}

// admElect runs a preferred leader election for the topic's partitions.
func admElect(ctx context.Context, cl *kgo.Client, topic string, parts []int32) (kadm.ElectLeadersResults, error) {
	set := kadm.TopicsSet{}
	set.Add(topic, parts...)
	return kadm.NewClient(cl).ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
}
