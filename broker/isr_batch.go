package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// isrBatcher gathers ISR changes while an AlterPartition is in flight and
// sends them together, one request (and one controller write) at a time,
// as Kafka's AlterPartitionManager does: a broker rejoining every ISR it
// belongs to then costs its leaders a few controller writes instead of one
// per partition.
type isrBatcher struct {
	mu      sync.Mutex
	pending []*isrItem
	sending bool // a caller is sending batches until pending is empty
}

type isrItem struct {
	change controller.ISRChange
	res    controller.Partition
	err    error
	done   chan struct{}
}

// alterPartition asks the controller to set a partition's ISR (Kafka's
// AlterPartition) and returns the partition as the controller left it.
// The change goes out with whatever other changes are waiting: the first
// caller to find no batch in flight sends batches until none wait, the
// others wait for their answer.
func (l *link) alterPartition(topicID [16]byte, index, leaderEpoch, partitionEpoch int32, isr []int32) (controller.Partition, error) {
	it := &isrItem{change: controller.ISRChange{TopicID: topicID, Partition: index,
		LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch, ISR: isr}, done: make(chan struct{})}
	b := &l.isr
	b.mu.Lock()
	b.pending = append(b.pending, it)
	if !b.sending {
		b.sending = true
		for len(b.pending) > 0 {
			batch := b.pending
			b.pending = nil
			b.mu.Unlock()
			l.sendISRBatch(batch)
			b.mu.Lock()
		}
		b.sending = false
	}
	b.mu.Unlock()
	<-it.done
	return it.res, it.err
}

// sendISRBatch sends batch to the active controller (or applies it to the
// local one) and answers every item.
func (l *link) sendISRBatch(batch []*isrItem) {
	defer func() {
		for _, it := range batch {
			close(it.done)
		}
	}()
	fail := func(err error) {
		for _, it := range batch {
			it.err = err
		}
	}
	if l.local() {
		changes := make([]controller.ISRChange, len(batch))
		for i, it := range batch {
			changes[i] = it.change
		}
		res, err := l.ctrl.AlterPartitions(l.self, changes)
		if err != nil {
			fail(err)
			return
		}
		for i, it := range batch {
			it.res, it.err = res[i].Partition, res[i].Err
		}
		return
	}
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 2
	req.BrokerID = l.self
	type key struct {
		id [16]byte
		p  int32
	}
	byKey := make(map[key]*isrItem, len(batch))
	topics := map[[16]byte]int{} // index in req.Topics
	for _, it := range batch {
		c := it.change
		byKey[key{c.TopicID, c.Partition}] = it // the replication loop keeps one change per partition in flight
		ti, ok := topics[c.TopicID]
		if !ok {
			ti = len(req.Topics)
			topics[c.TopicID] = ti
			rt := kmsg.NewAlterPartitionRequestTopic()
			rt.TopicID = c.TopicID
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = c.Partition, c.LeaderEpoch, c.PartitionEpoch, c.ISR
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, rp)
	}
	ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
	defer cancel()
	resp, err := l.toController(ctx, req)
	if err != nil {
		fail(err)
		return
	}
	ar := resp.(*kmsg.AlterPartitionResponse)
	if ar.ErrorCode != 0 {
		fail(kerr.ErrorForCode(ar.ErrorCode))
		return
	}
	fail(errors.New("broker: AlterPartition response left a partition out"))
	for _, rt := range ar.Topics {
		for _, sp := range rt.Partitions {
			it := byKey[key{rt.TopidID, sp.Partition}]
			if it == nil {
				continue
			}
			if sp.ErrorCode != 0 {
				it.err = kerr.ErrorForCode(sp.ErrorCode)
				continue
			}
			it.res = controller.Partition{Index: sp.Partition, Leader: sp.LeaderID, LeaderEpoch: sp.LeaderEpoch, PartitionEpoch: sp.PartitionEpoch, ISR: sp.ISR}
			it.err = nil
		}
	}
}
