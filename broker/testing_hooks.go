package broker

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
