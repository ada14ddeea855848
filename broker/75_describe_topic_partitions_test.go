package broker

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
)

// dtpRequest asks for topics (all when none) from cursor.
func dtpRequest(limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor, topics ...string) *kmsg.DescribeTopicPartitionsRequest {
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.ResponsePartitionLimit = limit
	for _, name := range topics {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = name
		req.Topics = append(req.Topics, rt)
	}
	req.Cursor = cursor
	return req
}

// dtpWalk pages through DescribeTopicPartitions of topics (all when none)
// with the given limit and returns every (topic, partition) seen and the
// number of requests sent. It fails on a page bigger than limit or a
// partition seen twice.
func dtpWalk(t *testing.T, ctx context.Context, cl *kgo.Client, limit int32, topics ...string) (map[string][]int32, int) {
	t.Helper()
	seen := map[string][]int32{}
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for pages := 1; ; pages++ {
		resp, err := dtpRequest(limit, cursor, topics...).RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		n := 0
		for _, rt := range resp.Topics {
			if rt.ErrorCode != 0 {
				t.Fatalf("page %d: topic %s: %v", pages, *rt.Topic, kerr.ErrorForCode(rt.ErrorCode))
			}
			for _, p := range rt.Partitions {
				if slices.Contains(seen[*rt.Topic], p.Partition) {
					t.Fatalf("page %d: %s/%d seen twice", pages, *rt.Topic, p.Partition)
				}
				if p.ErrorCode != 0 || p.LeaderID < 0 || len(p.Replicas) != 1 || len(p.ISR) != 1 || p.EligibleLeaderReplicas == nil {
					t.Fatalf("page %d: %s/%d: %+v", pages, *rt.Topic, p.Partition, p)
				}
				seen[*rt.Topic] = append(seen[*rt.Topic], p.Partition)
				n++
			}
		}
		if n > int(limit) {
			t.Fatalf("page %d has %d partitions, limit %d", pages, n, limit)
		}
		if resp.NextCursor == nil {
			return seen, pages
		}
		if n != int(limit) {
			t.Fatalf("page %d has %d partitions and a next cursor %+v", pages, n, *resp.NextCursor)
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
}

// memDir is a fresh directory on /dev/shm when there is one (else the
// test's temp dir): opening 5,000 new partitions fsyncs their checkpoint
// files, about 50 s on a disk, and shutdown waits for the opens.
func memDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/dev/shm", "gregor-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func createTopicN(t *testing.T, ctx context.Context, cl *kgo.Client, name string, partitions int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 120_000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create %s: %v %+v", name, err, resp)
	}
}

// TestDescribeTopicPartitionsPaging pages through 5,003 partitions (one
// topic of 5,000 and one of 3) with limit 2000 by name and listing all,
// then checks the server-side cap, bad cursors and unknown topics.
func TestDescribeTopicPartitionsPaging(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "max.request.partition.size.limit=2000", "log.dirs="+memDir(t))
	cl := b.client()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	createTopicN(t, ctx, cl, "dtp-big", 5000)
	createTopicN(t, ctx, cl, "dtp-small", 3)
	t.Logf("created 5,003 partitions in %v", time.Since(start))

	check := func(what string, seen map[string][]int32) {
		t.Helper()
		want := map[string]int{"dtp-big": 5000, "dtp-small": 3}
		for name, n := range want {
			ps := seen[name]
			if len(ps) != n {
				t.Fatalf("%s: %s has %d partitions, want %d", what, name, len(ps), n)
			}
			for i, p := range ps {
				if p != int32(i) {
					t.Fatalf("%s: %s partition %d at position %d", what, name, p, i)
				}
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("%s: topics %v", what, seen)
		}
	}
	start = time.Now()
	seen, pages := dtpWalk(t, ctx, cl, 2000, "dtp-small", "dtp-big", "dtp-big")
	check("by name", seen)
	if pages != 3 {
		t.Errorf("by name: %d pages, want 3", pages)
	}
	t.Logf("paged 5,003 partitions by name in %d requests, %v", pages, time.Since(start))
	seen, pages = dtpWalk(t, ctx, cl, 2000)
	check("all", seen)
	if pages != 3 {
		t.Errorf("all: %d pages, want 3", pages)
	}
	// A page ending exactly at a topic's end: the cursor moves to the
	// next topic's partition 0.
	seen, pages = dtpWalk(t, ctx, cl, 1000)
	check("limit 1000", seen)
	if pages != 6 {
		t.Errorf("limit 1000: %d pages, want 6", pages)
	}

	// The broker's cap wins over a larger limit; a limit below 1 is 1.
	for _, tc := range []struct{ limit, want int32 }{{100_000, 2000}, {0, 1}, {-5, 1}} {
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.ResponsePartitionLimit = tc.limit
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != int(tc.want) || resp.NextCursor == nil {
			t.Fatalf("limit %d: %v %+v", tc.limit, err, resp)
		}
		if c := resp.NextCursor; c.Topic != "dtp-big" || c.Partition != tc.want {
			t.Errorf("limit %d: next cursor %+v", tc.limit, *c)
		}
	}

	ask := func(cursor *kmsg.DescribeTopicPartitionsRequestCursor, names ...string) *kmsg.DescribeTopicPartitionsResponse {
		t.Helper()
		resp, err := dtpRequest(2000, cursor, names...).RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	codes := func(resp *kmsg.DescribeTopicPartitionsResponse) string {
		var s string
		for _, rt := range resp.Topics {
			s += fmt.Sprintf("%s:%d:%d ", *rt.Topic, rt.ErrorCode, len(rt.Partitions))
		}
		return s
	}
	resp := ask(&kmsg.DescribeTopicPartitionsRequestCursor{Topic: "dtp-big"}, "dtp-small")
	if got := codes(resp); got != "dtp-small:42:0 " {
		t.Errorf("cursor topic not asked for: %s", got)
	}
	resp = ask(&kmsg.DescribeTopicPartitionsRequestCursor{Topic: "dtp-small", Partition: -1}, "dtp-small")
	if got := codes(resp); got != "dtp-small:42:0 " {
		t.Errorf("negative cursor partition: %s", got)
	}
	resp = ask(&kmsg.DescribeTopicPartitionsRequestCursor{Topic: "dtp-small", Partition: 2}, "dtp-small", "nope", "zz/bad", "a-before-cursor")
	if got := codes(resp); got != "dtp-small:0:1 nope:3:0 zz/bad:17:0 " || resp.NextCursor != nil {
		t.Errorf("unknown and illegal topics after the cursor: %s %+v", got, resp.NextCursor)
	}
	if rt := resp.Topics[0]; rt.Partitions[0].Partition != 2 || rt.TopicID == ([16]byte{}) || rt.AuthorizedOperations != topicOpsAll {
		t.Errorf("dtp-small from partition 2: %+v", rt)
	}
	resp = ask(&kmsg.DescribeTopicPartitionsRequestCursor{Topic: "dtp-small", Partition: 7}, "dtp-small")
	if got := codes(resp); got != "dtp-small:0:0 " || resp.NextCursor != nil {
		t.Errorf("cursor past the last partition: %s %+v", got, resp.NextCursor)
	}
	t.Logf("checks done at %v", time.Since(start))
}

// TestDescribeTopicPartitionsAuthz: a named topic without DESCRIBE is
// TOPIC_AUTHORIZATION_FAILED with no id, listing all hides it, and the
// authorized operations are the principal's.
func TestDescribeTopicPartitionsAuthz(t *testing.T) {
	t.Parallel()
	b, admin, alice := aclBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	createTopicN(t, ctx, admin, "open", 2)
	createTopicN(t, ctx, admin, "secret", 2)
	mustSetACLs(t, b.srv, []auth.ACL{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "open", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}})

	resp, err := dtpRequest(2000, nil, "secret", "open", "absent").RequestWith(ctx, alice)
	if err != nil || len(resp.Topics) != 3 {
		t.Fatalf("%v %+v", err, resp)
	}
	byName := map[string]kmsg.DescribeTopicPartitionsResponseTopic{}
	for _, rt := range resp.Topics {
		byName[*rt.Topic] = rt
	}
	if rt := byName["secret"]; rt.ErrorCode != kerr.TopicAuthorizationFailed.Code || rt.TopicID != ([16]byte{}) || len(rt.Partitions) != 0 {
		t.Errorf("secret: %+v", rt)
	}
	// An absent topic alice may not describe is denied, not reported absent.
	if rt := byName["absent"]; rt.ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("absent: %+v", rt)
	}
	// READ implies DESCRIBE.
	wantOps := int32(1<<kmsg.ACLOperationRead | 1<<kmsg.ACLOperationDescribe)
	if rt := byName["open"]; rt.ErrorCode != 0 || len(rt.Partitions) != 2 || rt.AuthorizedOperations != wantOps {
		t.Errorf("open: %+v, want operations %b", rt, wantOps)
	}

	all := kmsg.NewPtrDescribeTopicPartitionsRequest()
	resp, err = all.RequestWith(ctx, alice)
	if err != nil || len(resp.Topics) != 1 || *resp.Topics[0].Topic != "open" {
		t.Fatalf("alice lists all: %v %+v", err, resp)
	}
	resp, err = all.RequestWith(ctx, admin)
	if err != nil || len(resp.Topics) != 2 || resp.Topics[1].AuthorizedOperations != topicOpsAll {
		t.Fatalf("admin lists all: %v %+v", err, resp)
	}
}
