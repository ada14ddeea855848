package controller

import "fmt"

// Unregistering a broker (UnregisterBroker, Kafka's kafka-cluster.sh
// unregister): its registration leaves the metadata, after the same
// leader moves and ISR removals as fencing. Its id stays in the replica
// lists of the partitions it held (those replicas are offline until it
// registers again or the partitions are reassigned away), as in Kafka.

// recUnregisterBroker removes the registration of Broker.NodeID (the
// number 22, past the ranges taken in records.go).
const recUnregisterBroker recordType = 22

// UnregisterBroker removes broker id's registration: new leaders for the
// partitions it leads and its removal from ISRs, then the registration.
// A broker that is still running registers again at its next heartbeat;
// unregister brokers that were shut down for good. An unknown id is
// ErrBrokerNotRegistered. Needs the active controller.
func (c *Controller) UnregisterBroker(id int32) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return err
	}
	s := c.snap.Load()
	if _, ok := s.Broker(id); !ok {
		return fmt.Errorf("%w: broker ID %d is not currently registered", ErrBrokerNotRegistered, id)
	}
	recs := append(fenceElections(s, id), record{Type: recUnregisterBroker, Broker: &Broker{NodeID: id}})
	if err := c.commitLocked(recs); err != nil {
		return err
	}
	c.hbMu.Lock()
	delete(c.lastHB, id)
	c.hbMu.Unlock()
	c.log.Info().Int32("broker", id).Msg("broker unregistered")
	return nil
}
