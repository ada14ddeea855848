package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
	"gregor/wire"
)

// TestInterBrokerSASLDial: the dialler a broker builds for a SASL
// inter-broker listener logs in with sasl.mechanism.inter.broker.protocol
// and the listener's JAAS username and password (PLAIN, SCRAM-SHA-512),
// then carries requests as that principal; a wrong password fails the
// dial with SASL_AUTHENTICATION_FAILED.
func TestInterBrokerSASLDial(t *testing.T) {
	t.Parallel()
	b := startScramBroker(t, nil, "connection.failed.authentication.delay.ms=0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const scramJAAS = `listener.name.sasl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="%s";`
	for _, tc := range []struct {
		name    string
		kvs     []string
		wantErr bool
	}{
		{"plain", []string{"sasl.mechanism.inter.broker.protocol=PLAIN"}, false},
		{"scram", []string{"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512", fmt.Sprintf(scramJAAS, "admin-secret")}, false},
		{"scram wrong password", []string{"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512", fmt.Sprintf(scramJAAS, "wrong")}, true},
	} {
		cfg, err := Load("", nil, scramOverrides(append([]string{"log.dirs=" + t.TempDir(), "inter.broker.listener.name=SASL"}, tc.kvs...)...))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c, err := wire.DialWith(ctx, b.addr, forwardClientPrefix+"9", interBrokerDial(&cfg.Security, "SASL", nil))
		if tc.wantErr {
			if !errors.Is(err, wire.ErrSASL) || !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("%s: dial: %v, want SASL_AUTHENTICATION_FAILED", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: dial: %v", tc.name, err)
		}
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		if _, err := c.Do(ctx, req); err != nil {
			t.Fatalf("%s: metadata after login: %v", tc.name, err)
		}
		if !slices.Contains(b.principals(), auth.User("admin")) {
			t.Fatalf("%s: principals %v, want User:admin", tc.name, b.principals())
		}
		c.Close()
	}
}
