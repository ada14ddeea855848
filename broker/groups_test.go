package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/coordinator"
)

// groupBroker starts a broker whose groups rebalance without the initial
// delay and accept short session timeouts.
func groupBroker(t *testing.T, overrides ...string) *testBroker {
	t.Helper()
	return startBroker(t, append([]string{"group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000"}, overrides...)...)
}

func createTopic(t *testing.T, b *testBroker, name string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.admin().CreateTopic(ctx, partitions, 1, nil, name); err != nil {
		t.Fatal(err)
	}
}

func produceN(t *testing.T, b *testBroker, topic, prefix string, n int) {
	t.Helper()
	cl := b.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Value: []byte(fmt.Sprint(prefix, i))}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestFindCoordinator(t *testing.T) {
	t.Parallel()
	b := groupBroker(t)
	cl := b.client()
	ctx := context.Background()
	for _, v := range []int16{0, 3} {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorKey = v, "g"
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || resp.NodeID != b.srv.cfg.NodeID || resp.Port != b.srv.cfg.Socket.AdvertisedListeners[0].Port {
			t.Fatalf("v%d: %+v", v, resp)
		}
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorKeys = 4, []string{"a", "b"}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Coordinators) != 2 || resp.Coordinators[0].ErrorCode != 0 || resp.Coordinators[0].Key == resp.Coordinators[1].Key {
		t.Fatalf("%v %+v", err, resp)
	}
	req.CoordinatorType = 1
	resp, err = req.RequestWith(ctx, cl)
	if err != nil || resp.Coordinators[0].ErrorCode != 0 || resp.Coordinators[0].NodeID < 0 {
		t.Fatalf("transaction key: %v %+v", err, resp)
	}
	// __consumer_offsets exists now: internal, compacted, 50 partitions.
	mresp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mt := range mresp.Topics {
		if mt.Topic != nil && *mt.Topic == "__consumer_offsets" {
			found = mt.IsInternal && len(mt.Partitions) == 50
		}
	}
	if !found {
		t.Fatal("__consumer_offsets not listed as an internal 50-partition topic")
	}
	if v := b.srv.ctrl.Snapshot().Topic("__consumer_offsets").Configs["cleanup.policy"]; v != "compact" {
		t.Fatalf("cleanup.policy = %q", v)
	}
	if p := coordinator.PartitionFor("g", 50); p != b.srv.groups.coord.Partition("g") {
		t.Fatal("partition mismatch")
	}
}

// killDialer lets a test cut a client off the network, as if its process
// died: its connections close and new ones fail.
type killDialer struct {
	mu     sync.Mutex
	dead   bool
	conns  []net.Conn
	dialer net.Dialer
}

func (k *killDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	c, err := k.dialer.DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killDialer) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// groupConsumer is one kgo group member recording what it processes and
// which partitions it owns.
type groupConsumer struct {
	name string
	cl   *kgo.Client
	kd   *killDialer

	mu       sync.Mutex
	owned    map[int32]bool
	assigned int // OnPartitionsAssigned calls
}

func (gc *groupConsumer) ownedCount() int {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return len(gc.owned)
}

func newGroupConsumer(t *testing.T, b *testBroker, name, group, topic string, seen func(r *kgo.Record), opts ...kgo.Opt) *groupConsumer {
	t.Helper()
	gc := &groupConsumer{name: name, kd: &killDialer{}, owned: map[int32]bool{}}
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(b.addr),
		kgo.Dialer(gc.kd.dial),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(200 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			gc.mu.Lock()
			defer gc.mu.Unlock()
			gc.assigned++
			for _, p := range m[topic] {
				gc.owned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			cl.CommitMarkedOffsets(ctx)
			gc.mu.Lock()
			defer gc.mu.Unlock()
			for _, p := range m[topic] {
				delete(gc.owned, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			gc.mu.Lock()
			defer gc.mu.Unlock()
			for _, p := range m[topic] {
				delete(gc.owned, p)
			}
		}),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	gc.cl = cl
	t.Cleanup(cl.Close)
	go func() {
		// Process, then mark and commit: at-least-once.
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				seen(r)
				cl.MarkCommitRecords(r)
			})
			cl.CommitMarkedOffsets(context.Background())
		}
	}()
	return gc
}

// valueCounter counts the records group members process, by value.
type valueCounter struct {
	mu   sync.Mutex
	seen map[string]int
}

func (v *valueCounter) record(r *kgo.Record) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen[string(r.Value)]++
}

// distinct returns how many different values were processed.
func (v *valueCounter) distinct() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.seen)
}

// repeated returns the values processed more than once.
func (v *valueCounter) repeated() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[string]int{}
	for k, n := range v.seen {
		if n > 1 {
			out[k] = n
		}
	}
	return out
}

func TestGroupKillOneOfThree(t *testing.T) {
	t.Parallel()
	b := groupBroker(t)
	const topic, group, n = "kill3", "kill3-group", 3000
	createTopic(t, b, topic, 12)

	vc := &valueCounter{seen: map[string]int{}}
	record, count := vc.record, vc.distinct

	gcs := make([]*groupConsumer, 3)
	for i := range gcs {
		gcs[i] = newGroupConsumer(t, b, fmt.Sprint("c", i), group, topic, record)
	}
	waitFor(t, "4 partitions each", 30*time.Second, func() bool {
		return gcs[0].ownedCount() == 4 && gcs[1].ownedCount() == 4 && gcs[2].ownedCount() == 4
	})
	produceN(t, b, topic, "a", n/2)
	waitFor(t, "first half consumed", 30*time.Second, func() bool { return count() >= n/2 })

	// Kill c2: no LeaveGroup reaches the broker, so its session must expire.
	killed := time.Now()
	gcs[2].kd.kill()
	go gcs[2].cl.Close()
	produceN(t, b, topic, "b", n/2)
	waitFor(t, "survivors own all 12 partitions", 20*time.Second, func() bool {
		return gcs[0].ownedCount()+gcs[1].ownedCount() == 12 && gcs[0].ownedCount() > 0 && gcs[1].ownedCount() > 0
	})
	took := time.Since(killed)
	t.Logf("survivors took over %v after the kill (session timeout 6s)", took)
	if took > 6*time.Second+3*time.Second {
		t.Errorf("takeover took %v", took)
	}
	waitFor(t, "every record processed", 30*time.Second, func() bool { return count() == n })
}

func TestGroupStaticMemberRestart(t *testing.T) {
	t.Parallel()
	b := groupBroker(t)
	const topic, group = "static", "static-group"
	createTopic(t, b, topic, 4)
	nop := func(*kgo.Record) {}
	s0 := newGroupConsumer(t, b, "s0", group, topic, nop, kgo.InstanceID("s0"))
	s1 := newGroupConsumer(t, b, "s1", group, topic, nop, kgo.InstanceID("s1"))
	waitFor(t, "2 partitions each", 30*time.Second, func() bool { return s0.ownedCount() == 2 && s1.ownedCount() == 2 })
	s1.mu.Lock()
	before := map[int32]bool{}
	for p := range s1.owned {
		before[p] = true
	}
	s1.mu.Unlock()
	s0.mu.Lock()
	s0Assigned := s0.assigned
	s0.mu.Unlock()

	s1.cl.Close() // a static member does not leave the group
	restarted := newGroupConsumer(t, b, "s1b", group, topic, nop, kgo.InstanceID("s1"))
	waitFor(t, "restarted member owns its partitions", 20*time.Second, func() bool { return restarted.ownedCount() == 2 })
	restarted.mu.Lock()
	for p := range restarted.owned {
		if !before[p] {
			t.Errorf("restarted static member got partition %d, had %v", p, before)
		}
	}
	restarted.mu.Unlock()
	s0.mu.Lock()
	defer s0.mu.Unlock()
	if s0.assigned != s0Assigned || len(s0.owned) != 2 {
		t.Errorf("the other member rebalanced: assigned %d -> %d, owns %d", s0Assigned, s0.assigned, len(s0.owned))
	}
}

func TestGroupRestartKeepsOffsetsAndState(t *testing.T) {
	t.Parallel()
	b := groupBroker(t)
	const topic, group = "restart", "restart-group"
	createTopic(t, b, topic, 3)
	produceN(t, b, topic, "r", 30)
	var mu sync.Mutex
	n := 0
	gc := newGroupConsumer(t, b, "c", group, topic, func(*kgo.Record) { mu.Lock(); n++; mu.Unlock() })
	waitFor(t, "consumed", 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return n == 30 })
	adm := kadm.NewClient(b.client())
	ctx := context.Background()
	waitFor(t, "committed", 20*time.Second, func() bool {
		os, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		total := int64(0)
		os.Each(func(o kadm.OffsetResponse) { total += o.At })
		return total == 30
	})
	before, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}

	b = b.restart()
	adm = kadm.NewClient(b.client())
	os, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	os.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 30 {
		t.Fatalf("after restart the committed offsets sum to %d, want 30: %v", total, os)
	}
	after, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	bg, ag := before[group], after[group]
	if ag.State != "Stable" || len(ag.Members) != 1 || ag.Members[0].MemberID != bg.Members[0].MemberID {
		t.Fatalf("group after restart: %+v, before: %+v", ag, bg)
	}
	// The member carries on in its generation: no new assignment.
	produceN(t, b, topic, "s", 3)
	waitFor(t, "consumed after restart", 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return n == 33 })
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.assigned != 1 {
		t.Errorf("member was reassigned %d times", gc.assigned)
	}
}

func TestGroupAdmin(t *testing.T) {
	t.Parallel()
	b := groupBroker(t)
	createTopic(t, b, "adm", 2)
	adm := kadm.NewClient(b.client())
	ctx := context.Background()

	// A simple consumer (no membership) commits with metadata.
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "adm", Partition: 0, At: 5, LeaderEpoch: -1, Metadata: "m0"})
	os.Add(kadm.Offset{Topic: "adm", Partition: 1, At: 7, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "simple", os); err != nil || resp.Error() != nil {
		t.Fatal(err, resp.Error())
	}
	fetched, err := adm.FetchOffsets(ctx, "simple")
	if err != nil || fetched.Error() != nil {
		t.Fatal(err)
	}
	if o, _ := fetched.Lookup("adm", 0); o.At != 5 || o.Metadata != "m0" {
		t.Fatalf("fetched %+v", o)
	}
	bad := kadm.Offsets{}
	bad.Add(kadm.Offset{Topic: "nope", Partition: 0, At: 1})
	if resp, _ := adm.CommitOffsets(ctx, "simple", bad); !errors.Is(resp.Error(), kerr.UnknownTopicOrPartition) {
		t.Fatalf("commit to unknown topic: %v", resp.Error())
	}

	listed, err := adm.ListGroups(ctx)
	if err != nil || !slicesContains(listed.Groups(), "simple") {
		t.Fatalf("list: %v %v", err, listed)
	}
	if listed, err = adm.ListGroups(ctx, "Stable"); err != nil || len(listed) != 0 {
		t.Fatalf("list Stable: %v %v", err, listed)
	}
	described, err := adm.DescribeGroups(ctx, "simple")
	if err != nil || described["simple"].State != "Empty" {
		t.Fatalf("describe: %v %+v", err, described)
	}

	del, err := adm.DeleteOffsets(ctx, "simple", kadm.TopicsSet{"adm": {0: {}}})
	if err != nil || del.Error() != nil {
		t.Fatalf("delete offsets: %v %v", err, del)
	}
	fetched, _ = adm.FetchOffsets(ctx, "simple")
	if _, ok := fetched.Lookup("adm", 0); ok {
		t.Fatal("offset 0 still committed")
	}

	dg, err := adm.DeleteGroups(ctx, "simple", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if dg["simple"].Err != nil || !errors.Is(dg["missing"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("delete groups: %+v", dg)
	}
	fetched, _ = adm.FetchOffsets(ctx, "simple")
	if len(fetched) != 0 {
		t.Fatalf("offsets after delete: %v", fetched)
	}

	// A group with a member cannot be deleted; its subscribed topic's
	// offsets cannot be deleted either.
	gc := newGroupConsumer(t, b, "m", "live", "adm", func(*kgo.Record) {})
	waitFor(t, "member owns partitions", 20*time.Second, func() bool { return gc.ownedCount() == 2 })
	dg, _ = adm.DeleteGroups(ctx, "live")
	if !errors.Is(dg["live"].Err, kerr.NonEmptyGroup) {
		t.Fatalf("delete live group: %+v", dg)
	}
	del, _ = adm.DeleteOffsets(ctx, "live", kadm.TopicsSet{"adm": {0: {}}})
	if err := del.Error(); !errors.Is(err, kerr.GroupSubscribedToTopic) {
		t.Fatalf("delete subscribed offsets: %v", err)
	}
	described, _ = adm.DescribeGroups(ctx, "live")
	if d := described["live"]; d.State != "Stable" || d.Protocol == "" || len(d.Members) != 1 || d.ProtocolType != "consumer" {
		t.Fatalf("describe live: %+v", d)
	}
}

func slicesContains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
