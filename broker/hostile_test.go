package broker

// Hostile clients: limits with Kafka's names enforced end to end, malformed
// but well-framed requests answered with Kafka's error codes, handler
// panics contained to one connection, a client that pipelines without
// reading, and a crowd of bad connections next to well-behaved kgo
// clients. TestCaptureFuzzSeeds (opt-in) records real clients' frames as
// seeds for wire's FuzzParseFrame.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest/crowd"
	"gregor/storage"
	"gregor/wire"
)

// recordingProxy forwards TCP connections to a broker and keeps every
// request frame (size prefix included) that clients send through it.
type recordingProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	frames [][]byte
	wg     sync.WaitGroup
}

func newRecordingProxy(t *testing.T) *recordingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *recordingProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// run forwards connections to target until the listener closes.
func (p *recordingProxy) run(target string) {
	p.target = target
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
}

func (p *recordingProxy) forward(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		io.Copy(c, up)
		c.Close()
	}()
	for {
		n, err := wire.ReadSize(c, 1<<30)
		if err != nil {
			return
		}
		body, err := wire.ReadBody(c, nil, n)
		if err != nil {
			return
		}
		frame := binary.BigEndian.AppendUint32(nil, uint32(n))
		frame = append(frame, body...)
		p.mu.Lock()
		p.frames = append(p.frames, frame)
		p.mu.Unlock()
		if _, err := up.Write(frame); err != nil {
			return
		}
	}
}

// take returns and forgets the frames recorded so far.
func (p *recordingProxy) take() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	fs := p.frames
	p.frames = nil
	return fs
}

// TestCaptureFuzzSeeds runs franz-go (producer, consumer group, admin) and,
// if installed, kcat against a broker through a recording proxy and writes
// the request frames they sent as seed corpus files for wire's
// FuzzParseFrame. It only runs when GREGOR_CAPTURE_SEEDS names the output
// directory:
//
//	GREGOR_CAPTURE_SEEDS=$PWD/wire/testdata/fuzz/FuzzParseFrame go test -run TestCaptureFuzzSeeds ./broker/
func TestCaptureFuzzSeeds(t *testing.T) {
	out := os.Getenv("GREGOR_CAPTURE_SEEDS")
	if out == "" {
		t.Skip("set GREGOR_CAPTURE_SEEDS=<dir> to capture seed frames")
	}
	proxy := newRecordingProxy(t)
	// Clients learn the proxy's address from Metadata, so every connection
	// they open goes through it.
	b := startBroker(t, "group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000",
		fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", proxy.port()))
	proxy.run(b.addr)
	seed := fmt.Sprintf("127.0.0.1:%d", proxy.port())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	seen := map[[32]byte]bool{}
	perAPI := map[string]int{}
	written := 0
	write := func(name string, f []byte) {
		if err := os.WriteFile(filepath.Join(out, name), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", f)), 0o644); err != nil {
			t.Fatal(err)
		}
		written++
	}
	save := func(client string) {
		for _, f := range proxy.take() {
			sum := sha256.Sum256(f)
			if seen[sum] || len(f) < 14 {
				continue
			}
			seen[sum] = true
			key, version := int16(binary.BigEndian.Uint16(f[4:])), int16(binary.BigEndian.Uint16(f[6:]))
			name := fmt.Sprintf("%s-%s-v%d", client, strings.ToLower(kmsg.NameForKey(key)), version)
			limit := 3
			if key == int16(kmsg.Produce) {
				limit = 6 // one per codec
			}
			if perAPI[name] >= limit || len(f) > 64<<10 {
				continue
			}
			perAPI[name]++
			write(fmt.Sprintf("%s-%d", name, perAPI[name]), f)
			if perAPI[name] == 1 {
				// Damaged copies: the body cut short of its size prefix,
				// and trailing bytes the body's schema does not account for.
				write(name+"-truncated", f[:4+(len(f)-4)/2])
				trailing := append(append([]byte(nil), f...), "trailing-garbage"...)
				binary.BigEndian.PutUint32(trailing, uint32(len(trailing)-4))
				write(name+"-trailing", trailing)
			}
		}
	}

	// franz-go: admin, an idempotent producer with every codec, a group consumer.
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kmsg.StringPtr("86400000")}, "seeds"); err != nil {
		t.Fatal(err)
	}
	adm.DescribeTopicConfigs(ctx, "seeds")
	adm.DescribeBrokerConfigs(ctx)
	adm.ListEndOffsets(ctx, "seeds")
	adm.ListStartOffsets(ctx, "seeds")
	adm.CreatePartitions(ctx, 1, "seeds")
	adm.DescribeGroups(ctx, "nogroup")
	adm.ListGroups(ctx)
	adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("3600000")}}, "seeds")
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		p, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.DefaultProduceTopic("seeds"), kgo.ProducerBatchCompression(codec))
		if err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for i := 0; i < 5; i++ {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("value-", i)),
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}})
		}
		if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumeTopics("seeds"), kgo.ConsumerGroup("seed-group"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(6*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 25; {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 25", n)
		}
		n += fs.NumRecords()
	}
	if err := c.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	adm.FetchOffsets(ctx, "seed-group")
	c.Close() // LeaveGroup
	adm.DeleteGroups(ctx, "seed-group")
	adm.DeleteTopics(ctx, "seeds")
	cl.Close()
	save("kgo")

	// kcat (librdkafka): metadata, produce, consume.
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Logf("kcat not installed: franz-go frames only")
	} else {
		run := func(stdin string, args ...string) {
			cmd := exec.CommandContext(ctx, "kcat", append([]string{"-b", seed}, args...)...)
			cmd.Stdin = strings.NewReader(stdin)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kcat %v: %v\n%s", args, err, out)
			}
		}
		run("", "-L")
		run("k1:v1\nk2:v2\n", "-P", "-t", "kcat-seeds", "-K:")
		run("k3:v3\n", "-P", "-t", "kcat-seeds", "-K:", "-z", "gzip")
		run("", "-C", "-t", "kcat-seeds", "-e", "-o", "beginning")
		run("", "-C", "-G", "kcat-group", "kcat-seeds", "-e", "-o", "beginning",
			"-X", "session.timeout.ms=6000", "-X", "auto.offset.reset=earliest")
		save("kcat")
	}
	t.Logf("wrote %d seed frames to %s", written, out)
}

// recrc recomputes a batch's CRC after a test edited it, so that only the
// intended defect remains.
func recrc(b []byte) []byte {
	storage.StampCRC(b)
	return b
}

// aliveAfter proves a connection still works after a request: Kafka
// answers these requests with an error code, it does not disconnect.
func (rc *rawConn) aliveAfter() {
	rc.t.Helper()
	resp := rc.do(&kmsg.ApiVersionsRequest{Version: 3, ClientSoftwareName: "t", ClientSoftwareVersion: "1"}).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 {
		rc.t.Fatalf("ApiVersions after the request: error %d", resp.ErrorCode)
	}
}

// TestMalformedRequestsGetKafkaErrors sends well-framed requests with bad
// contents and checks each gets the error code a Kafka broker returns,
// on a connection that stays open.
func TestMalformedRequestsGetKafkaErrors(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	setup := b.raw(t)
	ct := &kmsg.CreateTopicsRequest{Version: 5, TimeoutMillis: 5000, Topics: []kmsg.CreateTopicsRequestTopic{{Topic: "exists", NumPartitions: 2, ReplicationFactor: 1}}}
	if code := setup.do(ct).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create: %d", code)
	}
	setup.do(produceReq("exists", 0, 1, batch(-1, -1, -1, 3, []byte("x"))))

	good := func() []byte { return batch(-1, -1, -1, 2, []byte("ok")) }
	negLength := good()
	binary.BigEndian.PutUint32(negLength[8:], 0xfffffff0)
	longLength := good()
	binary.BigEndian.PutUint32(longLength[8:], uint32(len(longLength)-12+1000))
	shortLength := good()
	binary.BigEndian.PutUint32(shortLength[8:], 20)
	countMismatch := good()
	binary.BigEndian.PutUint32(countMismatch[57:], 5) // recordCount
	recrc(countMismatch)
	deltaMismatch := good()
	binary.BigEndian.PutUint32(deltaMismatch[23:], 7) // lastOffsetDelta
	recrc(deltaMismatch)
	control := good()
	control[22] |= 0x20 // attributes: control batch
	recrc(control)
	twoIdempotent := append(batch(1, 0, 0, 1, []byte("a")), batch(1, 0, 1, 1, []byte("b"))...)
	noSequence := batch(5, 0, -1, 1, []byte("x"))

	produce := func(topic string, part int32, records []byte) *kmsg.ProduceRequest {
		r := produceReq(topic, part, 1, records)
		return r
	}
	producePart := func(r kmsg.Response) int16 { return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode }
	createTopic := func(name string, parts int32, rf int16, mod func(*kmsg.CreateTopicsRequestTopic)) *kmsg.CreateTopicsRequest {
		rt := kmsg.CreateTopicsRequestTopic{Topic: name, NumPartitions: parts, ReplicationFactor: rf}
		if mod != nil {
			mod(&rt)
		}
		return &kmsg.CreateTopicsRequest{Version: 5, TimeoutMillis: 5000, Topics: []kmsg.CreateTopicsRequestTopic{rt}}
	}
	createCode := func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode }
	fetch := func(version int16, topic string, id [16]byte, part int32, offset int64) *kmsg.FetchRequest {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = version, -1, 1<<20, -1
		rp := kmsg.FetchRequestTopicPartition{Partition: part, FetchOffset: offset, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1, PartitionMaxBytes: 1 << 20}
		req.Topics = []kmsg.FetchRequestTopic{{Topic: topic, TopicID: id, Partitions: []kmsg.FetchRequestTopicPartition{rp}}}
		return req
	}
	fetchPart := func(r kmsg.Response) int16 {
		resp := r.(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) == 0 {
			return resp.ErrorCode
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	metadata := func(topic string, auto bool) *kmsg.MetadataRequest {
		return &kmsg.MetadataRequest{Version: 9, AllowAutoTopicCreation: auto, Topics: []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(topic)}}}
	}
	metadataCode := func(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode }
	describeConfigs := func(typ kmsg.ConfigResourceType, name string) *kmsg.DescribeConfigsRequest {
		return &kmsg.DescribeConfigsRequest{Version: 4, Resources: []kmsg.DescribeConfigsRequestResource{{ResourceType: typ, ResourceName: name}}}
	}
	describeCode := func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode }
	createPartitions := func(topic string, count int32) *kmsg.CreatePartitionsRequest {
		return &kmsg.CreatePartitionsRequest{Version: 3, TimeoutMillis: 5000, Topics: []kmsg.CreatePartitionsRequestTopic{{Topic: topic, Count: count}}}
	}
	createPartitionsCode := func(r kmsg.Response) int16 { return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode }
	listOffsets := func(topic string, part int32) *kmsg.ListOffsetsRequest {
		return &kmsg.ListOffsetsRequest{Version: 7, ReplicaID: -1, Topics: []kmsg.ListOffsetsRequestTopic{{Topic: topic,
			Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: part, Timestamp: -1, CurrentLeaderEpoch: -1}}}}}
	}
	listOffsetsCode := func(r kmsg.Response) int16 { return r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode }
	deleteRecords := func(topic string, part int32, offset int64) *kmsg.DeleteRecordsRequest {
		return &kmsg.DeleteRecordsRequest{Version: 2, TimeoutMillis: 5000, Topics: []kmsg.DeleteRecordsRequestTopic{{Topic: topic,
			Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: part, Offset: offset}}}}}
	}
	deleteRecordsCode := func(r kmsg.Response) int16 { return r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode }
	v13 := produce("", 0, good())
	v13.Version = 13
	v13.Topics[0].TopicID = [16]byte{1, 2, 3}

	for _, tc := range []struct {
		name string
		req  kmsg.Request
		code func(kmsg.Response) int16
		want *kerr.Error
	}{
		// Produce: every defect is per partition; the connection stays.
		{"produce negative batch length", produce("exists", 0, negLength), producePart, kerr.CorruptMessage},
		{"produce batch length past end", produce("exists", 0, longLength), producePart, kerr.CorruptMessage},
		{"produce batch length inside header", produce("exists", 0, shortLength), producePart, kerr.CorruptMessage},
		// Intact (CRC matches) but inconsistent: Kafka's LogValidator says INVALID_RECORD.
		{"produce record count mismatch", produce("exists", 0, countMismatch), producePart, kerr.InvalidRecord},
		{"produce last offset delta mismatch", produce("exists", 0, deltaMismatch), producePart, kerr.InvalidRecord},
		{"produce idempotent batch without sequence", produce("exists", 0, noSequence), producePart, kerr.InvalidRecord},
		{"produce five bytes", produce("exists", 0, []byte{1, 2, 3, 4, 5}), producePart, kerr.CorruptMessage},
		{"produce control batch from a client", produce("exists", 0, control), producePart, kerr.InvalidRecord},
		{"produce two idempotent batches", produce("exists", 0, twoIdempotent), producePart, kerr.InvalidRecord},
		{"produce unknown topic", produce("nosuch", 0, good()), producePart, kerr.UnknownTopicOrPartition},
		{"produce negative partition", produce("exists", -1, good()), producePart, kerr.UnknownTopicOrPartition},
		{"produce v13 unknown topic id", v13, producePart, kerr.UnknownTopicID},
		// Metadata.
		{"metadata invalid name auto-create", metadata("bad name!", true), metadataCode, kerr.InvalidTopicException},
		{"metadata name too long", metadata(strings.Repeat("n", 300), true), metadataCode, kerr.InvalidTopicException},
		{"metadata unknown no auto-create", metadata("nosuch", false), metadataCode, kerr.UnknownTopicOrPartition},
		// CreateTopics.
		{"create empty name", createTopic("", 1, 1, nil), createCode, kerr.InvalidTopicException},
		{"create dot", createTopic(".", 1, 1, nil), createCode, kerr.InvalidTopicException},
		{"create dot dot", createTopic("..", 1, 1, nil), createCode, kerr.InvalidTopicException},
		{"create space", createTopic("a b", 1, 1, nil), createCode, kerr.InvalidTopicException},
		{"create non-ascii", createTopic("tópico", 1, 1, nil), createCode, kerr.InvalidTopicException},
		{"create 250 chars", createTopic(strings.Repeat("x", 250), 1, 1, nil), createCode, kerr.InvalidTopicException},
		{"create negative partitions", createTopic("np", -5, 1, nil), createCode, kerr.InvalidPartitions},
		{"create zero partitions", createTopic("zp", 0, 1, nil), createCode, kerr.InvalidPartitions},
		{"create 2^30 partitions", createTopic("hp", 1<<30, 1, nil), createCode, kerr.InvalidPartitions},
		{"create negative replication", createTopic("nr", 1, -5, nil), createCode, kerr.InvalidReplicationFactor},
		{"create zero replication", createTopic("zr", 1, 0, nil), createCode, kerr.InvalidReplicationFactor},
		{"create assignment and count", createTopic("ac", 2, -1, func(rt *kmsg.CreateTopicsRequestTopic) {
			rt.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1}}}
		}), createCode, kerr.InvalidRequest},
		{"create assignment to unknown broker", createTopic("ab", -1, -1, func(rt *kmsg.CreateTopicsRequestTopic) {
			rt.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{99}}}
		}), createCode, kerr.InvalidReplicaAssignment},
		{"create bad config value", createTopic("cv", 1, 1, func(rt *kmsg.CreateTopicsRequestTopic) {
			rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: kmsg.StringPtr("soon")}}
		}), createCode, kerr.InvalidConfig},
		{"create duplicate in request", &kmsg.CreateTopicsRequest{Version: 5, TimeoutMillis: 5000, Topics: []kmsg.CreateTopicsRequestTopic{
			{Topic: "dup", NumPartitions: 1, ReplicationFactor: 1}, {Topic: "dup", NumPartitions: 1, ReplicationFactor: 1}}}, createCode, kerr.InvalidRequest},
		// Fetch.
		{"fetch unknown topic", fetch(11, "nosuch", [16]byte{}, 0, 0), fetchPart, kerr.UnknownTopicOrPartition},
		{"fetch unknown partition", fetch(11, "exists", [16]byte{}, 9, 0), fetchPart, kerr.UnknownTopicOrPartition},
		{"fetch negative partition", fetch(11, "exists", [16]byte{}, -1, 0), fetchPart, kerr.UnknownTopicOrPartition},
		{"fetch unknown topic id", fetch(13, "", [16]byte{9}, 0, 0), fetchPart, kerr.UnknownTopicID},
		{"fetch negative offset", fetch(11, "exists", [16]byte{}, 0, -5), fetchPart, kerr.OffsetOutOfRange},
		{"fetch past the end", fetch(11, "exists", [16]byte{}, 0, 1000), fetchPart, kerr.OffsetOutOfRange},
		{"fetch unknown session", func() kmsg.Request {
			f := fetch(11, "exists", [16]byte{}, 0, 0)
			f.SessionID, f.SessionEpoch = 77, 1
			return f
		}(), fetchPart, kerr.FetchSessionIDNotFound},
		// Others.
		{"list offsets unknown topic", listOffsets("nosuch", 0), listOffsetsCode, kerr.UnknownTopicOrPartition},
		{"list offsets negative partition", listOffsets("exists", -3), listOffsetsCode, kerr.UnknownTopicOrPartition},
		{"delete records unknown topic", deleteRecords("nosuch", 0, 1), deleteRecordsCode, kerr.UnknownTopicOrPartition},
		{"delete records past high watermark", deleteRecords("exists", 0, 1000), deleteRecordsCode, kerr.OffsetOutOfRange},
		{"delete topics unknown", &kmsg.DeleteTopicsRequest{Version: 5, TimeoutMillis: 5000, TopicNames: []string{"nosuch"}},
			func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode }, kerr.UnknownTopicOrPartition},
		{"delete topics unknown id", &kmsg.DeleteTopicsRequest{Version: 6, TimeoutMillis: 5000, Topics: []kmsg.DeleteTopicsRequestTopic{{TopicID: [16]byte{7}}}},
			func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode }, kerr.UnknownTopicID},
		{"create partitions unknown topic", createPartitions("nosuch", 3), createPartitionsCode, kerr.UnknownTopicOrPartition},
		{"create partitions shrink", createPartitions("exists", 1), createPartitionsCode, kerr.InvalidPartitions},
		{"create partitions 2^30", createPartitions("exists", 1<<30), createPartitionsCode, kerr.InvalidPartitions},
		{"describe configs unknown topic", describeConfigs(kmsg.ConfigResourceTypeTopic, "nosuch"), describeCode, kerr.UnknownTopicOrPartition},
		{"describe configs bad broker id", describeConfigs(kmsg.ConfigResourceTypeBroker, "abc"), describeCode, kerr.InvalidRequest},
		{"describe configs unknown resource type", describeConfigs(77, "x"), describeCode, kerr.InvalidRequest},
		{"init producer id transaction timeout too large", &kmsg.InitProducerIDRequest{Version: 4, TransactionalID: kmsg.StringPtr("tx"), TransactionTimeoutMillis: 1 << 30, ProducerID: -1, ProducerEpoch: -1},
			func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }, kerr.InvalidTransactionTimeout},
		{"find coordinator bad key type", &kmsg.FindCoordinatorRequest{Version: 4, CoordinatorType: 9, CoordinatorKeys: []string{"g"}},
			func(r kmsg.Response) int16 { return r.(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode }, kerr.InvalidRequest},
		{"join group empty group id", &kmsg.JoinGroupRequest{Version: 7, SessionTimeoutMillis: 10000, RebalanceTimeoutMillis: 10000, ProtocolType: "consumer",
			Protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range"}}},
			func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }, kerr.InvalidGroupID},
		{"join group session timeout too small", &kmsg.JoinGroupRequest{Version: 7, Group: "g", SessionTimeoutMillis: 1, RebalanceTimeoutMillis: 10000, ProtocolType: "consumer",
			Protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range"}}},
			func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }, kerr.InvalidSessionTimeout},
		{"heartbeat unknown group", &kmsg.HeartbeatRequest{Version: 4, Group: "nosuch", Generation: 1, MemberID: "m"},
			func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode }, kerr.UnknownMemberID},
		{"sync group unknown group", &kmsg.SyncGroupRequest{Version: 5, Group: "nosuch", Generation: 1, MemberID: "m"},
			func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode }, kerr.UnknownMemberID},
		{"offset commit empty group id", &kmsg.OffsetCommitRequest{Version: 8, Generation: -1, Topics: []kmsg.OffsetCommitRequestTopic{{Topic: "exists",
			Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}},
			func(r kmsg.Response) int16 { return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode }, kerr.InvalidGroupID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := b.raw(t)
			got := tc.code(rc.do(tc.req))
			if got != tc.want.Code {
				t.Errorf("got %v, want %v", kerr.ErrorForCode(got), tc.want)
			}
			rc.aliveAfter()
		})
	}
}

// TestHandlerPanicClosesOnlyThatConnection swaps, for one server only, the
// DescribeCluster handler for one that panics: the connection that sent it
// gets the responses queued before the panic and is closed; every other
// connection and the broker carry on.
func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	hs := append([]handler(nil), handlers...)
	for i := range hs {
		if hs[i].key == kmsg.DescribeCluster {
			hs[i].fn = func(*deps, *request) (kmsg.Response, error) { panic("test: handler panic") }
		}
	}
	// Connections read s.table after accept takes s.mu, so swapping it
	// under s.mu orders the swap before every later connection's reads.
	b.srv.mu.Lock()
	b.srv.table = newHandlerTable(hs)
	b.srv.mu.Unlock()

	other := b.raw(t)
	other.do(&kmsg.MetadataRequest{Version: 1})
	rc := b.raw(t)
	md := &kmsg.MetadataRequest{Version: 1}
	first := rc.send(md)
	rc.send(&kmsg.DescribeClusterRequest{Version: 0})
	rc.send(md) // never handled: the connection closes at the panic
	rc.recv(md, first)
	rc.expectClosed()

	// The connection opened before the panic and new ones still work.
	other.do(&kmsg.MetadataRequest{Version: 1})
	b.raw(t).aliveAfter()
	waitFor(t, "panicked connection removed", 5*time.Second, func() bool {
		b.srv.mu.Lock()
		defer b.srv.mu.Unlock()
		return len(b.srv.conns) == 2
	})
}

// TestMaxConnections checks max.connections (the broker-wide limit; the
// per-IP one is in TestConnectionLimits): a connection over the limit is
// closed at accept, and a freed slot is usable again.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "max.connections=3")
	var conns []*rawConn
	for i := 0; i < 3; i++ {
		rc := b.raw(t)
		rc.do(&kmsg.MetadataRequest{Version: 1})
		conns = append(conns, rc)
	}
	over := b.raw(t)
	over.c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, &kmsg.MetadataRequest{Version: 1}, 1))
	over.expectClosed()
	conns[0].c.Close()
	waitFor(t, "slot freed", 5*time.Second, func() bool {
		b.srv.mu.Lock()
		defer b.srv.mu.Unlock()
		return len(b.srv.conns) < 3
	})
	b.raw(t).aliveAfter()
	conns[1].aliveAfter()
}

// TestRequestSizeLimits checks the request size limits at their edges:
// socket.request.max.bytes bounds the frame (a frame of exactly that size
// is read and answered, one byte more closes the connection), and
// max.message.bytes, set on a topic, bounds a batch below the broker's
// message.max.bytes.
func TestRequestSizeLimits(t *testing.T) {
	t.Parallel()
	const frameMax = 64 << 10
	b := startBroker(t, fmt.Sprintf("socket.request.max.bytes=%d", frameMax), fmt.Sprintf("message.max.bytes=%d", frameMax))
	rc := b.raw(t)
	ct := &kmsg.CreateTopicsRequest{Version: 5, TimeoutMillis: 5000, Topics: []kmsg.CreateTopicsRequestTopic{
		{Topic: "big", NumPartitions: 1, ReplicationFactor: 1},
		{Topic: "small", NumPartitions: 1, ReplicationFactor: 1, Configs: []kmsg.CreateTopicsRequestTopicConfig{{Name: "max.message.bytes", Value: kmsg.StringPtr("2000")}}},
	}}
	for _, rt := range rc.do(ct).(*kmsg.CreateTopicsResponse).Topics {
		if rt.ErrorCode != 0 {
			t.Fatalf("create %s: %v", rt.Topic, kerr.ErrorForCode(rt.ErrorCode))
		}
	}
	// A produce frame of exactly frameMax bytes (after the size prefix).
	sized := func(extra int) []byte {
		req := produceReq("big", 0, 1, nil)
		rf := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test"))
		f := rf.AppendRequest(nil, req, 1)
		value := make([]byte, frameMax-(len(f)-4)-200+extra)
		for {
			req.Topics[0].Partitions[0].Records = batch(-1, -1, -1, 1, value)
			f = rf.AppendRequest(nil, req, 1)
			switch d := frameMax + extra - (len(f) - 4); {
			case d == 0:
				return f
			case d > 0:
				value = append(value, make([]byte, d)...)
			default:
				value = value[:len(value)+d]
			}
		}
	}
	atMax := sized(0)
	rc.c.Write(atMax)
	if p := rc.recv(produceReq("big", 0, 1, nil), 1).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
		t.Fatalf("frame of exactly socket.request.max.bytes: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	over := b.raw(t)
	over.c.Write(sized(1))
	over.expectClosed()

	for _, tc := range []struct {
		topic string
		size  int
		want  *kerr.Error
	}{
		{"small", 1500, nil},
		{"small", 2500, kerr.MessageTooLarge}, // the topic's max.message.bytes
		{"big", 2500, nil},                    // the broker's message.max.bytes
	} {
		p := rc.do(produceReq(tc.topic, 0, 1, batch(-1, -1, -1, 1, make([]byte, tc.size)))).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if got := kerr.ErrorForCode(p.ErrorCode); got != error(tc.want) && !(tc.want == nil && got == nil) {
			t.Errorf("%s, %d bytes: got %v, want %v", tc.topic, tc.size, got, tc.want)
		}
	}
}

// heapSampler records the peak heap of the test process (which is the
// broker's process) while it runs.
type heapSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > h.peak.Load() {
				h.peak.Store(ms.HeapAlloc)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

// liveHeap returns the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestPipelineWithoutReadingIsBounded pipelines 10,000 requests on one
// connection without reading a single response. queued.max.requests
// bounds the responses a connection may have queued: once the socket
// buffers and the queue are full the broker stops reading that connection,
// so its memory stays bounded. Then every response is read back, in order.
func TestPipelineWithoutReadingIsBounded(t *testing.T) {
	// Not parallel: it measures the process's heap.
	const n, queued = 10000, 50
	b := startBroker(t, fmt.Sprintf("queued.max.requests=%d", queued))
	setup := b.raw(t)
	setup.do(&kmsg.CreateTopicsRequest{Version: 5, TimeoutMillis: 5000, Topics: []kmsg.CreateTopicsRequestTopic{{Topic: "pipe", NumPartitions: 1, ReplicationFactor: 1}}})
	value := bytes.Repeat([]byte("v"), 4000)

	for _, tc := range []struct {
		name string
		req  func() kmsg.Request
		// stalls: the responses are large enough to fill the socket
		// buffers, so the broker must stop reading.
		stalls bool
		check  func(t *testing.T, i int, resp kmsg.Response)
	}{
		{"describe configs", func() kmsg.Request {
			return &kmsg.DescribeConfigsRequest{Version: 4, IncludeSynonyms: true, IncludeDocumentation: true,
				Resources: []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"}}}
		}, true, func(t *testing.T, i int, resp kmsg.Response) {
			if r := resp.(*kmsg.DescribeConfigsResponse).Resources[0]; r.ErrorCode != 0 || len(r.Configs) < 50 {
				t.Fatalf("response %d: error %d, %d configs", i, r.ErrorCode, len(r.Configs))
			}
		}},
		{"produce", func() kmsg.Request {
			return produceReq("pipe", 0, 1, batch(-1, -1, -1, 1, value))
		}, false, func(t *testing.T, i int, resp kmsg.Response) {
			if p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != int64(i) {
				t.Fatalf("response %d: error %d, base offset %d", i, p.ErrorCode, p.BaseOffset)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", b.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			// A 4 KB client id makes the requests outgrow the socket
			// buffers, so the writer blocks once the broker stops reading.
			f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(strings.Repeat("c", 4000)))
			probe := tc.req()
			respSize := 0
			if tc.stalls { // what one response weighs, encoded
				resp, err := b.srv.table.lookup(probe.Key()).fn(b.srv.deps, &request{Header: wire.Header{Key: probe.Key(), Version: probe.GetVersion()}, body: probe})
				if err != nil {
					t.Fatal(err)
				}
				respSize = len(wire.AppendResponse(nil, 1, resp))
			}

			base := liveHeap()
			heap := sampleHeap()
			var written atomic.Int64
			writeErr := make(chan error, 1)
			go func() {
				var buf []byte
				for i := 0; i < n; i++ {
					buf = f.AppendRequest(buf[:0], tc.req(), int32(i+1))
					if _, err := nc.Write(buf); err != nil {
						writeErr <- err
						return
					}
					written.Add(1)
				}
				writeErr <- nil
			}()

			if tc.stalls {
				// The broker stops reading: the writer is stuck short of n
				// and the connection's response queue is full.
				last, still := int64(-1), 0
				waitFor(t, "the broker to stop reading", 30*time.Second, func() bool {
					// Named exception to "no sleeping": "stopped reading"
					// is no progress over three samples 100 ms apart.
					time.Sleep(100 * time.Millisecond)
					w := written.Load()
					if w == last && w < n && queueFull(b.srv) {
						still++
					} else {
						still = 0
					}
					last = w
					return still >= 3
				})
				t.Logf("broker stopped reading after %d of %d requests (queue %d)", last, n, queued)
			} else {
				waitFor(t, "all requests written", 60*time.Second, func() bool { return written.Load() == n })
			}
			stalled := liveHeap()
			growth := int64(stalled) - int64(base)
			unbounded := int64(n) * int64(respSize)
			const bound = 16 << 20
			if tc.stalls {
				t.Logf("responses of %d bytes (%d MiB for all %d)", respSize, unbounded>>20, n)
			}
			t.Logf("live heap grew %.1f MiB (base %.1f MiB)", float64(growth)/(1<<20), float64(base)/(1<<20))
			if growth > bound {
				t.Fatalf("live heap grew by %d MiB with the client not reading (bound %d MiB)", growth>>20, bound>>20)
			}
			if tc.stalls && unbounded < 4*bound {
				t.Fatalf("responses too small (%d bytes) for the test to show a bound", respSize)
			}

			// Now read everything, in order.
			r := newReader(nc)
			for i := 0; i < n; i++ {
				nc.SetReadDeadline(time.Now().Add(30 * time.Second))
				frame, err := wire.ReadFrame(r, nil, 1<<30)
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				if corr := int32(binary.BigEndian.Uint32(frame)); corr != int32(i+1) {
					t.Fatalf("response %d has correlation id %d", i, corr)
				}
				if i%97 == 0 || i == n-1 {
					resp := probe.ResponseKind()
					body := frame[4:]
					if wire.ResponseHeaderFlexible(resp) {
						body = body[1:]
					}
					if err := resp.ReadFrom(body); err != nil {
						t.Fatalf("response %d: %v", i, err)
					}
					tc.check(t, i, resp)
				}
			}
			if err := <-writeErr; err != nil {
				t.Fatal(err)
			}
			t.Logf("peak heap %.1f MiB", float64(heap.Stop())/(1<<20))
		})
	}
}

// queueFull reports whether some connection's response queue is full.
func queueFull(s *Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if len(c.out) == cap(c.out) {
			return true
		}
	}
	return false
}

// raiseFileLimit raises RLIMIT_NOFILE to at least n (as far as the hard
// limit allows) and restores it at cleanup.
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if old.Cur >= n {
		return
	}
	lim := old
	lim.Cur = min(n, old.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	if lim.Cur < n {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d this test needs", old.Max, n)
	}
}

// vmHWM returns the peak resident set size of the process in KiB, from
// /proc/<pid>/status (0 where there is no /proc).
func vmHWM(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}

// TestHostileCrowd runs 1,000 concurrent connections, half of them
// hostile (random garbage, oversized or never-finished frames, or nothing
// at all) and half polite raw clients, while a franz-go producer and
// consumer move records through the same broker. The kgo clients must see
// every record exactly once and intact, the broker's heap must stay
// bounded, and afterwards it must be healthy with no connection left over.
func TestHostileCrowd(t *testing.T) {
	// Not parallel: it measures the process's heap and opens ~2,000 sockets.
	if testing.Short() {
		t.Skip("load test")
	}
	raiseFileLimit(t, 8192)
	const (
		conns      = 1000
		partitions = 4
		records    = 20000
		frameMax   = 2 << 20
	)
	b := startBroker(t, fmt.Sprintf("socket.request.max.bytes=%d", frameMax), "socket.request.read.timeout.ms=2000")
	createTopic(t, b, "crowd", partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	connCount := func() int {
		b.srv.mu.Lock()
		defer b.srv.mu.Unlock()
		return len(b.srv.conns)
	}
	before := connCount()
	base := liveHeap()
	heap := sampleHeap()
	// Half the crowd misbehaves; the polite half checks its Metadata.
	cr := crowd.Start(ctx, crowd.Config{
		Addrs: []string{b.addr}, Conns: conns, Hostile: 0.5, FrameMax: frameMax,
		Topic: "crowd", Partitions: partitions, RequestTimeout: 10 * time.Second,
	})
	waitFor(t, "the crowd to connect", 30*time.Second, func() bool { return cr.Opened() >= conns })

	// The well-behaved franz-go clients, concurrently.
	start := time.Now()
	value := func(i int) []byte { return []byte(fmt.Sprintf("record-%06d-%s", i, strings.Repeat("x", i%200))) }
	prodErr := make(chan error, 1)
	newClient := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	p := newClient(kgo.DefaultProduceTopic("crowd"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	go func() {
		// In waves, so that the records flow for the whole crowd run.
		const waves = 20
		for w := 0; w < waves; w++ {
			var recs []*kgo.Record
			for i := w * records / waves; i < (w+1)*records/waves; i++ {
				recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: value(i)})
			}
			if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				prodErr <- err
				return
			}
			// Named exception to "no sleeping": pacing, not
			// synchronisation (the waves span the crowd run).
			time.Sleep(250 * time.Millisecond)
		}
		prodErr <- nil
	}()
	c := newClient(kgo.ConsumeTopics("crowd"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := make([]bool, records)
	next := make([]int64, partitions)
	for n := 0; n < records; {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", n, records, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			var i int
			if _, err := fmt.Sscan(string(r.Key), &i); err != nil || i < 0 || i >= records {
				t.Fatalf("bad key %q", r.Key)
			}
			if seen[i] || !bytes.Equal(r.Value, value(i)) || r.Offset != next[r.Partition] {
				t.Fatalf("record %d: duplicate %v, value %q, offset %d (want %d)", i, seen[i], r.Value, r.Offset, next[r.Partition])
			}
			seen[i] = true
			next[r.Partition]++
			n++
		})
	}
	if err := <-prodErr; err != nil {
		t.Fatalf("produce: %v", err)
	}
	took := time.Since(start)
	p.Close()
	c.Close()
	res := cr.Stop()
	peak := heap.Stop()
	if res.PoliteErr != nil {
		t.Fatal(res.PoliteErr)
	}
	t.Logf("%d connections (%d opened in all, %d closed by the broker, %d polite answers); %d records produced and consumed in %v",
		conns, res.Opened, res.ClosedByBroker, res.Answered, records, took.Round(time.Millisecond))
	t.Logf("heap: base %.1f MiB, peak %.1f MiB; process peak RSS (VmHWM, clients included) %d MiB",
		float64(base)/(1<<20), float64(peak)/(1<<20), vmHWM("self")>>10)
	if peak > base+256<<20 {
		t.Fatalf("peak heap %d MiB over a base of %d MiB", peak>>20, base>>20)
	}

	// Healthy afterwards: every crowd connection is gone, new ones work.
	waitFor(t, "crowd connections to close", 20*time.Second, func() bool { return connCount() <= before })
	b.raw(t).aliveAfter()
}
