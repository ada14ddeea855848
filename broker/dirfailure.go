package broker

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// reportOfflineReplicas tells the controller about the replicas of failed
// log dirs, so that their leadership moves to other replicas and this
// broker leaves their ISRs (controller.ReplicasOffline), while it keeps
// serving the partitions of its other dirs. It runs when a dir fails and
// every reportEvery after, until the metadata shows every such replica
// offline (a new registration clears them: they are reported again).
// Single nodes report nothing: there is no other replica to lead, and
// the partitions answer KAFKA_STORAGE_ERROR.
func (s *Server) reportOfflineReplicas() {
	if !s.clustered() {
		return
	}
	t := time.NewTicker(reportEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.dirFailed:
		case <-t.C:
		}
		if err := s.reportOffline(); err != nil {
			s.log.Warn().Err(err).Msg("reporting offline replicas to the controller failed, retrying")
		}
	}
}

const reportEvery = time.Second

// offlineToReport returns the replicas in failed dirs that the metadata
// does not show offline yet, and this broker's epoch.
func (s *Server) offlineToReport() ([]controller.Replica, int64) {
	snap := s.ctrl.Snapshot()
	br, ok := snap.Broker(s.cfg.NodeID)
	if !ok {
		return nil, 0
	}
	var out []controller.Replica
	for _, d := range s.parts.dirs {
		if d.offline() == nil {
			continue
		}
		for _, k := range s.parts.onDir(d) {
			t := snap.Topic(k.topic)
			p := t.Partition(k.index)
			if p == nil || !slices.Contains(p.Replicas, s.cfg.NodeID) || br.ReplicaOffline(t.ID, k.index) {
				continue
			}
			out = append(out, controller.Replica{TopicID: t.ID, Partition: k.index})
		}
	}
	return out, br.Epoch
}

// reportOffline sends offlineToReport to the controller: a local call on
// the active controller, else AssignReplicasToDirs to Kafka's LOST dir.
func (s *Server) reportOffline() error {
	reps, epoch := s.offlineToReport()
	if len(reps) == 0 {
		return nil
	}
	if s.link.local() {
		return s.ctrl.ReplicasOffline(s.cfg.NodeID, epoch, reps)
	}
	req := kmsg.NewPtrAssignReplicasToDirsRequest()
	req.BrokerID, req.BrokerEpoch = s.cfg.NodeID, epoch
	dir := kmsg.NewAssignReplicasToDirsRequestDirectory()
	dir.ID = lostDirID
	byTopic := map[[16]byte]int{}
	for _, r := range reps {
		i, ok := byTopic[r.TopicID]
		if !ok {
			i = len(dir.Topics)
			byTopic[r.TopicID] = i
			t := kmsg.NewAssignReplicasToDirsRequestDirectoryTopic()
			t.TopicID = r.TopicID
			dir.Topics = append(dir.Topics, t)
		}
		p := kmsg.NewAssignReplicasToDirsRequestDirectoryTopicPartition()
		p.Partition = r.Partition
		dir.Topics[i].Partitions = append(dir.Topics[i].Partitions, p)
	}
	req.Directories = append(req.Directories, dir)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	resp, err := s.link.toController(ctx, req)
	if err != nil {
		return err
	}
	if code := resp.(*kmsg.AssignReplicasToDirsResponse).ErrorCode; code != 0 {
		return fmt.Errorf("AssignReplicasToDirs: %w", kerr.ErrorForCode(code))
	}
	s.log.Info().Int("replicas", len(reps)).Msg("reported replicas of failed log dirs to the controller")
	return nil
}
