package broker

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// TestAlterPartitionReassignments: the per-partition errors of Kafka's
// AlterPartitionReassignments and what ListPartitionReassignments shows,
// on one node with a second (never started) broker registered, so that
// the reassignment onto it stays in progress until it is cancelled.
func TestAlterPartitionReassignments(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := context.Background()
	self := b.cfg.NodeID
	const ghost = 77
	if _, err := b.admin().CreateTopic(ctx, 2, 1, nil, "mv"); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.ctrl.RegisterBroker(controller.Broker{NodeID: ghost, Host: "127.0.0.1", Port: 1}); err != nil {
		t.Fatal(err)
	}
	rc := b.raw(t)
	alter := func(v int16, allowRF bool, parts map[int32][]int32) map[int32]int16 {
		t.Helper()
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		req.Version, req.AllowReplicationFactorChange = v, allowRF
		for _, topic := range []string{"mv", "nope"} {
			rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			rt.Topic = topic
			for _, p := range slices.Sorted(func(yield func(int32) bool) {
				for p := range parts {
					if (topic == "nope") == (p >= 100) && !yield(p) {
						return
					}
				}
			}) {
				rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
				rp.Partition, rp.Replicas = p%100, parts[p]
				rt.Partitions = append(rt.Partitions, rp)
			}
			if len(rt.Partitions) > 0 {
				req.Topics = append(req.Topics, rt)
			}
		}
		resp := rc.do(req).(*kmsg.AlterPartitionAssignmentsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("top-level error %d", resp.ErrorCode)
		}
		got := map[int32]int16{}
		for _, rt := range resp.Topics {
			for _, sp := range rt.Partitions {
				k := sp.Partition
				if rt.Topic == "nope" {
					k += 100
				}
				got[k] = sp.ErrorCode
			}
		}
		return got
	}
	list := func(topics []kmsg.ListPartitionReassignmentsRequestTopic) []kmsg.ListPartitionReassignmentsResponseTopic {
		t.Helper()
		req := kmsg.NewPtrListPartitionReassignmentsRequest()
		req.Topics = topics
		resp := rc.do(req).(*kmsg.ListPartitionReassignmentsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("list error %d", resp.ErrorCode)
		}
		return resp.Topics
	}
	for _, tc := range []struct {
		name    string
		v       int16
		allowRF bool
		parts   map[int32][]int32 // partition (+100: topic "nope") -> replicas
		want    map[int32]*kerr.Error
	}{
		{name: "unknown topic", parts: map[int32][]int32{100: {self}}, want: map[int32]*kerr.Error{100: kerr.UnknownTopicOrPartition}},
		{name: "unknown partition", parts: map[int32][]int32{9: {self}}, want: map[int32]*kerr.Error{9: kerr.UnknownTopicOrPartition}},
		{name: "empty", parts: map[int32][]int32{0: {}}, want: map[int32]*kerr.Error{0: kerr.InvalidReplicaAssignment}},
		{name: "duplicate", parts: map[int32][]int32{0: {self, self}}, want: map[int32]*kerr.Error{0: kerr.InvalidReplicaAssignment}},
		{name: "unregistered", parts: map[int32][]int32{0: {self, 5}}, want: map[int32]*kerr.Error{0: kerr.InvalidReplicaAssignment}},
		{name: "cancel nothing", parts: map[int32][]int32{0: nil}, want: map[int32]*kerr.Error{0: kerr.NoReassignmentInProgress}},
		{name: "same replicas", parts: map[int32][]int32{0: {self}}, want: map[int32]*kerr.Error{0: nil}},
		{name: "rf change refused v1", v: 1, parts: map[int32][]int32{0: {self, ghost}}, want: map[int32]*kerr.Error{0: kerr.InvalidReplicationFactor}},
		{name: "move", v: 1, allowRF: true, parts: map[int32][]int32{0: {self, ghost}, 1: {ghost}}, want: map[int32]*kerr.Error{0: nil, 1: nil}},
	} {
		got := alter(tc.v, tc.allowRF, tc.parts)
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d results, want %d", tc.name, len(got), len(tc.want))
		}
		for p, w := range tc.want {
			if code := got[p]; (w == nil && code != 0) || (w != nil && code != w.Code) {
				t.Fatalf("%s: partition %d error %v, want %v", tc.name, p, kerr.ErrorForCode(code), w)
			}
		}
	}
	all := list(nil)
	if len(all) != 1 || all[0].Topic != "mv" || len(all[0].Partitions) != 2 {
		t.Fatalf("list all = %+v", all)
	}
	p0, p1 := all[0].Partitions[0], all[0].Partitions[1]
	if !slices.Equal(p0.Replicas, []int32{self, ghost}) || !slices.Equal(p0.AddingReplicas, []int32{ghost}) || len(p0.RemovingReplicas) != 0 ||
		!slices.Equal(p1.Replicas, []int32{ghost, self}) || !slices.Equal(p1.AddingReplicas, []int32{ghost}) || !slices.Equal(p1.RemovingReplicas, []int32{self}) {
		t.Fatalf("list = %+v", all)
	}
	// Metadata shows the full replica set meanwhile.
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("mv")
	md.Topics = append(md.Topics, mt)
	mresp := rc.do(md).(*kmsg.MetadataResponse)
	if r := mresp.Topics[0].Partitions[1].Replicas; !slices.Contains(r, self) || !slices.Contains(r, ghost) {
		t.Fatalf("metadata replicas of mv-1 = %v", r)
	}
	if got := list([]kmsg.ListPartitionReassignmentsRequestTopic{{Topic: "mv", Partitions: []int32{1, 5}}, {Topic: "nope", Partitions: []int32{0}}}); len(got) != 1 || len(got[0].Partitions) != 1 || got[0].Partitions[0].Partition != 1 {
		t.Fatalf("list named = %+v", got)
	}
	// Cancel both: back to the original replica, nothing listed.
	if got := alter(0, false, map[int32][]int32{0: nil, 1: nil}); got[0] != 0 || got[1] != 0 {
		t.Fatalf("cancel = %v", got)
	}
	if got := list(nil); len(got) != 0 {
		t.Fatalf("list after cancel = %+v", got)
	}
	for i := range 2 {
		if p := b.srv.ctrl.Snapshot().Topic("mv").Partitions[i]; !slices.Equal(p.Replicas, []int32{self}) || p.Leader != self {
			t.Fatalf("mv-%d after cancel: %+v", i, p)
		}
	}
}
