package nemesis_test

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"gregor/gregortest/nemesis"
)

// TestNemesis is the randomized run behind make nemesis and make
// nemesis-long: NEMESIS_DURATION of faults (skipped when unset), seeded
// by SEED or at random; the seed is printed and reproduces the schedule.
// NEMESIS_HISTORY names a file for the whole history.
func TestNemesis(t *testing.T) {
	d := os.Getenv("NEMESIS_DURATION")
	if d == "" {
		t.Skip("NEMESIS_DURATION not set (make nemesis)")
	}
	dur, err := time.ParseDuration(d)
	if err != nil {
		t.Fatal(err)
	}
	seed := rand.Uint64()
	if s := os.Getenv("SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("SEED=%d", seed)
	res := nemesis.Run(t, nemesis.Config{Seed: seed, Duration: dur, HistoryFile: os.Getenv("NEMESIS_HISTORY")})
	t.Logf("\n%s", res.Summary())
	if len(res.Report.Anomalies) > 0 {
		t.Errorf("SEED=%d: %d anomalies\n%s", seed, len(res.Report.Anomalies), res.Explain(5))
	}
}

// TestNemesisScripted: three scripted faults, the leader of partition 0
// isolated, paused past the session timeout and then killed, under the
// full workload; no anomaly.
func TestNemesisScripted(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster under faults")
	}
	t.Parallel()
	res := nemesis.Run(t, nemesis.Config{Seed: 1, Partitions: 2, Producers: 2, Consumers: 1, Rate: 40, Script: []nemesis.Fault{
		{Kind: nemesis.IsolateLeader, Pick: 0, Quiet: time.Second, Hold: 3 * time.Second},
		{Kind: nemesis.Pause, Pick: 0, Quiet: time.Second, Hold: 6 * time.Second},
		{Kind: nemesis.KillLeader, Pick: 0, Quiet: time.Second, Hold: 2 * time.Second},
	}})
	t.Logf("\n%s", res.Summary())
	if res.Faults[nemesis.IsolateLeader] != 1 || res.Faults[nemesis.Pause] != 1 || res.Faults[nemesis.KillLeader] != 1 {
		t.Fatalf("faults injected: %v", res.Faults)
	}
	if res.Report.Acked == 0 || res.Report.Seen == 0 || res.Report.Commits == 0 {
		t.Fatalf("the workload did not run: %+v", res.Report)
	}
	if len(res.Report.Anomalies) > 0 {
		t.Fatalf("%d anomalies\n%s", len(res.Report.Anomalies), res.Explain(5))
	}
}

// TestNemesisScriptedLinks: the link, restart and clock faults in turn
// (latency both ways, a bandwidth limit, connection resets, a clock jump
// past the session timeout, a rolling restart) under the full workload;
// each is injected and no anomaly follows.
func TestNemesisScriptedLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster under faults")
	}
	t.Parallel()
	script := []nemesis.Fault{
		{Kind: nemesis.Latency, Pick: 2, Quiet: time.Second, Hold: 3 * time.Second},
		{Kind: nemesis.Bandwidth, Pick: 4, Quiet: time.Second, Hold: 3 * time.Second},
		{Kind: nemesis.DropConns, Pick: 0, Quiet: time.Second, Hold: 3 * time.Second},
		{Kind: nemesis.ClockJump, Pick: 1, Quiet: time.Second, Hold: 2 * time.Second},
		{Kind: nemesis.RollingRestart, Pick: 0, Quiet: time.Second, Hold: time.Second},
	}
	res := nemesis.Run(t, nemesis.Config{Seed: 1, Partitions: 2, Producers: 2, Consumers: 1, Rate: 40, Script: script})
	t.Logf("\n%s", res.Summary())
	for _, f := range script {
		if res.Faults[f.Kind] != 1 {
			t.Fatalf("faults injected: %v", res.Faults)
		}
	}
	if res.Report.Acked == 0 || res.Report.Seen == 0 || res.Report.Commits == 0 {
		t.Fatalf("the workload did not run: %+v", res.Report)
	}
	if len(res.Report.Anomalies) > 0 {
		t.Fatalf("%d anomalies\n%s", len(res.Report.Anomalies), res.Explain(5))
	}
}
