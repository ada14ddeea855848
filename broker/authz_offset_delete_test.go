package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestAuthzOffsetDelete: OffsetDelete needs DELETE on the group and READ
// on each topic; with both on one topic and only DELETE on the group for
// the other, kadm's DeleteOffsets removes the first topic's offset and
// gets TOPIC_AUTHORIZATION_FAILED for the second's, whose offset stays.
func TestAuthzOffsetDelete(t *testing.T) {
	t.Parallel()
	_, adminCl, aliceCl := aclBroker(t)
	admin, alice := kadm.NewClient(adminCl), kadm.NewClient(aliceCl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const group = "od-g"
	if _, err := admin.CreateTopics(ctx, 2, 1, nil, "od-read", "od-other"); err != nil {
		t.Fatal(err)
	}
	var os kadm.Offsets
	for _, topic := range []string{"od-read", "od-other"} {
		for p := range int32(2) {
			os.AddOffset(topic, p, 7, -1)
		}
	}
	if res, err := admin.CommitOffsets(ctx, group, os); err != nil || res.Error() != nil {
		t.Fatalf("commit: %v %v", err, res.Error())
	}
	both := kadm.TopicsSet{}
	both.Add("od-read", 0, 1)
	both.Add("od-other", 0, 1)

	// Without DELETE on the group nothing is looked at.
	if _, err := alice.DeleteOffsets(ctx, group, both); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("delete offsets without acls: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
	mustCreateACLs(t, ctx, admin, kadm.NewACLs().Allow("User:alice").Groups(group).Operations(kadm.OpDelete).ResourcePatternType(kadm.ACLPatternLiteral))
	mustCreateACLs(t, ctx, admin, kadm.NewACLs().Allow("User:alice").Topics("od-read").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	res, err := alice.DeleteOffsets(ctx, group, both)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int32{0, 1} {
		if err, ok := res.Lookup("od-read", p); !ok || err != nil {
			t.Errorf("od-read/%d: %v (answered %v), want deleted", p, err, ok)
		}
		if err, ok := res.Lookup("od-other", p); !ok || !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("od-other/%d: %v (answered %v), want TOPIC_AUTHORIZATION_FAILED", p, err, ok)
		}
	}
	fetched, err := admin.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int32{0, 1} {
		if o, ok := fetched.Lookup("od-read", p); ok && o.At >= 0 {
			t.Errorf("od-read/%d still committed at %d", p, o.At)
		}
		if o, ok := fetched.Lookup("od-other", p); !ok || o.At != 7 {
			t.Errorf("od-other/%d: committed %+v (found %v), want 7", p, o, ok)
		}
	}
}
