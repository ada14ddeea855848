package controller

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func userEntity(name string) QuotaEntity {
	return QuotaEntity{User: QuotaName{Set: true, Name: name}}
}

// TestAlterClientQuotas walks the validation rules and the state after
// each alteration, then checks the state survives a reopen.
func TestAlterClientQuotas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openTest(t, dir)
	alice := userEntity("alice")
	aliceApp := QuotaEntity{User: QuotaName{Set: true, Name: "alice"}, ClientID: QuotaName{Set: true, Name: "app"}}
	defUser := QuotaEntity{User: QuotaName{Set: true, Default: true}}
	ip := QuotaEntity{IP: QuotaName{Set: true, Name: "10.0.0.1"}}
	for _, tc := range []struct {
		name     string
		alts     []QuotaAlteration
		validate bool
		wantMsg  []string // per alteration: "" for success, else a substring
		want     map[QuotaEntity]map[string]float64
	}{
		{name: "set", alts: []QuotaAlteration{
			{Entity: alice, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 1024}, {Key: QuotaRequestPercentage, Value: 12.5}}},
			{Entity: aliceApp, Ops: []QuotaOp{{Key: QuotaConsumerByteRate, Value: 2048}}},
			{Entity: defUser, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 100}}},
			{Entity: ip, Ops: []QuotaOp{{Key: QuotaConnectionCreationRate, Value: 5}}},
		}, wantMsg: []string{"", "", "", ""}, want: map[QuotaEntity]map[string]float64{
			alice:    {QuotaProducerByteRate: 1024, QuotaRequestPercentage: 12.5},
			aliceApp: {QuotaConsumerByteRate: 2048},
			defUser:  {QuotaProducerByteRate: 100},
			ip:       {QuotaConnectionCreationRate: 5},
		}},
		{name: "invalid ones change nothing", alts: []QuotaAlteration{
			{Entity: QuotaEntity{}, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 1}}},
			{Entity: alice, Ops: []QuotaOp{{Key: "bogus", Value: 1}}},
			{Entity: alice, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 1.5}}},
			{Entity: alice, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: -1}}},
			{Entity: ip, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 1}}},
			{Entity: alice, Ops: []QuotaOp{{Key: QuotaConnectionCreationRate, Value: 1}}},
			{Entity: QuotaEntity{IP: QuotaName{Set: true, Name: "not an ip"}}, Ops: []QuotaOp{{Key: QuotaConnectionCreationRate, Value: 1}}},
			{Entity: QuotaEntity{User: QuotaName{Set: true, Name: "x"}, IP: QuotaName{Set: true, Default: true}}, Ops: []QuotaOp{{Key: QuotaConnectionCreationRate, Value: 1}}},
			{Entity: alice, Ops: []QuotaOp{{Key: QuotaRequestPercentage, Value: 1}, {Key: QuotaRequestPercentage, Remove: true}}},
		}, wantMsg: []string{"empty", "Invalid configuration key bogus", "must be a Long", "Invalid value", "Invalid configuration key", "Invalid configuration key", "resolve", "combination", "Duplicate"}},
		{name: "validate only", validate: true, alts: []QuotaAlteration{
			{Entity: alice, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Remove: true}}},
		}, wantMsg: []string{""}},
		{name: "remove and duplicate entity", alts: []QuotaAlteration{
			{Entity: alice, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Remove: true}, {Key: QuotaControllerMutationRate, Value: 3}}},
			{Entity: aliceApp, Ops: []QuotaOp{{Key: QuotaConsumerByteRate, Remove: true}}},
			{Entity: aliceApp, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 9}}},
			{Entity: userEntity("nobody"), Ops: []QuotaOp{{Key: QuotaProducerByteRate, Remove: true}}},
		}, wantMsg: []string{"", "", "Duplicate", ""}, want: map[QuotaEntity]map[string]float64{
			alice:   {QuotaRequestPercentage: 12.5, QuotaControllerMutationRate: 3},
			defUser: {QuotaProducerByteRate: 100},
			ip:      {QuotaConnectionCreationRate: 5},
		}},
	} {
		before := c.Snapshot().ClientQuotas()
		errs, err := c.AlterClientQuotas(tc.alts, tc.validate)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for i, e := range errs {
			switch {
			case tc.wantMsg[i] == "" && e != nil:
				t.Fatalf("%s: alteration %d: %v", tc.name, i, e)
			case tc.wantMsg[i] != "" && (!errors.Is(e, ErrInvalidRequest) || !strings.Contains(e.Error(), tc.wantMsg[i])):
				t.Fatalf("%s: alteration %d: %v, want INVALID_REQUEST %q", tc.name, i, e, tc.wantMsg[i])
			}
		}
		want := tc.want
		if want == nil {
			want = before
		}
		if got := c.Snapshot().ClientQuotas(); !quotasEqual(got, want) {
			t.Fatalf("%s: state %v, want %v", tc.name, got, want)
		}
	}
	want := c.Snapshot().ClientQuotas()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Config{MetadataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	if got := c2.Snapshot().ClientQuotas(); !quotasEqual(got, want) {
		t.Fatalf("after reopen %v, want %v", got, want)
	}
}

func quotasEqual(a, b map[QuotaEntity]map[string]float64) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]float64) bool { return maps.Equal(x, y) })
}

// TestRaftClientQuotas: quotas replicate and survive a Raft snapshot
// restore on a node that lost meta.db; followers refuse to alter.
func TestRaftClientQuotas(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, func(cfg *Config) { cfg.TrailingLogs = 2 })
	li := cl.leader()
	fi := (li + 1) % 3
	set := func(e QuotaEntity, v float64) []QuotaAlteration {
		return []QuotaAlteration{{Entity: e, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: v}}}}
	}
	if _, err := cl.nodes[fi].AlterClientQuotas(set(userEntity("a"), 1), false); !errors.Is(err, ErrNotController) {
		t.Fatalf("follower alter: %v, want ErrNotController", err)
	}
	if _, err := cl.nodes[li].AlterClientQuotas(set(userEntity("a"), 1), false); err != nil {
		t.Fatal(err)
	}
	for _, c := range cl.nodes {
		snapshotNow(t, c)
	}
	if _, err := cl.nodes[li].AlterClientQuotas(set(userEntity("b"), 2), false); err != nil {
		t.Fatal(err)
	}
	cl.stop(fi)
	if err := os.Remove(filepath.Join(cl.cfgs[fi].MetadataDir, "meta.db")); err != nil {
		t.Fatal(err)
	}
	cl.start(fi)
	cl.converged("quotas after restore", func(s *Snapshot) bool {
		a, okA := s.ClientQuota(userEntity("a"), QuotaProducerByteRate)
		b, okB := s.ClientQuota(userEntity("b"), QuotaProducerByteRate)
		return okA && okB && a == 1 && b == 2
	})
}
