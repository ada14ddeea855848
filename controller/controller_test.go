package controller

import (
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestOpenGeneratesClusterID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openTest(t, dir)
	s := c.Snapshot()
	if len(s.ClusterID) != 22 || strings.HasPrefix(s.ClusterID, "-") {
		t.Fatalf("cluster id %q: want 22 chars not starting with '-'", s.ClusterID)
	}
	if s.ControllerID != 0 {
		t.Fatalf("controller id %d", s.ControllerID)
	}
	if got := filepath.Join(dir, "meta.db"); !fileExists(got) {
		t.Fatalf("%s not created", got)
	}
	c2 := openTest(t, t.TempDir())
	if c2.Snapshot().ClusterID == s.ClusterID {
		t.Fatal("two fresh stores share a cluster id")
	}
}

func fileExists(p string) bool { return exec.Command("test", "-f", p).Run() == nil }

func TestOpenConfigErrors(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{NodeID: -1, MetadataDir: t.TempDir()},
		{NodeID: 0},
		{NodeID: 0, MetadataDir: t.TempDir(), DefaultNumPartitions: -3},
		{NodeID: 0, MetadataDir: t.TempDir(), DefaultReplicationFactor: -3},
	} {
		if c, err := Open(cfg); err == nil {
			_ = c.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

func TestRegisterBroker(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 3, 1, 2)
	s := c.Snapshot()
	var ids []int32
	for _, b := range s.Brokers {
		ids = append(ids, b.NodeID)
	}
	if !slices.Equal(ids, []int32{1, 2, 3}) {
		t.Fatalf("brokers %v not sorted", ids)
	}
	v := s.Version
	if err := c.RegisterBroker(Broker{NodeID: 2, Host: "localhost", Port: 9094}); err != nil {
		t.Fatal(err)
	}
	if c.Snapshot().Version != v {
		t.Fatal("identical re-registration changed the snapshot")
	}
	if err := c.RegisterBroker(Broker{NodeID: 2, Host: "otherhost", Port: 1, Rack: ptr("r1")}); err != nil {
		t.Fatal(err)
	}
	b, ok := c.Snapshot().Broker(2)
	if !ok || b.Host != "otherhost" || b.Rack == nil || *b.Rack != "r1" {
		t.Fatalf("broker 2 = %+v", b)
	}
	if b, _ := s.Broker(2); b.Host != "localhost" {
		t.Fatal("old snapshot changed")
	}
	for _, bad := range []Broker{{NodeID: -1, Host: "h"}, {NodeID: 1}, {NodeID: 1, Host: "h", Port: 70000}} {
		wantErr(t, c.RegisterBroker(bad), ErrInvalidBroker, "")
	}
}

func TestCreateDescribeDelete(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1, 2, 3)
	tests := []struct {
		name    string
		req     CreateTopic
		wantErr error
		errSub  string
		parts   int
		rf      int
	}{
		{name: "defaults", req: CreateTopic{Name: "a", NumPartitions: -1, ReplicationFactor: -1}, parts: 1, rf: 1},
		{name: "explicit", req: CreateTopic{Name: "b", NumPartitions: 6, ReplicationFactor: 3}, parts: 6, rf: 3},
		{name: "configs", req: CreateTopic{Name: "c", NumPartitions: 2, ReplicationFactor: 2, Configs: map[string]string{"cleanup.policy": "compact", "retention.ms": "1000"}}, parts: 2, rf: 2},
		{name: "manual", req: CreateTopic{Name: "d", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {3, 1}, 1: {1, 2}}}, parts: 2, rf: 2},
		{name: "exists", req: CreateTopic{Name: "a", NumPartitions: 1, ReplicationFactor: 1}, wantErr: ErrTopicExists, errSub: "'a' already exists"},
		{name: "zero partitions", req: CreateTopic{Name: "e", NumPartitions: 0, ReplicationFactor: 1}, wantErr: ErrInvalidPartitions},
		{name: "negative partitions", req: CreateTopic{Name: "e", NumPartitions: -2, ReplicationFactor: 1}, wantErr: ErrInvalidPartitions},
		{name: "huge partitions", req: CreateTopic{Name: "e", NumPartitions: 1 << 30, ReplicationFactor: 1}, wantErr: ErrInvalidPartitions},
		{name: "zero rf", req: CreateTopic{Name: "e", NumPartitions: 1, ReplicationFactor: 0}, wantErr: ErrInvalidReplicationFactor},
		{name: "rf too big", req: CreateTopic{Name: "e", NumPartitions: 1, ReplicationFactor: 4}, wantErr: ErrInvalidReplicationFactor, errSub: "only 3 broker(s)"},
		{name: "bad name", req: CreateTopic{Name: "a b", NumPartitions: 1, ReplicationFactor: 1}, wantErr: ErrInvalidTopic},
		{name: "bad config key", req: CreateTopic{Name: "e", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]string{"nope": "1"}}, wantErr: ErrInvalidConfig, errSub: "nope"},
		{name: "bad config value", req: CreateTopic{Name: "e", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "-5"}}, wantErr: ErrInvalidConfig, errSub: "retention.ms"},
		{name: "manual plus count", req: CreateTopic{Name: "e", NumPartitions: 2, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1}}}, wantErr: ErrInvalidRequest},
		{name: "manual gap", req: CreateTopic{Name: "e", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1}, 2: {2}}}, wantErr: ErrInvalidReplicaAssignment, errSub: "consecutive"},
		{name: "manual unknown broker", req: CreateTopic{Name: "e", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {9}}}, wantErr: ErrInvalidReplicaAssignment, errSub: "broker 9"},
		{name: "manual duplicate broker", req: CreateTopic{Name: "e", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 1}}}, wantErr: ErrInvalidReplicaAssignment, errSub: "more than once"},
		{name: "manual empty replicas", req: CreateTopic{Name: "e", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {}}}, wantErr: ErrInvalidReplicaAssignment, errSub: "empty"},
		{name: "manual uneven rf", req: CreateTopic{Name: "e", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 2}, 1: {3}}}, wantErr: ErrInvalidReplicaAssignment, errSub: "same number"},
		{name: "validate only", req: CreateTopic{Name: "v", NumPartitions: 3, ReplicationFactor: 1, ValidateOnly: true}, parts: 3, rf: 1},
		{name: "internal by name", req: CreateTopic{Name: "__consumer_offsets", NumPartitions: 50, ReplicationFactor: 1}, parts: 50, rf: 1},
	}
	// Sequential: cases depend on earlier creations.
	for _, tc := range tests {
		before := c.Snapshot()
		tp, err := c.CreateTopic(tc.req)
		wantErr(t, err, tc.wantErr, tc.errSub)
		after := c.Snapshot()
		if err != nil || tc.req.ValidateOnly {
			if after.Version != before.Version {
				t.Fatalf("%s: snapshot changed", tc.name)
			}
			if err != nil {
				continue
			}
		}
		if tp.Name != tc.req.Name || len(tp.Partitions) != tc.parts || int(tp.ReplicationFactor()) != tc.rf {
			t.Fatalf("%s: got %s with %d partitions rf %d", tc.name, tp.Name, len(tp.Partitions), tp.ReplicationFactor())
		}
		if tp.ID == ([16]byte{}) || tp.ID[6]>>4 != 4 {
			t.Fatalf("%s: bad topic id %x", tc.name, tp.ID)
		}
		for _, p := range tp.Partitions {
			if p.Leader != p.Replicas[0] || !slices.Equal(p.ISR, p.Replicas) || p.LeaderEpoch != 0 {
				t.Fatalf("%s: partition %+v", tc.name, p)
			}
		}
		if !maps.Equal(tp.Configs, tc.req.Configs) && len(tc.req.Configs) > 0 {
			t.Fatalf("%s: configs %v", tc.name, tp.Configs)
		}
		if tc.req.ValidateOnly {
			if after.Topic(tc.req.Name) != nil {
				t.Fatalf("%s: validate-only topic stored", tc.name)
			}
			continue
		}
		if after.Topic(tc.req.Name) != tp || after.TopicByID(tp.ID) != tp {
			t.Fatalf("%s: not in snapshot", tc.name)
		}
	}
	s := c.Snapshot()
	checkTopicInvariants(t, s)
	if !s.Topic("__consumer_offsets").Internal || s.Topic("a").Internal {
		t.Fatal("internal flag wrong")
	}
	if got := s.Topic("d").Partitions[0].Replicas; !slices.Equal(got, []int32{3, 1}) {
		t.Fatalf("manual assignment p0 = %v", got)
	}
	if got := s.TopicNames(); !slices.Equal(got, []string{"__consumer_offsets", "a", "b", "c", "d"}) {
		t.Fatalf("TopicNames = %v", got)
	}

	// Delete by name and by ID.
	b := s.Topic("b")
	del, err := c.DeleteTopic("b")
	wantErr(t, err, nil, "")
	if del != b {
		t.Fatal("DeleteTopic did not return the deleted topic")
	}
	_, err = c.DeleteTopic("b")
	wantErr(t, err, ErrUnknownTopic, "'b'")
	_, err = c.DeleteTopicByID(s.Topic("c").ID)
	wantErr(t, err, nil, "")
	_, err = c.DeleteTopicByID(s.Topic("c").ID)
	wantErr(t, err, ErrUnknownTopic, "")
	s2 := c.Snapshot()
	checkTopicInvariants(t, s2)
	if s2.Topic("b") != nil || s2.TopicByID(b.ID) != nil || s2.Topic("c") != nil {
		t.Fatal("deleted topics still visible")
	}
	if s.Topic("b") == nil {
		t.Fatal("old snapshot lost the topic")
	}
	// A deleted name can be reused and gets a new ID.
	nb := mustCreate(t, c, CreateTopic{Name: "b"})
	if nb.ID == b.ID {
		t.Fatal("recreated topic reused the ID")
	}
}

func TestReplicaSpread(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1, 2, 3)
	tp := mustCreate(t, c, CreateTopic{Name: "spread", NumPartitions: 6, ReplicationFactor: 3})
	leaders := map[int32]int{}
	for _, p := range tp.Partitions {
		leaders[p.Leader]++
		seen := map[int32]bool{}
		for _, r := range p.Replicas {
			if seen[r] {
				t.Fatalf("partition %d has duplicate replica %d", p.Index, r)
			}
			seen[r] = true
		}
	}
	for _, id := range []int32{1, 2, 3} {
		if leaders[id] != 2 {
			t.Fatalf("leaders not spread evenly: %v", leaders)
		}
	}
}

func TestNoBrokers(t *testing.T) {
	t.Parallel()
	c, err := Open(Config{MetadataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.CreateTopic(CreateTopic{Name: "x", NumPartitions: 1, ReplicationFactor: 1})
	wantErr(t, err, ErrInvalidReplicationFactor, "")
}

func TestCreatePartitions(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1, 2, 3)
	mustCreate(t, c, CreateTopic{Name: "t", NumPartitions: 2, ReplicationFactor: 2})
	tests := []struct {
		name    string
		total   int32
		assign  [][]int32
		vo      bool
		wantErr error
		errSub  string
		want    int
	}{
		{name: "shrink", total: 1, wantErr: ErrInvalidPartitions, errSub: "higher than"},
		{name: "same", total: 2, wantErr: ErrInvalidPartitions, errSub: "already has 2"},
		{name: "too many", total: 1 << 30, wantErr: ErrInvalidPartitions},
		{name: "validate only", total: 5, vo: true, want: 5},
		{name: "grow", total: 4, want: 4},
		{name: "assign count mismatch", total: 6, assign: [][]int32{{1, 2}}, wantErr: ErrInvalidReplicaAssignment, errSub: "2 additional"},
		{name: "assign wrong rf", total: 5, assign: [][]int32{{1}}, wantErr: ErrInvalidReplicaAssignment, errSub: "existing partitions have 2"},
		{name: "assign unknown broker", total: 5, assign: [][]int32{{1, 7}}, wantErr: ErrInvalidReplicaAssignment, errSub: "broker 7"},
		{name: "assign", total: 6, assign: [][]int32{{3, 1}, {2, 3}}, want: 6},
	}
	for _, tc := range tests {
		before := c.Snapshot().Topic("t")
		tp, err := c.CreatePartitions("t", tc.total, tc.assign, tc.vo)
		wantErr(t, err, tc.wantErr, tc.errSub)
		after := c.Snapshot().Topic("t")
		if err != nil || tc.vo {
			if after != before {
				t.Fatalf("%s: topic changed", tc.name)
			}
		}
		if err != nil {
			continue
		}
		if len(tp.Partitions) != tc.want {
			t.Fatalf("%s: %d partitions, want %d", tc.name, len(tp.Partitions), tc.want)
		}
		if !tc.vo && tp != after {
			t.Fatalf("%s: returned topic is not the stored one", tc.name)
		}
		for i := range before.Partitions {
			if !slices.Equal(before.Partitions[i].Replicas, tp.Partitions[i].Replicas) {
				t.Fatalf("%s: existing partition %d changed", tc.name, i)
			}
		}
		if tp.ID != before.ID {
			t.Fatalf("%s: topic id changed", tc.name)
		}
	}
	tp := c.Snapshot().Topic("t")
	if got := tp.Partitions[5].Replicas; !slices.Equal(got, []int32{2, 3}) || tp.Partitions[5].Leader != 2 {
		t.Fatalf("partition 5 = %+v", tp.Partitions[5])
	}
	_, err := c.CreatePartitions("nope", 3, nil, false)
	wantErr(t, err, ErrUnknownTopic, "")
	checkTopicInvariants(t, c.Snapshot())
}

func TestPersistence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openTest(t, dir, 1, 2)
	mustCreate(t, c, CreateTopic{Name: "keep", NumPartitions: 3, ReplicationFactor: 2, Configs: map[string]string{"retention.ms": "5000"}})
	mustCreate(t, c, CreateTopic{Name: "gone"})
	mustCreate(t, c, CreateTopic{Name: "__transaction_state", NumPartitions: 2})
	if _, err := c.CreatePartitions("keep", 4, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := c.AlterTopicConfigs("keep", []ConfigOp{{Name: "cleanup.policy", Op: OpAppend, Value: ptr("compact")}}, true, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterBroker(Broker{NodeID: 1, Host: "h1", Port: 1, Rack: ptr("rack-a")}); err != nil {
		t.Fatal(err)
	}
	before := c.Snapshot()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := c.CreateTopic(CreateTopic{Name: "late", NumPartitions: 1, ReplicationFactor: 1})
	wantErr(t, err, ErrClosed, "")
	wantErr(t, c.RegisterBroker(Broker{NodeID: 5, Host: "h", Port: 1}), ErrClosed, "")

	c2, err := Open(Config{NodeID: 0, MetadataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	after := c2.Snapshot()
	if after.ClusterID != before.ClusterID {
		t.Fatalf("cluster id %s -> %s", before.ClusterID, after.ClusterID)
	}
	if !slices.EqualFunc(after.Brokers, before.Brokers, brokerEqual) {
		t.Fatalf("brokers %+v -> %+v", before.Brokers, after.Brokers)
	}
	if len(after.Topics) != 2 || after.Topic("gone") != nil {
		t.Fatalf("topics after reopen: %v", after.TopicNames())
	}
	checkTopicInvariants(t, after)
	for name, bt := range before.Topics {
		at := after.Topic(name)
		if at == nil || at.ID != bt.ID || at.Internal != bt.Internal || !maps.Equal(at.Configs, bt.Configs) {
			t.Fatalf("topic %s: %+v -> %+v", name, bt, at)
		}
		if !slices.EqualFunc(at.Partitions, bt.Partitions, partitionEqual) {
			t.Fatalf("topic %s partitions %+v -> %+v", name, bt.Partitions, at.Partitions)
		}
	}
	if got := after.Topic("keep").Configs["cleanup.policy"]; got != "delete,compact" {
		t.Fatalf("cleanup.policy = %q", got)
	}
	// The reopened store keeps working.
	mustCreate(t, c2, CreateTopic{Name: "new"})
}

func partitionEqual(a, b Partition) bool {
	return a.Index == b.Index && a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch &&
		a.PartitionEpoch == b.PartitionEpoch && slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) &&
		slices.Equal(a.AddingReplicas, b.AddingReplicas) && slices.Equal(a.RemovingReplicas, b.RemovingReplicas)
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openTest(t, dir)
	if c, err := Open(Config{MetadataDir: dir}); err == nil {
		_ = c.Close()
		t.Fatal("second Open of the same store succeeded")
	}
}

func TestSnapshotImmutable(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1, 2)
	mustCreate(t, c, CreateTopic{Name: "x", NumPartitions: 2, Configs: map[string]string{"retention.ms": "1"}})
	mustCreate(t, c, CreateTopic{Name: "y"})
	s1 := c.Snapshot()
	x1 := s1.Topic("x")
	parts := slices.Clone(x1.Partitions)
	cfgs := maps.Clone(x1.Configs)

	if _, err := c.CreatePartitions("x", 5, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := c.AlterTopicConfigs("x", []ConfigOp{{Name: "retention.ms", Value: ptr("2")}, {Name: "segment.ms", Value: ptr("10")}}, false, false); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, c, CreateTopic{Name: "z"})
	if _, err := c.DeleteTopic("y"); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterBroker(Broker{NodeID: 3, Host: "h", Port: 3}); err != nil {
		t.Fatal(err)
	}

	if s1.Topic("x") != x1 || !slices.EqualFunc(x1.Partitions, parts, partitionEqual) || !maps.Equal(x1.Configs, cfgs) {
		t.Fatal("old snapshot's topic changed")
	}
	if s1.Topic("y") == nil || s1.Topic("z") != nil || len(s1.Brokers) != 2 || len(s1.Topics) != 2 {
		t.Fatal("old snapshot's maps changed")
	}
	s2 := c.Snapshot()
	if s2.Version <= s1.Version {
		t.Fatalf("version %d -> %d", s1.Version, s2.Version)
	}
	// Untouched topics are shared, touched ones copied.
	if s2.Topic("x") == x1 {
		t.Fatal("changed topic not copied")
	}
	if len(s2.Topic("x").Partitions) != 5 || s2.Topic("x").Configs["segment.ms"] != "10" {
		t.Fatalf("new snapshot wrong: %+v", s2.Topic("x"))
	}
}

func TestSubscribe(t *testing.T) {
	t.Parallel()
	c := openTest(t, "")
	ch, cancel := c.Subscribe()
	ch2, cancel2 := c.Subscribe()
	defer cancel2()

	mustCreate(t, c, CreateTopic{Name: "a"})
	select {
	case <-ch:
	default:
		t.Fatal("no notification after create")
	}
	// Coalescing: several changes, one buffered wakeup, never blocking.
	mustCreate(t, c, CreateTopic{Name: "b"})
	mustCreate(t, c, CreateTopic{Name: "c"})
	<-ch
	select {
	case <-ch:
		t.Fatal("notifications not coalesced")
	default:
	}
	// Failed and validate-only operations do not notify.
	_, _ = c.CreateTopic(CreateTopic{Name: "a", NumPartitions: 1, ReplicationFactor: 1})
	_, _ = c.CreateTopic(CreateTopic{Name: "v", NumPartitions: 1, ReplicationFactor: 1, ValidateOnly: true})
	select {
	case <-ch:
		t.Fatal("notified without a change")
	default:
	}
	cancel()
	cancel() // idempotent
	mustCreate(t, c, CreateTopic{Name: "d"})
	select {
	case <-ch:
		t.Fatal("notified after unsubscribe")
	default:
	}
	select {
	case <-ch2:
	default:
		t.Fatal("second subscriber missed the change")
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	c := openTest(t, "", 1, 2, 3)
	ch, cancel := c.Subscribe()
	defer cancel()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // reader
		for {
			select {
			case <-stop:
				return
			case <-ch:
				checkTopicInvariants(t, c.Snapshot())
			}
		}
	})
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := range 15 {
				name := fmt.Sprintf("w%d-%d", w, i)
				if _, err := c.CreateTopic(CreateTopic{Name: name, NumPartitions: 2, ReplicationFactor: 2}); err != nil {
					t.Error(err)
					return
				}
				if _, err := c.CreatePartitions(name, 3, nil, false); err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					if _, err := c.DeleteTopic(name); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	s := c.Snapshot()
	checkTopicInvariants(t, s)
	if len(s.Topics) != 4*10 {
		t.Fatalf("%d topics, want 40", len(s.Topics))
	}
}

// TestDependencies enforces the house dependency direction.
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch dep {
		case "gregor/broker", "gregor/coordinator", "gregor/wire":
			t.Errorf("controller imports %s", dep)
		}
	}
}
