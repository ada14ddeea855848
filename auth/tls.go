package auth

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Kafka's ssl.* keys this package reads.
const (
	KeySSLKeystoreType           = "ssl.keystore.type"
	KeySSLKeystoreLocation       = "ssl.keystore.location"
	KeySSLKeystoreChain          = "ssl.keystore.certificate.chain"
	KeySSLKeystoreKey            = "ssl.keystore.key"
	KeySSLKeyPassword            = "ssl.key.password"
	KeySSLTruststoreType         = "ssl.truststore.type"
	KeySSLTruststoreLocation     = "ssl.truststore.location"
	KeySSLTruststoreCertificates = "ssl.truststore.certificates"
	KeySSLClientAuth             = "ssl.client.auth"
	KeySSLEnabledProtocols       = "ssl.enabled.protocols"
	KeySSLCipherSuites           = "ssl.cipher.suites"
	KeySSLEndpointIdentification = "ssl.endpoint.identification.algorithm"
)

// TLSSettings are a listener's ssl.* settings (already resolved through
// Kafka's listener.name.<name>. prefix by the caller).
type TLSSettings struct {
	KeystoreLocation       string // PEM file: private key and certificate chain
	KeystoreChain          string // inline PEM chain (with KeystoreKey)
	KeystoreKey            string // inline PEM key
	KeyPassword            string // for an ENCRYPTED PRIVATE KEY
	TruststoreLocation     string // PEM file of CA certificates
	TruststoreCertificates string // inline PEM CA certificates
	ClientAuth             string // none (default), requested, required
	EnabledProtocols       []string
	CipherSuites           []string
	// EndpointIdentification is "https" (verify the server's name, the
	// default) or "" (do not) for ClientConfig.
	EndpointIdentification string
}

// TLSSettingsFromKafka reads the ssl.* keys. Only PEM key and trust stores
// are supported (JKS and PKCS12 are errors).
func TLSSettingsFromKafka(props map[string]string) (TLSSettings, error) {
	get := func(k string) string { return strings.TrimSpace(props[k]) }
	for _, k := range []string{KeySSLKeystoreType, KeySSLTruststoreType} {
		if t := get(k); t != "" && !strings.EqualFold(t, "PEM") {
			return TLSSettings{}, fmt.Errorf("%w: %s=%s: only PEM is supported", ErrTLSConfig, k, t)
		}
	}
	s := TLSSettings{
		KeystoreLocation:       get(KeySSLKeystoreLocation),
		KeystoreChain:          props[KeySSLKeystoreChain],
		KeystoreKey:            props[KeySSLKeystoreKey],
		KeyPassword:            props[KeySSLKeyPassword],
		TruststoreLocation:     get(KeySSLTruststoreLocation),
		TruststoreCertificates: props[KeySSLTruststoreCertificates],
		ClientAuth:             strings.ToLower(get(KeySSLClientAuth)),
		EndpointIdentification: "https",
	}
	if v, ok := props[KeySSLEndpointIdentification]; ok {
		s.EndpointIdentification = strings.TrimSpace(v)
	}
	s.EnabledProtocols = splitList(get(KeySSLEnabledProtocols))
	s.CipherSuites = splitList(get(KeySSLCipherSuites))
	return s, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// TLS builds crypto/tls configurations from TLSSettings and keeps the key
// pair and the trusted CAs current: file-backed ones are re-read when a
// handshake finds their modification time or size changed (checked at most
// once per second by the injected clock). A reload that fails keeps the
// last good material and is reported by LastReloadError. Safe for
// concurrent use.
type TLS struct {
	s    TLSSettings
	now  func() time.Time
	base *tls.Config

	mu        sync.Mutex
	cert      *tls.Certificate
	pool      *x509.CertPool
	keyStamp  fileStamp
	trustStmp fileStamp
	checked   time.Time
	reloadErr error
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(path string) (fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{st.ModTime(), st.Size()}, nil
}

// NewTLS validates the settings and loads the key pair and CAs; now is the
// clock for reload checks (nil means time.Now).
func NewTLS(s TLSSettings, now func() time.Time) (*TLS, error) {
	if now == nil {
		now = time.Now
	}
	t := &TLS{s: s, now: now}
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	if err := applyProtocols(base, s.EnabledProtocols); err != nil {
		return nil, err
	}
	if err := applyCiphers(base, s.CipherSuites); err != nil {
		return nil, err
	}
	switch s.ClientAuth {
	case "", "none":
		base.ClientAuth = tls.NoClientCert
	case "requested":
		base.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		base.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("%w: %s=%q (want none, requested or required)", ErrTLSConfig, KeySSLClientAuth, s.ClientAuth)
	}
	if s.KeystoreLocation != "" && (s.KeystoreChain != "" || s.KeystoreKey != "") {
		return nil, fmt.Errorf("%w: set %s or %s/%s, not both", ErrTLSConfig, KeySSLKeystoreLocation, KeySSLKeystoreChain, KeySSLKeystoreKey)
	}
	if (s.KeystoreChain == "") != (s.KeystoreKey == "") {
		return nil, fmt.Errorf("%w: %s and %s go together", ErrTLSConfig, KeySSLKeystoreChain, KeySSLKeystoreKey)
	}
	if s.TruststoreLocation != "" && s.TruststoreCertificates != "" {
		return nil, fmt.Errorf("%w: set %s or %s, not both", ErrTLSConfig, KeySSLTruststoreLocation, KeySSLTruststoreCertificates)
	}
	if base.ClientAuth != tls.NoClientCert && s.TruststoreLocation == "" && s.TruststoreCertificates == "" {
		return nil, fmt.Errorf("%w: %s=%s needs a truststore to verify clients", ErrTLSConfig, KeySSLClientAuth, s.ClientAuth)
	}
	t.base = base
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.loadKeyLocked(true); err != nil {
		return nil, err
	}
	if err := t.loadTrustLocked(true); err != nil {
		return nil, err
	}
	t.checked = now()
	return t, nil
}

var protocolVersions = map[string]uint16{"TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13}

func applyProtocols(c *tls.Config, protos []string) error {
	if len(protos) == 0 {
		c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS13
		return nil
	}
	var lo, hi uint16
	for _, p := range protos {
		v, ok := protocolVersions[p]
		if !ok {
			return fmt.Errorf("%w: %s: %q is not supported (TLSv1.2, TLSv1.3)", ErrTLSConfig, KeySSLEnabledProtocols, p)
		}
		if lo == 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	c.MinVersion, c.MaxVersion = lo, hi
	return nil
}

// applyCiphers maps Kafka's (IANA) suite names to Go's. TLS 1.3 suites
// (TLS_AES_*, TLS_CHACHA20_*) are accepted but Go always enables all of
// them.
func applyCiphers(c *tls.Config, names []string) error {
	if len(names) == 0 {
		return nil
	}
	byName := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		byName[s.Name] = s.ID
	}
	tls13 := map[string]bool{}
	for _, s := range tls.CipherSuites() {
		for _, v := range s.SupportedVersions {
			if v == tls.VersionTLS13 {
				tls13[s.Name] = true
			}
		}
	}
	for _, n := range names {
		id, ok := byName[n]
		if !ok {
			return fmt.Errorf("%w: %s: %q is not a supported cipher suite", ErrTLSConfig, KeySSLCipherSuites, n)
		}
		if !tls13[n] {
			c.CipherSuites = append(c.CipherSuites, id)
		}
	}
	return nil
}

// loadKeyLocked (re)loads the key pair if force or its file changed.
// Lock mu.
func (t *TLS) loadKeyLocked(force bool) error {
	var chainPEM, keyPEM []byte
	switch {
	case t.s.KeystoreLocation != "":
		st, err := stamp(t.s.KeystoreLocation)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrTLSConfig, KeySSLKeystoreLocation, err)
		}
		if !force && st == t.keyStamp {
			return nil
		}
		b, err := os.ReadFile(t.s.KeystoreLocation)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrTLSConfig, KeySSLKeystoreLocation, err)
		}
		chainPEM, keyPEM = b, b
		defer func() { t.keyStamp = st }()
	case t.s.KeystoreChain != "":
		if !force {
			return nil
		}
		chainPEM, keyPEM = []byte(t.s.KeystoreChain), []byte(t.s.KeystoreKey)
	default:
		return nil
	}
	cert, err := parseKeyPair(chainPEM, keyPEM, t.s.KeyPassword)
	if err != nil {
		return err
	}
	t.cert = cert
	return nil
}

func (t *TLS) loadTrustLocked(force bool) error {
	var b []byte
	switch {
	case t.s.TruststoreLocation != "":
		st, err := stamp(t.s.TruststoreLocation)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrTLSConfig, KeySSLTruststoreLocation, err)
		}
		if !force && st == t.trustStmp {
			return nil
		}
		if b, err = os.ReadFile(t.s.TruststoreLocation); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrTLSConfig, KeySSLTruststoreLocation, err)
		}
		defer func() { t.trustStmp = st }()
	case t.s.TruststoreCertificates != "":
		if !force {
			return nil
		}
		b = []byte(t.s.TruststoreCertificates)
	default:
		return nil
	}
	certs, err := parseCerts(b)
	if err != nil {
		return err
	}
	if len(certs) == 0 {
		return fmt.Errorf("%w: truststore holds no certificates", ErrTLSConfig)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	t.pool = pool
	return nil
}

func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out, nil
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: bad certificate: %v", ErrTLSConfig, err)
		}
		out = append(out, c)
	}
}

// parseKeyPair reads the certificate chain (leaf first) and the private
// key: PKCS#8 "PRIVATE KEY", or "ENCRYPTED PRIVATE KEY" with password as
// Kafka requires; PKCS#1 "RSA PRIVATE KEY" and SEC 1 "EC PRIVATE KEY" are
// accepted too.
func parseKeyPair(chainPEM, keyPEM []byte, password string) (*tls.Certificate, error) {
	cert := &tls.Certificate{}
	for b := chainPEM; ; {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, blk.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("%w: keystore holds no certificate", ErrTLSConfig)
	}
	var err error
	for b := keyPEM; ; {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "ENCRYPTED PRIVATE KEY":
			if password == "" {
				return nil, fmt.Errorf("%w: key is encrypted and %s is not set", ErrTLSConfig, KeySSLKeyPassword)
			}
			cert.PrivateKey, err = DecryptPKCS8(blk.Bytes, password)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if password != "" {
				return nil, fmt.Errorf("%w: %s is set but the key is not encrypted", ErrTLSConfig, KeySSLKeyPassword)
			}
			switch blk.Type {
			case "PRIVATE KEY":
				cert.PrivateKey, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
			case "RSA PRIVATE KEY":
				cert.PrivateKey, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
			default:
				cert.PrivateKey, err = x509.ParseECPrivateKey(blk.Bytes)
			}
		default:
			continue
		}
		if err != nil {
			if errors.Is(err, ErrInvalidPassword) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: bad private key: %v", ErrTLSConfig, err)
		}
		break
	}
	if cert.PrivateKey == nil {
		return nil, fmt.Errorf("%w: keystore holds no private key", ErrTLSConfig)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("%w: bad certificate: %v", ErrTLSConfig, err)
	}
	cert.Leaf = leaf
	signer, ok := cert.PrivateKey.(crypto.Signer)
	pub, ok2 := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !ok2 || !pub.Equal(signer.Public()) {
		return nil, fmt.Errorf("%w: private key does not match the certificate", ErrTLSConfig)
	}
	return cert, nil
}

// current returns the key pair and CAs, reloading changed files first.
func (t *TLS) current() (*tls.Certificate, *x509.CertPool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := t.now(); now.Sub(t.checked) >= time.Second {
		t.checked = now
		err := errors.Join(t.loadKeyLocked(false), t.loadTrustLocked(false))
		if err != nil {
			t.reloadErr = err
		}
	}
	return t.cert, t.pool
}

// LastReloadError is the error of the last failed reload (the previous key
// pair and CAs stay in use), or nil.
func (t *TLS) LastReloadError() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reloadErr
}

// ServerConfig is the listener's configuration: every handshake gets the
// current key pair and, for client authentication, the current CAs.
func (t *TLS) ServerConfig() *tls.Config {
	c := t.base.Clone()
	c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, pool := t.current()
		if cert == nil {
			return nil, fmt.Errorf("%w: no keystore configured", ErrTLSConfig)
		}
		cc := t.base.Clone()
		cc.Certificates = []tls.Certificate{*cert}
		cc.ClientCAs = pool
		return cc, nil
	}
	return c
}

// ClientConfig is a configuration for connecting to a TLS listener (broker
// to broker, or to the controller): the keystore as the client certificate,
// the truststore as the roots (the system roots if none), and the server's
// name verified against serverName unless EndpointIdentification is "".
func (t *TLS) ClientConfig(serverName string) *tls.Config {
	c := &tls.Config{MinVersion: t.base.MinVersion, MaxVersion: t.base.MaxVersion, CipherSuites: t.base.CipherSuites, ServerName: serverName}
	_, pool := t.current()
	c.RootCAs = pool
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cert, _ := t.current()
		if cert == nil {
			return &tls.Certificate{}, nil
		}
		return cert, nil
	}
	if t.s.EndpointIdentification == "" {
		// Verify the chain, not the name.
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: server sent no certificate", ErrTLSConfig)
			}
			_, pool := t.current()
			opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return c
}
