package main

import (
	"errors"
	"testing"
)

func TestSecurityFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		flags securityFlags
		opts  int
		usage bool
	}{
		{name: "none", flags: securityFlags{}, opts: 0},
		{name: "tls", flags: securityFlags{tls: true}, opts: 1},
		{name: "insecure implies tls", flags: securityFlags{insecure: true}, opts: 1},
		{name: "plain", flags: securityFlags{mechanism: "plain", user: "u", pass: "p"}, opts: 1},
		{name: "tls and scram", flags: securityFlags{tls: true, mechanism: "SCRAM-SHA-512", user: "u", pass: "p"}, opts: 2},
		{name: "unknown mechanism", flags: securityFlags{mechanism: "GSSAPI"}, usage: true},
		{name: "user without mechanism", flags: securityFlags{user: "u"}, usage: true},
		{name: "missing ca file", flags: securityFlags{caFile: "/nonexistent/ca.pem"}, usage: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts, err := tc.flags.opts()
			var ue usageError
			if tc.usage {
				if !errors.As(err, &ue) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil || len(opts) != tc.opts {
				t.Fatalf("opts = %d, err = %v; want %d options", len(opts), err, tc.opts)
			}
		})
	}
}
