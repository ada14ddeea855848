package sarama

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"gregor/compat-tests/internal/compat"
)

// TestReassign follows sarama's TestFuncAdminAlterPartitionReassignments
// on a cluster of two or more brokers (COMPAT_CLUSTER_BOOTSTRAP; make
// compat-reassign starts three): a topic with partition 0 on the first
// broker and 1 on the second is grown to both brokers with
// AlterPartitionReassignments; ListPartitionReassignments goes empty, and
// DescribeTopics shows each partition with the target replicas, in order,
// all in sync. Then a move onto a broker id the cluster does not have is
// refused (INVALID_REPLICA_ASSIGNMENT) and cancelling a partition not
// being moved answers NO_REASSIGNMENT_IN_PROGRESS. Without
// COMPAT_CLUSTER_BOOTSTRAP (the one-node make compat) it is skipped.
func TestReassign(t *testing.T) {
	run(t, "reassign", func(t *compat.T) {
		seeds := os.Getenv("COMPAT_CLUSTER_BOOTSTRAP")
		if seeds == "" {
			t.Skipf("needs two or more brokers: COMPAT_CLUSTER_BOOTSTRAP (make compat-reassign)")
		}
		cfg := config()
		cl, err := sarama.NewClient(strings.Split(seeds, ","), cfg)
		t.Check(err, "new client")
		t.Cleanup(func() { _ = cl.Close() })
		adm, err := sarama.NewClusterAdminFromClient(cl)
		t.Check(err, "new cluster admin")
		var ids []int32
		for _, b := range cl.Brokers() {
			ids = append(ids, b.ID())
		}
		slices.Sort(ids)
		if len(ids) < 2 {
			t.Fatalf("need two brokers, the cluster has %v", ids)
		}
		topic := compat.Topic(client, "reassign")
		t.Check(adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
			ReplicaAssignment: map[int32][]int32{0: {ids[0]}, 1: {ids[1]}}}, false), "create topic")
		target := [][]int32{{ids[0], ids[1]}, {ids[1], ids[0]}}
		// The new topic may not have reached every broker's metadata yet.
		eventually(t, "the reassignment to be accepted", func() error { return adm.AlterPartitionReassignments(topic, target) })
		eventually(t, "the reassignment to complete", func() error {
			st, err := adm.ListPartitionReassignments(topic, []int32{0, 1})
			if err != nil {
				return err
			}
			if len(st[topic]) > 0 {
				return fmt.Errorf("still in progress: %v", st[topic])
			}
			return nil
		})
		eventually(t, "the final replica sets", func() error {
			meta, err := adm.DescribeTopics([]string{topic})
			if err != nil {
				return err
			}
			if len(meta) != 1 || meta[0].Err != sarama.ErrNoError || len(meta[0].Partitions) != 2 {
				return fmt.Errorf("describe: %+v", meta)
			}
			for _, p := range meta[0].Partitions {
				isr := slices.Clone(p.Isr)
				slices.Sort(isr)
				want := target[p.ID]
				sorted := slices.Clone(want)
				slices.Sort(sorted)
				if !slices.Equal(p.Replicas, want) || !slices.Equal(isr, sorted) {
					return fmt.Errorf("partition %d: replicas %v isr %v, want %v", p.ID, p.Replicas, p.Isr, want)
				}
			}
			return nil
		})
		err = adm.AlterPartitionReassignments(topic, [][]int32{{ids[0], 999}})
		if !errorIs(err, sarama.ErrInvalidReplicaAssignment) {
			t.Fatalf("move onto broker 999: %v, want INVALID_REPLICA_ASSIGNMENT", err)
		}
		err = adm.AlterPartitionReassignments(topic, [][]int32{nil})
		if !errorIs(err, sarama.ErrNoReassignmentInProgress) {
			t.Fatalf("cancel with nothing in progress: %v, want NO_REASSIGNMENT_IN_PROGRESS", err)
		}
		t.Check(adm.DeleteTopic(topic), "delete topic")
	})
}

// errorIs reports whether err (sarama wraps per-partition errors in its
// own types) is or carries the Kafka error want.
func errorIs(err error, want sarama.KError) bool {
	return err != nil && (strings.Contains(err.Error(), want.Error()))
}

// eventually retries fn every 500 ms for up to 60 s (as sarama's test
// does with require.EventuallyWithT).
func eventually(t *compat.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
