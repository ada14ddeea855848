package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// TestClusterACLs: an ACL created through each broker is in that broker's
// answer at once (read-your-writes, also when the request was forwarded
// to the controller) and on every broker of the cluster; a delete through
// another broker removes it everywhere.
func TestClusterACLs(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override(
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer", "super.users=User:ANONYMOUS"))
	c.WaitReady()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	describe := func(i int, topic string) int {
		t.Helper()
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType, req.ResourceName, req.ResourcePatternType = kmsg.ACLResourceTypeTopic, kmsg.StringPtr(topic), kmsg.ACLResourcePatternTypeLiteral
		req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		r, err := c.Broker(i).Request(ctx, req)
		if err != nil || r.(*kmsg.DescribeACLsResponse).ErrorCode != 0 {
			t.Fatalf("describe on %d: %v %+v", i, err, r)
		}
		return len(r.(*kmsg.DescribeACLsResponse).Resources)
	}
	topics := []string{"t0", "t1", "t2"}
	for i, topic := range topics {
		req := kmsg.NewPtrCreateACLsRequest()
		cr := kmsg.NewCreateACLsRequestCreation()
		cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeTopic, topic, kmsg.ACLResourcePatternTypeLiteral
		cr.Principal, cr.Host, cr.Operation, cr.PermissionType = "User:alice", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
		req.Creations = append(req.Creations, cr)
		r, err := c.Broker(i).Request(ctx, req)
		if err != nil || r.(*kmsg.CreateACLsResponse).Results[0].ErrorCode != 0 {
			t.Fatalf("create through %d: %v %+v", i, err, r)
		}
		if describe(i, topic) != 1 {
			t.Fatalf("broker %d does not show the ACL it acknowledged", i)
		}
	}
	c.WaitFor("acls on every broker", 10*time.Second, func() bool {
		for i := range c.Len() {
			for _, topic := range topics {
				if describe(i, topic) != 1 {
					return false
				}
			}
		}
		return true
	})
	for i := range c.Len() {
		req := kmsg.NewPtrDeleteACLsRequest()
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourceName, f.ResourcePatternType = kmsg.ACLResourceTypeTopic, kmsg.StringPtr(topics[(i+1)%3]), kmsg.ACLResourcePatternTypeLiteral
		f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		req.Filters = append(req.Filters, f)
		r, err := c.Broker(i).Request(ctx, req)
		if err != nil || len(r.(*kmsg.DeleteACLsResponse).Results[0].MatchingACLs) != 1 {
			t.Fatalf("delete through %d: %v %+v", i, err, r)
		}
		if describe(i, topics[(i+1)%3]) != 0 {
			t.Fatalf("broker %d still shows the ACL it deleted", i)
		}
	}
	c.WaitFor("acls gone everywhere", 10*time.Second, func() bool {
		for i := range c.Len() {
			for _, topic := range topics {
				if describe(i, topic) != 0 {
					return false
				}
			}
		}
		return true
	})
}
