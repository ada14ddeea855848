package controller

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func testACL(name, principal string, op int8) ACL {
	return ACL{ResourceType: 2, ResourceName: name, PatternType: 3, Principal: principal, Host: "*", Operation: op, Permission: 3}
}

func byName(name string) func(ACL) bool { return func(a ACL) bool { return a.ResourceName == name } }

// TestCreateDeleteACLs: creating an existing or twice-named binding adds
// it once; a delete reports per filter what it selected, a binding two
// filters select under both, and removes it once.
func TestCreateDeleteACLs(t *testing.T) {
	t.Parallel()
	c := openTest(t, "")
	a, b, d := testACL("t1", "User:alice", 3), testACL("t2", "User:bob", 4), testACL("t1", "User:bob", 4)
	if err := c.CreateACLs([]ACL{a, b, a}); err != nil {
		t.Fatal(err)
	}
	v := c.Snapshot().Version
	if err := c.CreateACLs([]ACL{a}); err != nil {
		t.Fatal(err)
	}
	if c.Snapshot().Version != v {
		t.Fatal("creating an existing binding wrote a record")
	}
	if err := c.CreateACLs([]ACL{d, b}); err != nil {
		t.Fatal(err)
	}
	if got := c.Snapshot().ACLs().List(); !slices.Equal(got, []ACL{a, d, b}) {
		t.Fatalf("acls %+v", got)
	}
	bob := func(x ACL) bool { return x.Principal == "User:bob" }
	got, err := c.DeleteACLs([]func(ACL) bool{byName("t1"), bob, byName("none")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !slices.Equal(got[0], []ACL{a, d}) || !slices.Equal(got[1], []ACL{d, b}) || len(got[2]) != 0 {
		t.Fatalf("deleted %+v", got)
	}
	if n := c.Snapshot().ACLs().Len(); n != 0 {
		t.Fatalf("%d acls left", n)
	}
	if _, err := c.DeleteACLs([]func(ACL) bool{bob}); err != nil {
		t.Fatalf("deleting nothing: %v", err)
	}
}

// TestACLPersistAndReplay: bindings survive a reopen, and the records
// replayed from an empty state rebuild them; a snapshot that changed no
// binding shares its predecessor's set.
func TestACLPersistAndReplay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openTest(t, dir)
	var log [][]byte
	c.onApply = func(recs []record) { log = append(log, mustJSON(t, recs)) }
	if err := c.CreateACLs([]ACL{testACL("t1", "User:a", 2), testACL("t2", "User:b", 3), testACL("p", "User:c", 4)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteACLs([]func(ACL) bool{byName("t2")}); err != nil {
		t.Fatal(err)
	}
	set := c.Snapshot().ACLs()
	mustCreate(t, c, CreateTopic{Name: "x", NumPartitions: 1, ReplicationFactor: 1})
	if c.Snapshot().ACLs() != set {
		t.Fatal("a topic batch replaced the acl set")
	}
	want := set.List()
	replayed := replayLog(t, &Snapshot{}, log)
	if !slices.Equal(replayed.ACLs().List(), want) {
		t.Fatalf("replayed %+v, want %+v", replayed.ACLs().List(), want)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Config{MetadataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	if got := c2.Snapshot().ACLs().List(); !slices.Equal(got, want) || len(got) != 2 {
		t.Fatalf("reopened %+v, want %+v", got, want)
	}
}

// TestACLRecordsRejected: a batch adding an existing binding or removing a
// missing one does not apply.
func TestACLRecordsRejected(t *testing.T) {
	t.Parallel()
	a := testACL("t", "User:a", 2)
	s := &Snapshot{}
	for _, recs := range [][]record{
		{{Type: recRemoveACL, ACL: &a}},
		{{Type: recACL, ACL: &a}, {Type: recACL, ACL: &a}},
		{{Type: recACL}},
	} {
		b := newBuilder(s)
		var err error
		for i := range recs {
			if err = b.apply(&recs[i]); err != nil {
				break
			}
		}
		if err == nil {
			t.Fatalf("batch %+v applied", recs)
		}
	}
}

// TestRaftACLs: bindings replicate and survive a Raft snapshot restore on
// a node that lost meta.db.
func TestRaftACLs(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, func(cfg *Config) { cfg.TrailingLogs = 2 })
	li := cl.leader()
	fi := (li + 1) % 3
	a, b := testACL("t1", "User:a", 2), testACL("t2", "User:b", 3)
	if err := cl.nodes[fi].CreateACLs([]ACL{a}); !errors.Is(err, ErrNotController) {
		t.Fatalf("follower create: %v, want ErrNotController", err)
	}
	if err := cl.nodes[li].CreateACLs([]ACL{a, b}); err != nil {
		t.Fatal(err)
	}
	for _, c := range cl.nodes {
		snapshotNow(t, c)
	}
	if _, err := cl.nodes[li].DeleteACLs([]func(ACL) bool{byName("t1")}); err != nil {
		t.Fatal(err)
	}
	cl.stop(fi)
	if err := os.Remove(filepath.Join(cl.cfgs[fi].MetadataDir, "meta.db")); err != nil {
		t.Fatal(err)
	}
	cl.start(fi)
	cl.converged("acls after restore", func(s *Snapshot) bool {
		return slices.Equal(s.ACLs().List(), []ACL{b})
	})
}
