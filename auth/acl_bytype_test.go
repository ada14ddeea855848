package auth

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAuthorizeByResourceType follows Kafka's
// Authorizer.authorizeByResourceType: any unshadowed ALLOW of the
// operation on a resource of the type is enough; a wildcard DENY, or a
// DENY on the same literal or a covering prefix, shadows it.
func TestAuthorizeByResourceType(t *testing.T) {
	t.Parallel()
	alice := User("alice")
	const host = "10.0.0.1"
	cases := []struct {
		name  string
		acls  []ACL
		super bool
		allow bool // allow.everyone.if.no.acl.found
		want  bool
	}{
		{name: "no acls", want: false},
		{name: "no acls, allow everyone", allow: true, want: true},
		{name: "super user", super: true, want: true},
		{name: "literal allow", acls: []ACL{acl(topic, "t1", lit, "User:alice", "*", opWrite, allow)}, want: true},
		{name: "prefixed allow", acls: []ACL{acl(topic, "pay-", pre, "User:alice", "*", opWrite, allow)}, want: true},
		{name: "all allow", acls: []ACL{acl(topic, "t1", lit, "User:alice", "*", kmsg.ACLOperationAll, allow)}, want: true},
		{name: "wildcard principal", acls: []ACL{acl(topic, "t1", lit, "User:*", "*", opWrite, allow)}, want: true},
		{name: "read is not write", acls: []ACL{acl(topic, "t1", lit, "User:alice", "*", opRead, allow)}, want: false},
		{name: "other principal", acls: []ACL{acl(topic, "t1", lit, "User:bob", "*", opWrite, allow)}, want: false},
		{name: "other host", acls: []ACL{acl(topic, "t1", lit, "User:alice", "10.0.0.2", opWrite, allow)}, want: false},
		{name: "this host", acls: []ACL{acl(topic, "t1", lit, "User:alice", host, opWrite, allow)}, want: true},
		{name: "group acl", acls: []ACL{acl(group, "t1", lit, "User:alice", "*", opWrite, allow)}, want: false},
		{name: "literal deny shadows", acls: []ACL{
			acl(topic, "t1", lit, "User:alice", "*", opWrite, allow),
			acl(topic, "t1", lit, "User:alice", "*", opWrite, deny)}, want: false},
		{name: "prefix deny shadows literal", acls: []ACL{
			acl(topic, "pay-1", lit, "User:alice", "*", opWrite, allow),
			acl(topic, "pay", pre, "User:alice", "*", opWrite, deny)}, want: false},
		{name: "prefix deny shadows longer prefix", acls: []ACL{
			acl(topic, "pay-", pre, "User:alice", "*", opWrite, allow),
			acl(topic, "pa", pre, "User:alice", "*", opWrite, deny)}, want: false},
		{name: "longer prefix deny does not shadow", acls: []ACL{
			acl(topic, "pay-", pre, "User:alice", "*", opWrite, allow),
			acl(topic, "pay-x", pre, "User:alice", "*", opWrite, deny)}, want: true},
		{name: "literal deny does not shadow prefix", acls: []ACL{
			acl(topic, "pay-", pre, "User:alice", "*", opWrite, allow),
			acl(topic, "pay-", lit, "User:alice", "*", opWrite, deny)}, want: true},
		{name: "one of two shadowed", acls: []ACL{
			acl(topic, "t1", lit, "User:alice", "*", opWrite, allow),
			acl(topic, "t2", lit, "User:alice", "*", opWrite, allow),
			acl(topic, "t1", lit, "User:alice", "*", opWrite, deny)}, want: true},
		{name: "wildcard deny", acls: []ACL{
			acl(topic, "t1", lit, "User:alice", "*", opWrite, allow),
			acl(topic, "*", lit, "User:alice", "*", opWrite, deny)}, want: false},
		{name: "wildcard allow", acls: []ACL{acl(topic, "*", lit, "User:alice", "*", opWrite, allow)}, want: true},
		{name: "other principal's deny", acls: []ACL{
			acl(topic, "t1", lit, "User:alice", "*", opWrite, allow),
			acl(topic, "t", pre, "User:bob", "*", opWrite, deny)}, want: true},
	}
	for _, c := range cases {
		cfg := AuthorizerConfig{AllowEveryoneIfNoACLFound: c.allow}
		if c.super {
			cfg.SuperUsers = []Principal{alice}
		}
		a := NewAuthorizer(cfg)
		a.SetACLs(c.acls)
		if got := a.AuthorizeByResourceType(alice, host, opWrite, topic); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
