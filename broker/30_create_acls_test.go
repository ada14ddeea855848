package broker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclBroker starts a broker with the authorizer on, a SASL PLAIN listener
// and admin as its super user; it returns admin's and alice's admin
// clients.
func aclBroker(t *testing.T, overrides ...string) (b *testBroker, admin, alice *kgo.Client) {
	t.Helper()
	ov := append(saslOverrides(), "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer", "super.users=User:admin")
	b = startBroker(t, append(ov, overrides...)...)
	return b, b.client(plainAuth("admin", "admin-secret")), b.client(plainAuth("alice", "alice-secret"))
}

// describedNames lists "type:pattern:name:principal:op:permission" of
// every ACL a describe with b selects.
func describedNames(t *testing.T, ctx context.Context, adm *kadm.Client, b *kadm.ACLBuilder) []string {
	t.Helper()
	res, err := adm.DescribeACLs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("describe: %v %s", r.Err, r.ErrMessage)
		}
		for _, d := range r.Described {
			out = append(out, d.Type.String()+":"+d.Pattern.String()+":"+d.Name+":"+d.Principal+":"+d.Operation.String()+":"+d.Permission.String())
		}
	}
	slices.Sort(out)
	return out
}

// TestACLAPIs: kadm creates, describes (MATCH, ANY, LITERAL, PREFIXED
// filters) and deletes ACLs over every resource type; a non-super user
// without ALTER/DESCRIBE on the cluster is refused.
func TestACLAPIs(t *testing.T) {
	t.Parallel()
	_, adminCl, aliceCl := aclBroker(t)
	admin, alice := kadm.NewClient(adminCl), kadm.NewClient(aliceCl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	anyACL := kadm.NewACLs().AnyResource().Operations(kadm.OpAny).Allow().Deny().AllowHosts().DenyHosts().ResourcePatternType(kadm.ACLPatternAny)
	if res, err := alice.DescribeACLs(ctx, anyACL); err != nil || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("alice describe: %v %+v, want CLUSTER_AUTHORIZATION_FAILED", err, res)
	}
	create := kadm.NewACLs().Allow("User:alice").Topics("orders").Groups("g").TransactionalIDs("tx").
		DelegationTokens("tok").Clusters().Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral)
	create2 := kadm.NewACLs().Deny("User:bob").Topics("ord").Operations(kadm.OpRead, kadm.OpWrite).ResourcePatternType(kadm.ACLPatternPrefixed)
	mustCreateACLs(t, ctx, admin, create)
	mustCreateACLs(t, ctx, admin, create2)
	// USER resources are created with a raw request (kadm has no builder
	// for them).
	cr := kmsg.NewPtrCreateACLsRequest()
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeUser, "User:carol", kmsg.ACLResourcePatternTypeLiteral
	c.Principal, c.Host, c.Operation, c.PermissionType = "User:alice", "*", kmsg.ACLOperationCreateTokens, kmsg.ACLPermissionTypeAllow
	cr.Creations = append(cr.Creations, c)
	if resp, err := cr.RequestWith(ctx, adminCl); err != nil || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("create user acl: %v %+v", err, resp)
	}

	all := []string{
		"CLUSTER:LITERAL:kafka-cluster:User:alice:DESCRIBE:ALLOW",
		"DELEGATION_TOKEN:LITERAL:tok:User:alice:DESCRIBE:ALLOW",
		"GROUP:LITERAL:g:User:alice:DESCRIBE:ALLOW",
		"TOPIC:LITERAL:orders:User:alice:DESCRIBE:ALLOW",
		"TOPIC:PREFIXED:ord:User:bob:READ:DENY",
		"TOPIC:PREFIXED:ord:User:bob:WRITE:DENY",
		"TRANSACTIONAL_ID:LITERAL:tx:User:alice:DESCRIBE:ALLOW",
		"USER:LITERAL:User:carol:User:alice:CREATE_TOKENS:ALLOW",
	}
	everything := kmsg.NewPtrDescribeACLsRequest()
	everything.ResourceType, everything.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	everything.Operation, everything.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	dresp, err := everything.RequestWith(ctx, adminCl)
	if err != nil || dresp.ErrorCode != 0 {
		t.Fatalf("describe all: %v %+v", err, dresp)
	}
	var got []string
	for _, r := range dresp.Resources {
		for _, a := range r.ACLs {
			got = append(got, r.ResourceType.String()+":"+r.ResourcePatternType.String()+":"+r.ResourceName+":"+a.Principal+":"+a.Operation.String()+":"+a.PermissionType.String())
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, all) {
		t.Fatalf("describe all:\n%v\nwant\n%v", got, all)
	}
	if len(dresp.Resources) != 7 {
		t.Fatalf("%d resources, want 7 (one per resource pattern)", len(dresp.Resources))
	}

	for _, tc := range []struct {
		name    string
		pattern kadm.ACLPattern
		want    []string
	}{
		{"orders", kadm.ACLPatternMatch, []string{all[3], all[4], all[5]}},
		{"orders", kadm.ACLPatternLiteral, []string{all[3]}},
		{"orders", kadm.ACLPatternPrefixed, nil},
		{"ord", kadm.ACLPatternAny, []string{all[4], all[5]}},
		{"ord", kadm.ACLPatternMatch, []string{all[4], all[5]}},
	} {
		b := kadm.NewACLs().Topics(tc.name).ResourcePatternType(tc.pattern).Operations(kadm.OpAny).
			Allow().Deny().AllowHosts().DenyHosts()
		if got := describedNames(t, ctx, admin, b); !slices.Equal(got, tc.want) {
			t.Errorf("describe topic %s %s: %v, want %v", tc.name, tc.pattern, got, tc.want)
		}
	}

	// alice may not create or delete ACLs; her DESCRIBE on the cluster
	// lets her describe them.
	if res, err := alice.CreateACLs(ctx, create); err != nil || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("alice create: %v %+v", err, res)
	}
	if res, err := alice.DescribeACLs(ctx, anyACL); err != nil || res[0].Err != nil || len(res[0].Described) != len(all) {
		t.Errorf("alice describe with DESCRIBE on the cluster: %v %+v", err, res)
	}
	if res, err := alice.DeleteACLs(ctx, anyACL); err != nil || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("alice delete: %v %+v", err, res)
	}

	// Delete the DENY ACLs by a MATCH filter on a name they prefix.
	del := kadm.NewACLs().Topics("ordinary").ResourcePatternType(kadm.ACLPatternMatch).Operations(kadm.OpAny).Deny().DenyHosts()
	dres, err := admin.DeleteACLs(ctx, del)
	if err != nil {
		t.Fatal(err)
	}
	var deleted int
	for _, r := range dres {
		if r.Err != nil {
			t.Fatalf("delete: %v", r.Err)
		}
		deleted += len(r.Deleted)
	}
	if deleted != 2 {
		t.Fatalf("deleted %d, want the 2 DENY ACLs: %+v", deleted, dres)
	}
	left := describedNames(t, ctx, admin, anyACL)
	if want := slices.Concat(all[:4], all[6:]); !slices.Equal(left, want) {
		t.Fatalf("after delete %v, want %v", left, want)
	}
}

// TestACLAPIErrors: Kafka's validation errors, and SECURITY_DISABLED
// without an authorizer.
func TestACLAPIErrors(t *testing.T) {
	t.Parallel()
	_, adminCl, _ := aclBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	good := kmsg.NewCreateACLsRequestCreation()
	good.ResourceType, good.ResourceName, good.ResourcePatternType = kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral
	good.Principal, good.Host, good.Operation, good.PermissionType = "User:alice", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
	for _, tc := range []struct {
		name string
		mod  func(*kmsg.CreateACLsRequestCreation)
		msg  string
	}{
		{"any resource type", func(c *kmsg.CreateACLsRequestCreation) { c.ResourceType = kmsg.ACLResourceTypeAny }, "Invalid resourceType ANY"},
		{"match pattern", func(c *kmsg.CreateACLsRequestCreation) { c.ResourcePatternType = kmsg.ACLResourcePatternTypeMatch }, "Invalid patternType MATCH"},
		{"any operation", func(c *kmsg.CreateACLsRequestCreation) { c.Operation = kmsg.ACLOperationAny }, "Invalid operation ANY"},
		{"any permission", func(c *kmsg.CreateACLsRequestCreation) { c.PermissionType = kmsg.ACLPermissionTypeAny }, "Invalid permissionType ANY"},
		{"empty name", func(c *kmsg.CreateACLsRequestCreation) { c.ResourceName = "" }, "Invalid empty resource name"},
		{"cluster name", func(c *kmsg.CreateACLsRequestCreation) { c.ResourceType = kmsg.ACLResourceTypeCluster }, "The only valid name for the CLUSTER resource is kafka-cluster"},
		{"principal without type", func(c *kmsg.CreateACLsRequestCreation) { c.Principal = "alice" }, ""},
	} {
		req := kmsg.NewPtrCreateACLsRequest()
		bad := good
		tc.mod(&bad)
		req.Creations = append(req.Creations, good, bad)
		resp, err := req.RequestWith(ctx, adminCl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Results) != 2 || resp.Results[0].ErrorCode != 0 || resp.Results[1].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("%s: %+v, want the good creation to pass and INVALID_REQUEST", tc.name, resp.Results)
		}
		if m := resp.Results[1].ErrorMessage; tc.msg != "" && (m == nil || *m != tc.msg) {
			t.Errorf("%s: message %v, want %q", tc.name, m, tc.msg)
		}
	}
	dr := kmsg.NewPtrDescribeACLsRequest()
	dr.ResourceType, dr.ResourcePatternType, dr.Operation, dr.PermissionType = kmsg.ACLResourceTypeTopic, kmsg.ACLResourcePatternTypeUnknown, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if resp, err := dr.RequestWith(ctx, adminCl); err != nil || resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("describe with pattern UNKNOWN: %v %+v", err, resp)
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = kmsg.ACLResourceTypeTopic, kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationUnknown, kmsg.ACLPermissionTypeAny
	del.Filters = append(del.Filters, f)
	if resp, err := del.RequestWith(ctx, adminCl); err != nil || resp.Results[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("delete with operation UNKNOWN: %v %+v", err, resp)
	}

	off := kadm.NewClient(startBroker(t).client())
	if res, err := off.CreateACLs(ctx, kadm.NewACLs().Allow("User:a").Topics("t").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)); err != nil || !errors.Is(res[0].Err, kerr.SecurityDisabled) {
		t.Errorf("create without authorizer: %v %+v", err, res)
	}
	anyACL := kadm.NewACLs().AnyResource().Operations(kadm.OpAny).Allow().Deny().AllowHosts().DenyHosts().ResourcePatternType(kadm.ACLPatternAny)
	if res, err := off.DescribeACLs(ctx, anyACL); err != nil || !errors.Is(res[0].Err, kerr.SecurityDisabled) {
		t.Errorf("describe without authorizer: %v %+v", err, res)
	}
	if res, err := off.DeleteACLs(ctx, anyACL); err != nil || !errors.Is(res[0].Err, kerr.SecurityDisabled) {
		t.Errorf("delete without authorizer: %v %+v", err, res)
	}
}

// TestACLAPIsOldVersions: v0 (no pattern type: LITERAL) creates, describes
// and deletes.
func TestACLAPIsOldVersions(t *testing.T) {
	t.Parallel()
	_, cl, _ := aclBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cr := kmsg.NewPtrCreateACLsRequest()
	cr.Version = 0
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName = kmsg.ACLResourceTypeGroup, "g0"
	c.Principal, c.Host, c.Operation, c.PermissionType = "User:x", "10.0.0.1", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
	cr.Creations = append(cr.Creations, c)
	if resp, err := cr.RequestWith(ctx, cl); err != nil || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("create v0: %v %+v", err, resp)
	}
	for v := int16(0); v <= 3; v++ {
		dr := kmsg.NewPtrDescribeACLsRequest()
		dr.Version = v
		dr.ResourceType, dr.ResourceName = kmsg.ACLResourceTypeGroup, kmsg.StringPtr("g0")
		dr.Operation, dr.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		resp, err := dr.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 || len(resp.Resources) != 1 || resp.Resources[0].ACLs[0].Host != "10.0.0.1" {
			t.Fatalf("describe v%d: %v %+v", v, err, resp)
		}
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	del.Version = 0
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.Operation, f.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	del.Filters = append(del.Filters, f)
	if resp, err := del.RequestWith(ctx, cl); err != nil || len(resp.Results[0].MatchingACLs) != 1 {
		t.Fatalf("delete v0: %v %+v", err, resp)
	}
}

// mustCreateACLs creates the bindings of b with adm.
func mustCreateACLs(t *testing.T, ctx context.Context, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create acl %+v: %v %s", r, r.Err, r.ErrMessage)
		}
	}
}

// mustDeleteACLs deletes what b matches with adm.
func mustDeleteACLs(t *testing.T, ctx context.Context, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.DeleteACLs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("delete acl %+v: %v %s", r, r.Err, r.ErrMessage)
		}
	}
}
