package controller

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
)

// TestRecordsReplay checks the property a replicated log relies on: the
// records applyLocked saw, JSON-encoded and replayed from an empty state,
// rebuild exactly the current snapshot.
func TestRecordsReplay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var log [][]byte
	c, err := Open(Config{MetadataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// The cluster ID record was applied inside Open; start logging now
	// and seed the replay with it.
	log = append(log, mustJSON(t, []record{{Type: recClusterID, ClusterID: c.Snapshot().ClusterID}}))
	c.onApply = func(recs []record) { log = append(log, mustJSON(t, recs)) }

	for _, id := range []int32{1, 2, 3} {
		if err := c.RegisterBroker(Broker{NodeID: id, Host: fmt.Sprintf("h%d", id), Port: 9000 + id, Rack: ptr("r")}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 8 {
		name := fmt.Sprintf("t%d", i)
		mustCreate(t, c, CreateTopic{Name: name, NumPartitions: int32(i%3 + 1), ReplicationFactor: int16(i%3 + 1),
			Configs: map[string]string{"retention.ms": fmt.Sprint(i * 1000)}})
		if i%2 == 0 {
			if _, err := c.CreatePartitions(name, 5, nil, false); err != nil {
				t.Fatal(err)
			}
		}
		if i%3 == 0 {
			if err := c.AlterTopicConfigs(name, []ConfigOp{{Name: "retention.ms", Op: OpDelete}, {Name: "cleanup.policy", Op: OpAppend, Value: ptr("compact")}}, true, false); err != nil {
				t.Fatal(err)
			}
		}
		if i%4 == 1 {
			if _, err := c.DeleteTopic(name); err != nil {
				t.Fatal(err)
			}
		}
	}

	replayed := replayLog(t, &Snapshot{ControllerID: c.Snapshot().ControllerID}, log)
	snapshotsEqual(t, replayed, c.Snapshot())
}

// replayLog applies the JSON record batches of log to from, in order.
func replayLog(t *testing.T, from *Snapshot, log [][]byte) *Snapshot {
	t.Helper()
	s := from
	for _, raw := range log {
		var recs []record
		if err := json.Unmarshal(raw, &recs); err != nil {
			t.Fatal(err)
		}
		b := newBuilder(s)
		for i := range recs {
			if err := b.apply(&recs[i]); err != nil {
				t.Fatal(err)
			}
		}
		s = b.snapshot()
	}
	return s
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func snapshotsEqual(t *testing.T, got, want *Snapshot) {
	t.Helper()
	if got.Version != want.Version || got.ClusterID != want.ClusterID || got.ControllerID != want.ControllerID {
		t.Fatalf("header: got %d/%s/%d want %d/%s/%d", got.Version, got.ClusterID, got.ControllerID, want.Version, want.ClusterID, want.ControllerID)
	}
	if !slices.EqualFunc(got.Brokers, want.Brokers, brokerEqual) {
		t.Fatalf("brokers %+v != %+v", got.Brokers, want.Brokers)
	}
	if !slices.Equal(got.TopicNames(), want.TopicNames()) {
		t.Fatalf("topics %v != %v", got.TopicNames(), want.TopicNames())
	}
	checkTopicInvariants(t, got)
	for name, wt := range want.Topics {
		gt := got.Topic(name)
		if gt.ID != wt.ID || gt.Internal != wt.Internal || !maps.Equal(gt.Configs, wt.Configs) ||
			!slices.EqualFunc(gt.Partitions, wt.Partitions, partitionEqual) {
			t.Fatalf("topic %s: %+v != %+v", name, gt, wt)
		}
	}
}

func TestTopicConfigValue(t *testing.T) {
	t.Parallel()
	tp := &Topic{Configs: map[string]string{"retention.ms": "5"}}
	for _, tc := range []struct {
		key             string
		v               string
		explicit, known bool
	}{
		{"retention.ms", "5", true, true},
		{"segment.bytes", "1073741824", false, true},
		{"nope", "", false, false},
	} {
		v, explicit, known := tp.ConfigValue(tc.key)
		if v != tc.v || explicit != tc.explicit || known != tc.known {
			t.Errorf("%s: got %q %v %v", tc.key, v, explicit, known)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"a", "a.b", "..", "", "retention.ms", "-1", "compact,delete", "0:1,*", " 1 ", "1e3", "NaN"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		_ = ValidateTopicName(name)
		for _, d := range TopicConfigDefs() {
			_ = d.Validate(value)
		}
		_ = ValidateTopicConfigs(map[string]string{name: value})
	})
}
