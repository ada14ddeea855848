package broker

// BrokerRegistration (key 62), v0-v4.
//
// Sent by gregor nodes to the active controller (over the inter-broker
// listener; gregor has no separate controller RPC listener): registers
// or refreshes a broker's advertised listeners and rack, and unfences it.
// A node that is not the active controller answers NOT_CONTROLLER.
//
// Needs CLUSTER_ACTION on the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED), as Kafka's inter-broker APIs.
//
// gregor's brokers add a tagged field of their own, tagBrokerOnly, when
// they run process.roles=broker (Kafka's controller knows its voters; a
// gregor observer may be a combined node or a broker-only one), so the
// controller refuses to make them voters, and tagControllerOnly when
// they run process.roles=controller: a controller-only node registers
// (brokers find its inter-broker listener, where it serves the controller
// APIs, through the registration) but hosts no replicas and is never
// shown to clients. Kafka's controllers do not register; their brokers
// find them through controller.quorum.voters, whose addresses in gregor
// are the Raft transport's.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// tagBrokerOnly is the gregor-private tagged field of BrokerRegistration
// (a value of one byte, 1) a broker-only node sends; Kafka's tags are
// small numbers, this one is far past them.
const tagBrokerOnly uint32 = 0x67720001

// tagControllerOnly is the tag a controller-only node sends, as
// tagBrokerOnly.
const tagControllerOnly uint32 = 0x67720002

// roleTagged reports whether tags carry tag (tagBrokerOnly or
// tagControllerOnly) set.
func roleTagged(tags kmsg.Tags, tag uint32) bool {
	only := false
	tags.Each(func(key uint32, val []byte) {
		if key == tag && len(val) == 1 && val[0] == 1 {
			only = true
		}
	})
	return only
}

var brokerRegistrationHandler = handle(kmsg.BrokerRegistration, 0, 4, func(s *deps, r *request, req *kmsg.BrokerRegistrationRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	snap := s.ctrl.Snapshot()
	if req.ClusterID != "" && snap.ClusterID != "" && req.ClusterID != snap.ClusterID {
		resp.ErrorCode = kerr.InconsistentClusterID.Code
		return resp, nil
	}
	b := controller.Broker{NodeID: req.BrokerID, Rack: req.Rack, BrokerOnly: roleTagged(req.UnknownTags, tagBrokerOnly), ControllerOnly: roleTagged(req.UnknownTags, tagControllerOnly)}
	for i, l := range req.Listeners {
		b.Endpoints = append(b.Endpoints, controller.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port)})
		if i == 0 {
			b.Host, b.Port = l.Host, int32(l.Port)
		}
	}
	if err := s.ctrl.RegisterBroker(b); err != nil {
		resp.ErrorCode = errCode(err)
		return resp, nil
	}
	if rb, ok := s.ctrl.Snapshot().Broker(req.BrokerID); ok {
		resp.BrokerEpoch = rb.Epoch
	}
	return resp, nil
})
