package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func lines(n int, s string) string { return strings.Repeat(s+"\n", n) }

func TestCLIGroups(t *testing.T) {
	b := target(t)
	mustCLI(t, b, "", "topic", "create", "gt", "-p", "2")
	mustCLI(t, b, lines(30, "a"), "produce", "gt", "-p", "0")
	mustCLI(t, b, lines(20, "b"), "produce", "gt", "-p", "1")
	if out := mustCLI(t, b, "", "consume", "gt", "-g", "G", "-n", "50", "--from", "beginning"); strings.Count(out, "a\n") != 30 || strings.Count(out, "b\n") != 20 {
		t.Fatalf("consume -g: %q", out)
	}
	mustCLI(t, b, lines(7, "c"), "produce", "gt", "-p", "0")
	mustCLI(t, b, lines(3, "d"), "produce", "gt", "-p", "1")

	lag := func() string { return mustCLI(t, b, "", "group", "lag", "G") }
	want := "" +
		"TOPIC  PARTITION  COMMITTED  LOG-END  LAG  MEMBER  ERROR\n" +
		"gt     0          30         37       7\n" +
		"gt     1          20         23       3\n" +
		"TOTAL                                 10\n"
	if out := lag(); out != want {
		t.Errorf("group lag:\n%s\nwant:\n%s", out, want)
	}
	var lj struct {
		State      string   `json:"state"`
		TotalLag   int64    `json:"total_lag"`
		Partitions []lagOut `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "group", "lag", "G")), &lj); err != nil {
		t.Fatal(err)
	}
	if lj.State != "Empty" || lj.TotalLag != 10 || len(lj.Partitions) != 2 || lj.Partitions[0].Lag != 7 || lj.Partitions[1].Lag != 3 || lj.Partitions[1].CommittedOffset != 20 {
		t.Errorf("group lag json: %+v", lj)
	}
	if out := mustCLI(t, b, "", "group", "list"); !strings.Contains(out, "G      Empty  consumer") {
		t.Errorf("group list:\n%s", out)
	}

	seekWant := "" +
		"TOPIC  PARTITION  OLD-OFFSET  NEW-OFFSET  ERROR\n" +
		"gt     0          30          0\n" +
		"gt     1          20          0\n"
	out, errs, code := runCLI(t, b, "", "group", "seek", "G", "--topic", "gt", "--to", "earliest", "--dry-run")
	if code != 0 || out != seekWant || errs != "dry run: no offsets changed\n" {
		t.Errorf("seek --dry-run: exit %d\n%s\nstderr %q", code, out, errs)
	}
	if out := lag(); out != want {
		t.Errorf("group lag after dry run changed:\n%s", out)
	}
	if out := mustCLI(t, b, "", "group", "seek", "G", "--topic", "gt", "--to", "earliest"); out != seekWant {
		t.Errorf("seek:\n%s", out)
	}
	if out := lag(); !strings.Contains(out, "TOTAL                                 60") {
		t.Errorf("group lag after seek to earliest:\n%s", out)
	}
	for _, tc := range []struct{ to, p0, p1 string }{
		{"shift:+25", "25", "23"}, // clamped to the log end
		{"shift:-5", "20", "18"},
		{"10", "10", "10"},
		{"latest", "37", "23"},
	} {
		var sj struct {
			Partitions []seekOut `json:"partitions"`
		}
		if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "group", "seek", "G", "--to", tc.to)), &sj); err != nil {
			t.Fatal(err)
		}
		got := []string{offsetText(sj.Partitions[0].NewOffset), offsetText(sj.Partitions[1].NewOffset)}
		if len(sj.Partitions) != 2 || got[0] != tc.p0 || got[1] != tc.p1 {
			t.Errorf("seek --to %s: %+v, want %s %s", tc.to, sj.Partitions, tc.p0, tc.p1)
		}
	}
	if _, errs, code := runCLI(t, b, "", "group", "seek", "G", "--to", "sometime"); code != 2 || !strings.Contains(errs, "--to") {
		t.Errorf("bad --to: exit %d %q", code, errs)
	}

	// A group with a running member: describe shows its assignment and
	// seek refuses.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(b, ",")...), kgo.ConsumerGroup("live"), kgo.ConsumeTopics("gt"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	go func() {
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	waitFor(t, "group live stable", 30*time.Second, func() bool {
		out, _, code := runCLI(t, b, "", "group", "describe", "live")
		return code == 0 && strings.Contains(out, "STATE          Stable") && strings.Contains(out, "gt[0,1]")
	})
	out, errs, code = runCLI(t, b, "", "group", "seek", "live", "--topic", "gt", "--to", "earliest")
	if code != 1 || out != "" || !strings.Contains(errs, "gregor: group live is not empty (state Stable, 1 members)") {
		t.Errorf("seek of a live group: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	var dj struct {
		State   string      `json:"state"`
		Members []memberOut `json:"members"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "group", "describe", "live")), &dj); err != nil {
		t.Fatal(err)
	}
	if dj.State != "Stable" || len(dj.Members) != 1 || len(dj.Members[0].Assigned["gt"]) != 2 {
		t.Errorf("describe json: %+v", dj)
	}

	if out := mustCLI(t, b, "", "group", "delete", "G"); out != "deleted group G\n" {
		t.Errorf("group delete: %q", out)
	}
	if out := mustCLI(t, b, "", "group", "list"); strings.Contains(out, "G      ") {
		t.Errorf("group list after delete:\n%s", out)
	}
}
