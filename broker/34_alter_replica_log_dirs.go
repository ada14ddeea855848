package broker

// AlterReplicaLogDirs (key 34), v0-v2.
//
// Moves replicas on this broker to another of its log dirs while they
// serve (logmove.go); DescribeLogDirs shows the copy as is_future under
// its destination until it takes the current replica's place. Needs ALTER
// on the cluster (else CLUSTER_AUTHORIZATION_FAILED for every partition,
// as Kafka). Per partition, as Kafka's ReplicaManager:
// LOG_DIR_NOT_FOUND for a path that is not one of log.dirs (compared
// cleaned), KAFKA_STORAGE_ERROR when the destination or the replica's
// current dir is offline, UNKNOWN_TOPIC_OR_PARTITION for a partition the
// metadata does not have, REPLICA_NOT_AVAILABLE for one with no replica
// open here (the dir is remembered: the replica is created there if it
// comes to this broker before the broker restarts). The replica's own dir
// answers NONE and abandons a move under way; a new destination abandons
// a move to another. gregor refuses to move replicas of internal topics
// (INVALID_TOPIC_EXCEPTION): the coordinators keep their logs open.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var alterReplicaLogDirsHandler = handle(kmsg.AlterReplicaLogDirs, 0, 2, func(s *deps, r *request, req *kmsg.AlterReplicaLogDirsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterReplicaLogDirsResponse)
	allowed := s.authorizeCluster(r, kmsg.ACLOperationAlter)
	index := map[string]int{}
	for _, rd := range req.Dirs {
		dest := s.parts.byPath(rd.Dir)
		for _, rt := range rd.Topics {
			i, ok := index[rt.Topic]
			if !ok {
				i = len(resp.Topics)
				index[rt.Topic] = i
				st := kmsg.NewAlterReplicaLogDirsResponseTopic()
				st.Topic = rt.Topic
				resp.Topics = append(resp.Topics, st)
			}
			for _, part := range rt.Partitions {
				sp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
				sp.Partition = part
				if !allowed {
					sp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				} else {
					sp.ErrorCode = s.alterReplicaLogDir(dest, rt.Topic, part)
				}
				resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
			}
		}
	}
	return resp, nil
})

// alterReplicaLogDir starts moving one replica to dest (nil: not a log
// dir) and returns its error code.
func (s *deps) alterReplicaLogDir(dest *logDir, topic string, index int32) int16 {
	switch {
	case dest == nil:
		return kerr.LogDirNotFound.Code
	case dest.offline() != nil:
		return kerr.KafkaStorageError.Code
	}
	t := s.ctrl.Snapshot().Topic(topic)
	if t.Partition(index) == nil {
		return kerr.UnknownTopicOrPartition.Code
	}
	if t.Internal {
		return kerr.InvalidTopicException.Code
	}
	p := s.parts.lookup(topic, index)
	if p == nil || p.topicID != t.ID {
		s.parts.prefer(tp{topic, index}, dest)
		return kerr.ReplicaNotAvailable.Code
	}
	if p.offline() != nil {
		return kerr.KafkaStorageError.Code
	}
	if err := s.parts.moveReplica(s.ctx, p, dest); err != nil {
		s.log.Warn().Err(err).Str("topic", topic).Int32("partition", index).Str("to", dest.dir).Msg("creating future replica failed")
		return kerr.KafkaStorageError.Code
	}
	return 0
}
