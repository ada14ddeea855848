package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMetadataAutoCreateLeaderNotAvailable: the Metadata request that
// auto-creates a topic sees it as LEADER_NOT_AVAILABLE with no partitions,
// as in Kafka (kafka-go's TestConn/test_delete_topics reads the partitions
// of just-deleted topics and expects none); the next request sees the
// topic with its partitions.
func TestMetadataAutoCreateLeaderNotAvailable(t *testing.T) {
	b := startBroker(t, "num.partitions=3")
	cl := b.client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, version := range []int16{1, 4, 12} {
		name := "auto-" + string(rune('a'+version))
		ask := func() kmsg.MetadataResponseTopic {
			t.Helper()
			req := kmsg.NewPtrMetadataRequest()
			req.SetVersion(version)
			req.AllowAutoTopicCreation = true
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Topics) != 1 {
				t.Fatalf("v%d: %d topics", version, len(resp.Topics))
			}
			return resp.Topics[0]
		}
		first := ask()
		if first.ErrorCode != kerr.LeaderNotAvailable.Code || len(first.Partitions) != 0 {
			t.Fatalf("v%d creating request: %v, %d partitions; want LEADER_NOT_AVAILABLE, none", version, kerr.ErrorForCode(first.ErrorCode), len(first.Partitions))
		}
		second := ask()
		if second.ErrorCode != 0 || len(second.Partitions) != 3 {
			t.Fatalf("v%d next request: %v, %d partitions; want 3", version, kerr.ErrorForCode(second.ErrorCode), len(second.Partitions))
		}
	}
}
