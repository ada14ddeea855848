package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"gregor/broker"
)

// startSASLBroker runs a broker whose only client listener is
// SASL_PLAINTEXT with SCRAM, bootstrapped with admin/admin-secret
// (SCRAM-SHA-512, as serve --add-scram does), and returns its address.
func startSASLBroker(t *testing.T) string {
	t.Helper()
	cfg, err := broker.Load("", nil, []string{
		"listeners=SASL://127.0.0.1:0,INTERNAL://127.0.0.1:0",
		"listener.security.protocol.map=SASL:SASL_PLAINTEXT,INTERNAL:PLAINTEXT",
		"inter.broker.listener.name=INTERNAL",
		"sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
		"connection.failed.authentication.delay.ms=0",
		"log.dirs=" + t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.AddScram("SCRAM-SHA-512=[name=admin,password=admin-secret]"); err != nil {
		t.Fatal(err)
	}
	return runBroker(t, cfg)
}

// runBroker runs a broker with cfg until cleanup and returns its address.
func runBroker(t *testing.T, cfg broker.Config) string {
	t.Helper()
	srv, err := broker.New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return srv.Addr().String()
}

// TestCLIUser: the bootstrap admin creates users with `gregor user
// create`, they log in with their mechanism, `user list` shows them, and
// `user delete` removes them (their logins then fail).
func TestCLIUser(t *testing.T) {
	t.Parallel()
	gregorOnly(t)
	b := startSASLBroker(t)
	admin := []string{"--sasl-mechanism", "SCRAM-SHA-512", "--user", "admin", "--password", "admin-secret"}
	as := func(args ...string) []string { return append(append([]string{}, admin...), args...) }

	if out := mustCLI(t, b, "", as("user", "create", "alice", "--mechanism", "SCRAM-SHA-256", "--iterations", "4096", "--new-password", "alice-pw")...); !strings.Contains(out, "alice: SCRAM-SHA-256 credential set") {
		t.Fatalf("create alice: %q", out)
	}
	mustCLI(t, b, "bob-pw\n", as("user", "create", "bob")...) // password from stdin, SCRAM-SHA-512, 8192
	mustCLI(t, b, "", as("user", "create", "bob", "--mechanism", "SCRAM-SHA-256", "--new-password", "bob-pw2")...)

	want := "" +
		"USER   MECHANISM      ITERATIONS\n" +
		"admin  SCRAM-SHA-512  4096\n" +
		"alice  SCRAM-SHA-256  4096\n" +
		"bob    SCRAM-SHA-256  8192\n" +
		"bob    SCRAM-SHA-512  8192\n"
	if out := mustCLI(t, b, "", as("user", "list")...); out != want {
		t.Fatalf("user list:\n%s\nwant:\n%s", out, want)
	}
	var js []userOut
	if err := json.Unmarshal([]byte(mustCLI(t, b, "", as("--format", "json", "user", "list", "alice")...)), &js); err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || js[0] != (userOut{"alice", "SCRAM-SHA-256", 4096}) {
		t.Fatalf("user list alice json: %+v", js)
	}

	// The new users log in.
	mustCLI(t, b, "", "--sasl-mechanism", "SCRAM-SHA-256", "--user", "alice", "--password", "alice-pw", "topic", "list")
	mustCLI(t, b, "", "--sasl-mechanism", "SCRAM-SHA-512", "--user", "bob", "--password", "bob-pw", "topic", "list")
	if _, errs, code := runCLI(t, b, "", "--sasl-mechanism", "SCRAM-SHA-256", "--user", "alice", "--password", "nope", "topic", "list"); code == 0 || !strings.Contains(errs, "SASL_AUTHENTICATION_FAILED") {
		t.Fatalf("wrong password: exit %d, stderr %q", code, errs)
	}

	// Errors: bad iterations, unknown user.
	if _, errs, code := runCLI(t, b, "", as("user", "create", "carol", "--iterations", "100", "--new-password", "x")...); code == 0 || !strings.Contains(errs, "iterations") {
		t.Fatalf("iterations 100: exit %d, %q", code, errs)
	}
	if _, errs, code := runCLI(t, b, "", as("user", "delete", "nobody")...); code == 0 || !strings.Contains(errs, "RESOURCE_NOT_FOUND") {
		t.Fatalf("delete nobody: exit %d, %q", code, errs)
	}

	if out := mustCLI(t, b, "", as("user", "delete", "bob")...); strings.Count(out, "credential deleted") != 2 {
		t.Fatalf("delete bob: %q", out)
	}
	mustCLI(t, b, "", as("user", "delete", "alice", "--mechanism", "SCRAM-SHA-256")...)
	if out := mustCLI(t, b, "", as("user", "list")...); out != "USER   MECHANISM      ITERATIONS\nadmin  SCRAM-SHA-512  4096\n" {
		t.Fatalf("after deletes:\n%s", out)
	}
	if _, _, code := runCLI(t, b, "", "--sasl-mechanism", "SCRAM-SHA-512", "--user", "bob", "--password", "bob-pw", "topic", "list"); code == 0 {
		t.Fatal("deleted user still logs in")
	}
}

// TestServeAddScramRefused: a malformed --add-scram stops serve before
// anything is opened or bound.
func TestServeAddScramRefused(t *testing.T) {
	t.Parallel()
	err := serve([]string{"--override", "log.dirs=" + t.TempDir(), "--add-scram", "SCRAM-SHA-512=[name=admin]"})
	if err == nil || !strings.Contains(err.Error(), "password or saltedpassword") {
		t.Fatalf("serve: %v", err)
	}
}
