package sarama

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"gregor/compat-tests/internal/compat"
)

// TestUpdateFeatures follows sarama's own TestFuncAdminUpdateFeatures
// (functional_admin_test.go) step by step, with the protocol at 4.0 as
// that test runs it: an update of a made-up feature fails the batch with
// INVALID_UPDATE_VERSION; the controller's ApiVersions v4 lists supported
// features; every feature below its supported max (kraft.version aside)
// is upgraded one batch each with one NONE result; the finalized levels
// then reach the upgraded ones. Beyond sarama's test, the levels are put
// back with v0 allow_downgrade and read back, so a rerun upgrades again.
func TestUpdateFeatures(t *testing.T) {
	run(t, "admin_update_features", func(t *compat.T) {
		c := config()
		c.Version = sarama.V4_0_0_0
		adm, err := sarama.NewClusterAdmin([]string{compat.Bootstrap()}, c)
		t.Check(err, "new cluster admin")
		t.Cleanup(func() { _ = adm.Close() })

		_, err = adm.UpdateFeatures([]sarama.FeatureUpdate{{Feature: "sarama.unsupported.feature", MaxVersionLevel: 1}})
		if !errors.Is(err, sarama.ErrInvalidUpdateVersion) {
			t.Fatalf("unknown feature: %v, want INVALID_UPDATE_VERSION", err)
		}
		ctrl, err := adm.Controller()
		t.Check(err, "controller")
		describe := func() (supported, finalized map[string]int16, err error) {
			rsp, err := ctrl.ApiVersions(&sarama.ApiVersionsRequest{Version: 4, ClientSoftwareName: "sarama", ClientSoftwareVersion: "compat"})
			if err != nil {
				return nil, nil, err
			}
			supported, finalized = map[string]int16{}, map[string]int16{}
			for _, f := range rsp.SupportedFeatures {
				supported[f.Name] = f.MaxVersion
			}
			for _, f := range rsp.FinalizedFeatures {
				finalized[f.Name] = f.MaxVersionLevel
			}
			return supported, finalized, nil
		}
		supported, initial, err := describe()
		t.Check(err, "api versions v4")
		if len(supported) == 0 {
			t.Fatalf("no supported features")
		}
		upgraded := map[string]int16{}
		for _, name := range slices.Sorted(maps.Keys(supported)) {
			maxV := supported[name]
			if name == "kraft.version" || initial[name] >= maxV {
				continue
			}
			res, err := adm.UpdateFeatures([]sarama.FeatureUpdate{{Feature: name, MaxVersionLevel: maxV}})
			t.Check(err, fmt.Sprintf("upgrade %s to %d", name, maxV))
			if len(res) != 1 || res[0].Feature != name || !errors.Is(res[0].ErrorCode, sarama.ErrNoError) {
				t.Fatalf("upgrade %s: results %+v", name, res)
			}
			upgraded[name] = maxV
		}
		if len(upgraded) == 0 {
			t.Skipf("no features eligible for upgrade (finalized %v): the broker was upgraded before", initial)
		}
		waitLevels := func(what string, want func(finalized map[string]int16) bool) map[string]int16 {
			var last map[string]int16
			deadline := time.Now().Add(30 * time.Second)
			for {
				_, fin, err := describe()
				t.Check(err, "api versions v4")
				if last = fin; want(fin) {
					return last
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: finalized %v", what, last)
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
		waitLevels("finalized feature levels did not reach the requested levels", func(fin map[string]int16) bool {
			for name, level := range upgraded {
				if fin[name] != level {
					return false
				}
			}
			return true
		})

		// Put the levels back: a v0 request with allow_downgrade.
		var back []sarama.FeatureUpdate
		for _, name := range slices.Sorted(maps.Keys(upgraded)) {
			back = append(back, sarama.FeatureUpdate{Feature: name, MaxVersionLevel: initial[name], AllowDowngrade: true})
		}
		res, err := adm.UpdateFeatures(back)
		t.Check(err, "downgrade back")
		if len(res) != len(back) {
			t.Fatalf("downgrade back: results %+v", res)
		}
		waitLevels("levels after the downgrade", func(fin map[string]int16) bool { return maps.Equal(fin, initial) })
		t.Detail("unknown feature refused; upgraded %v from %v; put back with allow_downgrade", upgraded, initial)
	})
}
