package broker

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
)

// TestDescribeLogDirs: every replica of the broker with its size as the
// log reports it (null topics), only the named ones otherwise, in every
// version; statfs figures from v4.
func TestDescribeLogDirs(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := context.Background()
	adm := b.admin()
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "dirs-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "dirs-b"); err != nil {
		t.Fatal(err)
	}
	cl := b.client(kgo.DefaultProduceTopic("dirs-a"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// A created topic's logs open as the broker applies the metadata
	// change; DescribeLogDirs lists the logs it hosts.
	waitFor(t, "the four logs open", 10*time.Second, func() bool {
		return b.srv.parts.lookup("dirs-a", 0) != nil && b.srv.parts.lookup("dirs-a", 2) != nil && b.srv.parts.lookup("dirs-b", 0) != nil
	})
	rc := b.raw(t) // pins each version, as kgo would not
	size := func(topic string, p int32) int64 { return b.srv.parts.lookup(topic, p).log.Size() }
	if size("dirs-a", 1) == 0 {
		t.Fatal("produced partition has size 0")
	}
	for _, tc := range []struct {
		name   string
		topics []kmsg.DescribeLogDirsRequestTopic
		want   map[string][]int32
	}{
		{name: "all", want: map[string][]int32{"dirs-a": {0, 1, 2}, "dirs-b": {0}}},
		{name: "named", topics: []kmsg.DescribeLogDirsRequestTopic{{Topic: "dirs-a", Partitions: []int32{1, 2, 9}}, {Topic: "nope", Partitions: []int32{0}}},
			want: map[string][]int32{"dirs-a": {1, 2}}},
		{name: "none", topics: []kmsg.DescribeLogDirsRequestTopic{}, want: map[string][]int32{}},
	} {
		for v := int16(0); v <= 4; v++ {
			req := kmsg.NewPtrDescribeLogDirsRequest()
			req.Version, req.Topics = v, tc.topics
			resp := rc.do(req).(*kmsg.DescribeLogDirsResponse)
			if resp.ErrorCode != 0 || len(resp.Dirs) != 1 || resp.Dirs[0].ErrorCode != 0 || resp.Dirs[0].Dir != b.srv.cfg.Log.Dir {
				t.Fatalf("%s v%d: %+v", tc.name, v, resp)
			}
			d := resp.Dirs[0]
			if (v >= 4) != (d.TotalBytes > 0 && d.UsableBytes > 0 && d.UsableBytes <= d.TotalBytes) {
				t.Fatalf("%s v%d: total %d usable %d", tc.name, v, d.TotalBytes, d.UsableBytes)
			}
			got := map[string][]int32{}
			for _, dt := range d.Topics {
				for _, dp := range dt.Partitions {
					got[dt.Topic] = append(got[dt.Topic], dp.Partition)
					if dp.Size != size(dt.Topic, dp.Partition) || dp.OffsetLag != 0 || dp.IsFuture {
						t.Fatalf("%s v%d: %s/%d size %d (log %d) lag %d future %v", tc.name, v, dt.Topic, dp.Partition,
							dp.Size, size(dt.Topic, dp.Partition), dp.OffsetLag, dp.IsFuture)
					}
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%s v%d: %v, want %v", tc.name, v, got, tc.want)
			}
			for topic, ps := range tc.want {
				if len(got[topic]) != len(ps) {
					t.Fatalf("%s v%d: %v, want %v", tc.name, v, got, tc.want)
				}
				for i := range ps {
					if got[topic][i] != ps[i] {
						t.Fatalf("%s v%d: %v, want %v", tc.name, v, got, tc.want)
					}
				}
			}
		}
	}
	all, err := adm.DescribeBrokerLogDirs(ctx, b.srv.cfg.NodeID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := all.Error(); err != nil {
		t.Fatal(err)
	}
	if s := all.Size(); s != size("dirs-a", 0)+size("dirs-a", 1)+size("dirs-a", 2)+size("dirs-b", 0) {
		t.Fatalf("kadm size %d", s)
	}
}

// TestDescribeLogDirsAuthorization: without DESCRIBE on the cluster, v3+
// answers CLUSTER_AUTHORIZATION_FAILED and no dirs; v0-2 just no dirs.
func TestDescribeLogDirsAuthorization(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer")
	b.srv.SetPrincipalForTesting("dirs-nobody", auth.Principal{Type: "User", Name: "nobody"})
	nc, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	rc := newRawConn(t, nc, "dirs-nobody")
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrDescribeLogDirsRequest()
		req.Version = v
		resp := rc.do(req).(*kmsg.DescribeLogDirsResponse)
		if len(resp.Dirs) != 0 || (v >= 3) != (resp.ErrorCode == kerr.ClusterAuthorizationFailed.Code) {
			t.Fatalf("v%d: code %d, %d dirs", v, resp.ErrorCode, len(resp.Dirs))
		}
	}
}
