package broker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
)

// metadataTopics returns the names of all topics r's client may see.
func metadataTopics(t *testing.T, ctx context.Context, cl *kgo.Client) []string {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rt := range resp.Topics {
		names = append(names, *rt.Topic)
	}
	slices.Sort(names)
	return names
}

// topicID returns a topic's id from the metadata cl sees.
func topicID(t *testing.T, ctx context.Context, cl *kgo.Client, name string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(name)
	req.Topics = append(req.Topics, mt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata of %s: %v %+v", name, err, resp)
	}
	return resp.Topics[0].TopicID
}

func TestAuthzTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer", "super.users=User:admin")
	b.srv.SetPrincipalForTesting("authz-topics-admin", auth.User("admin"))
	b.srv.SetPrincipalForTesting("authz-topics-alice", auth.User("alice"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	admin := b.client(kgo.ClientID("authz-topics-admin"))
	for _, name := range []string{"pre-a", "pre-b", "other"} {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, admin)
		if err != nil || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("admin create %s: %v %v", name, err, resp)
		}
	}
	if got := metadataTopics(t, ctx, admin); !slices.Equal(got, []string{"other", "pre-a", "pre-b"}) {
		t.Fatalf("super user sees %v", got)
	}

	alice := b.client(kgo.ClientID("authz-topics-alice"), kgo.RecordRetries(1))
	denied := kerr.TopicAuthorizationFailed.Code

	// No ACLs: alice sees no topic and every topic action fails.
	if got := metadataTopics(t, ctx, alice); len(got) != 0 {
		t.Fatalf("alice without ACLs sees %v", got)
	}
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("pre-a")
	md.Topics = append(md.Topics, mt)
	mt2 := kmsg.NewMetadataRequestTopic()
	mt2.Topic = kmsg.StringPtr("auto-made")
	md.Topics = append(md.Topics, mt2)
	md.AllowAutoTopicCreation = true
	mresp, err := md.RequestWith(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range mresp.Topics {
		if rt.ErrorCode != denied {
			t.Errorf("metadata of %s: error %d, want TOPIC_AUTHORIZATION_FAILED", *rt.Topic, rt.ErrorCode)
		}
	}
	if got := metadataTopics(t, ctx, admin); slices.Contains(got, "auto-made") {
		t.Error("metadata auto-created a topic without CREATE")
	}

	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "alice-new", 1, 1
	ct.Topics = append(ct.Topics, ctt)
	if resp, err := ct.RequestWith(ctx, alice); err != nil || resp.Topics[0].ErrorCode != denied {
		t.Errorf("create topics: %v %+v", err, resp)
	}
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"pre-a"}
	dtt := kmsg.NewDeleteTopicsRequestTopic()
	dtt.Topic = kmsg.StringPtr("pre-a")
	dt.Topics = append(dt.Topics, dtt)
	if resp, err := dt.RequestWith(ctx, alice); err != nil || resp.Topics[0].ErrorCode != denied {
		t.Errorf("delete topics: %v %+v", err, resp)
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lot := kmsg.NewListOffsetsRequestTopic()
	lot.Topic = "pre-a"
	lop := kmsg.NewListOffsetsRequestTopicPartition()
	lop.Timestamp = -1
	lot.Partitions = append(lot.Partitions, lop)
	lo.Topics = append(lo.Topics, lot)
	node := alice.Broker(int(b.cfg.NodeID))
	if resp, err := lo.RequestWith(ctx, node); err != nil || resp.Topics[0].Partitions[0].ErrorCode != denied {
		t.Errorf("list offsets: %v %+v", err, resp)
	}
	fr := kmsg.NewPtrFetchRequest()
	fr.ReplicaID, fr.MaxBytes = -1, 1<<20
	frt := kmsg.NewFetchRequestTopic()
	frt.TopicID = topicID(t, ctx, admin, "pre-a")
	frp := kmsg.NewFetchRequestTopicPartition()
	frp.PartitionMaxBytes = 1 << 20
	frt.Partitions = append(frt.Partitions, frp)
	fr.Topics = append(fr.Topics, frt)
	if resp, err := fr.RequestWith(ctx, node); err != nil || resp.Topics[0].Partitions[0].ErrorCode != denied {
		t.Errorf("fetch: %v %+v", err, resp)
	}
	err = alice.ProduceSync(ctx, &kgo.Record{Topic: "pre-a", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("produce: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	// PREFIXED READ on pre-: READ implies DESCRIBE, so exactly the
	// matching topics are listed, and fetch of one is allowed.
	read := auth.ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "pre-", PatternType: kmsg.ACLResourcePatternTypePrefixed,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}
	mustSetACLs(t, b.srv, []auth.ACL{read})
	if got := metadataTopics(t, ctx, alice); !slices.Equal(got, []string{"pre-a", "pre-b"}) {
		t.Errorf("alice with PREFIXED READ pre- sees %v", got)
	}
	if resp, err := fr.RequestWith(ctx, node); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Errorf("fetch with READ: %v %+v", err, resp)
	}

	// DENY beats ALLOW: a literal DENY DESCRIBE on pre-b hides it.
	deny := auth.ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "pre-b", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationDescribe, Permission: kmsg.ACLPermissionTypeDeny}
	mustSetACLs(t, b.srv, []auth.ACL{read, deny})
	if got := metadataTopics(t, ctx, alice); !slices.Equal(got, []string{"pre-a"}) {
		t.Errorf("alice with DENY DESCRIBE pre-b sees %v", got)
	}
}

// TestAuthzOff: with no authorizer configured, an unprivileged principal
// may do everything.
func TestAuthzOff(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	b.srv.SetPrincipalForTesting("authz-off-bob", auth.User("bob"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := b.client(kgo.ClientID("authz-off-bob"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "free", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := metadataTopics(t, ctx, cl); !slices.Contains(got, "free") {
		t.Fatalf("sees %v", got)
	}
}

func TestAuthzConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		ov      []string
		enabled bool
		supers  int
		ok      bool
	}{
		{"default off", nil, false, 0, true},
		{"standard", []string{"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"}, true, 0, true},
		{"acl", []string{"authorizer.class.name=kafka.security.authorizer.AclAuthorizer", "super.users=User:a;User:b"}, true, 2, true},
		{"gregor", []string{"authorizer.class.name=gregor"}, true, 0, true},
		{"unknown class", []string{"authorizer.class.name=com.example.Mine"}, false, 0, false},
		{"bad super", []string{"super.users=admin"}, false, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("", nil, append([]string{"log.dirs=" + t.TempDir()}, tc.ov...))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if err == nil && (cfg.Authz.Enabled != tc.enabled || len(cfg.Authz.SuperUsers) != tc.supers) {
				t.Fatalf("%+v", cfg.Authz)
			}
		})
	}
}

func TestAuthzGroups(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "authorizer.class.name=gregor")
	b.srv.SetPrincipalForTesting("authz-groups-carol", auth.User("carol"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node := b.client(kgo.ClientID("authz-groups-carol")).Broker(int(b.cfg.NodeID))
	groupDenied := kerr.GroupAuthorizationFailed.Code

	join := func() int16 {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.ProtocolType, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "g1", "consumer", 10000, 10000
		req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: "range"})
		resp, err := req.RequestWith(ctx, node)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID = "g1", "m"
	sg := kmsg.NewPtrSyncGroupRequest()
	sg.Group, sg.MemberID = "g1", "m"
	lg := kmsg.NewPtrLeaveGroupRequest()
	lg.Group, lg.MemberID = "g1", "m"
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"g1"}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g1"}
	dc := kmsg.NewPtrDescribeClusterRequest()
	cgh := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	cgh.Group, cgh.MemberID, cgh.RebalanceTimeoutMillis, cgh.SubscribedTopicNames = "g1", "m", 10000, []string{"t"}
	cgd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cgd.Groups = []string{"g1"}

	if resp, err := cgh.RequestWith(ctx, node); err != nil || resp.ErrorCode != groupDenied {
		t.Errorf("consumer group heartbeat: %v %+v", err, resp)
	}
	if resp, err := cgd.RequestWith(ctx, node); err != nil || resp.Groups[0].ErrorCode != groupDenied {
		t.Errorf("consumer group describe: %v %+v", err, resp)
	}
	if code := join(); code != groupDenied {
		t.Errorf("join group: %d", code)
	}
	if resp, err := hb.RequestWith(ctx, node); err != nil || resp.ErrorCode != groupDenied {
		t.Errorf("heartbeat: %v %+v", err, resp)
	}
	if resp, err := sg.RequestWith(ctx, node); err != nil || resp.ErrorCode != groupDenied {
		t.Errorf("sync group: %v %+v", err, resp)
	}
	if resp, err := lg.RequestWith(ctx, node); err != nil || resp.ErrorCode != groupDenied {
		t.Errorf("leave group: %v %+v", err, resp)
	}
	if resp, err := dg.RequestWith(ctx, node); err != nil || resp.Groups[0].ErrorCode != groupDenied {
		t.Errorf("describe groups: %v %+v", err, resp)
	}
	if resp, err := del.RequestWith(ctx, node); err != nil || resp.Groups[0].ErrorCode != groupDenied {
		t.Errorf("delete groups: %v %+v", err, resp)
	}
	if resp, err := dc.RequestWith(ctx, node); err != nil || resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("describe cluster: %v %+v", err, resp)
	}

	// READ on the group (implies DESCRIBE) lets carol join and describe it.
	mustSetACLs(t, b.srv, []auth.ACL{{ResourceType: kmsg.ACLResourceTypeGroup, ResourceName: "g1", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:carol", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}})
	if code := join(); code == groupDenied {
		t.Errorf("join group with READ: denied")
	}
	if resp, err := dg.RequestWith(ctx, node); err != nil || resp.Groups[0].ErrorCode == groupDenied {
		t.Errorf("describe groups with READ: %v %+v", err, resp)
	}
	if resp, err := cgd.RequestWith(ctx, node); err != nil || resp.Groups[0].ErrorCode == groupDenied {
		t.Errorf("consumer group describe with READ: %v %+v", err, resp)
	}
}

// TestAuthzTransactionalID: without WRITE on its transactional id a
// principal cannot start, extend or end transactions, nor produce or
// commit offsets transactionally.
func TestAuthzTransactionalID(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "authorizer.class.name=gregor")
	b.srv.SetPrincipalForTesting("authz-txn-dave", auth.User("dave"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node := b.client(kgo.ClientID("authz-txn-dave")).Broker(int(b.cfg.NodeID))
	denied := kerr.TransactionalIDAuthorizationFailed.Code

	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID, ip.TransactionTimeoutMillis = kmsg.StringPtr("tx-dave"), 10000
	if resp, err := ip.RequestWith(ctx, node); err != nil || resp.ErrorCode != denied {
		t.Errorf("init producer id: %v %+v", err, resp)
	}
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.Group = "tx-dave", "g"
	if resp, err := ao.RequestWith(ctx, node); err != nil || resp.ErrorCode != denied {
		t.Errorf("add offsets: %v %+v", err, resp)
	}
	et := kmsg.NewPtrEndTxnRequest()
	et.TransactionalID = "tx-dave"
	if resp, err := et.RequestWith(ctx, node); err != nil || resp.ErrorCode != denied {
		t.Errorf("end txn: %v %+v", err, resp)
	}
	to := kmsg.NewPtrTxnOffsetCommitRequest()
	to.TransactionalID, to.Group = "tx-dave", "g"
	to.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
	if resp, err := to.RequestWith(ctx, node); err != nil || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != denied {
		t.Errorf("txn offset commit: %v %+v", err, resp)
	}
}

// mustSetACLs replaces the ACL bindings in srv's controller.
func mustSetACLs(t *testing.T, srv *Server, acls []auth.ACL) {
	t.Helper()
	if err := srv.SetACLsForTesting(acls); err != nil {
		t.Fatal(err)
	}
}
