package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

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

// Kafka's documented reassignment JSON (kafka-reassign-partitions.sh
// --generate output with log_dirs; the older hand-written form without)
// and topics-to-move JSON.
const (
	kafkaProposal = `{"version":1,
 "partitions":
   [{"topic":"mytopic1","partition":0,"replicas":[4,5],"log_dirs":["any","any"]},
    {"topic":"mytopic1","partition":2,"replicas":[4,5],"log_dirs":["any","any"]},
    {"topic":"mytopic2","partition":1,"replicas":[1,2],"log_dirs":["/log/directory1","any"]}]
}`
	kafkaHandWritten = `{"version":1,"partitions":[{"topic":"foo1","partition":0,"replicas":[5,6]},{"topic":"foo2","partition":1,"replicas":[2,3]}]}`
	kafkaTopics      = `{"topics":  [{"topic": "mytopic1"},
             {"topic": "mytopic2"}],
 "version":1
}`
)

func TestReadKafkaFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := readMoveFile("--plan", write("p.json", kafkaProposal), false)
	if err != nil || len(got) != 3 || got[2].Topic != "mytopic2" || !slices.Equal(got[2].Replicas, []int32{1, 2}) ||
		!slices.Equal(got[2].LogDirs, []string{"/log/directory1", "any"}) {
		t.Fatalf("proposal: %+v %v", got, err)
	}
	if got, err := readMoveFile("--plan", write("h.json", kafkaHandWritten), false); err != nil || len(got) != 2 || got[1].Partition != 1 || got[1].LogDirs != nil {
		t.Fatalf("hand-written: %+v %v", got, err)
	}
	if topics, err := readTopicsFile(write("t.json", kafkaTopics)); err != nil || !slices.Equal(topics, []string{"mytopic1", "mytopic2"}) {
		t.Fatalf("topics: %v %v", topics, err)
	}
	for _, bad := range []string{
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}`,
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["relative/dir"]}]}`,
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}`,
		`{"version":2,"partitions":[]}`,
	} {
		if _, err := readMoveFile("--plan", write("bad.json", bad), false); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// assignment reads the replicas of topics' partitions with kadm.
func assignment(t *testing.T, c *gregortest.Cluster, topics ...string) map[tpKey][]int32 {
	t.Helper()
	cl := c.Client()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tds, err := kadm.NewClient(cl).ListTopics(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	m := map[tpKey][]int32{}
	for _, td := range tds {
		if td.Err != nil {
			t.Fatal(td.Err)
		}
		for _, pd := range td.Partitions {
			m[tpKey{Topic: td.Topic, Partition: pd.Partition}] = pd.Replicas
		}
	}
	return m
}

func planMap(f reassignmentFile) map[tpKey][]int32 {
	m := map[tpKey][]int32{}
	for _, p := range f.Partitions {
		m[tpKey{Topic: p.Topic, Partition: p.Partition}] = p.Replicas
	}
	return m
}

// TestCLIPartitionPlan grows two topics from brokers 1-3 onto a fourth:
// `partition plan` (topics-to-move file, every broker) proposes an even
// spread moving the fewest replicas, the JSON it prints runs through
// `partition move --plan` (throttled, not followed), `partition verify`
// exits 1 until every move is done, then 0 and removes the throttle;
// kadm shows the proposed assignment. Then Kafka's documented form with
// a log dir moves a replica into a broker's second log dir.
func TestCLIPartitionPlan(t *testing.T) {
	gregorOnly(t)
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(4), gregortest.LogDirs(2))
	b := strings.Join(c.Seeds(), ",")
	mustCLI(t, b, "", "topic", "create", "ga", "-p", "6", "-r", "2")
	mustCLI(t, b, "", "topic", "create", "gb", "-p", "3", "-r", "3")
	dir := t.TempDir()
	shrink := filepath.Join(dir, "shrink.json")
	waitFor(t, "the new topics in metadata", 30*time.Second, func() bool {
		_, _, code := runCLI(t, b, "", "partition", "plan", "--topics", "ga,gb", "--broker-list", "1,2,3", "--output", shrink)
		return code == 0
	})
	mustCLI(t, b, "", "partition", "move", "--plan", shrink)
	for k, rs := range assignment(t, c, "ga", "gb") {
		if slices.Contains(rs, 4) {
			t.Fatalf("%v on %v after moving off broker 4", k, rs)
		}
	}
	cl := c.Client()
	defer cl.Close()
	for p := range int32(6) {
		for i := range 20 {
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "ga", Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	topicsFile := filepath.Join(dir, "topics.json")
	if err := os.WriteFile(topicsFile, []byte(`{"topics": [{"topic": "ga"}, {"topic": "gb"}], "version": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var plan planOut
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "partition", "plan", "--topics-file", topicsFile)), &plan); err != nil {
		t.Fatal(err)
	}
	before := assignment(t, c, "ga", "gb")
	if fmtPlan(planMap(plan.Current)) != fmtPlan(before) {
		t.Fatalf("current %s, kadm says %s", fmtPlan(planMap(plan.Current)), fmtPlan(before))
	}
	proposed := planMap(plan.Proposed)
	moves := 0
	perTopic := map[string]map[int32]int{"ga": {}, "gb": {}}
	for k, rs := range proposed {
		for _, r := range rs {
			perTopic[k.Topic][r]++
			if !slices.Contains(before[k], r) {
				moves++
			}
		}
	}
	// ga: 12 replicas, 3 a broker; gb: 9, 2 or 3: broker 4 gets 3+2.
	for topic, counts := range perTopic {
		if s := spreadOf(counts, []int32{1, 2, 3, 4}); s > 1 {
			t.Errorf("%s: replicas per broker %v", topic, counts)
		}
	}
	if moves != 5 || plan.Moves != moves {
		t.Errorf("%d replicas move (plan says %d), want 5: %s", moves, plan.Moves, fmtPlan(proposed))
	}

	// The table form prints the same proposal; that JSON is the plan.
	out := mustCLI(t, b, "", "partition", "plan", "--topics", "gb,ga")
	lines := strings.Split(out, "\n")
	if len(lines) < 6 || lines[0] != "Current partition replica assignment" || lines[3] != "Proposed partition reassignment configuration" ||
		!strings.Contains(lines[4], `"log_dirs":["any","any"]`) || lines[6] != fmt.Sprintf("%d replicas move, %d partitions change leader (first replica)", plan.Moves, plan.Leaders) {
		t.Fatalf("plan:\n%s", out)
	}
	t.Logf("plan:\n%s", out)
	planPath := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(planPath, []byte(lines[4]), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runCLI(t, b, "", "partition", "verify", "--plan", planPath); code != 1 {
		t.Fatalf("verify before the move: exit %d, want 1", code)
	}
	out = mustCLI(t, b, "", "partition", "move", "--plan", planPath, "--no-wait", "--throttle", "2000000")
	if !strings.Contains(out, "moving ga:0\n") || !strings.Contains(out, "the replication throttle stays") {
		t.Fatalf("move --plan:\n%s", out)
	}
	var verify string
	polls, first := 0, ""
	waitFor(t, "verify to report every move done", 60*time.Second, func() bool {
		var code int
		verify, _, code = runCLI(t, b, "", "partition", "verify", "--plan", planPath)
		if polls++; polls == 1 {
			first = verify
		}
		return code == 0
	})
	t.Logf("verify, first poll:\n%s", first)
	if strings.Count(verify, " done ") != 9 || !strings.HasSuffix(verify, "replication throttle removed\n") {
		t.Fatalf("verify:\n%s", verify)
	}
	t.Logf("verify: %d polls until done", polls)
	if after := assignment(t, c, "ga", "gb"); fmtPlan(after) != fmtPlan(proposed) {
		t.Fatalf("after the move %s, want %s", fmtPlan(after), fmtPlan(proposed))
	}
	if out := mustCLI(t, b, "", "topic", "describe", "ga"); strings.Contains(out, "throttled") {
		t.Fatalf("throttle left on the topic:\n%s", out)
	}
	// Replanning the result moves nothing.
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "partition", "plan", "--topics", "ga,gb")), &plan); err != nil || plan.Moves != 0 {
		t.Fatalf("replan: %d moves (%v)", plan.Moves, err)
	}

	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"partition", "plan", "--topics", "gb", "--broker-list", "1,2"}, 1, "gb:0 has replication factor 3 but only 2 brokers are given ([1,2])"},
		{[]string{"partition", "plan", "--topics", "ga", "--broker-list", "1,9"}, 1, "broker 9 is not in the cluster (brokers [1,2,3,4])"},
		{[]string{"partition", "plan", "--topics", "nope"}, 1, "topic nope does not exist"},
		{[]string{"partition", "plan", "--topics", "ga", "--broker-list", "1,x"}, 2, `bad broker id "x"`},
		{[]string{"partition", "plan"}, 2, "no topics given"},
		{[]string{"partition", "move", "--plan", planPath, "--file", planPath}, 2, "give only one of --file, --plan, --reassignment-json-file"},
		{[]string{"partition", "verify"}, 2, "--plan FILE is required"},
	} {
		if _, errs, code := runCLI(t, b, "", tc.args...); code != tc.code || !strings.Contains(errs, tc.err) {
			t.Errorf("gregor %q: exit %d, stderr %q; want %d, %q", tc.args, code, errs, tc.code, tc.err)
		}
	}

	// Kafka's form, one replica into its broker's second log dir.
	rs := proposed[tpKey{"ga", 0}]
	target := c.Broker(int(rs[1]) - 1).LogDirs()[1]
	kafka := fmt.Sprintf(`{"version":1,
 "partitions":
   [{"topic":"ga","partition":0,"replicas":[%d,%d],"log_dirs":["any","%s"]}]
}`, rs[0], rs[1], target)
	kafkaPath := filepath.Join(dir, "kafka.json")
	if err := os.WriteFile(kafkaPath, []byte(kafka), 0o644); err != nil {
		t.Fatal(err)
	}
	out = mustCLI(t, b, "", "partition", "move", "--reassignment-json-file", kafkaPath)
	if !strings.Contains(out, fmt.Sprintf("ga:0 on broker %d goes to log dir %s\n", rs[1], target)) {
		t.Fatalf("move with a log dir:\n%s", out)
	}
	waitFor(t, "the log dir move", 30*time.Second, func() bool {
		_, _, code := runCLI(t, b, "", "partition", "verify", "--reassignment-json-file", kafkaPath, "--preserve-throttles")
		return code == 0
	})
	var vs []verifyOut
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "partition", "verify", "--plan", kafkaPath)), &vs); err != nil ||
		len(vs) != 1 || vs[0].Status != "done" {
		t.Fatalf("verify json: %+v %v", vs, err)
	}
}
