package gregortest

// Secured clusters. With GREGOR_TEST_SECURE=1 in the environment (make
// test-cluster-secure), or the Secure option, every cluster runs with
// security on every listener:
//
//   - a per-cluster CA and one key store per broker (certificate CN
//     gregortest-broker-<node id>, valid for 127.0.0.1 and localhost as TLS
//     server and client), made with crypto/x509 in a temporary directory;
//   - the client listener (PLAINTEXT-named) SASL_SSL with PLAIN;
//   - the inter-broker listener (BROKER) SASL_SSL with client
//     certificates required, brokers logging in with PLAIN as admin;
//   - the controller listener (CONTROLLER, the Raft transport) SASL_SSL
//     with client certificates required, voters logging in with PLAIN as
//     admin (controller/raft_sasl.go);
//   - the StandardAuthorizer with User:admin the only super user; the
//     cluster's clients (ClientOpts, Client, Request) log in as admin.
//
// A test that maps its own listener.security.protocol.map in an Override
// brings its own security and gets none of this.
//
// The Raft and inter-broker proxies end the brokers' TLS connections and
// open new ones to the broker behind them, presenting the certificate of
// the node whose certificate they were shown, so they can read which node
// opened a link and Isolate and Cut work as in plaintext clusters. The
// client proxy (Pausable) passes the clients' TLS bytes through.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// EnvSecure is the environment variable that secures every cluster.
const EnvSecure = "GREGOR_TEST_SECURE"

// Secure makes the cluster run secured (the top of secure.go), as
// GREGOR_TEST_SECURE=1 does.
func Secure() Option { return func(o *options) { o.secure = true } }

// The secured cluster's super user, which brokers and the cluster's
// clients log in as.
const (
	SecureUser     = "admin"
	SecurePassword = "admin-secret"
)

// certPrefix is the common name of a broker certificate before its node ID.
const certPrefix = "gregortest-broker-"

// securePKI is a secured cluster's CA and certificates.
type securePKI struct {
	caFile string
	roots  *x509.CertPool
	// keystores are the brokers' key store files (certificate then
	// PKCS#8 key), by node ID.
	keystores map[int32]string
	// certs are the same key pairs, which the proxies present on behalf
	// of the node that dialled them.
	certs map[int32]tls.Certificate
	// proxy is the proxies' own server key pair.
	proxy tls.Certificate
}

// secureEnabled reports whether the cluster of o runs secured.
func (o *options) secureEnabled() bool {
	if !o.secure && os.Getenv(EnvSecure) != "1" {
		return false
	}
	for _, kv := range o.overrides {
		if strings.HasPrefix(strings.TrimSpace(kv), "listener.security.protocol.map=") {
			return false // the test's own security
		}
	}
	return true
}

// newSecurePKI makes a CA and a key store per node in dir.
func newSecurePKI(dir string, nodes int) (*securePKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gregortest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p := &securePKI{
		caFile: filepath.Join(dir, "ca.pem"), roots: x509.NewCertPool(),
		keystores: map[int32]string{}, certs: map[int32]tls.Certificate{},
	}
	p.roots.AddCert(ca)
	if err := os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		return nil, err
	}
	// issue makes a key pair for cn signed by the CA, as PEM.
	issue := func(serial int64, cn string) ([]byte, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"gregortest"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, err
		}
		pk, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...), nil
	}
	for id := int32(1); id <= int32(nodes); id++ {
		ks, err := issue(int64(id)+1, fmt.Sprintf("%s%d", certPrefix, id))
		if err != nil {
			return nil, err
		}
		if p.certs[id], err = tls.X509KeyPair(ks, ks); err != nil {
			return nil, err
		}
		p.keystores[id] = filepath.Join(dir, fmt.Sprintf("node-%d.pem", id))
		if err := os.WriteFile(p.keystores[id], ks, 0o600); err != nil {
			return nil, err
		}
	}
	ks, err := issue(int64(nodes)+2, "gregortest-proxy")
	if err != nil {
		return nil, err
	}
	if p.proxy, err = tls.X509KeyPair(ks, ks); err != nil {
		return nil, err
	}
	return p, nil
}

// overrides are broker id's security settings.
func (p *securePKI) overrides(id int32) []string {
	return []string{
		"listener.security.protocol.map=PLAINTEXT:SASL_SSL,BROKER:SASL_SSL,CONTROLLER:SASL_SSL",
		"ssl.keystore.location=" + p.keystores[id],
		"ssl.truststore.location=" + p.caFile,
		"listener.name.broker.ssl.client.auth=required",
		"listener.name.controller.ssl.client.auth=required",
		"sasl.enabled.mechanisms=PLAIN",
		"sasl.mechanism.inter.broker.protocol=PLAIN",
		"sasl.mechanism.controller.protocol=PLAIN",
		fmt.Sprintf(`plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_%s="%s";`, SecureUser, SecurePassword),
		fmt.Sprintf(`listener.name.broker.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="%s" password="%s";`, SecureUser, SecurePassword),
		fmt.Sprintf(`listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="%s" password="%s";`, SecureUser, SecurePassword),
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users=User:" + SecureUser,
	}
}

// clientOpts are the options of a client of the secured client listener.
func (p *securePKI) clientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.DialTLSConfig(&tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12}),
		kgo.SASL(plain.Auth{User: SecureUser, Pass: SecurePassword}.AsMechanism()),
	}
}

// CAFile returns the secured cluster's CA certificate file, "" if the
// cluster is not secured by gregortest.
func (c *Cluster) CAFile() string {
	if c.pki == nil {
		return ""
	}
	return c.pki.caFile
}

// Secured reports whether gregortest secured the cluster (GREGOR_TEST_SECURE
// or Secure).
func (c *Cluster) Secured() bool { return c.pki != nil }

// ClientOpts returns the options a client of the cluster's client
// listener needs (TLS and SASL in a secured cluster, and the ClientOpts
// options), without seed brokers: for clients that tests make themselves.
func (c *Cluster) ClientOpts() []kgo.Opt {
	return append([]kgo.Opt(nil), c.opts.clientOpts...)
}

// proxyServerConfig is the TLS server side of a proxy: the proxy's own
// certificate, and the dialling broker's certificate asked for and, if
// sent, verified.
func (p *securePKI) proxyServerConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.proxy},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    p.roots,
		MinVersion:   tls.VersionTLS12,
	}
}

// proxyClientConfig dials the broker behind a proxy on behalf of node src
// (its certificate; none for node 0).
func (p *securePKI) proxyClientConfig(src int32) *tls.Config {
	cfg := &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert, ok := p.certs[src]; ok {
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// certNode returns the node ID a broker certificate names, 0 for any
// other or no certificate.
func certNode(cs tls.ConnectionState) int32 {
	if len(cs.PeerCertificates) == 0 {
		return 0
	}
	s, ok := strings.CutPrefix(cs.PeerCertificates[0].Subject.CommonName, certPrefix)
	if !ok {
		return 0
	}
	return parseID(s)
}

// acceptTLS runs the server handshake of a proxied TLS connection and
// returns the plaintext connection and the node whose certificate it
// showed (0 for none).
func (p *securePKI) acceptTLS(nc net.Conn) (net.Conn, int32, error) {
	tc := tls.Server(nc, p.proxyServerConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, 0, err
	}
	return tc, certNode(tc.ConnectionState()), nil
}

// dialTLS runs the client handshake towards the broker behind a proxy on
// behalf of node src.
func (p *securePKI) dialTLS(up net.Conn, src int32) (net.Conn, error) {
	tc := tls.Client(up, p.proxyClientConfig(src))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// peekedConn is a connection whose first byte was read already.
type peekedConn struct {
	net.Conn
	first []byte
}

func (c *peekedConn) Read(b []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(b, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
