package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
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

func oneBroker(t *testing.T) string {
	t.Helper()
	_, b := oneBrokerCluster(t)
	return b
}

func oneBrokerCluster(t *testing.T) (*gregortest.Cluster, string) {
	t.Helper()
	c := gregortest.NewCluster(t, gregortest.Brokers(1))
	return c, strings.Join(c.Seeds(), ",")
}

func TestCLITopics(t *testing.T) {
	t.Parallel()
	b := oneBroker(t)
	if out := mustCLI(t, b, "", "topic", "create", "demo", "-p", "3", "-c", "retention.ms=3600000"); out != "created topic demo (3 partitions, replication factor 1)\n" {
		t.Errorf("create: %q", out)
	}
	if _, errs, code := runCLI(t, b, "", "topic", "create", "demo"); code != 1 || !strings.Contains(errs, "TOPIC_ALREADY_EXISTS") {
		t.Errorf("create again: exit %d, %q", code, errs)
	}
	mustCLI(t, b, "", "topic", "create", "other")
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
	for _, args := range [][]string{{"topic", "list", "--nope"}, {"topic", "describe"}, {"nosuch"}, {"--format", "xml", "topic", "list"}} {
		if _, errs, code := runCLI(t, addr, "", args...); code != 2 || strings.Count(errs, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q", args, code, errs)
		}
	}
}
