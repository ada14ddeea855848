package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// TestFeaturesAcrossBrokers: UpdateFeatures sent to a broker that is not
// the controller is forwarded; once acknowledged that broker's ApiVersions
// shows the new levels at once (read-your-writes), and every other
// broker's ApiVersions soon shows the same levels and epoch. A refused
// update changes nothing anywhere.
func TestFeaturesAcrossBrokers(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	c.WaitReady()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := func(i int) *kgo.Broker {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Broker(i).Addr()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl.SeedBrokers()[0]
	}
	conns := make([]*kgo.Broker, c.Len())
	for i := range conns {
		conns[i] = conn(i)
	}
	md, err := conns[0].Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		t.Fatal(err)
	}
	ctrlID := md.(*kmsg.MetadataResponse).ControllerID
	via := -1
	for i := range c.Len() {
		if c.Broker(i).ID() != ctrlID {
			via = i
			break
		}
	}
	features := func(i int) string {
		t.Helper()
		resp, err := conns[i].Request(ctx, kmsg.NewPtrApiVersionsRequest())
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.ApiVersionsResponse)
		s := fmt.Sprintf("epoch %d:", r.FinalizedFeaturesEpoch)
		for _, f := range r.FinalizedFeatures {
			s += fmt.Sprintf(" %s=%d", f.Name, f.MaxVersionLevel)
		}
		return s
	}
	update := func(name string, level int16) *kmsg.UpdateFeaturesResponse {
		t.Helper()
		req := kmsg.NewPtrUpdateFeaturesRequest()
		u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
		u.Feature, u.MaxVersionLevel, u.UpgradeType = name, level, 1
		req.FeatureUpdates = append(req.FeatureUpdates, u)
		resp, err := conns[via].Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.UpdateFeaturesResponse)
	}
	const before = "epoch 0: group.version=1 metadata.version=25"
	for i := range c.Len() {
		if got := features(i); got != before {
			t.Fatalf("broker %d before: %q", c.Broker(i).ID(), got)
		}
	}
	if r := update("no.such.feature", 1); r.ErrorCode == 0 {
		t.Fatal("unknown feature accepted")
	}
	if r := update("eligible.leader.replicas.version", 1); r.ErrorCode != 0 || (r.Version <= 1) != (len(r.Results) == 1) {
		t.Fatalf("update via broker %d: error %d results %+v", c.Broker(via).ID(), r.ErrorCode, r.Results)
	}
	const after = "epoch 1: eligible.leader.replicas.version=1 group.version=1 metadata.version=25"
	if got := features(via); got != after {
		t.Fatalf("broker %d right after its update: %q, want %q", c.Broker(via).ID(), got, after)
	}
	for i := range c.Len() {
		c.WaitFor(fmt.Sprintf("broker %d to show %q", c.Broker(i).ID(), after), 20*time.Second, func() bool { return features(i) == after })
	}
}
