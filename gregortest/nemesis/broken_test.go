//go:build nemesis_broken

package nemesis_test

import (
	"testing"
	"time"

	"gregor/gregortest/nemesis"
)

// TestNemesisCatchesBrokenAcks runs against the deliberately broken broker
// of the nemesis_broken build tag (broker/nemesis_broken_on.go: acks=all
// acknowledged once the leader alone has the records). The leader of
// partition 0 is isolated past the session timeout and killed: the
// checker must report acknowledged records lost.
//
//	go test -tags nemesis_broken -run TestNemesisCatchesBrokenAcks ./gregortest/nemesis
func TestNemesisCatchesBrokenAcks(t *testing.T) {
	res := nemesis.Run(t, nemesis.Config{Seed: 1, Partitions: 2, Producers: 2, Consumers: 1, Rate: 40, Script: []nemesis.Fault{
		{Kind: nemesis.IsolateLeader, Pick: 0, Quiet: time.Second, Hold: 8 * time.Second},
		{Kind: nemesis.KillLeader, Pick: 1, Quiet: time.Second, Hold: 3 * time.Second},
	}})
	t.Logf("\n%s", res.Summary())
	lost := 0
	for _, a := range res.Report.Anomalies {
		if a.Kind == "lost" {
			lost++
		}
	}
	if lost == 0 {
		t.Fatalf("the checker found no lost record in a broker that acknowledges before replication: %v", res.Report.Anomalies)
	}
	t.Logf("the checker caught %d lost records; the first:\n%s", lost, res.Explain(1))
}
