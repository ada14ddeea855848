package compat

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The SASL scenarios run only under sasl.sh, which starts a gregor with a
// SASL listener (COMPAT_SASL_PROTOCOL: SASL_PLAINTEXT, or SASL_SSL with
// the TLS overrides and COMPAT_SASL_CA it is given) and these users: the
// SCRAM users come from serve --add-scram, the PLAIN ones from the JAAS
// line.
const (
	SASLAdmin, SASLAdminPassword = "admin", "admin-secret" // SCRAM-SHA-512 and PLAIN
	SASLAlice, SASLAlicePassword = "alice", "alice-secret" // SCRAM-SHA-256 and PLAIN
	SASLBob, SASLBobPassword     = "bob", "bob-secret"     // SCRAM-SHA-512
)

// SASLBootstrap is the SASL listener, or "" outside sasl.sh.
func SASLBootstrap() string { return os.Getenv("COMPAT_SASL_BOOTSTRAP") }

// SASLProtocol is the listener's security protocol.
func SASLProtocol() string { return envOr("COMPAT_SASL_PROTOCOL", "SASL_PLAINTEXT") }

// SASLCA is the PEM CA file clients trust for SASL_SSL, or "".
func SASLCA() string { return os.Getenv("COMPAT_SASL_CA") }

// RequireSASL skips a SASL test outside sasl.sh (without a RESULT line:
// the plaintext run has no SASL listener).
func RequireSASL(t *testing.T) {
	t.Helper()
	if SASLBootstrap() == "" {
		t.Skip("SASL scenarios run under sasl.sh")
	}
}

// SASLTLSConfig is the client TLS config for SASL_SSL, nil otherwise.
func SASLTLSConfig() (*tls.Config, error) {
	if SASLProtocol() != "SASL_SSL" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca := SASLCA(); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificates in %s", ca)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// SASLTopicExists asks the SASL listener, as the admin, whether topic
// exists (without creating it): a failed login's request must never have
// run.
func SASLTopicExists(topic string) (bool, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(SASLBootstrap()), kgo.SASL(scram.Auth{User: SASLAdmin, Pass: SASLAdminPassword}.AsSha512Mechanism())}
	tc, err := SASLTLSConfig()
	if err != nil {
		return false, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return false, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return false, err
	}
	for _, t := range resp.Topics {
		if t.Topic != nil && *t.Topic == topic {
			return true, nil
		}
	}
	return false, nil
}
