package broker

// Read-your-writes metadata after admin calls forwarded to the active
// controller. Once CreateTopics, DeleteTopics, CreatePartitions,
// AlterConfigs or IncrementalAlterConfigs succeeds at the controller, the
// forwarding broker waits, before it answers, until its own metadata shows
// the change (Kafka's brokers likewise wait for their metadata to catch
// up): so Metadata and DescribeConfigs on the broker that answered reflect
// it. The wait ends on every metadata change (controller.Subscribe),
// shutdown, or metadataCatchUpTimeout on the broker clock; on timeout the
// response is still the controller's, and the broker logs it.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// metadataCatchUpTimeout bounds how long an acknowledged admin call waits
// for the local metadata.
const metadataCatchUpTimeout = 10 * time.Second

// awaitMetadata waits until done holds for the local metadata, bounded by
// metadataCatchUpTimeout and shutdown; it reports whether it did.
func (s *deps) awaitMetadata(api string, done func(*controller.Snapshot) bool) bool {
	ch, unsub := s.ctrl.Subscribe()
	defer unsub()
	ctx, cancel := withTimeout(s.ctx, s.clock, metadataCatchUpTimeout)
	defer cancel()
	for {
		if done(s.ctrl.Snapshot()) {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			s.log.Warn().Str("api", api).Msg("local metadata did not catch up with an acknowledged change")
			return false
		}
	}
}

// afterCreateTopics waits for the topics resp created.
func (s *deps) afterCreateTopics(req *kmsg.CreateTopicsRequest, r kmsg.Response) {
	resp, ok := r.(*kmsg.CreateTopicsResponse)
	if !ok || req.ValidateOnly {
		return
	}
	s.awaitMetadata("CreateTopics", func(snap *controller.Snapshot) bool {
		for _, st := range resp.Topics {
			if st.ErrorCode != 0 {
				continue
			}
			t := snap.Topic(st.Topic)
			if t == nil || (st.TopicID != [16]byte{} && t.ID != st.TopicID) {
				return false
			}
		}
		return true
	})
}

// deletedTopicIDs maps the topics req names to their local ids, taken
// before the request is forwarded (responses before v6 carry no ids).
func deletedTopicIDs(snap *controller.Snapshot, req *kmsg.DeleteTopicsRequest) map[string][16]byte {
	ids := map[string][16]byte{}
	add := func(name string) {
		if t := snap.Topic(name); t != nil {
			ids[name] = t.ID
		}
	}
	for _, n := range req.TopicNames {
		add(n)
	}
	for _, t := range req.Topics {
		if t.Topic != nil {
			add(*t.Topic)
		}
	}
	return ids
}

// afterDeleteTopics waits until the topics resp deleted are gone: by id
// when known (a topic created again under the same name is not waited
// out), else by name.
func (s *deps) afterDeleteTopics(ids map[string][16]byte, r kmsg.Response) {
	resp, ok := r.(*kmsg.DeleteTopicsResponse)
	if !ok {
		return
	}
	s.awaitMetadata("DeleteTopics", func(snap *controller.Snapshot) bool {
		for _, st := range resp.Topics {
			if st.ErrorCode != 0 {
				continue
			}
			id := st.TopicID
			if id == [16]byte{} && st.Topic != nil {
				id = ids[*st.Topic]
			}
			switch {
			case id != [16]byte{}:
				if snap.TopicByID(id) != nil {
					return false
				}
			case st.Topic != nil && snap.Topic(*st.Topic) != nil:
				return false
			}
		}
		return true
	})
}

// afterCreatePartitions waits until the grown topics have their new
// partition counts.
func (s *deps) afterCreatePartitions(req *kmsg.CreatePartitionsRequest, r kmsg.Response) {
	resp, ok := r.(*kmsg.CreatePartitionsResponse)
	if !ok || req.ValidateOnly {
		return
	}
	want := map[string]int32{}
	for _, rt := range req.Topics {
		want[rt.Topic] = rt.Count
	}
	s.awaitMetadata("CreatePartitions", func(snap *controller.Snapshot) bool {
		for _, st := range resp.Topics {
			if st.ErrorCode != 0 {
				continue
			}
			if t := snap.Topic(st.Topic); t != nil && int32(len(t.Partitions)) < want[st.Topic] {
				return false
			}
		}
		return true
	})
}

// topicConfigWant is what a topic's explicit configs must show after an
// alter: set keys with their values, and deleted keys absent (nil).
type topicConfigWant map[string]map[string]*string

// afterAlterConfigs waits until the altered topics' explicit configs are
// as wanted.
func (s *deps) afterAlterConfigs(api string, want topicConfigWant, ok func(resource string) bool) {
	s.awaitMetadata(api, func(snap *controller.Snapshot) bool {
		for name, keys := range want {
			if !ok(name) {
				continue
			}
			t := snap.Topic(name)
			if t == nil {
				continue // deleted meanwhile: nothing to wait for
			}
			for k, v := range keys {
				got, set := t.Configs[k]
				if (v == nil) == set || (v != nil && got != *v) {
					return false
				}
			}
		}
		return true
	})
}
