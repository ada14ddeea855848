package main

import (
	"encoding/json"
	"strings"
	"testing"

	"gregor/broker"
)

// startACLBroker runs a broker with the authorizer on and a SASL PLAIN
// client listener (admin/admin-secret, a super user; alice/alice-secret),
// and returns its address.
func startACLBroker(t *testing.T) string {
	t.Helper()
	cfg, err := broker.Load("", nil, []string{
		"listeners=SASL://127.0.0.1:0,INTERNAL://127.0.0.1:0",
		"listener.security.protocol.map=SASL:SASL_PLAINTEXT,INTERNAL:PLAINTEXT",
		"inter.broker.listener.name=INTERNAL",
		"sasl.enabled.mechanisms=PLAIN",
		`plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";`,
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users=User:admin",
		"connection.failed.authentication.delay.ms=0",
		"log.dirs=" + t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return runBroker(t, cfg)
}

// TestCLIACL: `gregor acl create` grants, `acl list` shows and filters,
// the grant takes effect for alice, `acl delete` removes what its filter
// selects, and alice may not manage ACLs.
func TestCLIACL(t *testing.T) {
	t.Parallel()
	gregorOnly(t)
	b := startACLBroker(t)
	as := func(user, pass string, args ...string) []string {
		return append([]string{"--sasl-mechanism", "PLAIN", "--user", user, "--password", pass}, args...)
	}
	admin := func(args ...string) []string { return as("admin", "admin-secret", args...) }

	mustCLI(t, b, "", admin("topic", "create", "pay-1")...)
	mustCLI(t, b, "", admin("topic", "create", "other")...)
	out := mustCLI(t, b, "", admin("acl", "create", "--allow", "User:alice", "--topic", "pay-", "--pattern", "prefixed", "--operation", "READ,DESCRIBE")...)
	if strings.Count(out, "created TOPIC PREFIXED pay- User:alice * ") != 2 {
		t.Fatalf("acl create: %q", out)
	}
	mustCLI(t, b, "", admin("acl", "create", "--deny", "User:alice", "--group", "g", "--operation", "ALL")...)

	want := "" +
		"TYPE   PATTERN   RESOURCE  PRINCIPAL   HOST  OPERATION  PERMISSION\n" +
		"GROUP  LITERAL   g         User:alice  *     ALL        DENY\n" +
		"TOPIC  PREFIXED  pay-      User:alice  *     DESCRIBE   ALLOW\n" +
		"TOPIC  PREFIXED  pay-      User:alice  *     READ       ALLOW\n"
	if out := mustCLI(t, b, "", admin("acl", "list")...); out != want {
		t.Fatalf("acl list:\n%s\nwant:\n%s", out, want)
	}
	var js []aclOut
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", admin("--format", "json", "acl", "list", "--topic", "pay-1", "--pattern", "match")...)), &js); err != nil {
		t.Fatal(err)
	}
	if len(js) != 2 || js[0].Operation != "DESCRIBE" || js[1].Operation != "READ" {
		t.Fatalf("acl list --pattern match: %+v", js)
	}
	if out := mustCLI(t, b, "", as("alice", "alice-secret", "topic", "list")...); !strings.Contains(out, "pay-1") || strings.Contains(out, "other") {
		t.Fatalf("alice's topic list: %q", out)
	}
	if _, _, code := runCLI(t, b, "", as("alice", "alice-secret", "acl", "create", "--allow", "User:alice", "--cluster", "--operation", "ALTER")...); code == 0 {
		t.Fatal("alice created an ACL")
	}
	out = mustCLI(t, b, "", admin("acl", "delete", "--topic", "pay-", "--pattern", "prefixed", "--operation", "READ")...)
	if !strings.Contains(out, "pay-      User:alice  *     READ") || strings.Contains(out, "DESCRIBE") {
		t.Fatalf("acl delete: %q", out)
	}
	if _, _, code := runCLI(t, b, "", admin("acl", "delete")...); code == 0 {
		t.Fatal("acl delete without a filter flag ran")
	}
	if out := mustCLI(t, b, "", admin("acl", "list", "--topic", "pay-")...); strings.Contains(out, "READ") || !strings.Contains(out, "DESCRIBE") {
		t.Fatalf("acl list after delete: %q", out)
	}
}
