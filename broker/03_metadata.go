package broker

// Metadata (key 3), v0-v13.
//
// Lists brokers (the advertised listener of the listener the client came
// in on), the cluster and controller ids, and topics with their partition
// leaders, leader epochs, replicas and ISR. A null topic list (v1+; an
// empty one in v0) means every topic. Unknown topics are created when
// auto.create.topics.enable is on and the request allows it (v4+ flag;
// always for older versions), with num.partitions partitions; the request that creates a topic sees it
// as LEADER_NOT_AVAILABLE with no partitions, as in Kafka. v10+ topics
// carry ids and may be asked for by id; v12+ may not ask for a topic by id
// and name at once.

import (
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// authorizedAll is the operations bitfield reported when a client asks for
// authorized operations: gregor has no authorizer yet, so everything a
// topic or cluster supports is allowed.
const (
	topicOpsAll   = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	clusterOpsAll = 1<<4 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12 | 1<<13
	opsNotAsked   = -2147483648
)

var metadataHandler = handle(kmsg.Metadata, 0, 13, func(s *deps, r *request, req *kmsg.MetadataRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	snap := s.ctrl.Snapshot()
	for _, b := range snap.Brokers {
		if !b.ServesClients() {
			continue // as Kafka: fenced brokers and controllers are not offered to clients
		}
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Rack = b.NodeID, b.Rack
		rb.Host, rb.Port = b.Endpoint(r.conn.adv.Name)
		if b.NodeID == s.cfg.NodeID {
			rb.Host, rb.Port = r.conn.adv.Host, r.conn.adv.Port
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	resp.ClusterID = &snap.ClusterID
	resp.ControllerID = clientControllerID(snap, s.cfg.NodeID)
	resp.AuthorizedOperations = opsNotAsked
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterOpsAll
	}

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		names := make([]string, 0, len(snap.Topics))
		for name := range snap.Topics {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if !s.authorizeTopicQuiet(r, kmsg.ACLOperationDescribe, name) {
				continue // as Kafka: all-topics metadata lists only describable topics
			}
			resp.Topics = append(resp.Topics, s.metadataTopic(req, snap.Topics[name], name, 0))
		}
		return resp, nil
	}
	autoCreate := s.cfg.Topics.AutoCreate && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var t *controller.Topic
		var name string
		switch {
		case rt.Topic == nil || *rt.Topic == "":
			if req.Version < 10 || rt.TopicID == [16]byte{} {
				resp.Topics = append(resp.Topics, s.metadataTopic(req, nil, "", kerr.InvalidTopicException.Code))
				continue
			}
			if t = snap.TopicByID(rt.TopicID); t == nil {
				mt := s.metadataTopic(req, nil, "", kerr.UnknownTopicID.Code)
				mt.TopicID = rt.TopicID
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			name = t.Name
		default:
			name = *rt.Topic
			if req.Version >= 12 && rt.TopicID != [16]byte{} {
				resp.Topics = append(resp.Topics, s.metadataTopic(req, nil, name, kerr.InvalidRequest.Code))
				continue
			}
			t = snap.Topic(name)
		}
		if !s.authorizeTopic(r, kmsg.ACLOperationDescribe, name) {
			resp.Topics = append(resp.Topics, s.metadataTopic(req, nil, name, kerr.TopicAuthorizationFailed.Code))
			continue
		}
		if t == nil {
			code := kerr.UnknownTopicOrPartition.Code
			if err := controller.ValidateTopicName(name); err != nil {
				code = kerr.InvalidTopicException.Code
			} else if autoCreate && !s.authorizeCluster(r, kmsg.ACLOperationCreate) && !s.authorizeTopic(r, kmsg.ACLOperationCreate, name) {
				code = kerr.TopicAuthorizationFailed.Code
			} else if autoCreate {
				_, err := s.autoCreateTopic(name)
				switch {
				case err == nil:
					// As Kafka: the request that creates the topic
					// sees it as LEADER_NOT_AVAILABLE with no
					// partitions; clients refresh metadata.
					code = kerr.LeaderNotAvailable.Code
				case errors.Is(err, controller.ErrTopicExists):
					t, code = s.ctrl.Snapshot().Topic(name), 0
				default:
					code = errCode(err)
				}
			}
			if t == nil {
				if code == 0 {
					code = kerr.UnknownTopicOrPartition.Code
				}
				resp.Topics = append(resp.Topics, s.metadataTopic(req, nil, name, code))
				continue
			}
		}
		resp.Topics = append(resp.Topics, s.metadataTopic(req, t, name, 0))
	}
	return resp, nil
})

// autoCreateTopic creates a topic with the broker's defaults.
func (s *deps) autoCreateTopic(name string) (*controller.Topic, error) {
	t, err := s.createTopic(controller.CreateTopic{Name: name, NumPartitions: -1, ReplicationFactor: -1})
	if err == nil {
		s.log.Info().Str("topic", name).Int("partitions", len(t.Partitions)).Msg("auto-created topic")
	}
	return t, err
}

func (s *deps) metadataTopic(req *kmsg.MetadataRequest, t *controller.Topic, name string, code int16) kmsg.MetadataResponseTopic {
	snap := s.ctrl.Snapshot()
	mt := kmsg.NewMetadataResponseTopic()
	mt.ErrorCode = code
	n := name
	mt.Topic = &n
	mt.AuthorizedOperations = opsNotAsked
	if t == nil {
		return mt
	}
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = topicOpsAll
	}
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Index
		mp.Leader = p.Leader
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = p.Replicas
		mp.ISR = p.ISR
		mp.OfflineReplicas = []int32{}
		for _, id := range p.Replicas {
			if !snap.ReplicaOnline(id, t, p.Index) { // fenced, or in a failed log dir
				mp.OfflineReplicas = append(mp.OfflineReplicas, id)
			}
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
