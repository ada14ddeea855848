package broker

import (
	"sync"

	"gregor/auth"
	"gregor/controller"
)

// Hooks for in-process cluster tests (package gregortest).

// SkipControlledShutdown makes Run, once its context is cancelled, stop
// without a controlled shutdown, as if the node had died: the cluster
// learns of it by its missed heartbeats. Local state is still closed.
func (s *Server) SkipControlledShutdown() { s.skipControlledShutdown.Store(true) }

// LogOffsets returns the log end offset and high watermark of this node's
// replica of a partition; ok is false when the node has no open log for it.
func (s *Server) LogOffsets(topic string, partition int32) (logEnd, highWatermark int64, ok bool) {
	p := s.parts.lookup(topic, partition)
	if p == nil {
		return -1, -1, false
	}
	return p.log.LogEndOffset(), p.log.HighWatermark(), true
}

// SetACLsForTesting replaces the ACL bindings in the controller quorum
// (this node must be the active controller).
func (s *Server) SetACLsForTesting(acls []auth.ACL) error {
	if _, err := s.deps.ctrl.DeleteACLs([]func(controller.ACL) bool{func(controller.ACL) bool { return true }}); err != nil {
		return err
	}
	list := make([]controller.ACL, len(acls))
	for i, a := range acls {
		list[i] = controllerACL(a)
	}
	return s.deps.ctrl.CreateACLs(list)
}

// SetPrincipalForTesting makes the authorizer see every request that
// carries clientID as coming from p (test-only: stands in for SASL/TLS).
func (s *Server) SetPrincipalForTesting(clientID string, p auth.Principal) {
	testPrincipals.Store(clientID, p)
}

// testPrincipals maps client ids to principals (SetPrincipalForTesting).
var testPrincipals sync.Map
