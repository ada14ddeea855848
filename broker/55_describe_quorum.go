package broker

// DescribeQuorum (key 55), v0-v2.
//
// The controller quorum as its leader sees it: partition 0 of
// __cluster_metadata (the only partition asked about; anything else is a
// top-level UNKNOWN_TOPIC_OR_PARTITION, as Kafka), leader id, epoch (the
// Raft term), high watermark (the commit index), the voters and the
// observers (Raft non-voters) with their log end offsets (Raft last
// indexes) and, from v1, last fetch and caught-up times as the leader
// learned them from its AppendEntries round trips; the leader reports its
// own as now. v2: directory ids are zero (gregor keeps none) and Nodes
// lists each member's CONTROLLER listener. Forwarded to the active
// controller; answered NOT_LEADER_OR_FOLLOWER when none is reachable. A
// single node without a quorum answers itself as the only voter, offsets
// -1.
//
// Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var describeQuorumHandler = handle(kmsg.DescribeQuorum, 0, 2, func(s *deps, r *request, req *kmsg.DescribeQuorumRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if len(req.Topics) != 1 || req.Topics[0].Topic != clusterMetadataTopic ||
		len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != 0 {
		resp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		resp.ErrorMessage = kmsg.StringPtr("only partition 0 of " + clusterMetadataTopic + " can be described")
		return resp, nil
	}
	if fwd, ok := s.forwardIfNotController(r); ok {
		return fwd, nil
	}
	rt := kmsg.NewDescribeQuorumResponseTopic()
	rt.Topic = clusterMetadataTopic
	rp := kmsg.NewDescribeQuorumResponseTopicPartition()
	q, err := s.ctrl.DescribeQuorum()
	if err != nil {
		rp.ErrorCode, rp.ErrorMessage = kerr.NotLeaderForPartition.Code, errMessage(err)
		rp.LeaderID, rp.HighWatermark = -1, -1
		if id, _, ok := s.ctrl.Leader(); ok {
			rp.LeaderID = id
		}
	} else {
		rp.LeaderID, rp.LeaderEpoch, rp.HighWatermark = q.LeaderID, int32(q.Epoch), q.HighWatermark
		rp.CurrentVoters = quorumReplicas(q.Voters)
		rp.Observers = quorumReplicas(q.Observers)
		for _, m := range append(append([]controller.QuorumReplica(nil), q.Voters...), q.Observers...) {
			resp.Nodes = append(resp.Nodes, quorumNode(m, s.cfg.Cluster.ControllerListener))
		}
	}
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	return resp, nil
})

func quorumReplicas(rs []controller.QuorumReplica) []kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	out := []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{}
	for _, m := range rs {
		st := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		st.ReplicaID, st.LogEndOffset = m.ID, m.LogEndOffset
		st.LastFetchTimestamp, st.LastCaughtUpTimestamp = unixMilliOrUnknown(m.LastFetch), unixMilliOrUnknown(m.LastCaughtUp)
		out = append(out, st)
	}
	return out
}

// quorumNode is a member's entry in Nodes: its Raft address as the
// controller listener (none while the address is unknown or unparsable).
func quorumNode(m controller.QuorumReplica, listener string) kmsg.DescribeQuorumResponseNode {
	n := kmsg.NewDescribeQuorumResponseNode()
	n.NodeID = m.ID
	n.Listeners = []kmsg.DescribeQuorumResponseNodeListener{}
	host, port, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return n
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return n
	}
	l := kmsg.NewDescribeQuorumResponseNodeListener()
	l.Name, l.Host, l.Port = listener, host, uint16(p)
	n.Listeners = append(n.Listeners, l)
	return n
}

func unixMilliOrUnknown(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}
