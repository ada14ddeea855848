package kcat

import (
	"fmt"
	"strings"
	"testing"

	"gregor/compat-tests/internal/compat"
)

// saslArgs are kcat's librdkafka properties for the SASL listener.
func saslArgs(mech, user, pass string) []string {
	args := []string{"-X", "security.protocol=" + strings.ToLower(compat.SASLProtocol()), "-X", "sasl.mechanisms=" + mech,
		"-X", "sasl.username=" + user, "-X", "sasl.password=" + pass}
	if ca := compat.SASLCA(); ca != "" {
		args = append(args, "-X", "ssl.ca.location="+ca)
	}
	return args
}

// TestSASL: kcat (librdkafka) with SCRAM-SHA-512 and PLAIN produces and
// consumes byte-identical records over the SASL listener; a wrong
// password fails with an authentication error and its produce never runs.
func TestSASL(t *testing.T) {
	compat.RequireSASL(t)
	seed := compat.SASLBootstrap()
	for _, tc := range []struct{ name, mech, user, pass string }{
		{"sasl_scram_sha512", "SCRAM-SHA-512", compat.SASLBob, compat.SASLBobPassword},
		{"sasl_plain", "PLAIN", compat.SASLAlice, compat.SASLAlicePassword},
	} {
		run(t, tc.name, func(t *compat.T) {
			topic := compat.Topic(client, tc.name)
			var in strings.Builder
			for i := range 100 {
				fmt.Fprintf(&in, "key-%d\tvalue \x01\x7f %d %s\n", i, i, strings.Repeat("z", i))
			}
			args := saslArgs(tc.mech, tc.user, tc.pass)
			if out, stderr, err := kcat(t, seed, []byte(in.String()), append(args, "-P", "-t", topic, "-p", "0", "-K", "\t")...); err != nil {
				t.Fatalf("produce: %v: %s %s", err, stderr, out)
			}
			out, stderr, err := kcat(t, seed, nil, append(args, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-J", "-q")...)
			if err != nil {
				t.Fatalf("consume: %v: %s", err, stderr)
			}
			got := parse(t, out)
			if len(got) != 100 {
				t.Fatalf("consumed %d records, want 100", len(got))
			}
			for i, m := range got {
				wk, wv := fmt.Sprintf("key-%d", i), fmt.Sprintf("value \x01\x7f %d %s", i, strings.Repeat("z", i))
				if m.Offset != int64(i) || m.Key == nil || *m.Key != wk || m.Payload == nil || *m.Payload != wv {
					t.Fatalf("record %d: %+v", i, m)
				}
			}
			t.Detail("100 records byte-identical over %s", compat.SASLProtocol())
		})
	}
	run(t, "sasl_wrong_password", func(t *compat.T) {
		topic := compat.Topic(client, "sasl-denied")
		_, stderr, err := kcat(t, seed, []byte("x\n"), append(saslArgs("SCRAM-SHA-512", compat.SASLBob, "wrong"), "-P", "-t", topic, "-m", "10")...)
		if err == nil || !strings.Contains(stderr, "Authentication failed") {
			t.Fatalf("kcat with a wrong password: %v, stderr %q", err, stderr)
		}
		exists, err := compat.SASLTopicExists(topic)
		t.Check(err, "check topic")
		if exists {
			t.Fatal("the failed login's request ran: its topic was created")
		}
	})
}
