package broker

// DescribeLogDirs (key 35), v0-v4.
//
// Needs DESCRIBE on the cluster (else, v3+, CLUSTER_AUTHORIZATION_FAILED
// at the top level and no dirs; before v3 just no dirs, as Kafka). Lists
// gregor's one log dir with every partition replica this broker holds
// (null topics), or those of the named topics and partitions that it
// holds: its size in bytes, its offset lag (0 for a leader; for a
// follower how far its log end is behind the leader's high watermark as
// of its last fetch) and is_future false (gregor never moves a replica
// between dirs). A dir offline after a read error answers
// KAFKA_STORAGE_ERROR. v4 adds the file system's total and usable bytes
// (statfs; -1 where unknown).

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var describeLogDirsHandler = handle(kmsg.DescribeLogDirs, 0, 4, func(s *deps, r *request, req *kmsg.DescribeLogDirsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = s.disk.dir
	if s.disk.offline() != nil {
		dir.ErrorCode = kerr.KafkaStorageError.Code
		resp.Dirs = append(resp.Dirs, dir)
		return resp, nil
	}
	if req.Version >= 4 {
		dir.TotalBytes, dir.UsableBytes = diskSpace(s.disk.dir)
	}
	want := func(topic string, partition int32) bool { return true }
	if req.Topics != nil {
		asked := map[string][]int32{}
		for _, t := range req.Topics {
			asked[t.Topic] = append(asked[t.Topic], t.Partitions...)
		}
		want = func(topic string, partition int32) bool {
			ps, ok := asked[topic]
			return ok && slices.Contains(ps, partition)
		}
	}
	byTopic := map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
	for _, p := range s.parts.all() {
		if !want(p.topic, p.index) {
			continue
		}
		rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		rp.Partition = p.index
		rp.Size = p.log.Size()
		rp.OffsetLag = p.offsetLag()
		byTopic[p.topic] = append(byTopic[p.topic], rp)
	}
	for _, name := range slices.Sorted(maps.Keys(byTopic)) {
		t := kmsg.NewDescribeLogDirsResponseDirTopic()
		t.Topic = name
		t.Partitions = byTopic[name]
		slices.SortFunc(t.Partitions, func(a, b kmsg.DescribeLogDirsResponseDirTopicPartition) int { return int(a.Partition - b.Partition) })
		dir.Topics = append(dir.Topics, t)
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
})

// offsetLag is how far a follower's log end is behind the leader's high
// watermark as of its last fetch; 0 for a leader (or before any fetch).
func (p *partition) offsetLag() int64 {
	p.rep.mu.Lock()
	follower := p.rep.role == roleFollower
	p.rep.mu.Unlock()
	if !follower {
		return 0
	}
	return max(p.leaderHW.Load()-p.log.LogEndOffset(), 0)
}
