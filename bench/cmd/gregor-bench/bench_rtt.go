package main

// The rtt workload: Produce round trips over one raw connection, without a
// client library. At a fixed low rate (default 1,000/s) one request with
// one record is sent, its response read, and the next sent: the latency
// is the broker's (and the kernel's), not the client's. Against the same
// broker, kgo's produce → ack latency (the latency workload) adds its own
// batching, goroutine hand-offs and callbacks on top.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
)

// rttProduceVersion is the Produce version rtt sends: flexible, by topic
// name, served by every broker this tool is pointed at.
const rttProduceVersion = 9

// leaderAddr returns the address of the leader of topic's partition 0.
func leaderAddr(ctx context.Context, adm *kadm.Client, topic string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return "", err
		}
		if t, ok := md.Topics[topic]; ok {
			if p, ok := t.Partitions[0]; ok && p.Leader >= 0 {
				for _, b := range md.Brokers {
					if b.NodeID == p.Leader {
						return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("bench: no leader for %s/0", topic)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rawProduce sends Produce requests of one record to partition 0 of the
// topic at addr over one raw connection (rawConn), one at a time (paced by
// --rate), until pctx ends.
func (r *benchRun) rawProduce(ctx, pctx context.Context, addr string, s *series) {
	rc, err := dialRaw(ctx, addr, 10*time.Second)
	if err != nil {
		r.logErr("rtt dial", err)
		return
	}
	defer rc.close()
	stop := context.AfterFunc(ctx, rc.close)
	defer stop()
	acks := int16(-1)
	if r.cfg.acks == "1" {
		acks = 1
	}
	var interval time.Duration
	if r.cfg.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(r.cfg.producers) / r.cfg.rate)
	}
	next := time.Now()
	for n := int64(0); pctx.Err() == nil; n++ {
		if r.cfg.records > 0 && n >= r.cfg.records {
			return
		}
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-pctx.Done():
				return
			}
		}
		next = next.Add(interval)
		start := time.Now()
		resp, _, err := rc.do(rttProduceRequest(acks, r.cfg.topic, r.value(start)))
		if err == nil {
			err = produceErr(resp.(*kmsg.ProduceResponse))
		}
		if err != nil {
			if ctx.Err() == nil {
				s.m.errors.Add(1)
				r.logErr("rtt", err)
			}
			return
		}
		now := time.Now()
		s.seen.Add(1)
		if !start.Before(r.start) {
			s.add(r.cfg.recordSize, now.Sub(start), now)
		}
	}
}

// rttProduceRequest is a Produce request with one batch of one record
// holding value, for partition 0 of topic.
func rttProduceRequest(acks int16, topic string, value []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = rttProduceVersion, acks, 5000
	req.Topics = []kmsg.ProduceRequestTopic{{
		Topic:      topic,
		Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: rttBatch(value)}},
	}}
	return req
}

// rttBatch is a magic-2 batch of one record (no producer id), length and
// CRC filled in.
func rttBatch(value []byte) []byte {
	now := time.Now().UnixMilli()
	return storage.BuildBatch(storage.BatchHeader{
		PartitionLeaderEpoch: -1, BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, []storage.Record{{Value: value}})
}

// produceErr returns the first partition error of resp.
func produceErr(resp *kmsg.ProduceResponse) error {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
		}
	}
	return nil
}
