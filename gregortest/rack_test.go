package gregortest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
	"gregor/wire"
)

const rackSelector = "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector"

// consumedRecord is what a consumer saw of one record.
type consumedRecord struct {
	Offset      int64
	LeaderEpoch int32
	Timestamp   int64
	Key, Value  string
	Headers     string
}

// consumeAll reads n records of topic from the start with cl, by
// partition.
func consumeAll(ctx context.Context, t *testing.T, cl *kgo.Client, n int) map[int32][]consumedRecord {
	t.Helper()
	out := map[int32][]consumedRecord{}
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", got, n, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got++
			out[r.Partition] = append(out[r.Partition], consumedRecord{Offset: r.Offset, LeaderEpoch: r.LeaderEpoch,
				Timestamp: r.Timestamp.UnixMilli(), Key: string(r.Key), Value: string(r.Value), Headers: fmt.Sprint(r.Headers)})
		})
	}
	return out
}

// rawFetch sends one Fetch of topic/partition at offset, at version v,
// straight to addr, and returns the partition's answer.
func rawFetch(ctx context.Context, t *testing.T, addr string, v int16, topic string, partition int32, offset int64, epoch int32, rack string) kmsg.FetchResponseTopicPartition {
	t.Helper()
	wc, err := wire.Dial(ctx, addr, "rack-test")
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	req := kmsg.NewPtrFetchRequest()
	req.Version = v
	req.ReplicaID = -1
	req.MaxBytes, req.MinBytes, req.MaxWaitMillis = 1<<20, 0, 0
	req.SessionEpoch = -1
	req.Rack = rack
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = partition, offset, epoch, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := wc.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch v%d from %s: error %d, %d topics", v, addr, fr.ErrorCode, len(fr.Topics))
	}
	return fr.Topics[0].Partitions[0]
}

// TestRackAwareFollowerFetch (issue 18, done-means 5 first half, KIP-392):
// brokers in racks a, b and c with the rack-aware selector; a consumer in
// rack b is sent by every leader elsewhere to the rack-b follower, reads
// everything there (the follower counts its reads, the leaders their
// redirects, the other brokers serve no follower reads) and sees exactly
// what a consumer of the leaders sees, down to the record batch bytes.
func TestRackAwareFollowerFetch(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3),
		gregortest.Override("http.listeners=http://127.0.0.1:0", rackSelector),
		gregortest.BrokerOverride(0, "broker.rack=a"),
		gregortest.BrokerOverride(1, "broker.rack=b"),
		gregortest.BrokerOverride(2, "broker.rack=c"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic, parts, n = "racks", 6, 600
	rackB := c.Broker(1).ID()
	adm := kadm.NewClient(c.Client())

	// The racks are registered and in Metadata.
	bm, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bm.Brokers {
		if want := string(rune('a' + b.NodeID - 1)); b.Rack == nil || *b.Rack != want {
			t.Fatalf("broker %d rack %v, want %s", b.NodeID, b.Rack, want)
		}
	}

	if _, err := adm.CreateTopic(ctx, parts, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	var details kadm.TopicDetail
	c.WaitFor("every partition led with a full ISR", 60*time.Second, func() bool {
		tds, err := adm.ListTopics(ctx, topic)
		if err != nil || tds[topic].Err != nil || len(tds[topic].Partitions) != parts {
			return false
		}
		for _, p := range tds[topic].Partitions {
			if p.Leader < 1 || len(p.ISR) != 3 {
				return false
			}
		}
		details = tds[topic]
		return true
	})
	var elsewhere []int32 // partitions not led by the rack-b broker
	for _, p := range details.Partitions.Sorted() {
		if p.Leader != rackB {
			elsewhere = append(elsewhere, p.Partition)
		}
	}
	if len(elsewhere) == 0 {
		t.Fatalf("broker %d leads every partition: %v", rackB, details.Partitions)
	}

	producer := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Partition: int32(i % parts), Key: fmt.Appendf(nil, "k%d", i),
			Value: bytes.Repeat([]byte{byte(i)}, 1+i%300), Headers: []kgo.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}}})
	}
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	fromLeaders := consumeAll(ctx, t, c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), n)
	counters := func(name string) []float64 {
		var vs []float64
		for i := range c.Len() {
			v, ok := scrape(c, i, name)
			if !ok {
				t.Fatalf("broker %d: no %s", c.Broker(i).ID(), name)
			}
			vs = append(vs, v)
		}
		return vs
	}
	if reads := counters("gregor_fetch_follower_reads_total"); slices.Max(reads) != 0 {
		t.Fatalf("follower reads %v before any rack-aware consumer", reads)
	}

	start := time.Now()
	// FetchMaxWait: a partition sent to the follower joins the fetches
	// there once the long poll in flight (of the partitions it leads) ends.
	rackCl := c.Client(kgo.Rack("b"), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
	fromRackB := consumeAll(ctx, t, rackCl, n)
	t.Logf("rack-b consumer read %d records in %v", n, time.Since(start))
	for p := range int32(parts) {
		if !slices.Equal(fromLeaders[p], fromRackB[p]) {
			t.Fatalf("partition %d: rack-b consumer read\n%v\nleader consumer read\n%v", p, fromRackB[p], fromLeaders[p])
		}
	}
	reads, redirects := counters("gregor_fetch_follower_reads_total"), counters("gregor_fetch_preferred_replica_total")
	t.Logf("follower reads %v, preferred-replica redirects %v (brokers 1-3)", reads, redirects)
	if reads[1] < float64(len(elsewhere)) || reads[0] != 0 || reads[2] != 0 {
		t.Fatalf("follower reads %v: want at least %d on broker %d (rack b) and none elsewhere", reads, len(elsewhere), rackB)
	}
	if redirects[1] != 0 || redirects[0]+redirects[2] < float64(len(elsewhere)) {
		t.Fatalf("redirects %v: want at least %d from the leaders outside rack b, none from broker %d", redirects, len(elsewhere), rackB)
	}

	// Tailing through the follower: new records reach the rack-b consumer
	// (the follower learns the high watermark from the leader at once and
	// wakes its long polls).
	var tail []*kgo.Record
	for i := range 30 {
		tail = append(tail, &kgo.Record{Partition: elsewhere[i%len(elsewhere)], Value: fmt.Appendf(nil, "tail-%d", i)})
	}
	start = time.Now()
	if err := producer.ProduceSync(ctx, tail...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	before := reads[1]
	consumeAll(ctx, t, rackCl, len(tail))
	t.Logf("30 records produced (acks=all) and consumed through the rack-b follower in %v", time.Since(start))
	if v, _ := scrape(c, 1, "gregor_fetch_follower_reads_total"); v <= before {
		t.Fatalf("tail not read from the follower: follower reads %v, before %v", v, before)
	}

	rackCl.Close() // its background fetches would count at the follower too

	// librdkafka (kcat, Fetch v11) with client.rack=b reads the same
	// records, through the same follower.
	t.Run("kcat", func(t *testing.T) {
		if _, err := exec.LookPath("kcat"); err != nil {
			t.Skip("kcat not installed")
		}
		want := map[int32][]string{}
		for p, rs := range fromLeaders {
			for _, r := range rs {
				want[p] = append(want[p], fmt.Sprintf("%d %s", r.Offset, r.Key))
			}
		}
		for _, r := range tail {
			want[r.Partition] = append(want[r.Partition], fmt.Sprintf("%d %s", r.Offset, r.Key))
		}
		before, _ := scrape(c, 1, "gregor_fetch_follower_reads_total")
		kctx, kcancel := context.WithTimeout(ctx, 60*time.Second)
		defer kcancel()
		cmd := exec.CommandContext(kctx, "kcat", "-b", strings.Join(c.Addrs(), ","), "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q",
			"-X", "client.rack=b", "-X", "fetch.wait.max.ms=200")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kcat: %v: %s", err, stderr.String())
		}
		got := map[int32][]string{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m struct {
				Partition int32   `json:"partition"`
				Offset    int64   `json:"offset"`
				Key       *string `json:"key"`
			}
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("kcat line %q: %v", sc.Text(), err)
			}
			key := ""
			if m.Key != nil {
				key = *m.Key
			}
			got[m.Partition] = append(got[m.Partition], fmt.Sprintf("%d %s", m.Offset, key))
		}
		for p := range int32(parts) {
			if !slices.Equal(got[p], want[p]) {
				t.Fatalf("partition %d: kcat read %d records %v, want %d", p, len(got[p]), got[p], len(want[p]))
			}
		}
		after, _ := scrape(c, 1, "gregor_fetch_follower_reads_total")
		t.Logf("kcat (librdkafka) client.rack=b: follower reads on broker %d %v -> %v", rackB, before, after)
		if after < before+float64(len(elsewhere)) {
			t.Fatalf("kcat did not read from the rack-b follower: follower reads %v -> %v", before, after)
		}
	})

	// The same bytes from the follower as from the leader, and the
	// protocol answers of KIP-392.
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, pn := range elsewhere {
		pd := tds[topic].Partitions[pn]
		leaderAddr, followerAddr := c.Broker(int(pd.Leader-1)).Addr(), c.Broker(1).Addr()
		var lead, foll kmsg.FetchResponseTopicPartition
		c.WaitFor("the follower's high watermark at the leader's", 30*time.Second, func() bool {
			lead = rawFetch(ctx, t, leaderAddr, 12, topic, pn, 0, pd.LeaderEpoch, "")
			foll = rawFetch(ctx, t, followerAddr, 12, topic, pn, 0, pd.LeaderEpoch, "")
			return lead.ErrorCode == 0 && foll.ErrorCode == 0 && foll.HighWatermark == lead.HighWatermark
		})
		if lead.PreferredReadReplica != -1 || foll.PreferredReadReplica != -1 {
			t.Fatalf("partition %d: preferred replica %d / %d without a rack", pn, lead.PreferredReadReplica, foll.PreferredReadReplica)
		}
		if len(lead.RecordBatches) == 0 || !bytes.Equal(lead.RecordBatches, foll.RecordBatches) {
			t.Fatalf("partition %d: follower sent %d bytes, leader %d, not the same", pn, len(foll.RecordBatches), len(lead.RecordBatches))
		}
		if foll.LastStableOffset != lead.LastStableOffset || foll.LogStartOffset != lead.LogStartOffset {
			t.Fatalf("partition %d: follower lso/log start %d/%d, leader %d/%d", pn, foll.LastStableOffset, foll.LogStartOffset, lead.LastStableOffset, lead.LogStartOffset)
		}

		red := rawFetch(ctx, t, leaderAddr, 12, topic, pn, 0, pd.LeaderEpoch, "b")
		if red.ErrorCode != 0 || red.PreferredReadReplica != rackB || len(red.RecordBatches) != 0 || red.HighWatermark != lead.HighWatermark {
			t.Fatalf("partition %d, rack b at the leader: error %d, preferred %d, %d record bytes, hw %d (leader %d)",
				pn, red.ErrorCode, red.PreferredReadReplica, len(red.RecordBatches), red.HighWatermark, lead.HighWatermark)
		}
		leaderRack := string(rune('a' + pd.Leader - 1))
		for _, rack := range []string{leaderRack, "z"} {
			if got := rawFetch(ctx, t, leaderAddr, 12, topic, pn, 0, pd.LeaderEpoch, rack); got.PreferredReadReplica != -1 || len(got.RecordBatches) == 0 {
				t.Fatalf("partition %d, rack %s at the leader: preferred %d, %d record bytes", pn, rack, got.PreferredReadReplica, len(got.RecordBatches))
			}
		}
		// Before v11 (no rack_id) only the leader serves consumers.
		if got := rawFetch(ctx, t, followerAddr, 10, topic, pn, 0, -1, ""); got.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("partition %d, v10 at the follower: error %d, want NOT_LEADER_OR_FOLLOWER", pn, got.ErrorCode)
		}
		if got := rawFetch(ctx, t, followerAddr, 12, topic, pn, 0, pd.LeaderEpoch+1, ""); got.ErrorCode != kerr.UnknownLeaderEpoch.Code {
			t.Fatalf("partition %d, newer epoch at the follower: error %d, want UNKNOWN_LEADER_EPOCH", pn, got.ErrorCode)
		}
		if got := rawFetch(ctx, t, followerAddr, 12, topic, pn, lead.HighWatermark+10, pd.LeaderEpoch, ""); got.ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Fatalf("partition %d, past the log end at the follower: error %d, want OFFSET_OUT_OF_RANGE", pn, got.ErrorCode)
		}
	}

	// A broker with no replica of a partition serves no consumer of it.
	one := kadm.NewClient(c.Client())
	if _, err := one.CreateTopic(ctx, 1, 1, nil, "racks-rf1"); err != nil {
		t.Fatal(err)
	}
	var owner int32
	c.WaitFor("racks-rf1 led", 30*time.Second, func() bool {
		tds, err := one.ListTopics(ctx, "racks-rf1")
		if err != nil || len(tds["racks-rf1"].Partitions) != 1 {
			return false
		}
		owner = tds["racks-rf1"].Partitions[0].Leader
		return owner > 0
	})
	other := c.Broker(int(owner % 3)) // the next broker, not a replica
	c.WaitFor("the topic in the other broker's metadata", 30*time.Second, func() bool {
		return rawFetch(ctx, t, other.Addr(), 12, "racks-rf1", 0, 0, -1, "").ErrorCode != kerr.UnknownTopicOrPartition.Code
	})
	if got := rawFetch(ctx, t, other.Addr(), 12, "racks-rf1", 0, 0, -1, ""); got.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("not a replica: error %d, want NOT_LEADER_OR_FOLLOWER", got.ErrorCode)
	}
}
