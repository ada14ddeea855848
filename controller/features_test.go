package controller

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func up(name string, level int16) FeatureUpdate {
	return FeatureUpdate{Name: name, Level: level, Type: UpgradeTypeUpgrade}
}

// TestUpdateFeaturesRules: each update Kafka's FeatureControlManager
// refuses is INVALID_UPDATE_VERSION with Kafka's message, fails the whole
// request and changes nothing; the allowed ones apply.
func TestUpdateFeaturesRules(t *testing.T) {
	t.Parallel()
	safe := func(name string, level int16) FeatureUpdate {
		return FeatureUpdate{Name: name, Level: level, Type: UpgradeTypeSafeDowngrade}
	}
	for _, tc := range []struct {
		name    string
		setup   []FeatureUpdate // applied first (must succeed)
		updates []FeatureUpdate
		want    error
		sub     string
	}{
		{name: "unknown feature", updates: []FeatureUpdate{up("sarama.unsupported.feature", 1)},
			want: ErrInvalidUpdateVersion, sub: "Invalid update version 1 for feature sarama.unsupported.feature. Local controller 0 does not support this feature."},
		{name: "unknown feature at 0", updates: []FeatureUpdate{up("nope", 0)},
			want: ErrInvalidUpdateVersion, sub: "Feature nope not found."},
		{name: "negative level", updates: []FeatureUpdate{up(FeatureGroupVersion, -1)},
			want: ErrInvalidUpdateVersion, sub: "A feature version cannot be less than 0."},
		{name: "above range", updates: []FeatureUpdate{up(FeatureELRVersion, 2)},
			want: ErrInvalidUpdateVersion, sub: "Local controller 0 only supports versions 0-1"},
		{name: "transaction.version 2 (KIP-890 part 2 not served)", updates: []FeatureUpdate{up(FeatureTransactionVersion, 2)},
			want: ErrInvalidUpdateVersion, sub: "Invalid update version 2 for feature transaction.version. Local controller 0 only supports versions 0-1"},
		{name: "metadata.version below range", updates: []FeatureUpdate{safe(FeatureMetadataVersion, 6)},
			want: ErrInvalidUpdateVersion, sub: "only supports versions 7-25"},
		{name: "unknown upgrade type", updates: []FeatureUpdate{{Name: FeatureGroupVersion, Level: 1, Type: 0}},
			want: ErrInvalidUpdateVersion, sub: "The controller does not support the given upgrade type."},
		{name: "upgrade type 4", updates: []FeatureUpdate{{Name: FeatureGroupVersion, Level: 1, Type: 4}},
			want: ErrInvalidUpdateVersion, sub: "upgrade type"},
		{name: "downgrade as upgrade", updates: []FeatureUpdate{up(FeatureGroupVersion, 0)},
			want: ErrInvalidUpdateVersion, sub: "Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade."},
		{name: "upgrade as downgrade", updates: []FeatureUpdate{safe(FeatureTransactionVersion, 1)},
			want: ErrInvalidUpdateVersion, sub: "Can't downgrade to a newer version."},
		{name: "metadata downgrade that loses metadata", updates: []FeatureUpdate{safe(FeatureMetadataVersion, 22)},
			want: ErrInvalidUpdateVersion, sub: "Invalid metadata.version 22. Refusing to perform the requested downgrade because it might delete metadata information."},
		{name: "unsafe metadata downgrade", updates: []FeatureUpdate{{Name: FeatureMetadataVersion, Level: 22, Type: UpgradeTypeUnsafeDowngrade}},
			want: ErrInvalidUpdateVersion, sub: "Unsafe metadata downgrade is not supported in this version."},
		{name: "kraft.version on a static quorum", updates: []FeatureUpdate{up(FeatureKRaftVersion, 1)},
			want: ErrInvalidUpdateVersion, sub: "static voter set"},
		{name: "one bad update fails the batch", updates: []FeatureUpdate{up(FeatureTransactionVersion, 1), up("nope", 1)},
			want: ErrInvalidUpdateVersion, sub: "feature nope"},
		{name: "duplicate feature", updates: []FeatureUpdate{up(FeatureGroupVersion, 1), up(FeatureGroupVersion, 1)},
			want: ErrInvalidRequest, sub: "more than once"},
		{name: "safe metadata downgrade", updates: []FeatureUpdate{safe(FeatureMetadataVersion, 24)}},
		{name: "metadata upgrade back", setup: []FeatureUpdate{safe(FeatureMetadataVersion, 24)}, updates: []FeatureUpdate{up(FeatureMetadataVersion, 25)}},
		{name: "same level", updates: []FeatureUpdate{up(FeatureGroupVersion, 1), safe(FeatureMetadataVersion, 25)}},
		{name: "upgrades", updates: []FeatureUpdate{up(FeatureTransactionVersion, 1), up(FeatureELRVersion, 1)}},
		{name: "safe downgrade to 0", updates: []FeatureUpdate{safe(FeatureGroupVersion, 0)}},
		{name: "unsafe downgrade", setup: []FeatureUpdate{up(FeatureTransactionVersion, 1)},
			updates: []FeatureUpdate{{Name: FeatureTransactionVersion, Level: 0, Type: UpgradeTypeUnsafeDowngrade}}},
		{name: "kraft.version stays 0", updates: []FeatureUpdate{safe(FeatureKRaftVersion, 0)}},
		{name: "empty", updates: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := openTest(t, "")
			if err := c.UpdateFeatures(tc.setup, false); err != nil {
				t.Fatal(err)
			}
			before := c.Snapshot()
			// validate_only answers the same and never writes.
			err := c.UpdateFeatures(tc.updates, true)
			wantErr(t, err, tc.want, tc.sub)
			if c.Snapshot() != before {
				t.Fatal("validate only changed the snapshot")
			}
			err = c.UpdateFeatures(tc.updates, false)
			wantErr(t, err, tc.want, tc.sub)
			after := c.Snapshot()
			for _, r := range SupportedFeatures() {
				want := before.FeatureLevel(r.Name)
				if tc.want == nil {
					for _, u := range tc.updates {
						if u.Name == r.Name {
							want = u.Level
						}
					}
				}
				if got := after.FeatureLevel(r.Name); got != want {
					t.Fatalf("%s at %d, want %d", r.Name, got, want)
				}
			}
		})
	}
}

// TestFeaturesDefaultsEpochPersist: a new cluster has metadata.version 25
// and group.version 1 finalized at epoch 0; a batch that changes levels
// bumps the epoch once, one that changes none leaves it; levels and epoch
// survive a reopen and a replay of the records.
func TestFeaturesDefaultsEpochPersist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openTest(t, dir)
	var log [][]byte
	c.onApply = func(recs []record) { log = append(log, mustJSON(t, recs)) }
	s := c.Snapshot()
	want := []FinalizedFeature{{FeatureGroupVersion, 1}, {FeatureMetadataVersion, 25}}
	if got := s.FinalizedFeatures(); !slices.Equal(got, want) || s.FeaturesEpoch() != 0 {
		t.Fatalf("new cluster: %v epoch %d", got, s.FeaturesEpoch())
	}
	if err := c.UpdateFeatures([]FeatureUpdate{up(FeatureTransactionVersion, 1), up(FeatureELRVersion, 1)}, false); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateFeatures([]FeatureUpdate{up(FeatureTransactionVersion, 1)}, false); err != nil {
		t.Fatal(err)
	}
	if e := c.Snapshot().FeaturesEpoch(); e != 1 {
		t.Fatalf("epoch %d after one change and one no-op, want 1", e)
	}
	if err := c.UpdateFeatures([]FeatureUpdate{{Name: FeatureGroupVersion, Level: 0, Type: UpgradeTypeSafeDowngrade}}, false); err != nil {
		t.Fatal(err)
	}
	want = []FinalizedFeature{{FeatureELRVersion, 1}, {FeatureMetadataVersion, 25}, {FeatureTransactionVersion, 1}}
	check := func(what string, s *Snapshot) {
		t.Helper()
		if got := s.FinalizedFeatures(); !slices.Equal(got, want) || s.FeaturesEpoch() != 2 {
			t.Fatalf("%s: %v epoch %d, want %v epoch 2", what, got, s.FeaturesEpoch(), want)
		}
	}
	check("after updates", c.Snapshot())
	check("replayed", replayLog(t, &Snapshot{}, log))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Config{MetadataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	check("reopened", c2.Snapshot())
}

// TestFeatureRecordsRejected: a record for an unknown feature, a level
// outside the supported range or without a payload does not apply.
func TestFeatureRecordsRejected(t *testing.T) {
	t.Parallel()
	for _, r := range []record{
		{Type: recFeatureLevel},
		{Type: recFeatureLevel, Feature: &FeatureLevel{Name: "nope", Level: 1}},
		{Type: recFeatureLevel, Feature: &FeatureLevel{Name: FeatureMetadataVersion, Level: 26}},
		{Type: recFeatureLevel, Feature: &FeatureLevel{Name: FeatureGroupVersion, Level: -1}},
	} {
		if err := newBuilder(&Snapshot{}).apply(&r); err == nil {
			t.Fatalf("record %+v applied", r.Feature)
		}
	}
}

// TestRaftFeatures: an update replicates to every node, a follower
// refuses it, and a node that lost meta.db gets levels and epoch back from
// a Raft snapshot.
func TestRaftFeatures(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, func(cfg *Config) { cfg.TrailingLogs = 2 })
	li := cl.leader()
	fi := (li + 1) % 3
	if err := cl.nodes[fi].UpdateFeatures([]FeatureUpdate{up(FeatureELRVersion, 1)}, false); !errors.Is(err, ErrNotController) {
		t.Fatalf("follower update: %v, want ErrNotController", err)
	}
	if err := cl.nodes[li].UpdateFeatures([]FeatureUpdate{up(FeatureELRVersion, 1)}, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range cl.nodes {
		if err := c.raft.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.nodes[li].UpdateFeatures([]FeatureUpdate{up(FeatureTransactionVersion, 1)}, false); err != nil {
		t.Fatal(err)
	}
	cl.stop(fi)
	if err := os.Remove(filepath.Join(cl.cfgs[fi].MetadataDir, "meta.db")); err != nil {
		t.Fatal(err)
	}
	cl.start(fi)
	cl.converged("features after restore", func(s *Snapshot) bool {
		return s.FeatureLevel(FeatureELRVersion) == 1 && s.FeatureLevel(FeatureTransactionVersion) == 1 && s.FeaturesEpoch() == 2
	})
}
