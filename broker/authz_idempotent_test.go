package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// initProducerIDCode sends an InitProducerId without a transactional id.
func initProducerIDCode(t *testing.T, ctx context.Context, cl *kgo.Client) int16 {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode == 0 && resp.ProducerID < 0 {
		t.Errorf("init producer id: no error and producer id %d", resp.ProducerID)
	}
	return resp.ErrorCode
}

// TestAuthzIdempotentWrite: an InitProducerId without a transactional id
// needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679),
// else CLUSTER_AUTHORIZATION_FAILED, so an idempotent kgo producer (kgo's
// default) of a SASL user without ACLs cannot produce; a WRITE grant on
// one topic lets it, a DENY on the topic's prefix takes that away again,
// and IDEMPOTENT_WRITE alone lets it obtain a producer id. Produce
// itself checks only WRITE on the topic, as Kafka since 3.0.
func TestAuthzIdempotentWrite(t *testing.T) {
	t.Parallel()
	b, adminCl, aliceCl := aclBroker(t)
	admin := kadm.NewClient(adminCl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "idem-t"); err != nil {
		t.Fatal(err)
	}
	denied := kerr.ClusterAuthorizationFailed.Code
	if code := initProducerIDCode(t, ctx, aliceCl); code != denied {
		t.Fatalf("init producer id without acls: %v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	// READ or DESCRIBE on a topic is not WRITE.
	mustCreateACLs(t, ctx, admin, kadm.NewACLs().Allow("User:alice").Topics("idem-t").Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	if code := initProducerIDCode(t, ctx, aliceCl); code != denied {
		t.Fatalf("init producer id with READ: %v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	produce := func(cl *kgo.Client) error {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		defer pcancel()
		return cl.ProduceSync(pctx, &kgo.Record{Topic: "idem-t", Value: []byte("v")}).FirstErr()
	}
	idem := kgo.ProducerLinger(0)
	if err := produce(b.client(plainAuth("alice", "alice-secret"), idem)); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("idempotent produce without WRITE: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
	}

	mustCreateACLs(t, ctx, admin, kadm.NewACLs().Allow("User:alice").Topics("idem-t").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	if code := initProducerIDCode(t, ctx, aliceCl); code != 0 {
		t.Fatalf("init producer id with WRITE on a topic: %v", kerr.ErrorForCode(code))
	}
	if err := produce(b.client(plainAuth("alice", "alice-secret"), idem)); err != nil {
		t.Fatalf("idempotent produce with WRITE: %v", err)
	}

	// A DENY of WRITE on a prefix covering the one allowed topic shadows it.
	denyPrefix := kadm.NewACLs().Deny("User:alice").DenyHosts("*").Topics("idem").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternPrefixed)
	mustCreateACLs(t, ctx, admin, denyPrefix)
	if code := initProducerIDCode(t, ctx, aliceCl); code != denied {
		t.Fatalf("init producer id with WRITE shadowed by a DENY: %v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	// IDEMPOTENT_WRITE on the cluster suffices without any topic WRITE.
	mustCreateACLs(t, ctx, admin, kadm.NewACLs().Allow("User:alice").Clusters().Operations(kadm.OpIdempotentWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	if code := initProducerIDCode(t, ctx, aliceCl); code != 0 {
		t.Fatalf("init producer id with IDEMPOTENT_WRITE: %v", kerr.ErrorForCode(code))
	}
	mustDeleteACLs(t, ctx, admin, denyPrefix)
	if err := produce(b.client(plainAuth("alice", "alice-secret"), idem)); err != nil {
		t.Fatalf("idempotent produce with WRITE and IDEMPOTENT_WRITE: %v", err)
	}
}
