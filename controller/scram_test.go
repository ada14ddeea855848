package controller

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func testCred(mech int8, iters int32, salt string) ScramCredential {
	return ScramCredential{Mechanism: mech, Salt: []byte(salt), StoredKey: []byte("stored-" + salt), ServerKey: []byte("server-" + salt), Iterations: iters}
}

func credEqual(a, b ScramCredential) bool {
	return a.Mechanism == b.Mechanism && a.Iterations == b.Iterations && bytes.Equal(a.Salt, b.Salt) &&
		bytes.Equal(a.StoredKey, b.StoredKey) && bytes.Equal(a.ServerKey, b.ServerKey)
}

// TestAlterScramCredentials walks Kafka's validation rules: each case's
// results and the state after it.
func TestAlterScramCredentials(t *testing.T) {
	t.Parallel()
	c := openTest(t, "")
	res, err := c.AlterScramCredentials(nil, []ScramUpsertion{
		{User: "alice", Credential: testCred(ScramSHA256, 4096, "a1")},
		{User: "bob", Credential: testCred(ScramSHA512, 8192, "b1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.User, r.Err)
		}
	}
	for _, tc := range []struct {
		name string
		dels []ScramDeletion
		ups  []ScramUpsertion
		want map[string]error // per user; nil = success
		msg  map[string]string
	}{
		{name: "duplicate upsert", ups: []ScramUpsertion{
			{User: "carol", Credential: testCred(ScramSHA256, 4096, "c")},
			{User: "carol", Credential: testCred(ScramSHA512, 4096, "c")},
		}, want: map[string]error{"carol": ErrDuplicateResource}, msg: map[string]string{"carol": "A user credential cannot be altered twice in the same request"}},
		{name: "delete and upsert same user", dels: []ScramDeletion{{User: "alice", Mechanism: ScramSHA256}},
			ups:  []ScramUpsertion{{User: "alice", Credential: testCred(ScramSHA512, 4096, "x")}},
			want: map[string]error{"alice": ErrDuplicateResource}},
		{name: "delete missing", dels: []ScramDeletion{{User: "alice", Mechanism: ScramSHA512}},
			want: map[string]error{"alice": ErrResourceNotFound}, msg: map[string]string{"alice": "Attempt to delete a user credential that does not exist"}},
		{name: "unknown mechanism", ups: []ScramUpsertion{{User: "dave", Credential: testCred(3, 4096, "d")}},
			dels: []ScramDeletion{{User: "erin", Mechanism: 0}},
			want: map[string]error{"dave": ErrUnsupportedSaslMechanism, "erin": ErrUnsupportedSaslMechanism}},
		{name: "iterations", ups: []ScramUpsertion{
			{User: "few", Credential: testCred(ScramSHA256, 4095, "f")},
			{User: "many", Credential: testCred(ScramSHA256, 16385, "m")},
			{User: "max", Credential: testCred(ScramSHA256, 16384, "m")},
		}, want: map[string]error{"few": ErrUnacceptableCredential, "many": ErrUnacceptableCredential, "max": nil},
			msg: map[string]string{"few": "Too few iterations", "many": "Too many iterations"}},
		{name: "empty name", ups: []ScramUpsertion{{User: "", Credential: testCred(ScramSHA256, 4096, "e")}},
			want: map[string]error{"": ErrUnacceptableCredential}, msg: map[string]string{"": "Username must not be empty"}},
		{name: "mixed batch applies the valid users", dels: []ScramDeletion{{User: "bob", Mechanism: ScramSHA512}},
			ups:  []ScramUpsertion{{User: "alice", Credential: testCred(ScramSHA512, 5000, "a2")}, {User: "zed", Credential: testCred(ScramSHA512, 1, "z")}},
			want: map[string]error{"bob": nil, "alice": nil, "zed": ErrUnacceptableCredential}},
	} {
		before := c.Snapshot()
		res, err := c.AlterScramCredentials(tc.dels, tc.ups)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(res) != len(tc.want) {
			t.Fatalf("%s: results %+v, want one per user %v", tc.name, res, tc.want)
		}
		after := c.Snapshot()
		for _, r := range res {
			want, ok := tc.want[r.User]
			if !ok {
				t.Fatalf("%s: result for unexpected user %q", tc.name, r.User)
			}
			if (want == nil) != (r.Err == nil) || (want != nil && !errors.Is(r.Err, want)) {
				t.Fatalf("%s: %q: err %v, want %v", tc.name, r.User, r.Err, want)
			}
			if m := tc.msg[r.User]; m != "" && r.Err.Error() != m {
				t.Fatalf("%s: %q: message %q, want Kafka's %q", tc.name, r.User, r.Err.Error(), m)
			}
			if r.Err != nil && !scramStateEqual(before, after, r.User) {
				t.Fatalf("%s: failed user %q changed", tc.name, r.User)
			}
		}
	}
	s := c.Snapshot()
	if _, ok := s.ScramCredential("bob", ScramSHA512); ok {
		t.Fatal("bob's deletion did not apply")
	}
	if got, ok := s.ScramCredential("alice", ScramSHA512); !ok || !credEqual(got, testCred(ScramSHA512, 5000, "a2")) {
		t.Fatalf("alice SHA-512: %+v %v", got, ok)
	}
	users := s.ScramUsers()
	if len(users["alice"]) != 2 || users["alice"][0].Mechanism != ScramSHA256 || len(users["max"]) != 1 || len(users) != 2 {
		t.Fatalf("users %+v", users)
	}
}

func scramStateEqual(a, b *Snapshot, user string) bool {
	for _, m := range []int8{ScramSHA256, ScramSHA512} {
		x, okx := a.ScramCredential(user, m)
		y, oky := b.ScramCredential(user, m)
		if okx != oky || (okx && !credEqual(x, y)) {
			return false
		}
	}
	return true
}

// TestScramPersistAndReplay: credentials survive a reopen, and the records
// replayed from an empty state rebuild them.
func TestScramPersistAndReplay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := openTest(t, dir)
	var log [][]byte
	c.onApply = func(recs []record) { log = append(log, mustJSON(t, recs)) }
	steps := []struct {
		dels []ScramDeletion
		ups  []ScramUpsertion
	}{
		{ups: []ScramUpsertion{{User: "alice", Credential: testCred(ScramSHA256, 4096, "1")}, {User: "bob", Credential: testCred(ScramSHA512, 4096, "2")}}},
		{ups: []ScramUpsertion{{User: "alice", Credential: testCred(ScramSHA256, 9000, "3")}}},
		{dels: []ScramDeletion{{User: "bob", Mechanism: ScramSHA512}}, ups: []ScramUpsertion{{User: "a,b=c", Credential: testCred(ScramSHA512, 4096, "4")}}},
	}
	for _, st := range steps {
		if _, err := c.AlterScramCredentials(st.dels, st.ups); err != nil {
			t.Fatal(err)
		}
	}
	want := c.Snapshot()
	replayed := replayLog(t, &Snapshot{}, log)
	for _, u := range []string{"alice", "bob", "a,b=c"} {
		if !scramStateEqual(want, replayed, u) {
			t.Fatalf("replay differs for %q", u)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Config{MetadataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	for _, u := range []string{"alice", "bob", "a,b=c"} {
		if !scramStateEqual(want, c2.Snapshot(), u) {
			t.Fatalf("reopened state differs for %q", u)
		}
	}
	if len(c2.Snapshot().ScramUsers()) != 2 {
		t.Fatalf("users after reopen: %v", c2.Snapshot().ScramUsers())
	}
}

// TestScramBootstrap: BootstrapScram is written when the cluster is
// created, and not again once it exists (a deleted administrator stays
// deleted); invalid entries refuse to open.
func TestScramBootstrap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	admin := []ScramUpsertion{{User: "admin", Credential: testCred(ScramSHA512, 4096, "s")}}
	c, err := Open(Config{MetadataDir: dir, BootstrapScram: admin})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Snapshot().ScramCredential("admin", ScramSHA512); !ok || !credEqual(got, admin[0].Credential) {
		t.Fatalf("bootstrap admin: %+v %v", got, ok)
	}
	if _, err := c.AlterScramCredentials([]ScramDeletion{{User: "admin", Mechanism: ScramSHA512}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = Open(Config{MetadataDir: dir, BootstrapScram: admin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, ok := c.Snapshot().ScramCredential("admin", ScramSHA512); ok {
		t.Fatal("bootstrap credential written again into an existing cluster")
	}
	for _, bad := range [][]ScramUpsertion{
		{{User: "admin", Credential: testCred(ScramSHA512, 100, "s")}},
		{{User: "admin", Credential: testCred(7, 4096, "s")}},
		{admin[0], admin[0]},
	} {
		if c, err := Open(Config{MetadataDir: t.TempDir(), BootstrapScram: bad}); err == nil {
			_ = c.Close()
			t.Fatalf("Open accepted bootstrap %+v", bad)
		}
	}
}

// TestRaftScram: credentials replicate, survive a Raft snapshot restore
// on a node that lost meta.db, and the first leader writes the bootstrap
// credentials.
func TestRaftScram(t *testing.T) {
	t.Parallel()
	admin := []ScramUpsertion{{User: "admin", Credential: testCred(ScramSHA256, 4096, "boot")}}
	cl := newCluster(t, 3, func(cfg *Config) { cfg.TrailingLogs = 2; cfg.BootstrapScram = admin })
	li := cl.leader()
	cl.converged("bootstrap admin everywhere", func(s *Snapshot) bool {
		got, ok := s.ScramCredential("admin", ScramSHA256)
		return ok && credEqual(got, admin[0].Credential)
	})
	fi := (li + 1) % 3
	if _, err := cl.nodes[fi].AlterScramCredentials(nil, admin); !errors.Is(err, ErrNotController) {
		t.Fatalf("follower alter: %v, want ErrNotController", err)
	}
	alice := testCred(ScramSHA512, 4096, "alice")
	if _, err := cl.nodes[li].AlterScramCredentials(nil, []ScramUpsertion{{User: "alice", Credential: alice}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range cl.nodes {
		snapshotNow(t, c)
	}
	if _, err := cl.nodes[li].AlterScramCredentials([]ScramDeletion{{User: "admin", Mechanism: ScramSHA256}}, nil); err != nil {
		t.Fatal(err)
	}
	cl.stop(fi)
	if err := os.Remove(filepath.Join(cl.cfgs[fi].MetadataDir, "meta.db")); err != nil {
		t.Fatal(err)
	}
	cl.start(fi)
	cl.converged("credentials after restore", func(s *Snapshot) bool {
		got, ok := s.ScramCredential("alice", ScramSHA512)
		_, admin := s.ScramCredential("admin", ScramSHA256)
		return ok && credEqual(got, alice) && !admin
	})
}
