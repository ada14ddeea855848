package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	topic   = kmsg.ACLResourceTypeTopic
	group   = kmsg.ACLResourceTypeGroup
	cluster = kmsg.ACLResourceTypeCluster
	lit     = kmsg.ACLResourcePatternTypeLiteral
	pre     = kmsg.ACLResourcePatternTypePrefixed
	allow   = kmsg.ACLPermissionTypeAllow
	deny    = kmsg.ACLPermissionTypeDeny
	opRead  = kmsg.ACLOperationRead
	opWrite = kmsg.ACLOperationWrite
	opDesc  = kmsg.ACLOperationDescribe
)

func acl(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACL {
	return ACL{rt, name, pt, principal, host, op, perm}
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	alice, bob := User("alice"), User("bob")
	type check struct {
		p    Principal
		host string
		op   kmsg.ACLOperation
		rt   kmsg.ACLResourceType
		name string
		want bool
	}
	for _, tc := range []struct {
		name          string
		acls          []ACL
		allowEveryone bool
		checks        []check
	}{
		{"no acls denies", nil, false, []check{{alice, "1.2.3.4", opRead, topic, "t", false}}},
		{"no acls allow everyone", nil, true, []check{{alice, "1.2.3.4", opRead, topic, "t", true}}},
		{"literal allow", []ACL{acl(topic, "t", lit, "User:alice", "*", opRead, allow)}, false, []check{
			{alice, "h", opRead, topic, "t", true},
			{alice, "h", opWrite, topic, "t", false},
			{bob, "h", opRead, topic, "t", false},
			{alice, "h", opRead, topic, "t2", false},
			{alice, "h", opRead, group, "t", false},
		}},
		{"allow everyone only where no acl applies", []ACL{acl(topic, "t", lit, "User:alice", "*", opRead, allow)}, true, []check{
			{bob, "h", opRead, topic, "t", false}, // an ACL applies to t, none for bob
			{bob, "h", opRead, topic, "other", true},
		}},
		{"implied describe", []ACL{
			acl(topic, "r", lit, "User:alice", "*", opRead, allow),
			acl(topic, "w", lit, "User:alice", "*", opWrite, allow),
			acl(topic, "d", lit, "User:alice", "*", kmsg.ACLOperationDelete, allow),
			acl(topic, "a", lit, "User:alice", "*", kmsg.ACLOperationAlter, allow),
			acl(topic, "c", lit, "User:alice", "*", kmsg.ACLOperationCreate, allow),
			acl(topic, "ac", lit, "User:alice", "*", kmsg.ACLOperationAlterConfigs, allow),
		}, false, []check{
			{alice, "h", opDesc, topic, "r", true},
			{alice, "h", opDesc, topic, "w", true},
			{alice, "h", opDesc, topic, "d", true},
			{alice, "h", opDesc, topic, "a", true},
			{alice, "h", opDesc, topic, "c", false},
			{alice, "h", kmsg.ACLOperationDescribeConfigs, topic, "ac", true},
			{alice, "h", opDesc, topic, "ac", false},
			{alice, "h", kmsg.ACLOperationDescribeConfigs, topic, "a", false},
		}},
		{"deny implies nothing", []ACL{
			acl(topic, "t", lit, "User:alice", "*", opDesc, allow),
			acl(topic, "t", lit, "User:alice", "*", opRead, deny),
		}, false, []check{{alice, "h", opDesc, topic, "t", true}, {alice, "h", opRead, topic, "t", false}}},
		{"deny beats allow", []ACL{
			acl(topic, "t", pre, "User:*", "*", kmsg.ACLOperationAll, allow),
			acl(topic, "t1", lit, "User:alice", "*", opRead, deny),
		}, false, []check{
			{alice, "h", opRead, topic, "t1", false},
			{alice, "h", opWrite, topic, "t1", true},
			{bob, "h", opRead, topic, "t1", true},
		}},
		{"deny all", []ACL{
			acl(topic, "*", lit, "User:*", "*", kmsg.ACLOperationAll, allow),
			acl(topic, "secret", lit, "User:bob", "*", kmsg.ACLOperationAll, deny),
		}, false, []check{{bob, "h", opDesc, topic, "secret", false}, {bob, "h", opDesc, topic, "x", true}}},
		{"wildcard resource and principal", []ACL{acl(group, "*", lit, "User:*", "*", opRead, allow)}, false, []check{
			{alice, "h", opRead, group, "g", true},
			{bob, "h", opRead, group, "*", true},
			{bob, "h", opRead, topic, "g", false},
		}},
		{"prefixed", []ACL{
			acl(topic, "pay", pre, "User:alice", "*", opRead, allow),
			acl(topic, "payments.", pre, "User:alice", "*", opWrite, allow),
		}, false, []check{
			{alice, "h", opRead, topic, "pay", true},
			{alice, "h", opRead, topic, "payroll", true},
			{alice, "h", opWrite, topic, "payments.eu", true},
			{alice, "h", opWrite, topic, "payroll", false},
			{alice, "h", opRead, topic, "pa", false},
			{alice, "h", opRead, topic, "xpay", false},
		}},
		{"literal star is not prefix", []ACL{acl(topic, "*", pre, "User:alice", "*", opRead, allow)}, false, []check{
			{alice, "h", opRead, topic, "abc", false},
			{alice, "h", opRead, topic, "*abc", true},
		}},
		{"hosts", []ACL{acl(topic, "t", lit, "User:alice", "10.0.0.1", opRead, allow)}, false, []check{
			{alice, "10.0.0.1", opRead, topic, "t", true},
			{alice, "10.0.0.2", opRead, topic, "t", false},
		}},
		{"host deny", []ACL{
			acl(topic, "t", lit, "User:*", "*", opRead, allow),
			acl(topic, "t", lit, "User:*", "10.0.0.9", opRead, deny),
		}, false, []check{{alice, "10.0.0.1", opRead, topic, "t", true}, {alice, "10.0.0.9", opRead, topic, "t", false}}},
		{"principal type matters", []ACL{acl(topic, "t", lit, "Group:alice", "*", opRead, allow)}, false, []check{
			{alice, "h", opRead, topic, "t", false},
		}},
		{"super user", []ACL{acl(topic, "t", lit, "User:admin", "*", kmsg.ACLOperationAll, deny)}, false, []check{
			{User("admin"), "h", opRead, topic, "t", true},
			{User("admin"), "h", kmsg.ACLOperationClusterAction, cluster, ClusterName, true},
		}},
		{"any op never allowed", []ACL{acl(topic, "t", lit, "User:*", "*", kmsg.ACLOperationAll, allow)}, true, []check{
			{alice, "h", kmsg.ACLOperationAny, topic, "t", false},
			{alice, "h", kmsg.ACLOperationUnknown, topic, "t", false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := NewAuthorizer(AuthorizerConfig{SuperUsers: []Principal{User("admin")}, AllowEveryoneIfNoACLFound: tc.allowEveryone})
			a.SetACLs(tc.acls)
			for _, c := range tc.checks {
				if got := a.Authorize(c.p, c.host, c.op, c.rt, c.name); got != c.want {
					t.Errorf("%v from %s %s %s %q = %v, want %v", c.p, c.host, c.op, c.rt, c.name, got, c.want)
				}
			}
		})
	}
}

func TestParseSuperUsers(t *testing.T) {
	t.Parallel()
	got, err := ParseSuperUsers(" User:admin ;User:kafka;; User:CN=a,O=b ")
	if err != nil || len(got) != 3 || got[0] != User("admin") || got[2] != User("CN=a,O=b") {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := ParseSuperUsers("admin"); err == nil {
		t.Fatal("principal without a type accepted")
	}
}

func strp(s string) *string { return &s }

func TestACLFilter(t *testing.T) {
	t.Parallel()
	acls := []ACL{
		acl(topic, "foo", lit, "User:alice", "*", opRead, allow),    // 0
		acl(topic, "*", lit, "User:bob", "*", opWrite, deny),        // 1
		acl(topic, "fo", pre, "User:alice", "h1", opRead, allow),    // 2
		acl(topic, "foo", pre, "User:alice", "*", opRead, allow),    // 3
		acl(group, "foo", lit, "User:alice", "*", opRead, allow),    // 4
		acl(topic, "bar", pre, "User:alice", "*", opRead, allow),    // 5
		acl(topic, "foobar", lit, "User:alice", "*", opRead, allow), // 6
	}
	any := ACLFilter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	with := func(f func(*ACLFilter)) ACLFilter { c := any; f(&c); return c }
	for _, tc := range []struct {
		name string
		f    ACLFilter
		want []int
	}{
		{"everything", any, []int{0, 1, 2, 3, 4, 5, 6}},
		{"topics", with(func(f *ACLFilter) { f.ResourceType = topic }), []int{0, 1, 2, 3, 5, 6}},
		{"any pattern, name literal", with(func(f *ACLFilter) { f.ResourceName = strp("foo") }), []int{0, 3, 4}},
		{"match foo", with(func(f *ACLFilter) {
			f.ResourceType = topic
			f.PatternType = kmsg.ACLResourcePatternTypeMatch
			f.ResourceName = strp("foo")
		}), []int{0, 1, 2, 3}},
		{"match nil name", with(func(f *ACLFilter) { f.PatternType = kmsg.ACLResourcePatternTypeMatch }), []int{0, 1, 2, 3, 4, 5, 6}},
		{"prefixed only", with(func(f *ACLFilter) { f.PatternType = pre }), []int{2, 3, 5}},
		{"literal foo", with(func(f *ACLFilter) { f.PatternType = lit; f.ResourceName = strp("foo") }), []int{0, 4}},
		{"principal", with(func(f *ACLFilter) { f.Principal = strp("User:bob") }), []int{1}},
		{"host", with(func(f *ACLFilter) { f.Host = strp("h1") }), []int{2}},
		{"op", with(func(f *ACLFilter) { f.Operation = opWrite }), []int{1}},
		{"permission", with(func(f *ACLFilter) { f.Permission = deny }), []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidateFilter(tc.f); err != nil {
				t.Fatal(err)
			}
			var got []int
			for i, a := range acls {
				if tc.f.Matches(a) {
					got = append(got, i)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || len(FilterACLs(acls, tc.f)) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	for _, f := range []ACLFilter{
		with(func(f *ACLFilter) { f.ResourceType = kmsg.ACLResourceTypeUnknown }),
		with(func(f *ACLFilter) { f.PatternType = kmsg.ACLResourcePatternTypeUnknown }),
		with(func(f *ACLFilter) { f.Operation = kmsg.ACLOperationUnknown }),
		with(func(f *ACLFilter) { f.Permission = kmsg.ACLPermissionTypeUnknown }),
		with(func(f *ACLFilter) { f.Operation = 99 }),
	} {
		if err := ValidateFilter(f); !errors.Is(err, kerr.InvalidRequest) {
			t.Errorf("%+v: err %v", f, err)
		}
	}
}

func TestValidateACL(t *testing.T) {
	t.Parallel()
	good := acl(topic, "t", lit, "User:alice", "*", opRead, allow)
	if err := ValidateACL(good); err != nil {
		t.Fatal(err)
	}
	if err := ValidateACL(acl(cluster, ClusterName, lit, "User:a", "*", kmsg.ACLOperationClusterAction, allow)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*ACL)
		msg  string
	}{
		{"any resource", func(a *ACL) { a.ResourceType = kmsg.ACLResourceTypeAny }, "Invalid resourceType"},
		{"unknown resource", func(a *ACL) { a.ResourceType = 42 }, "Invalid resourceType"},
		{"match pattern", func(a *ACL) { a.PatternType = kmsg.ACLResourcePatternTypeMatch }, "Invalid patternType"},
		{"any op", func(a *ACL) { a.Operation = kmsg.ACLOperationAny }, "Invalid operation"},
		{"any permission", func(a *ACL) { a.Permission = kmsg.ACLPermissionTypeAny }, "Invalid permissionType"},
		{"empty name", func(a *ACL) { a.ResourceName = "" }, "Invalid empty resource name"},
		{"cluster name", func(a *ACL) { a.ResourceType = cluster }, "The only valid name for the CLUSTER resource is kafka-cluster"},
		{"principal", func(a *ACL) { a.Principal = "alice" }, "Could not parse principal"},
		{"host", func(a *ACL) { a.Host = "" }, "Invalid empty host"},
	} {
		a := good
		tc.mod(&a)
		err := ValidateACL(a)
		if !errors.Is(err, kerr.InvalidRequest) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err %v", tc.name, err)
		}
	}
}

// BenchmarkAuthorize10k measures Authorize over 10,000 ACLs: 5,000 literal
// topic ACLs, 4,000 prefixed and 1,000 group ACLs for 100 principals.
func BenchmarkAuthorize10k(b *testing.B) {
	var acls []ACL
	for i := range 5000 {
		acls = append(acls, acl(topic, fmt.Sprintf("topic-%d", i), lit, fmt.Sprintf("User:u%d", i%100), "*", opRead, allow))
	}
	for i := range 4000 {
		acls = append(acls, acl(topic, fmt.Sprintf("team-%d.", i), pre, fmt.Sprintf("User:u%d", i%100), "*", opWrite, allow))
	}
	for i := range 1000 {
		acls = append(acls, acl(group, fmt.Sprintf("g-%d", i), lit, fmt.Sprintf("User:u%d", i%100), "*", opRead, allow))
	}
	a := NewAuthorizer(AuthorizerConfig{})
	a.SetACLs(acls)
	b.Run("literal hit", func(b *testing.B) {
		for b.Loop() {
			if !a.Authorize(User("u7"), "10.0.0.1", opDesc, topic, "topic-1007") {
				b.Fatal("denied")
			}
		}
	})
	b.Run("prefixed hit", func(b *testing.B) {
		for b.Loop() {
			if !a.Authorize(User("u42"), "10.0.0.1", opWrite, topic, "team-3042.orders.v1") {
				b.Fatal("denied")
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		for b.Loop() {
			if a.Authorize(User("u1"), "10.0.0.1", opRead, topic, "unrelated-topic-name") {
				b.Fatal("allowed")
			}
		}
	})
	empty := NewAuthorizer(AuthorizerConfig{})
	b.Run("no acls", func(b *testing.B) {
		for b.Loop() {
			empty.Authorize(User("u1"), "10.0.0.1", opRead, topic, "t")
		}
	})
}
