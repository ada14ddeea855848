package broker

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
	"gregor/controller"
)

// authz is the authorization part: it answers whether a request's principal
// may do an operation on a resource. With authorizer.class.name empty it
// allows everything. Denials are logged, at most denialLogBurst lines per
// second; the rest are counted into the next line.
type authz struct {
	a     *auth.Authorizer // nil: authorization is off
	log   zerolog.Logger
	clock Clock

	mu         sync.Mutex // guards the denial log's rate window
	windowEnd  time.Time
	logged     int
	suppressed int
}

const denialLogBurst = 10

func newAuthz(c AuthzConfig, clock Clock, log zerolog.Logger) *authz {
	z := &authz{log: log, clock: clock}
	if c.Enabled {
		z.a = auth.NewAuthorizer(auth.AuthorizerConfig{SuperUsers: c.SuperUsers, AllowEveryoneIfNoACLFound: c.AllowEveryoneIfNoACLFound})
	}
	return z
}

// enabled reports whether ACLs are checked.
func (z *authz) enabled() bool { return z != nil && z.a != nil }

// authorize reports whether r's principal may do op on the resource, and
// logs a denial.
func (s *deps) authorize(r *request, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	z := s.authz
	if !z.enabled() {
		return true
	}
	p, host := principalOf(r), r.conn.remoteHost()
	if z.a.Authorize(p, host, op, rt, name) {
		return true
	}
	z.logDenial(r, p, host, op, rt, name)
	return false
}

// authorizeCluster is authorize on the cluster resource.
func (s *deps) authorizeCluster(r *request, op kmsg.ACLOperation) bool {
	return s.authorize(r, op, kmsg.ACLResourceTypeCluster, auth.ClusterName)
}

// authorizeTopic is authorize on a topic.
func (s *deps) authorizeTopic(r *request, op kmsg.ACLOperation, topic string) bool {
	return s.authorize(r, op, kmsg.ACLResourceTypeTopic, topic)
}

// authorizeGroup is authorize on a consumer group.
func (s *deps) authorizeGroup(r *request, op kmsg.ACLOperation, group string) bool {
	return s.authorize(r, op, kmsg.ACLResourceTypeGroup, group)
}

// authorizeTopicQuiet checks a topic without logging a denial: for
// filtering (Metadata of all topics), where a denial is not a failure.
func (s *deps) authorizeTopicQuiet(r *request, op kmsg.ACLOperation, topic string) bool {
	z := s.authz
	if !z.enabled() {
		return true
	}
	return z.a.Authorize(principalOf(r), r.conn.remoteHost(), op, kmsg.ACLResourceTypeTopic, topic)
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
