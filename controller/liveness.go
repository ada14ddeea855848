package controller

import "fmt"

// Broker liveness, after Kafka's BrokerHeartbeatManager: brokers send
// heartbeats to the active controller, which keeps the last heartbeat
// time of each in memory (a new leader starts every session afresh) and
// fences a broker whose session (Config.BrokerSessionTimeout) expired.
// Fencing moves the broker's leaderships to other in-sync replicas and
// takes it out of every ISR; a heartbeat (or a registration) unfences it.

// BrokerHeartbeat records a heartbeat from broker id. With wantFence
// (controlled shutdown) the controller moves the broker's leaderships to
// other in-sync replicas, removes it from ISRs and fences it; the broker
// may exit once this returns fenced = true. Otherwise a fenced broker is
// unfenced and becomes leader of the offline partitions whose last ISR
// member it is. Needs the active controller (ErrNotController); an
// unregistered broker gets ErrBrokerNotRegistered.
func (c *Controller) BrokerHeartbeat(id int32, wantFence bool) (fenced bool, err error) {
	if !wantFence && c.IsLeader() {
		if br, ok := c.snap.Load().Broker(id); ok && !br.Fenced {
			c.touchHeartbeat(id) // the common case: no change, no lock
			return false, nil
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return false, err
	}
	s := c.snap.Load()
	br, ok := s.Broker(id)
	if !ok {
		return false, fmt.Errorf("%w: broker %d", ErrBrokerNotRegistered, id)
	}
	c.touchHeartbeat(id)
	switch {
	case wantFence && br.Fenced:
		return true, nil
	case wantFence:
		if err := c.commitLocked(fenceRecords(s, id)); err != nil {
			return false, err
		}
		c.log.Info().Int32("broker", id).Msg("broker fenced for controlled shutdown")
		return true, nil
	case br.Fenced:
		br.Fenced = false
		recs := append([]record{{Type: recBroker, Broker: &br}}, unfenceElections(s, id)...)
		if err := c.commitLocked(recs); err != nil {
			return true, err
		}
		c.log.Info().Int32("broker", id).Msg("broker unfenced")
	}
	return false, nil
}

func (c *Controller) touchHeartbeat(id int32) {
	now := c.cfg.Now()
	c.hbMu.Lock()
	c.lastHB[id] = now
	c.hbMu.Unlock()
}

// resetHeartbeats starts every session afresh (a new leader knows no
// heartbeat times; each broker gets a full session from now).
func (c *Controller) resetHeartbeats() {
	c.hbMu.Lock()
	clear(c.lastHB)
	c.hbMu.Unlock()
}

// fenceExpired fences every unfenced broker whose session expired, one
// log entry per broker. A broker never heard from by this leader starts
// its session now.
func (c *Controller) fenceExpired() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return err
	}
	now := c.cfg.Now()
	var expired []int32
	c.hbMu.Lock()
	for _, b := range c.snap.Load().Brokers {
		if b.Fenced || b.NodeID == c.cfg.NodeID {
			// Combined nodes: the active controller's own broker runs in
			// this process, so it is alive; it leaves by controlled
			// shutdown, or by losing the controller role with the process.
			continue
		}
		last, ok := c.lastHB[b.NodeID]
		switch {
		case !ok:
			c.lastHB[b.NodeID] = now
		case now.Sub(last) > c.cfg.BrokerSessionTimeout:
			expired = append(expired, b.NodeID)
		}
	}
	c.hbMu.Unlock()
	for _, id := range expired {
		if err := c.commitLocked(fenceRecords(c.snap.Load(), id)); err != nil {
			return err
		}
		c.log.Warn().Int32("broker", id).Dur("session_timeout", c.cfg.BrokerSessionTimeout).Msg("broker session expired, fenced")
	}
	return nil
}

// fenceRecords fences broker id: new leaders for the partitions it leads,
// its removal from ISRs, and its fenced registration.
func fenceRecords(s *Snapshot, id int32) []record {
	br, ok := s.Broker(id)
	if !ok {
		return nil
	}
	br.Fenced = true
	return append(fenceElections(s, id), record{Type: recBroker, Broker: &br})
}
