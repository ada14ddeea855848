package broker

import (
	"fmt"
	"slices"
	"strings"

	"gregor/auth"
)

// TLS listeners (SSL, SASL_SSL): Kafka's ssl.* keys, each also settable
// for one listener as listener.name.<lowercase name>.ssl.*; a prefixed
// value overrides the unprefixed one key by key, as Kafka's
// valuesWithPrefixOverride does.

// Keys of ours beyond auth's.
const (
	keySSLProtocol        = "ssl.protocol"
	keySSLPrincipalMapper = "ssl.principal.mapping.rules"
)

// ListenerTLS is one SSL or SASL_SSL listener's resolved TLS settings.
type ListenerTLS struct {
	Settings auth.TLSSettings
	// Mapper is ssl.principal.mapping.rules, turning a client
	// certificate's subject into the principal name (SSL listeners).
	Mapper *auth.PrincipalMapper
}

// tlsProps are the ssl.* values as given: unprefixed (global) and per
// listener (lowercase name).
type tlsProps struct {
	global      map[string]string
	perListener map[string]map[string]string
}

// tlsKeys are the ssl.* keys: name, type, default, doc.
var tlsKeys = []struct{ name, typ, def, doc string }{
	{auth.KeySSLKeystoreType, "string", "PEM", "Format of the key store; only PEM is supported (Kafka's default is JKS)."},
	{auth.KeySSLKeystoreLocation, "string", "", "PEM file holding the listener's private key and certificate chain (re-read when it changes)."},
	{auth.KeySSLKeystoreChain, "string", "", "Inline PEM certificate chain (with ssl.keystore.key), instead of ssl.keystore.location."},
	{auth.KeySSLKeystoreKey, "password", "", "Inline PEM private key (with ssl.keystore.certificate.chain)."},
	{auth.KeySSLKeyPassword, "password", "", "Password of an encrypted PKCS#8 private key (ENCRYPTED PRIVATE KEY)."},
	{auth.KeySSLTruststoreType, "string", "PEM", "Format of the trust store; only PEM is supported (Kafka's default is JKS)."},
	{auth.KeySSLTruststoreLocation, "string", "", "PEM file of the CA certificates client certificates are verified against (re-read when it changes)."},
	{auth.KeySSLTruststoreCertificates, "string", "", "Inline PEM CA certificates, instead of ssl.truststore.location."},
	{auth.KeySSLClientAuth, "string", "none", "Client certificates: none, requested (verified if sent) or required (mTLS)."},
	{auth.KeySSLEnabledProtocols, "list", "TLSv1.2,TLSv1.3", "TLS versions accepted: TLSv1.2, TLSv1.3."},
	{keySSLProtocol, "string", "TLSv1.3", "Highest TLS version: TLSv1.3 (or TLS), or TLSv1.2 to refuse TLSv1.3."},
	{auth.KeySSLCipherSuites, "list", "", "TLS 1.2 cipher suites by IANA name (empty: Go's defaults); TLS 1.3 suites are always enabled."},
	{auth.KeySSLEndpointIdentification, "string", "https", "Whether a TLS client checks the server's host name: https, or empty to check only the chain."},
	{keySSLPrincipalMapper, "string", "DEFAULT", "Rules turning a client certificate's subject DN into the principal name (RULE:pattern/replacement/[LU], DEFAULT)."},
}

// tlsConfigDefs are the unprefixed ssl.* keys.
var tlsConfigDefs = func() []configDef {
	var defs []configDef
	for _, k := range tlsKeys {
		defs = append(defs, configDef{name: k.name, typ: k.typ, def: k.def, doc: k.doc, apply: func(c *Config, v string) error {
			if c.Security.tls.global == nil {
				c.Security.tls.global = map[string]string{}
			}
			c.Security.tls.global[k.name] = v
			return nil
		}})
	}
	return defs
}()

// tlsListenerKeyDefs are the ssl.* keys under listener.name.<l>.
var tlsListenerKeyDefs = func() []listenerKeyDef {
	var defs []listenerKeyDef
	for _, k := range tlsKeys {
		defs = append(defs, listenerKeyDef{name: k.name, apply: func(c *Config, listener, v string) error {
			p := &c.Security.tls
			if p.perListener == nil {
				p.perListener = map[string]map[string]string{}
			}
			if p.perListener[listener] == nil {
				p.perListener[listener] = map[string]string{}
			}
			p.perListener[listener][k.name] = v
			return nil
		}})
	}
	return defs
}()

// isTLS reports whether proto runs over TLS.
func isTLS(proto string) bool { return proto == protoSSL || proto == protoSaslSSL }

// tlsKeyName is how an error names key for listener: with the listener
// prefix when the listener sets it.
func (p *tlsProps) keyName(listener, key string) string {
	if _, ok := p.perListener[strings.ToLower(listener)][key]; ok {
		return "listener.name." + strings.ToLower(listener) + "." + key
	}
	return key
}

// resolve is listener's ssl.* values: the prefixed ones over the global ones.
func (p *tlsProps) resolve(listener string) map[string]string {
	out := map[string]string{}
	for k, v := range p.global {
		out[k] = v
	}
	for k, v := range p.perListener[strings.ToLower(listener)] {
		out[k] = v
	}
	return out
}

// buildTLS resolves the settings of every SSL and SASL_SSL listener into
// Security.TLS. Files are read when the broker starts (New), not here.
func (c *Config) buildTLS() error {
	s := &c.Security
	s.TLS = nil
	for _, l := range c.Socket.Listeners {
		if !isTLS(s.protocol(l.Name)) {
			continue
		}
		props := s.tls.resolve(l.Name)
		settings, err := auth.TLSSettingsFromKafka(props)
		if err != nil {
			return fmt.Errorf("config: listener %s: %w", l.Name, err)
		}
		if settings.EnabledProtocols, err = capProtocols(settings.EnabledProtocols, props[keySSLProtocol]); err != nil {
			return fmt.Errorf("config: %s: listener %s: %w", s.tls.keyName(l.Name, keySSLProtocol), l.Name, err)
		}
		if settings.KeystoreLocation == "" && settings.KeystoreChain == "" {
			return fmt.Errorf("config: %s: listener %s is %s but has no key store (set %s, or %s and %s)",
				s.tls.keyName(l.Name, auth.KeySSLKeystoreLocation), l.Name, s.protocol(l.Name),
				auth.KeySSLKeystoreLocation, auth.KeySSLKeystoreChain, auth.KeySSLKeystoreKey)
		}
		m, err := auth.ParseMappingRules(props[keySSLPrincipalMapper])
		if err != nil {
			return fmt.Errorf("config: %s: %w", s.tls.keyName(l.Name, keySSLPrincipalMapper), err)
		}
		if s.TLS == nil {
			s.TLS = map[string]ListenerTLS{}
		}
		s.TLS[l.Name] = ListenerTLS{Settings: settings, Mapper: m}
	}
	return nil
}

// capProtocols applies ssl.protocol to the enabled protocols: TLSv1.2
// removes TLSv1.3, as a Java TLSv1.2 SSLContext cannot speak it.
func capProtocols(enabled []string, protocol string) ([]string, error) {
	switch protocol {
	case "", "TLS", "TLSv1.3":
		return enabled, nil
	case "TLSv1.2":
		if len(enabled) == 0 {
			enabled = []string{"TLSv1.2"}
		}
		enabled = slices.DeleteFunc(slices.Clone(enabled), func(p string) bool { return p == "TLSv1.3" })
		if len(enabled) == 0 {
			return nil, fmt.Errorf("TLSv1.2 excludes every protocol in %s", auth.KeySSLEnabledProtocols)
		}
		return enabled, nil
	default:
		return nil, fmt.Errorf("%q is not supported (TLSv1.2, TLSv1.3, TLS)", protocol)
	}
}
