package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
	"gregor/controller"
)

// authz is the authorization part: it answers whether a request's principal
// may do an operation on a resource. With authorizer.class.name empty it
// allows everything. The ACLs are the current controller snapshot's (the
// same on every broker of a cluster; a change this broker waited for is
// seen by the next check). Denials are logged, at most denialLogBurst
// lines per second; the rest are counted into the next line.
type authz struct {
	a     *auth.Authorizer // nil: authorization is off
	acls  func() *controller.ACLSet
	log   zerolog.Logger
	clock Clock

	// src is the ACL set a was last loaded from (guarded by loadMu for
	// writers; read atomically).
	src    atomic.Pointer[controller.ACLSet]
	loadMu sync.Mutex

	mu         sync.Mutex // guards the denial log's rate window
	windowEnd  time.Time
	logged     int
	suppressed int
}

const denialLogBurst = 10

// newAuthz returns the authorization part; acls returns the current
// ACL bindings.
func newAuthz(c AuthzConfig, acls func() *controller.ACLSet, clock Clock, log zerolog.Logger) *authz {
	z := &authz{acls: acls, log: log, clock: clock}
	if c.Enabled {
		z.a = auth.NewAuthorizer(auth.AuthorizerConfig{SuperUsers: c.SuperUsers, AllowEveryoneIfNoACLFound: c.AllowEveryoneIfNoACLFound})
	}
	return z
}

// enabled reports whether ACLs are checked.
func (z *authz) enabled() bool { return z != nil && z.a != nil }

// authorizer returns the authorizer loaded with the current ACL bindings.
func (z *authz) authorizer() *auth.Authorizer {
	set := z.acls()
	if z.src.Load() == set {
		return z.a
	}
	z.loadMu.Lock()
	defer z.loadMu.Unlock()
	if z.src.Load() != set {
		z.a.SetACLs(authACLs(set.List()))
		z.src.Store(set)
	}
	return z.a
}

// authACLs converts controller bindings to the authorizer's.
func authACLs(list []controller.ACL) []auth.ACL {
	out := make([]auth.ACL, len(list))
	for i, a := range list {
		out[i] = auth.ACL{ResourceType: kmsg.ACLResourceType(a.ResourceType), ResourceName: a.ResourceName,
			PatternType: kmsg.ACLResourcePatternType(a.PatternType), Principal: a.Principal, Host: a.Host,
			Operation: kmsg.ACLOperation(a.Operation), Permission: kmsg.ACLPermissionType(a.Permission)}
	}
	return out
}

// controllerACL converts an authorizer binding to the controller's.
func controllerACL(a auth.ACL) controller.ACL {
	return controller.ACL{ResourceType: int8(a.ResourceType), ResourceName: a.ResourceName, PatternType: int8(a.PatternType),
		Principal: a.Principal, Host: a.Host, Operation: int8(a.Operation), Permission: int8(a.Permission)}
}

// authorize reports whether r's principal may do op on the resource, and
// logs a denial.
func (s *deps) authorize(r *request, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	z := s.authz
	if !z.enabled() {
		return true
	}
	p, host := principalOf(r), r.conn.remoteHost()
	if z.authorizer().Authorize(p, host, op, rt, name) {
		return true
	}
	z.logDenial(r, p, host, op, rt, name)
	return false
}

// authorizeCluster is authorize on the cluster resource.
func (s *deps) authorizeCluster(r *request, op kmsg.ACLOperation) bool {
	return s.authorize(r, op, kmsg.ACLResourceTypeCluster, auth.ClusterName)
}

// authorizeIdempotent checks an InitProducerId without a transactional id
// as Kafka does since KIP-679: IDEMPOTENT_WRITE on the cluster, or WRITE on
// some topic (Authorizer.authorizeByResourceType). Only a denial of both is
// logged (as the IDEMPOTENT_WRITE it asked for).
func (s *deps) authorizeIdempotent(r *request) bool {
	z := s.authz
	if !z.enabled() {
		return true
	}
	p, host := principalOf(r), r.conn.remoteHost()
	a := z.authorizer()
	if a.Authorize(p, host, kmsg.ACLOperationIdempotentWrite, kmsg.ACLResourceTypeCluster, auth.ClusterName) ||
		a.AuthorizeByResourceType(p, host, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic) {
		return true
	}
	z.logDenial(r, p, host, kmsg.ACLOperationIdempotentWrite, kmsg.ACLResourceTypeCluster, auth.ClusterName)
	return false
}

// authorizeTopic is authorize on a topic.
func (s *deps) authorizeTopic(r *request, op kmsg.ACLOperation, topic string) bool {
	return s.authorize(r, op, kmsg.ACLResourceTypeTopic, topic)
}

// authorizeGroup is authorize on a consumer group.
func (s *deps) authorizeGroup(r *request, op kmsg.ACLOperation, group string) bool {
	return s.authorize(r, op, kmsg.ACLResourceTypeGroup, group)
}

// configDenied checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config
// resource as Kafka does: a topic's own ACLs, the cluster's for broker and
// broker-logger resources. It returns the error code of a denial, else 0.
func (s *deps) configDenied(r *request, op kmsg.ACLOperation, rt kmsg.ConfigResourceType, name string) int16 {
	switch rt {
	case kmsg.ConfigResourceTypeTopic:
		if !s.authorizeTopic(r, op, name) {
			return kerr.TopicAuthorizationFailed.Code
		}
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger, kmsg.ConfigResourceTypeClientMetrics:
		if !s.authorizeCluster(r, op) {
			return kerr.ClusterAuthorizationFailed.Code
		}
	}
	return 0
}

// authorizeTopicQuiet checks a topic without logging a denial: for
// filtering (Metadata of all topics), where a denial is not a failure.
func (s *deps) authorizeTopicQuiet(r *request, op kmsg.ACLOperation, topic string) bool {
	return s.authorizeQuiet(r, op, kmsg.ACLResourceTypeTopic, topic)
}

// authorizeQuiet is authorize without logging a denial.
func (s *deps) authorizeQuiet(r *request, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	z := s.authz
	if !z.enabled() {
		return true
	}
	return z.authorizer().Authorize(principalOf(r), r.conn.remoteHost(), op, rt, name)
}

func (z *authz) logDenial(r *request, p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) {
	now := z.clock.Now()
	z.mu.Lock()
	if !now.Before(z.windowEnd) {
		z.windowEnd, z.logged = now.Add(time.Second), 0
	}
	if z.logged >= denialLogBurst {
		z.suppressed++
		z.mu.Unlock()
		return
	}
	z.logged++
	suppressed := z.suppressed
	z.suppressed = 0
	z.mu.Unlock()
	z.log.Info().Str("principal", p.String()).Str("host", host).Int16("api", r.Key).
		Str("operation", op.String()).Str("resource_type", rt.String()).Str("resource", name).
		Int("suppressed", suppressed).Msg("authorization denied")
}

// principalOf is the request's principal: its connection's, unless a test
// set one for its client id (SetPrincipalForTesting).
func principalOf(r *request) auth.Principal {
	if r.ClientID != nil {
		if p, ok := testPrincipals.Load(*r.ClientID); ok {
			return p.(auth.Principal)
		}
	}
	return r.conn.Principal()
}

// authorizeFetch checks a Fetch on a topic: a follower's needs
// CLUSTER_ACTION on the cluster, a consumer's READ on the topic.
func (s *deps) authorizeFetch(r *request, topic string) bool {
	if replicaOf(r) >= 0 {
		return s.authorizeCluster(r, kmsg.ACLOperationClusterAction)
	}
	return s.authorizeTopic(r, kmsg.ACLOperationRead, topic)
}

// topicName is the name of t, or name when t is unknown.
func topicName(t *controller.Topic, name string) string {
	if t != nil {
		return t.Name
	}
	return name
}
