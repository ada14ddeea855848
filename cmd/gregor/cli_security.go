package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// securityFlags are the client's TLS and SASL settings.
type securityFlags struct {
	tls        bool
	caFile     string
	insecure   bool
	mechanism  string
	user, pass string
}

func (s *securityFlags) register(pf *pflag.FlagSet) {
	pf.BoolVar(&s.tls, "tls", false, "connect with TLS")
	pf.StringVar(&s.caFile, "tls-ca", "", "PEM file of CAs to trust (implies --tls; default: the system's)")
	pf.BoolVar(&s.insecure, "tls-insecure", false, "do not verify the broker's certificate (implies --tls)")
	pf.StringVar(&s.mechanism, "sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	pf.StringVar(&s.user, "user", "", "SASL user name")
	pf.StringVar(&s.pass, "password", os.Getenv("GREGOR_PASSWORD"), "SASL password (env GREGOR_PASSWORD)")
}

// opts returns the kgo options for the flags.
func (s *securityFlags) opts() ([]kgo.Opt, error) {
	var out []kgo.Opt
	if s.tls || s.caFile != "" || s.insecure {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.insecure}
		if s.caFile != "" {
			pem, err := os.ReadFile(s.caFile)
			if err != nil {
				return nil, usageErrorf("--tls-ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, usageErrorf("--tls-ca: no certificates in %s", s.caFile)
			}
			cfg.RootCAs = pool
		}
		out = append(out, kgo.DialTLSConfig(cfg))
	}
	switch m := strings.ToUpper(s.mechanism); m {
	case "":
		if s.user != "" {
			return nil, usageErrorf("--user needs --sasl-mechanism")
		}
	case "PLAIN":
		out = append(out, kgo.SASL(plain.Auth{User: s.user, Pass: s.pass}.AsMechanism()))
	case "SCRAM-SHA-256":
		out = append(out, kgo.SASL(scram.Auth{User: s.user, Pass: s.pass}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		out = append(out, kgo.SASL(scram.Auth{User: s.user, Pass: s.pass}.AsSha512Mechanism()))
	default:
		return nil, usageErrorf("--sasl-mechanism: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.mechanism)
	}
	return out, nil
}

func (s *securityFlags) String() string { return fmt.Sprintf("tls=%v sasl=%s", s.tls, s.mechanism) }
