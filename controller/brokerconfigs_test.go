package controller

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// setOps returns a compute function that sets (value non-nil) or deletes
// (nil) the given keys.
func setOps(kv map[string]*string) func(map[string]string) (map[string]string, error) {
	return func(cur map[string]string) (map[string]string, error) {
		if cur == nil {
			cur = map[string]string{}
		}
		for k, v := range kv {
			if v == nil {
				delete(cur, k)
			} else {
				cur[k] = *v
			}
		}
		return cur, nil
	}
}

// TestAlterBrokerConfigs walks sets and deletes for one broker and the
// default, validate-only and refused changes; each step's state, its
// replay from the records, and the state after a reopen.
func TestAlterBrokerConfigs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openTest(t, dir)
	var log [][]byte
	c.onApply = func(recs []record) { log = append(log, mustJSON(t, recs)) }
	errRefused := errors.New("refused")
	for _, tc := range []struct {
		name         string
		broker       int32
		compute      func(map[string]string) (map[string]string, error)
		validateOnly bool
		wantErr      error
		want         map[int32]map[string]string
	}{
		{name: "set default", broker: DefaultBrokerConfigs, compute: setOps(map[string]*string{"log.retention.ms": ptr("1000")}),
			want: map[int32]map[string]string{-1: {"log.retention.ms": "1000"}}},
		{name: "set broker 2", broker: 2, compute: setOps(map[string]*string{"max.connections": ptr("7"), "log.retention.ms": ptr("5")}),
			want: map[int32]map[string]string{-1: {"log.retention.ms": "1000"}, 2: {"max.connections": "7", "log.retention.ms": "5"}}},
		{name: "validate only", broker: 2, compute: setOps(map[string]*string{"max.connections": ptr("9")}), validateOnly: true,
			want: map[int32]map[string]string{-1: {"log.retention.ms": "1000"}, 2: {"max.connections": "7", "log.retention.ms": "5"}}},
		{name: "refused", broker: 2, wantErr: errRefused,
			compute: func(map[string]string) (map[string]string, error) { return nil, errRefused },
			want:    map[int32]map[string]string{-1: {"log.retention.ms": "1000"}, 2: {"max.connections": "7", "log.retention.ms": "5"}}},
		{name: "bad broker id", broker: -2, wantErr: ErrInvalidRequest, compute: setOps(nil),
			want: map[int32]map[string]string{-1: {"log.retention.ms": "1000"}, 2: {"max.connections": "7", "log.retention.ms": "5"}}},
		{name: "delete one", broker: 2, compute: setOps(map[string]*string{"log.retention.ms": nil}),
			want: map[int32]map[string]string{-1: {"log.retention.ms": "1000"}, 2: {"max.connections": "7"}}},
		{name: "replace the default set", broker: DefaultBrokerConfigs,
			compute: func(map[string]string) (map[string]string, error) {
				return map[string]string{"log.segment.bytes": "2097152"}, nil
			},
			want: map[int32]map[string]string{-1: {"log.segment.bytes": "2097152"}, 2: {"max.connections": "7"}}},
		{name: "replace it back", broker: DefaultBrokerConfigs,
			compute: func(map[string]string) (map[string]string, error) {
				return map[string]string{"log.retention.ms": "1000"}, nil
			},
			want: map[int32]map[string]string{-1: {"log.retention.ms": "1000"}, 2: {"max.connections": "7"}}},
		{name: "delete last of default", broker: DefaultBrokerConfigs, compute: setOps(map[string]*string{"log.retention.ms": nil}),
			want: map[int32]map[string]string{2: {"max.connections": "7"}}},
	} {
		before := c.Snapshot()
		err := c.AlterBrokerConfigs(tc.broker, tc.compute, tc.validateOnly)
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: err %v, want %v", tc.name, err, tc.wantErr)
		}
		s := c.Snapshot()
		if !brokerConfigsEqual(s, tc.want) {
			t.Fatalf("%s: configs %v, want %v", tc.name, s.brokerConfigs, tc.want)
		}
		if changed := s.BrokerConfigsVersion() != before.BrokerConfigsVersion(); changed != (err == nil && !tc.validateOnly) {
			t.Fatalf("%s: version changed %v", tc.name, changed)
		}
		if !brokerConfigsEqual(before, snapshotConfigs(before)) {
			t.Fatalf("%s: the old snapshot changed", tc.name)
		}
	}
	want := snapshotConfigs(c.Snapshot())
	replayed := &Snapshot{}
	for _, raw := range log {
		var recs []record
		if err := json.Unmarshal(raw, &recs); err != nil {
			t.Fatal(err)
		}
		b := newBuilder(replayed)
		for i := range recs {
			if err := b.apply(&recs[i]); err != nil {
				t.Fatal(err)
			}
		}
		replayed = b.snapshot()
	}
	if !brokerConfigsEqual(replayed, want) {
		t.Fatalf("replayed %v, want %v", replayed.brokerConfigs, want)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Config{MetadataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	if !brokerConfigsEqual(c2.Snapshot(), want) {
		t.Fatalf("reopened %v, want %v", c2.Snapshot().brokerConfigs, want)
	}
}

// snapshotConfigs deep-copies s's dynamic broker configs.
func snapshotConfigs(s *Snapshot) map[int32]map[string]string {
	out := map[int32]map[string]string{}
	for id, m := range s.brokerConfigs {
		out[id] = maps.Clone(m)
	}
	return out
}

func brokerConfigsEqual(s *Snapshot, want map[int32]map[string]string) bool {
	if len(s.brokerConfigs) != len(want) {
		return false
	}
	for id, m := range want {
		if !maps.Equal(s.BrokerConfigs(id), m) {
			return false
		}
	}
	return true
}

// TestRaftBrokerConfigs: dynamic broker configs replicate and survive a
// Raft snapshot restore on a node that lost meta.db.
func TestRaftBrokerConfigs(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, func(cfg *Config) { cfg.TrailingLogs = 2 })
	li := cl.leader()
	fi := (li + 1) % 3
	if err := cl.nodes[fi].AlterBrokerConfigs(DefaultBrokerConfigs, setOps(nil), false); !errors.Is(err, ErrNotController) {
		t.Fatalf("follower alter: %v, want ErrNotController", err)
	}
	// On the leader, retried while leadership moves (the sets are idempotent).
	alter := func(broker int32, kv map[string]*string) {
		t.Helper()
		var err error
		waitFor(t, "alter on the leader", func() bool {
			err = cl.nodes[cl.leader()].AlterBrokerConfigs(broker, setOps(kv), false)
			return !errors.Is(err, ErrNotController)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	alter(DefaultBrokerConfigs, map[string]*string{"log.retention.ms": ptr("60000")})
	for _, c := range cl.nodes {
		snapshotNow(t, c)
	}
	alter(1, map[string]*string{"max.connections": ptr("3")})
	fi = (cl.leader() + 1) % 3
	cl.stop(fi)
	if err := os.Remove(filepath.Join(cl.cfgs[fi].MetadataDir, "meta.db")); err != nil {
		t.Fatal(err)
	}
	cl.start(fi)
	cl.converged("broker configs after restore", func(s *Snapshot) bool {
		return brokerConfigsEqual(s, map[int32]map[string]string{-1: {"log.retention.ms": "60000"}, 1: {"max.connections": "3"}})
	})
}
