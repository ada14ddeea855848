package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func describeQuorumRequest(topic string, partitions ...int32) *kmsg.DescribeQuorumRequest {
	r := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rp.Partition = p
		rt.Partitions = append(rt.Partitions, rp)
	}
	r.Topics = append(r.Topics, rt)
	return r
}

// TestQuorumSingleNode: a single node without a quorum describes itself
// as the only voter and refuses voter changes as Kafka refuses them on a
// static quorum; bad requests get Kafka's errors. (Three and five nodes:
// gregortest/quorum_test.go.)
func TestQuorumSingleNode(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	cl := b.client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for v := int16(0); v <= 2; v++ {
		req := describeQuorumRequest("__cluster_metadata", 0)
		req.Version = v
		resp, err := req.RequestWith(ctx, cl.Broker(int(b.cfg.NodeID)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.LeaderID != b.cfg.NodeID || len(p.CurrentVoters) != 1 || p.CurrentVoters[0].ReplicaID != b.cfg.NodeID || len(p.Observers) != 0 {
			t.Fatalf("v%d: %+v", v, p)
		}
	}
	for _, req := range []*kmsg.DescribeQuorumRequest{
		describeQuorumRequest("other", 0),
		describeQuorumRequest("__cluster_metadata", 1),
		describeQuorumRequest("__cluster_metadata", 0, 0),
		kmsg.NewPtrDescribeQuorumRequest(),
	} {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(resp.Topics) != 0 {
			t.Fatalf("%+v: %+v", req, resp)
		}
	}

	add := func(mod func(*kmsg.AddRaftVoterRequest)) *kmsg.AddRaftVoterResponse {
		t.Helper()
		req := kmsg.NewPtrAddRaftVoterRequest()
		req.VoterID = 2
		l := kmsg.NewAddRaftVoterRequestListener()
		l.Name, l.Host, l.Port = "CONTROLLER", "127.0.0.1", 9093
		req.Listeners = append(req.Listeners, l)
		mod(req)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, tc := range []struct {
		name string
		mod  func(*kmsg.AddRaftVoterRequest)
		want *kerr.Error
	}{
		{"single node", func(*kmsg.AddRaftVoterRequest) {}, kerr.UnsupportedVersion},
		{"no controller listener", func(r *kmsg.AddRaftVoterRequest) { r.Listeners[0].Name = "PLAINTEXT" }, kerr.InvalidRequest},
		{"no port", func(r *kmsg.AddRaftVoterRequest) { r.Listeners[0].Port = 0 }, kerr.InvalidRequest},
		{"negative id", func(r *kmsg.AddRaftVoterRequest) { r.VoterID = -1 }, kerr.InvalidRequest},
		{"other cluster", func(r *kmsg.AddRaftVoterRequest) { r.ClusterID = kmsg.StringPtr("nope") }, kerr.InconsistentClusterID},
	} {
		if resp := add(tc.mod); resp.ErrorCode != tc.want.Code {
			t.Errorf("%s: %+v, want %s", tc.name, resp, tc.want.Message)
		}
	}
	rm := kmsg.NewPtrRemoveRaftVoterRequest()
	rm.VoterID = b.cfg.NodeID
	resp, err := rm.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("remove: %v %+v", err, resp)
	}
	rm.ClusterID = kmsg.StringPtr("nope")
	if resp, err = rm.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.InconsistentClusterID.Code {
		t.Fatalf("remove, other cluster: %v %+v", err, resp)
	}
}
