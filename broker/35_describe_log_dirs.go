package broker

// DescribeLogDirs (key 35), v0-v4.
//
// Needs DESCRIBE on the cluster (else, v3+, CLUSTER_AUTHORIZATION_FAILED
// at the top level and no dirs; before v3 just no dirs, as Kafka). Lists
// every one of log.dirs with the partition replicas it holds (null
// topics), or those of the named topics and partitions: each one's size
// in bytes, its offset lag (0 for a leader; for a follower how far its log
// end is behind the leader's high watermark as of its last fetch) and
// is_future (true for the copy AlterReplicaLogDirs is making, listed
// under its destination dir, with its lag behind the current replica). A
// dir offline after an I/O error answers KAFKA_STORAGE_ERROR and no
// topics. v4 adds the file system's total and usable bytes (statfs; -1
// where unknown).

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
	byDir := map[*logDir]map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
	add := func(d *logDir, topic string, rp kmsg.DescribeLogDirsResponseDirTopicPartition) {
		if byDir[d] == nil {
			byDir[d] = map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
		}
		byDir[d][topic] = append(byDir[d][topic], rp)
	}
	for _, p := range s.parts.all() {
		if !want(p.topic, p.index) {
			continue
		}
		rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		rp.Partition = p.index
		rp.Size = p.log.Size()
		rp.OffsetLag = p.offsetLag()
		add(p.dir, p.topic, rp)
	}
	for _, f := range s.parts.futureReplicas() {
		if !want(f.topic, f.index) {
			continue
		}
		rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		rp.Partition = f.index
		rp.Size, rp.OffsetLag = f.progress()
		rp.IsFuture = true
		add(f.dest, f.topic, rp)
	}
	for _, d := range s.parts.dirs {
		dir := kmsg.NewDescribeLogDirsResponseDir()
		dir.Dir = d.dir
		if d.offline() != nil {
			dir.ErrorCode = kerr.KafkaStorageError.Code
			resp.Dirs = append(resp.Dirs, dir)
			continue
		}
		if req.Version >= 4 {
			dir.TotalBytes, dir.UsableBytes = diskSpace(d.dir)
		}
		byTopic := byDir[d]
		for _, name := range slices.Sorted(maps.Keys(byTopic)) {
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic = name
			t.Partitions = byTopic[name]
			slices.SortFunc(t.Partitions, func(a, b kmsg.DescribeLogDirsResponseDirTopicPartition) int { return int(a.Partition - b.Partition) })
			dir.Topics = append(dir.Topics, t)
		}
		resp.Dirs = append(resp.Dirs, dir)
	}
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
