package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{c, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and PKCS#8 key for subject.
func (ca *testCA) issue(t *testing.T, subject pkix.Name, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sn, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	if server {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})
}

func writeFile(t *testing.T, dir, name string, parts ...[]byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var b []byte
	for _, x := range parts {
		b = append(b, x...)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// handshake runs one TLS handshake over loopback and returns the server's
// view of the peer certificates and the certificate the client saw.
func handshake(t *testing.T, server *tls.Config, client *tls.Config) (peer []*x509.Certificate, served *x509.Certificate, err error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		peer []*x509.Certificate
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		err = tc.Handshake()
		if err == nil {
			// Let the client finish reading the server's final flight.
			_, err = tc.Write([]byte{1})
		}
		ch <- result{tc.ConnectionState().PeerCertificates, err}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err == nil {
		served = c.ConnectionState().PeerCertificates[0]
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	r := <-ch
	if err == nil {
		err = r.err
	}
	return r.peer, served, err
}

func TestTLSMutual(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newCA(t)
	srvCert, srvKey := ca.issue(t, pkix.Name{CommonName: "broker"}, true)
	cliCert, cliKey := ca.issue(t, pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"ServiceUsers"}}, false)
	trust := writeFile(t, dir, "ca.pem", ca.pem)
	srv, err := TLSSettingsFromKafka(map[string]string{
		KeySSLKeystoreType:       "PEM",
		KeySSLKeystoreLocation:   writeFile(t, dir, "server.pem", srvKey, srvCert, ca.pem),
		KeySSLTruststoreType:     "PEM",
		KeySSLTruststoreLocation: trust,
		KeySSLClientAuth:         "required",
		KeySSLEnabledProtocols:   "TLSv1.2,TLSv1.3",
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Now()}
	st, err := NewTLS(srv, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := NewTLS(TLSSettings{KeystoreChain: string(cliCert), KeystoreKey: string(cliKey), TruststoreCertificates: string(ca.pem), EndpointIdentification: "https"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	peer, served, err := handshake(t, st.ServerConfig(), cli.ClientConfig("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ParseMappingRules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L,DEFAULT")
	if p, err := SSLPrincipal(m, peer); err != nil || p != User("alice") {
		t.Fatalf("principal %v %v", p, err)
	}
	if served.Subject.CommonName != "broker" {
		t.Fatalf("served %v", served.Subject)
	}

	// Without a client certificate, required fails and requested gives
	// User:ANONYMOUS.
	anon, err := NewTLS(TLSSettings{TruststoreCertificates: string(ca.pem), EndpointIdentification: "https"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := handshake(t, st.ServerConfig(), anon.ClientConfig("127.0.0.1")); err == nil {
		t.Fatal("required client auth accepted a client without a certificate")
	}
	srv.ClientAuth = "requested"
	req, err := NewTLS(srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	peer, _, err = handshake(t, req.ServerConfig(), anon.ClientConfig("127.0.0.1"))
	if p, _ := SSLPrincipal(m, peer); err != nil || p != Anonymous {
		t.Fatalf("requested: %v %v", p, err)
	}
	// Wrong server name fails with endpoint identification on and passes
	// with it off.
	if _, _, err := handshake(t, req.ServerConfig(), anon.ClientConfig("other.example")); err == nil {
		t.Fatal("wrong server name accepted")
	}
	noID, _ := NewTLS(TLSSettings{TruststoreCertificates: string(ca.pem)}, nil)
	if _, _, err := handshake(t, req.ServerConfig(), noID.ClientConfig("other.example")); err != nil {
		t.Fatalf("endpoint identification off: %v", err)
	}
	// A client trusting another CA fails.
	other, _ := NewTLS(TLSSettings{TruststoreCertificates: string(newCA(t).pem), EndpointIdentification: "https"}, nil)
	if _, _, err := handshake(t, req.ServerConfig(), other.ClientConfig("127.0.0.1")); err == nil {
		t.Fatal("untrusted server accepted")
	}
}

func TestTLSReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newCA(t)
	c1, k1 := ca.issue(t, pkix.Name{CommonName: "first"}, true)
	ks := writeFile(t, dir, "server.pem", k1, c1)
	clk := &fakeClock{now: time.Now()}
	st, err := NewTLS(TLSSettings{KeystoreLocation: ks}, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	cli, _ := NewTLS(TLSSettings{TruststoreCertificates: string(ca.pem), EndpointIdentification: "https"}, nil)
	cn := func() string {
		t.Helper()
		_, served, err := handshake(t, st.ServerConfig(), cli.ClientConfig("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		return served.Subject.CommonName
	}
	if got := cn(); got != "first" {
		t.Fatal(got)
	}
	c2, k2 := ca.issue(t, pkix.Name{CommonName: "second-certificate"}, true)
	writeFile(t, dir, "server.pem", k2, c2)
	if got := cn(); got != "first" {
		t.Fatalf("reloaded before the check interval: %s", got)
	}
	clk.Add(time.Second)
	if got := cn(); got != "second-certificate" {
		t.Fatalf("not reloaded: %s", got)
	}
	// A broken file keeps the last good pair and reports the error.
	writeFile(t, dir, "server.pem", []byte("garbage"))
	clk.Add(time.Second)
	if got := cn(); got != "second-certificate" || st.LastReloadError() == nil {
		t.Fatalf("after a bad reload: %s, err %v", got, st.LastReloadError())
	}
}

func TestTLSEncryptedKey(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	ca := newCA(t)
	cert, key := ca.issue(t, pkix.Name{CommonName: "enc"}, true)
	plain := writeFile(t, dir, "key.pem", key)
	for _, args := range [][]string{
		{"-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256"},
		{"-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"},
		{"-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA512"},
	} {
		enc := filepath.Join(dir, "enc.pem")
		cmd := exec.Command("openssl", append([]string{"pkcs8", "-topk8", "-in", plain, "-out", enc, "-passout", "pass:s3cret"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
		encPEM, _ := os.ReadFile(enc)
		if !strings.Contains(string(encPEM), "ENCRYPTED PRIVATE KEY") {
			t.Fatalf("openssl wrote %s", encPEM)
		}
		if _, err := NewTLS(TLSSettings{KeystoreChain: string(cert), KeystoreKey: string(encPEM), KeyPassword: "s3cret"}, nil); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if _, err := NewTLS(TLSSettings{KeystoreChain: string(cert), KeystoreKey: string(encPEM), KeyPassword: "wrong"}, nil); !errors.Is(err, ErrInvalidPassword) {
			t.Fatalf("%v wrong password: %v", args, err)
		}
		if _, err := NewTLS(TLSSettings{KeystoreChain: string(cert), KeystoreKey: string(encPEM)}, nil); err == nil {
			t.Fatal("encrypted key without a password accepted")
		}
	}
}

func TestTLSSettingsErrors(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	cert, key := ca.issue(t, pkix.Name{CommonName: "x"}, true)
	_, otherKey := ca.issue(t, pkix.Name{CommonName: "y"}, true)
	if _, err := TLSSettingsFromKafka(map[string]string{KeySSLKeystoreType: "JKS"}); !errors.Is(err, ErrTLSConfig) {
		t.Errorf("JKS: %v", err)
	}
	for name, s := range map[string]TLSSettings{
		"bad client auth":        {ClientAuth: "maybe"},
		"required without trust": {ClientAuth: "required", KeystoreChain: string(cert), KeystoreKey: string(key)},
		"bad protocol":           {EnabledProtocols: []string{"TLSv1.1"}},
		"bad cipher":             {CipherSuites: []string{"TLS_RSA_WITH_NOTHING"}},
		"chain without key":      {KeystoreChain: string(cert)},
		"key mismatch":           {KeystoreChain: string(cert), KeystoreKey: string(otherKey)},
		"password on plain key":  {KeystoreChain: string(cert), KeystoreKey: string(key), KeyPassword: "x"},
		"empty truststore":       {TruststoreCertificates: "nothing"},
		"missing keystore":       {KeystoreLocation: "/nonexistent/ks.pem"},
	} {
		if _, err := NewTLS(s, nil); !errors.Is(err, ErrTLSConfig) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	tl, err := NewTLS(TLSSettings{EnabledProtocols: []string{"TLSv1.3"}, CipherSuites: []string{"TLS_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := tl.ServerConfig()
	if c.MinVersion != tls.VersionTLS13 || c.MaxVersion != tls.VersionTLS13 || len(c.CipherSuites) != 1 || c.CipherSuites[0] != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("min %x max %x suites %v", c.MinVersion, c.MaxVersion, c.CipherSuites)
	}
}
