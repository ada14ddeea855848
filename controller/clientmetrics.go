package controller

// Client-metrics subscriptions (KIP-714), kept as Kafka's KRaft controller
// keeps them: config resources of type CLIENT_METRICS, one per
// subscription name, each a map of config names (metrics, interval.ms,
// match) to values. The controller stores names and values only; what
// they mean is the broker's.

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// recClientMetrics replaces the configs of one client-metrics
// subscription, or removes it when the configs are empty (the range 20-21
// taken in records.go).
const recClientMetrics recordType = 20

// ClientMetricsChange is the payload of recClientMetrics.
type ClientMetricsChange struct {
	Name    string            `json:"name"`
	Configs map[string]string `json:"configs,omitempty"`
}

// ClientMetrics returns the client-metrics subscriptions by name. The maps
// are shared with the snapshot: never modify them. Nil when none are set.
func (s *Snapshot) ClientMetrics() map[string]map[string]string { return s.clientMetrics }

// ClientMetricsVersion increases whenever a subscription changes (counted
// from 0 at each Open; not persisted).
func (s *Snapshot) ClientMetricsVersion() int64 { return s.clientMetricsGen }

// AlterClientMetrics changes the configs of the subscription name. compute
// gets a copy of its current configs (empty if it does not exist) and
// returns the configs wanted (empty removes the subscription), or an error
// returned as it is; it runs with writes serialized. With validateOnly
// nothing is stored. Needs the active controller.
func (c *Controller) AlterClientMetrics(name string, compute func(cur map[string]string) (map[string]string, error), validateOnly bool) error {
	if name == "" {
		return fmt.Errorf("%w: a client metrics resource needs a name", ErrInvalidRequest)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return err
	}
	cur := c.snap.Load().clientMetrics[name]
	next, err := compute(maps.Clone(cur))
	if err != nil || validateOnly {
		return err
	}
	if maps.Equal(cur, next) {
		return nil
	}
	return c.commitLocked([]record{{Type: recClientMetrics, ClientMetrics: &ClientMetricsChange{Name: name, Configs: maps.Clone(next)}}})
}

// applyClientMetrics applies a recClientMetrics record to the builder.
func (b *builder) applyClientMetrics(r *record) error {
	ch := r.ClientMetrics
	if ch == nil || ch.Name == "" {
		return fmt.Errorf("controller: malformed client metrics record")
	}
	if b.clientMetricsDirty == nil {
		b.clientMetricsDirty = map[string]bool{}
		b.next.clientMetrics = maps.Clone(b.old.clientMetrics)
		if b.next.clientMetrics == nil {
			b.next.clientMetrics = map[string]map[string]string{}
		}
		b.next.clientMetricsGen++
	}
	if len(ch.Configs) == 0 {
		delete(b.next.clientMetrics, ch.Name)
	} else {
		b.next.clientMetrics[ch.Name] = maps.Clone(ch.Configs)
	}
	b.clientMetricsDirty[ch.Name] = true
	return nil
}

// persistClientMetrics writes the subscriptions the batch changed.
func (b *builder) persistClientMetrics(tx *bolt.Tx, next *Snapshot) error {
	bk := tx.Bucket(bucketClientMetrics)
	for name := range b.clientMetricsDirty {
		if err := putClientMetrics(bk, name, next.clientMetrics[name]); err != nil {
			return err
		}
	}
	return nil
}

// putClientMetrics stores (or, when m is empty, deletes) one subscription.
func putClientMetrics(bk *bolt.Bucket, name string, m map[string]string) error {
	if len(m) == 0 {
		return bk.Delete([]byte(name))
	}
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return bk.Put([]byte(name), v)
}

// persistAllClientMetrics rewrites the whole bucket from s.
func persistAllClientMetrics(tx *bolt.Tx, s *Snapshot) error {
	bk, err := recreateBucket(tx, bucketClientMetrics)
	if err != nil {
		return err
	}
	for name, m := range s.clientMetrics {
		if err := putClientMetrics(bk, name, m); err != nil {
			return err
		}
	}
	return nil
}

// loadClientMetrics reads the bucket into s.
func loadClientMetrics(tx *bolt.Tx, s *Snapshot) error {
	return tx.Bucket(bucketClientMetrics).ForEach(func(k, v []byte) error {
		var m map[string]string
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("decode client metrics %q: %w", k, err)
		}
		if len(m) == 0 {
			return nil
		}
		if s.clientMetrics == nil {
			s.clientMetrics = map[string]map[string]string{}
		}
		s.clientMetrics[string(k)] = m
		return nil
	})
}

// snapClientMetrics is one subscription in the Raft snapshot.
type snapClientMetrics struct {
	Name    string            `json:"name"`
	Configs map[string]string `json:"configs"`
}

// clientMetricsSnapshot lists s's subscriptions for the Raft snapshot,
// sorted by name.
func clientMetricsSnapshot(s *Snapshot) []snapClientMetrics {
	out := make([]snapClientMetrics, 0, len(s.clientMetrics))
	for _, name := range slices.Sorted(maps.Keys(s.clientMetrics)) {
		out = append(out, snapClientMetrics{Name: name, Configs: s.clientMetrics[name]})
	}
	return out
}

// restoreClientMetrics fills s from a Raft snapshot's list.
func restoreClientMetrics(s *Snapshot, old *Snapshot, list []snapClientMetrics) {
	s.clientMetrics = nil
	s.clientMetricsGen = old.clientMetricsGen + 1
	for _, e := range list {
		if len(e.Configs) == 0 {
			continue
		}
		if s.clientMetrics == nil {
			s.clientMetrics = map[string]map[string]string{}
		}
		s.clientMetrics[e.Name] = e.Configs
	}
}
