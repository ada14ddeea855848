package controller

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

func clientMetricsEqual(s *Snapshot, want map[string]map[string]string) bool {
	got := s.ClientMetrics()
	if len(got) != len(want) {
		return false
	}
	for name, m := range want {
		if !maps.Equal(got[name], m) {
			return false
		}
	}
	return true
}

// TestAlterClientMetrics: subscriptions are set, changed, refused,
// validated only and removed; each step's state, and the state after a
// reopen.
func TestAlterClientMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openTest(t, dir)
	errRefused := errors.New("refused")
	set := func(m map[string]string) func(map[string]string) (map[string]string, error) {
		return func(map[string]string) (map[string]string, error) { return m, nil }
	}
	for _, tc := range []struct {
		name         string
		sub          string
		compute      func(map[string]string) (map[string]string, error)
		validateOnly bool
		wantErr      error
		want         map[string]map[string]string
	}{
		{name: "create", sub: "all", compute: set(map[string]string{"metrics": "*", "interval.ms": "1000"}),
			want: map[string]map[string]string{"all": {"metrics": "*", "interval.ms": "1000"}}},
		{name: "second", sub: "prod", compute: setOps(map[string]*string{"metrics": ptr("org.apache.kafka.producer.")}),
			want: map[string]map[string]string{"all": {"metrics": "*", "interval.ms": "1000"}, "prod": {"metrics": "org.apache.kafka.producer."}}},
		{name: "validate only", sub: "all", compute: set(map[string]string{"metrics": "x"}), validateOnly: true,
			want: map[string]map[string]string{"all": {"metrics": "*", "interval.ms": "1000"}, "prod": {"metrics": "org.apache.kafka.producer."}}},
		{name: "refused", sub: "all", wantErr: errRefused,
			compute: func(map[string]string) (map[string]string, error) { return nil, errRefused },
			want:    map[string]map[string]string{"all": {"metrics": "*", "interval.ms": "1000"}, "prod": {"metrics": "org.apache.kafka.producer."}}},
		{name: "no name", sub: "", compute: set(map[string]string{"metrics": "*"}), wantErr: ErrInvalidRequest,
			want: map[string]map[string]string{"all": {"metrics": "*", "interval.ms": "1000"}, "prod": {"metrics": "org.apache.kafka.producer."}}},
		{name: "change one key", sub: "all", compute: setOps(map[string]*string{"interval.ms": ptr("500")}),
			want: map[string]map[string]string{"all": {"metrics": "*", "interval.ms": "500"}, "prod": {"metrics": "org.apache.kafka.producer."}}},
		{name: "remove", sub: "prod", compute: set(nil),
			want: map[string]map[string]string{"all": {"metrics": "*", "interval.ms": "500"}}},
	} {
		before := c.Snapshot()
		err := c.AlterClientMetrics(tc.sub, tc.compute, tc.validateOnly)
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: err %v, want %v", tc.name, err, tc.wantErr)
		}
		s := c.Snapshot()
		if !clientMetricsEqual(s, tc.want) {
			t.Fatalf("%s: subscriptions %v, want %v", tc.name, s.ClientMetrics(), tc.want)
		}
		if changed := s.ClientMetricsVersion() != before.ClientMetricsVersion(); changed != (err == nil && !tc.validateOnly) {
			t.Fatalf("%s: version changed %v", tc.name, changed)
		}
	}
	want := c.Snapshot().ClientMetrics()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Config{MetadataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	if !clientMetricsEqual(c2.Snapshot(), want) {
		t.Fatalf("reopened %v, want %v", c2.Snapshot().ClientMetrics(), want)
	}
}

// TestRaftClientMetrics: subscriptions replicate and survive a Raft
// snapshot restore on a node that lost meta.db.
func TestRaftClientMetrics(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, func(cfg *Config) { cfg.TrailingLogs = 2 })
	alter := func(name string, kv map[string]*string) {
		t.Helper()
		var err error
		waitFor(t, "alter on the leader", func() bool {
			err = cl.nodes[cl.leader()].AlterClientMetrics(name, setOps(kv), false)
			return !errors.Is(err, ErrNotController)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	alter("all", map[string]*string{"metrics": ptr("*")})
	for _, c := range cl.nodes {
		snapshotNow(t, c)
	}
	alter("cons", map[string]*string{"metrics": ptr("org.apache.kafka.consumer."), "interval.ms": ptr("2000")})
	fi := (cl.leader() + 1) % 3
	cl.stop(fi)
	if err := os.Remove(filepath.Join(cl.cfgs[fi].MetadataDir, "meta.db")); err != nil {
		t.Fatal(err)
	}
	cl.start(fi)
	cl.converged("client metrics after restore", func(s *Snapshot) bool {
		return clientMetricsEqual(s, map[string]map[string]string{"all": {"metrics": "*"}, "cons": {"metrics": "org.apache.kafka.consumer.", "interval.ms": "2000"}})
	})
}
