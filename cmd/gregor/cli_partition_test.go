package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gregor/gregortest"
)

func TestParseMoveArg(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		cancel bool
		want   moveTarget
		bad    bool
	}{
		{in: "a.b-c:3=2,3", want: moveTarget{Topic: "a.b-c", Partition: 3, Replicas: []int32{2, 3}}},
		{in: "t:0=1", want: moveTarget{Topic: "t", Partition: 0, Replicas: []int32{1}}},
		{in: "t:0", cancel: true, want: moveTarget{Topic: "t", Partition: 0}},
		{in: "t:0=1", cancel: true, bad: true},
		{in: "t:0", bad: true},
		{in: "t:0=", bad: true},
		{in: "t=1,2", bad: true},
		{in: ":0=1", bad: true},
		{in: "t:x=1", bad: true},
		{in: "t:-1=1", bad: true},
		{in: "t:0=1,b", bad: true},
	} {
		got, err := parseMoveArg(tc.in, tc.cancel)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil || got.Topic != tc.want.Topic || got.Partition != tc.want.Partition || !slices.Equal(got.Replicas, tc.want.Replicas) {
			t.Errorf("%q: %+v %v, want %+v", tc.in, got, err, tc.want)
		}
	}
}

// TestCLIPartitionMove: `partition move` follows a move to the end
// (from a JSON file in kafka-reassign-partitions.sh's format, and from
// arguments); `partition reassignments` lists a move onto a stopped
// broker, `--cancel` reverts it, and a second cancel fails with
// NO_REASSIGNMENT_IN_PROGRESS.
func TestCLIPartitionMove(t *testing.T) {
	gregorOnly(t)
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	b := strings.Join(c.Seeds(), ",")
	mustCLI(t, b, "", "topic", "create", "pm", "-p", "2", "-r", "1")
	waitFor(t, "produce to the new topic", 30*time.Second, func() bool {
		_, _, code := runCLI(t, b, lines(20, "a"), "produce", "pm", "-p", "0")
		return code == 0
	})

	file := filepath.Join(t.TempDir(), "move.json")
	if err := os.WriteFile(file, []byte(`{"version":1,"partitions":[{"topic":"pm","partition":0,"replicas":[1,2,3]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, b, "", "partition", "move", "--file", file, "--throttle", "50000000")
	if !strings.Contains(out, "throttling replication at 50000000 bytes/s on brokers [") || !strings.Contains(out, "\nmoving pm:0\n") ||
		!strings.Contains(out, "pm:0  done: replicas [1,2,3]") || !strings.HasSuffix(out, "replication throttle removed\n") {
		t.Fatalf("move from file:\n%s", out)
	}
	if out := mustCLI(t, b, "", "topic", "describe", "pm"); strings.Contains(out, "throttled") {
		t.Fatalf("throttle left on the topic:\n%s", out)
	}
	var res []moveOut
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "partition", "move", "pm:0=3,2")), &res); err != nil ||
		len(res) != 1 || !res[0].Done || !slices.Equal(res[0].Replicas, []int32{3, 2}) || res[0].Error != "" {
		t.Fatalf("move json: %v %+v", err, res)
	}
	if out := mustCLI(t, b, "", "partition", "reassignments"); out != "no reassignments in progress\n" {
		t.Fatalf("reassignments when idle:\n%s", out)
	}

	mustCLI(t, b, "", "partition", "move", "pm:1=2") // a known start for the move below
	c.Stop(2)                                        // broker 3: a move onto it cannot finish
	var code int
	var errs string
	b = strings.Join(c.Seeds(), ",")
	// Broker 3 may have been the active controller: wait for the next.
	waitFor(t, "a move while broker 3 is down", 30*time.Second, func() bool {
		out, _, code = runCLI(t, b, "", "partition", "move", "--no-wait", "pm:1=1,3")
		return code == 0
	})
	if out != "moving pm:1\n" {
		t.Fatalf("move --no-wait:\n%s", out)
	}
	var list []moveOut
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "partition", "reassignments", "pm")), &list); err != nil ||
		len(list) != 1 || list[0].Partition != 1 || !slices.Equal(list[0].Adding, []int32{1, 3}) || !slices.Equal(list[0].Removing, []int32{2}) {
		t.Fatalf("reassignments json: %v %+v", err, list)
	}
	if out := mustCLI(t, b, "", "partition", "reassignments"); !strings.Contains(out, "\npm     1          [1,3,2]   [1,3]   [2]\n") {
		t.Fatalf("reassignments:\n%s", out)
	}
	if out := mustCLI(t, b, "", "partition", "move", "--cancel", "pm:1"); out != "cancelled the move of pm:1\n" {
		t.Fatalf("cancel:\n%s", out)
	}
	waitFor(t, "the move cancelled", 10*time.Second, func() bool {
		out, _, code := runCLI(t, b, "", "partition", "reassignments")
		return code == 0 && out == "no reassignments in progress\n"
	})
	_, errs, code = runCLI(t, b, "", "partition", "move", "--cancel", "pm:1")
	if code != 1 || !strings.Contains(errs, "NO_REASSIGNMENT_IN_PROGRESS") {
		t.Fatalf("second cancel: exit %d, stderr %q", code, errs)
	}
	_, errs, code = runCLI(t, b, "", "partition", "move", "pm:1=1,1")
	if code != 1 || !strings.Contains(errs, "INVALID_REPLICA_ASSIGNMENT") {
		t.Fatalf("duplicate brokers: exit %d, stderr %q", code, errs)
	}
	if _, _, code := runCLI(t, b, "", "partition", "move", "pm:1"); code != 2 {
		t.Fatalf("move without brokers: exit %d, want a usage error", code)
	}
}
