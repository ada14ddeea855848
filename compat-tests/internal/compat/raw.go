package compat

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Batch is what a stored record batch header says.
type Batch struct {
	BaseOffset int64
	Records    int32
	Codec      int16 // attributes & 7
	ProducerID int64
	Sequence   int32
}

// partitionFetcher sends raw Fetch requests for one partition of a topic
// (looked up once for its topic id).
type partitionFetcher struct {
	cl        *kgo.Client
	topic     string
	id        [16]byte
	partition int32
}

func newPartitionFetcher(ctx context.Context, topic string, partition int32) (*partitionFetcher, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(Bootstrap()))
	if err != nil {
		return nil, err
	}
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err == nil {
		err = md.Topics[topic].Err
	}
	if err != nil {
		cl.Close()
		return nil, err
	}
	return &partitionFetcher{cl: cl, topic: topic, id: md.Topics[topic].ID, partition: partition}, nil
}

func (f *partitionFetcher) close() { f.cl.Close() }

// fetch fetches the partition from offset at isolation (0
// read_uncommitted, 1 read_committed).
func (f *partitionFetcher) fetch(ctx context.Context, offset int64, isolation int8) (kmsg.FetchResponseTopicPartition, error) {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 100
	req.MaxBytes = 50 << 20
	req.IsolationLevel = isolation
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = f.topic
	rt.TopicID = f.id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = f.partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 10 << 20
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, f.cl)
	if err != nil {
		return kmsg.FetchResponseTopicPartition{}, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return kmsg.FetchResponseTopicPartition{}, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return kmsg.FetchResponseTopicPartition{}, fmt.Errorf("fetch: unexpected response shape")
	}
	p := resp.Topics[0].Partitions[0]
	return p, kerr.ErrorForCode(p.ErrorCode)
}

// FetchBatches reads the stored batch headers of one partition from
// offset 0 with a raw Fetch (franz-go's kmsg over a real connection), so a
// scenario can check what the broker really stored: codec, producer id.
func FetchBatches(topic string, partition int32) ([]Batch, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	f, err := newPartitionFetcher(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	defer f.close()
	var out []Batch
	offset := int64(0)
	for range 1000 {
		p, err := f.fetch(ctx, offset, 0)
		if err != nil {
			return nil, err
		}
		raw := p.RecordBatches
		n := 0
		for len(raw) >= 61 {
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw); err != nil {
				break // trailing partial batch
			}
			if b.FirstOffset+int64(b.LastOffsetDelta) >= offset {
				out = append(out, Batch{BaseOffset: b.FirstOffset, Records: b.NumRecords, Codec: b.Attributes & 7, ProducerID: b.ProducerID, Sequence: b.FirstSequence})
				offset = b.FirstOffset + int64(b.LastOffsetDelta) + 1
				n++
			}
			raw = raw[12+int(b.Length):]
		}
		if n == 0 || offset >= p.HighWatermark {
			return out, nil
		}
	}
	return out, nil
}

// CheckCodec fails unless every stored batch of topic/partition has codec.
func CheckCodec(topic string, partition int32, codec int16) (int, error) {
	bs, err := FetchBatches(topic, partition)
	if err != nil {
		return 0, err
	}
	if len(bs) == 0 {
		return 0, fmt.Errorf("no batches stored")
	}
	for _, b := range bs {
		if b.Codec != codec {
			return 0, fmt.Errorf("batch at offset %d stored with codec %d, want %d", b.BaseOffset, b.Codec, codec)
		}
	}
	return len(bs), nil
}
