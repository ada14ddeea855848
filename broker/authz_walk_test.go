package broker

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// hasErrorCode reports whether any ErrorCode field anywhere in v is code.
func hasErrorCode(v reflect.Value, code int16) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && hasErrorCode(v.Elem(), code)
	case reflect.Slice:
		for i := range v.Len() {
			if hasErrorCode(v.Index(i), code) {
				return true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 && v.Field(i).Int() == int64(code) {
				return true
			}
			if hasErrorCode(v.Field(i), code) {
				return true
			}
		}
	}
	return false
}

// walkCase is what one API checks: the request that needs the check and
// the error it answers without the ACL, or why there is no check.
type walkCase struct {
	req       func() kmsg.Request
	want      *kerr.Error
	unchecked string
}

// TestAuthzWalk: with the authorizer on and no ACLs, an authenticated
// non-super user (SASL PLAIN) sends every API the handler table serves
// and gets the authorization error of each checked one; every API is
// either checked or listed as unchecked with its reason, so a new API
// fails this test until it is classified. Then Metadata lists no topic; a
// PREFIXED READ+DESCRIBE grant made with kadm shows exactly the matching
// topics; a DENY beats the ALLOW.
func TestAuthzWalk(t *testing.T) {
	t.Parallel()
	b, adminCl, aliceCl := aclBroker(t)
	admin := kadm.NewClient(adminCl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, name := range []string{"walk-a", "walk-b", "other"} {
		if _, err := admin.CreateTopic(ctx, 1, 1, nil, name); err != nil {
			t.Fatal(err)
		}
	}
	id := topicID(t, ctx, adminCl, "walk-a")
	const topic, group, txnID = "walk-a", "walk-g", "walk-tx"
	topicAuth, groupAuth, clusterAuth, txnAuth := kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed, kerr.TransactionalIDAuthorizationFailed
	cases := map[kmsg.Key]walkCase{
		kmsg.Produce: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.Acks, r.TimeoutMillis = -1, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic, rt.TopicID = topic, id
			rt.Partitions = append(rt.Partitions, kmsg.NewProduceRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.Fetch: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrFetchRequest()
			r.ReplicaID, r.MaxBytes = -1, 1<<20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = topic, id
			p := kmsg.NewFetchRequestTopicPartition()
			p.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, p)
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.ListOffsets: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = topic
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.Timestamp = -1
			rt.Partitions = append(rt.Partitions, p)
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.Metadata: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr(topic)
			r.Topics = append(r.Topics, mt)
			return r
		}},
		kmsg.OffsetCommit: {want: groupAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Group, r.Generation = group, -1
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic, rt.TopicID = topic, id
			rt.Partitions = append(rt.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.OffsetFetch: {want: groupAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.Group = group
			g := kmsg.NewOffsetFetchRequestGroup()
			g.Group = group
			r.Groups = append(r.Groups, g)
			return r
		}},
		kmsg.FindCoordinator: {want: groupAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorKey, r.CoordinatorKeys = group, []string{group}
			return r
		}},
		kmsg.JoinGroup: {want: groupAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrJoinGroupRequest()
			r.Group, r.ProtocolType = group, "consumer"
			return r
		}},
		kmsg.Heartbeat:        {want: groupAuth, req: func() kmsg.Request { r := kmsg.NewPtrHeartbeatRequest(); r.Group = group; return r }},
		kmsg.LeaveGroup:       {want: groupAuth, req: func() kmsg.Request { r := kmsg.NewPtrLeaveGroupRequest(); r.Group = group; return r }},
		kmsg.SyncGroup:        {want: groupAuth, req: func() kmsg.Request { r := kmsg.NewPtrSyncGroupRequest(); r.Group = group; return r }},
		kmsg.DescribeGroups:   {want: groupAuth, req: func() kmsg.Request { r := kmsg.NewPtrDescribeGroupsRequest(); r.Groups = []string{group}; return r }},
		kmsg.ListGroups:       {unchecked: "filters: lists only the groups the principal may DESCRIBE (checked below)"},
		kmsg.SASLHandshake:    {unchecked: "none in Kafka"},
		kmsg.ApiVersions:      {unchecked: "none in Kafka"},
		kmsg.SASLAuthenticate: {unchecked: "none in Kafka"},
		kmsg.CreateTopics: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "walk-new", 1, 1
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.DeleteTopics: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.TopicNames = []string{topic}
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.DeleteRecords: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrDeleteRecordsRequest()
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = topic
			rt.Partitions = append(rt.Partitions, kmsg.NewDeleteRecordsRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.InitProducerID: {want: txnAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.TransactionalID, r.TransactionTimeoutMillis = kmsg.StringPtr(txnID), 10000
			return r
		}},
		kmsg.OffsetForLeaderEpoch: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			r.ReplicaID = -1
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = topic
			rt.Partitions = append(rt.Partitions, kmsg.NewOffsetForLeaderEpochRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.AddPartitionsToTxn: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrAddPartitionsToTxnRequest()
			tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
			tx.TransactionalID = txnID
			r.Transactions = append(r.Transactions, tx)
			return r
		}},
		kmsg.AddOffsetsToTxn: {want: txnAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrAddOffsetsToTxnRequest()
			r.TransactionalID, r.Group = txnID, group
			return r
		}},
		kmsg.EndTxn: {want: txnAuth, req: func() kmsg.Request { r := kmsg.NewPtrEndTxnRequest(); r.TransactionalID = txnID; return r }},
		kmsg.WriteTxnMarkers: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrWriteTxnMarkersRequest()
			m := kmsg.NewWriteTxnMarkersRequestMarker()
			mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			mt.Topic, mt.Partitions = topic, []int32{0}
			m.Topics = append(m.Topics, mt)
			r.Markers = append(r.Markers, m)
			return r
		}},
		kmsg.TxnOffsetCommit: {want: txnAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrTxnOffsetCommitRequest()
			r.TransactionalID, r.Group = txnID, group
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = topic
			rt.Partitions = append(rt.Partitions, kmsg.NewTxnOffsetCommitRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.DescribeACLs: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeACLsRequest()
			r.ResourceType, r.ResourcePatternType, r.Operation, r.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			return r
		}},
		kmsg.CreateACLs: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrCreateACLsRequest()
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.Principal, c.Host = kmsg.ACLResourceTypeTopic, topic, "User:alice", "*"
			c.Operation, c.PermissionType = kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
			r.Creations = append(r.Creations, c)
			return r
		}},
		kmsg.DeleteACLs: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrDeleteACLsRequest()
			f := kmsg.NewDeleteACLsRequestFilter()
			f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			r.Filters = append(r.Filters, f)
			return r
		}},
		kmsg.DescribeConfigs: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
			r.Resources = append(r.Resources, rr)
			return r
		}},
		kmsg.AlterConfigs: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
			r.Resources = append(r.Resources, rr)
			return r
		}},
		kmsg.CreatePartitions: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = topic, 2
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.DeleteGroups: {want: groupAuth, req: func() kmsg.Request { r := kmsg.NewPtrDeleteGroupsRequest(); r.Groups = []string{group}; return r }},
		kmsg.ElectLeaders: {want: clusterAuth, req: func() kmsg.Request { return kmsg.NewPtrElectLeadersRequest() }},
		kmsg.IncrementalAlterConfigs: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
			r.Resources = append(r.Resources, rr)
			return r
		}},
		kmsg.OffsetDelete: {want: groupAuth, req: func() kmsg.Request { r := kmsg.NewPtrOffsetDeleteRequest(); r.Group = group; return r }},
		kmsg.DescribeUserSCRAMCredentials: {want: clusterAuth, req: func() kmsg.Request {
			return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
		}},
		kmsg.AlterUserSCRAMCredentials: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
			d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
			d.Name, d.Mechanism = "bob", 1
			r.Deletions = append(r.Deletions, d)
			return r
		}},
		kmsg.AlterPartition:       {want: clusterAuth, req: func() kmsg.Request { return kmsg.NewPtrAlterPartitionRequest() }},
		kmsg.DescribeCluster:      {want: clusterAuth, req: func() kmsg.Request { return kmsg.NewPtrDescribeClusterRequest() }},
		kmsg.UnregisterBroker:     {want: clusterAuth, req: func() kmsg.Request { r := kmsg.NewPtrUnregisterBrokerRequest(); r.BrokerID = 1; return r }},
		kmsg.DescribeClientQuotas: {want: clusterAuth, req: func() kmsg.Request { return kmsg.NewPtrDescribeClientQuotasRequest() }},
		kmsg.AlterClientQuotas: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrAlterClientQuotasRequest()
			e := kmsg.NewAlterClientQuotasRequestEntry()
			ee := kmsg.NewAlterClientQuotasRequestEntryEntity()
			ee.Type, ee.Name = "client-id", kmsg.StringPtr("walk")
			e.Entity = append(e.Entity, ee)
			op := kmsg.NewAlterClientQuotasRequestEntryOp()
			op.Key, op.Value = "producer_byte_rate", 1024
			e.Ops = append(e.Ops, op)
			r.Entries = append(r.Entries, e)
			return r
		}},
		kmsg.DescribeLogDirs: {want: clusterAuth, req: func() kmsg.Request { return kmsg.NewPtrDescribeLogDirsRequest() }},
		kmsg.AlterPartitionAssignments: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
			rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
			rp.Replicas = []int32{b.cfg.NodeID}
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.ListPartitionReassignments: {want: clusterAuth, req: func() kmsg.Request { return kmsg.NewPtrListPartitionReassignmentsRequest() }},
		kmsg.AlterReplicaLogDirs: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrAlterReplicaLogDirsRequest()
			rd := kmsg.NewAlterReplicaLogDirsRequestDir()
			rd.Dir = b.cfg.Log.Dir
			rd.Topics = []kmsg.AlterReplicaLogDirsRequestDirTopic{{Topic: topic, Partitions: []int32{0}}}
			r.Dirs = append(r.Dirs, rd)
			return r
		}},
		kmsg.ConsumerGroupHeartbeat: {want: groupAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			r.Group, r.MemberID, r.RebalanceTimeoutMillis = group, "walk-member-0000000000", 30000
			r.SubscribedTopicNames = []string{topic}
			return r
		}},
		kmsg.ConsumerGroupDescribe: {want: groupAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrConsumerGroupDescribeRequest()
			r.Groups = []string{group}
			return r
		}},
		kmsg.DescribeProducers: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeProducersRequest()
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic, rt.Partitions = topic, []int32{0}
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.BrokerRegistration:   {want: clusterAuth, req: func() kmsg.Request { return kmsg.NewPtrBrokerRegistrationRequest() }},
		kmsg.BrokerHeartbeat:      {want: clusterAuth, req: func() kmsg.Request { return kmsg.NewPtrBrokerHeartbeatRequest() }},
		kmsg.AssignReplicasToDirs: {want: clusterAuth, req: func() kmsg.Request { return kmsg.NewPtrAssignReplicasToDirsRequest() }},
		kmsg.DescribeTransactions: {want: txnAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeTransactionsRequest()
			r.TransactionalIDs = []string{txnID}
			return r
		}},
		kmsg.ListTransactions:          {unchecked: "filters: lists only the transactional ids the principal may DESCRIBE"},
		kmsg.AllocateProducerIDs:       {want: clusterAuth, req: func() kmsg.Request { return kmsg.NewPtrAllocateProducerIDsRequest() }},
		kmsg.GetTelemetrySubscriptions: {unchecked: "none in Kafka"},
		kmsg.PushTelemetry:             {unchecked: "none in Kafka"},
		kmsg.ListConfigResources:       {want: clusterAuth, req: func() kmsg.Request { return kmsg.NewPtrListConfigResourcesRequest() }},
		kmsg.DescribeQuorum: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeQuorumRequest()
			rt := kmsg.NewDescribeQuorumRequestTopic()
			rt.Topic = "__cluster_metadata"
			rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.AddRaftVoter: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrAddRaftVoterRequest()
			r.VoterID = 7
			l := kmsg.NewAddRaftVoterRequestListener()
			l.Name, l.Host, l.Port = "CONTROLLER", "127.0.0.1", 1
			r.Listeners = append(r.Listeners, l)
			return r
		}},
		kmsg.RemoveRaftVoter: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrRemoveRaftVoterRequest()
			r.VoterID = b.cfg.NodeID
			return r
		}},
		kmsg.DescribeTopicPartitions: {want: topicAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrDescribeTopicPartitionsRequest()
			rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
			rt.Topic = topic
			r.Topics = append(r.Topics, rt)
			return r
		}},
		kmsg.UpdateFeatures: {want: clusterAuth, req: func() kmsg.Request {
			r := kmsg.NewPtrUpdateFeaturesRequest()
			u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
			u.Feature, u.MaxVersionLevel, u.UpgradeType = "transaction.version", 1, 1
			r.FeatureUpdates = append(r.FeatureUpdates, u)
			return r
		}},
	}
	node := aliceCl.Broker(int(b.cfg.NodeID))
	for _, h := range handlers {
		tc, ok := cases[h.key]
		if !ok {
			t.Errorf("%s (key %d) is served but not classified: add what it checks", kmsg.NameForKey(int16(h.key)), h.key)
			continue
		}
		if tc.req == nil {
			continue
		}
		req := tc.req()
		resp, err := node.Request(ctx, req)
		if err != nil {
			t.Errorf("%s: %v", kmsg.NameForKey(int16(h.key)), err)
			continue
		}
		if !hasErrorCode(reflect.ValueOf(resp), tc.want.Code) {
			t.Errorf("%s v%d: %+v, want %s", kmsg.NameForKey(int16(h.key)), resp.GetVersion(), resp, tc.want.Message)
		}
	}

	if got := metadataTopics(t, ctx, aliceCl); len(got) != 0 {
		t.Fatalf("alice without ACLs sees %v", got)
	}
	if err := admin.CommitAllOffsets(ctx, group, kadm.Offsets{topic: {0: {At: 0, LeaderEpoch: -1}}}); err != nil {
		t.Fatal(err)
	}
	listGroups := func(cl *kadm.Client) []string {
		t.Helper()
		ls, err := cl.ListGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ls.Groups()
	}
	if got := listGroups(admin); !slices.Contains(got, group) {
		t.Fatalf("admin's groups %v lack %s", got, group)
	}
	if got := listGroups(kadm.NewClient(aliceCl)); len(got) != 0 {
		t.Fatalf("alice without ACLs lists groups %v", got)
	}
	grant := kadm.NewACLs().Allow("User:alice").Topics("walk-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead, kadm.OpDescribe)
	if res, err := admin.CreateACLs(ctx, grant); err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("grant: %v %+v", err, res)
	}
	if got := metadataTopics(t, ctx, aliceCl); !slices.Equal(got, []string{"walk-a", "walk-b"}) {
		t.Fatalf("alice with PREFIXED READ+DESCRIBE walk- sees %v", got)
	}
	deny := kadm.NewACLs().Deny("User:alice").Topics("walk-b").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpDescribe)
	if res, err := admin.CreateACLs(ctx, deny); err != nil || res[0].Err != nil {
		t.Fatalf("deny: %v %+v", err, res)
	}
	if got := metadataTopics(t, ctx, aliceCl); !slices.Equal(got, []string{"walk-a"}) {
		t.Fatalf("alice with DENY DESCRIBE walk-b sees %v", got)
	}
}
