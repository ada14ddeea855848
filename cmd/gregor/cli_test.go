package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"gregor/gregortest"
)

// runCLI runs the command tree in-process against brokers and returns
// stdout, stderr and the exit code.
func runCLI(t *testing.T, brokers string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := execute(ctx, append([]string{"-b", brokers}, args...), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// mustCLI is runCLI failing the test on a non-zero exit.
func mustCLI(t *testing.T, brokers, stdin string, args ...string) string {
	t.Helper()
	out, errs, code := runCLI(t, brokers, stdin, args...)
	if code != 0 {
		t.Fatalf("gregor %q: exit %d, stderr %q, stdout %q", args, code, errs, out)
	}
	return out
}

// externalBrokers, when set, points the broker-agnostic CLI tests at
// another Kafka-compatible cluster (kfake: compat-tests/kfakeserver)
// instead of an in-process gregor. They then run one at a time and
// delete every topic and group they leave.
var externalBrokers = os.Getenv("GREGOR_CLI_TEST_BROKERS")

// target returns the brokers a test runs its commands against: a fresh
// one-broker gregor, or externalBrokers.
func target(t *testing.T) string {
	t.Helper()
	if externalBrokers == "" {
		t.Parallel()
		c := gregortest.NewCluster(t, gregortest.Brokers(1))
		return strings.Join(c.Seeds(), ",")
	}
	t.Cleanup(func() { cleanCluster(t, externalBrokers) })
	return externalBrokers
}

// cleanCluster deletes every group and non-internal topic.
func cleanCluster(t *testing.T, b string) {
	var groups []struct {
		Group string `json:"group"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "group", "list")), &groups); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		runCLI(t, b, "", "group", "delete", g.Group)
	}
	var topics []struct {
		Topic string `json:"topic"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "topic", "list")), &topics); err != nil {
		t.Fatal(err)
	}
	for _, tp := range topics {
		mustCLI(t, b, "", "topic", "delete", tp.Topic)
	}
}

// gregorOnly skips a test that needs gregortest's cluster control.
func gregorOnly(t *testing.T) {
	if externalBrokers != "" {
		t.Skip("needs an in-process gregor cluster")
	}
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func TestCLITopics(t *testing.T) {
	b := target(t)
	if out := mustCLI(t, b, "", "topic", "create", "demo", "-p", "3", "-c", "retention.ms=3600000"); out != "created topic demo (3 partitions, replication factor 1)\n" {
		t.Errorf("create: %q", out)
	}
	if _, errs, code := runCLI(t, b, "", "topic", "create", "demo"); code != 1 || !strings.Contains(errs, "TOPIC_ALREADY_EXISTS") {
		t.Errorf("create again: exit %d, %q", code, errs)
	}
	if externalBrokers != "" {
		mustCLI(t, b, "", "topic", "create", "other", "-p", "1") // kfake's default is 10 partitions
	} else {
		mustCLI(t, b, "", "topic", "create", "other") // the broker's num.partitions
	}
	out := mustCLI(t, b, "", "topic", "list")
	want := "NAME   PARTITIONS  REPLICAS\ndemo   3           1\nother  1           1\n"
	if out != want {
		t.Errorf("list:\n%s\nwant:\n%s", out, want)
	}
	var listed []struct {
		Topic      string `json:"topic"`
		Partitions int    `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "topic", "list")), &listed); err != nil || len(listed) != 2 || listed[0].Topic != "demo" || listed[0].Partitions != 3 {
		t.Errorf("list json: %v %+v", err, listed)
	}
	out = mustCLI(t, b, "", "topic", "describe", "demo")
	for _, w := range []string{"PARTITIONS   3\n", "retention.ms  3600000", "LOG-START  LOG-END"} {
		if !strings.Contains(out, w) {
			t.Errorf("describe lacks %q:\n%s", w, out)
		}
	}
	mustCLI(t, b, "", "topic", "alter-config", "demo", "--set", "cleanup.policy=compact", "--delete", "retention.ms")
	out = mustCLI(t, b, "", "topic", "describe", "demo")
	if !strings.Contains(out, "cleanup.policy  compact") || strings.Contains(out, "retention.ms") {
		t.Errorf("describe after alter-config:\n%s", out)
	}
	mustCLI(t, b, "", "topic", "add-partitions", "demo", "-p", "5")
	var desc struct {
		Partitions []partitionOut `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", "--format", "json", "topic", "describe", "demo")), &desc); err != nil || len(desc.Partitions) != 5 {
		t.Errorf("describe json after add-partitions: %v %+v", err, desc)
	}
	if out := mustCLI(t, b, "", "topic", "delete", "demo", "other"); out != "deleted topic demo\ndeleted topic other\n" {
		t.Errorf("delete: %q", out)
	}
	if out := mustCLI(t, b, "", "topic", "list"); out != "NAME  PARTITIONS  REPLICAS\n" {
		t.Errorf("list after delete: %q", out)
	}
}

// TestCLIUnreachable: a cluster nobody listens on is one line and exit 1,
// quickly; a bad flag is exit 2.
func TestCLIUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	out, errs, code := runCLI(t, addr, "", "topic", "list")
	if code != 1 || out != "" || strings.Count(errs, "\n") != 1 ||
		!strings.HasPrefix(errs, "gregor: cannot reach brokers "+addr+": dial tcp "+addr+": ") || !strings.Contains(errs, "connection refused") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	for _, args := range [][]string{{"topic", "list", "--nope"}, {"topic", "describe"}, {"nosuch"}, {"group", "nosuch"}, {"--format", "xml", "topic", "list"}} {
		if _, errs, code := runCLI(t, addr, "", args...); code != 2 || strings.Count(errs, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q", args, code, errs)
		}
	}
}

// TestCLIBrokersEnv: GREGOR_BROKERS is the default of -b, and -b wins.
func TestCLIBrokersEnv(t *testing.T) {
	t.Setenv("GREGOR_BROKERS", "127.0.0.1:1,127.0.0.1:2")
	var out, errb bytes.Buffer
	if code := execute(context.Background(), []string{"topic", "list"}, strings.NewReader(""), &out, &errb); code != 1 ||
		!strings.HasPrefix(errb.String(), "gregor: cannot reach brokers 127.0.0.1:1,127.0.0.1:2: ") {
		t.Errorf("from the environment: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := execute(context.Background(), []string{"-b", "127.0.0.1:3", "topic", "list"}, strings.NewReader(""), &out, &errb); code != 1 ||
		!strings.HasPrefix(errb.String(), "gregor: cannot reach brokers 127.0.0.1:3: ") {
		t.Errorf("-b over the environment: exit %d, %q", code, errb.String())
	}
}
