package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/auth"
)

// TestListConfigResources lists config resources over v1 (all types and
// each filter) and v0 (client metrics only), then checks the cluster
// DESCRIBE_CONFIGS authorization.
func TestListConfigResources(t *testing.T) {
	t.Parallel()
	b, admin, alice := aclBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	createTopicN(t, ctx, admin, "lcr-b", 1)
	createTopicN(t, ctx, admin, "lcr-a", 2)

	list := func(cl *kgo.Client, types ...int8) (string, int16) {
		t.Helper()
		req := kmsg.NewPtrListConfigResourcesRequest()
		req.ResourceTypes = types
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		var s string
		for _, rc := range resp.ConfigResources {
			s += fmt.Sprintf("%d:%s ", rc.Type, rc.Name)
		}
		return s, resp.ErrorCode
	}
	node := fmt.Sprint(b.cfg.NodeID)
	for _, tc := range []struct {
		types []int8
		want  string
		code  int16
	}{
		{nil, "8:" + node + " 4:" + node + " 2:lcr-a 2:lcr-b ", 0},
		{[]int8{2}, "2:lcr-a 2:lcr-b ", 0},
		{[]int8{2, 4}, "4:" + node + " 2:lcr-a 2:lcr-b ", 0},
		{[]int8{16, 32}, "", 0},
		{[]int8{2, 3}, "", kerr.UnsupportedVersion.Code},
	} {
		if got, code := list(admin, tc.types...); got != tc.want || code != tc.code {
			t.Errorf("types %v: %q error %d, want %q error %d", tc.types, got, code, tc.want, tc.code)
		}
	}

	// v0 (ListClientMetricsResources) has no types: client metrics only.
	v0 := kversion.Stable()
	v0.SetMaxKeyVersion(kmsg.ListConfigResources.Int16(), 0)
	old := b.client(plainAuth("admin", "admin-secret"), kgo.MaxVersions(v0))
	if got, code := list(old); got != "" || code != 0 {
		t.Errorf("v0: %q error %d", got, code)
	}

	if got, code := list(alice); got != "" || code != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("alice without DESCRIBE_CONFIGS: %q error %d", got, code)
	}
	mustSetACLs(t, b.srv, []auth.ACL{{ResourceType: kmsg.ACLResourceTypeCluster, ResourceName: auth.ClusterName, PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationDescribeConfigs, Permission: kmsg.ACLPermissionTypeAllow}})
	if got, code := list(alice, 2); got != "2:lcr-a 2:lcr-b " || code != 0 {
		t.Errorf("alice with DESCRIBE_CONFIGS: %q error %d", got, code)
	}
}
