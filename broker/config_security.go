package broker

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gregor/auth"
	"gregor/controller"
)

// Security protocols of listener.security.protocol.map.
const (
	protoPlaintext     = "PLAINTEXT"
	protoSSL           = "SSL"
	protoSaslPlaintext = "SASL_PLAINTEXT"
	protoSaslSSL       = "SASL_SSL"
)

// SecurityConfig holds the listeners' SASL and TLS settings.
type SecurityConfig struct {
	// ProtocolMap is listener.security.protocol.map: listener name to
	// security protocol. A listener name it does not list is PLAINTEXT.
	ProtocolMap map[string]string
	// Mechanisms is sasl.enabled.mechanisms (only PLAIN is served).
	Mechanisms []string
	// PlainUsers are the user_NAME="password" options of
	// plain.sasl.jaas.config (PlainLoginModule).
	PlainUsers auth.PlainUsers
	// FailedAuthDelay is connection.failed.authentication.delay.ms: how
	// long a failed login waits before its answer and the close.
	FailedAuthDelay time.Duration
	// SASL holds the SCRAM, OAUTHBEARER and re-authentication settings
	// (the SASL mechanisms block below).
	SASL SASLConfig
	// TLS are the SSL and SASL_SSL listeners' settings, by listener name
	// (config_tls.go).
	TLS map[string]ListenerTLS
	// InterBroker is the SASL login brokers use towards each other when
	// the inter-broker listener is SASL_PLAINTEXT or SASL_SSL
	// (config_interbroker.go); nil otherwise.
	InterBroker *InterBrokerSASL
	// Controller is the voters' login when the controller listener is
	// SASL_PLAINTEXT or SASL_SSL (config_controller_sasl.go); nil
	// otherwise.
	Controller *ControllerSASL

	tls                  tlsProps // the ssl.* values as given
	plainJAAS            string   // plain.sasl.jaas.config as given
	interBrokerMechanism string   // sasl.mechanism.inter.broker.protocol
	controllerMechanism  string   // sasl.mechanism.controller.protocol
	// listenerJAAS are listener.name.<l>.<mechanism>.sasl.jaas.config,
	// by lowercase listener name and mechanism.
	listenerJAAS map[string]map[string]auth.JAASEntry
}

// protocol is the security protocol of the listener named name.
func (s *SecurityConfig) protocol(name string) string {
	if p, ok := s.ProtocolMap[name]; ok {
		return p
	}
	return protoPlaintext
}

// securityConfigDefs are the keys of SecurityConfig.
var securityConfigDefs = []configDef{
	{name: "listener.security.protocol.map", typ: "string", def: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
		doc: "Listener name to security protocol, NAME:PROTOCOL,... (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).", apply: func(c *Config, v string) error {
			m, err := parseProtocolMap(v)
			c.Security.ProtocolMap = m
			return err
		}},
	{name: "sasl.enabled.mechanisms", typ: "list", def: "GSSAPI", doc: "SASL mechanisms offered on SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (GSSAPI, Kafka's default, is ignored).", apply: func(c *Config, v string) error {
		c.Security.Mechanisms = nil
		for _, m := range strings.Split(v, ",") {
			m = strings.TrimSpace(m)
			switch m {
			case "":
			case "GSSAPI":
				// Kafka's default; not served, so not offered.
			case auth.MechanismPlain, auth.MechanismScramSHA256, auth.MechanismScramSHA512, auth.MechanismOAuthBearer:
				if !slices.Contains(c.Security.Mechanisms, m) {
					c.Security.Mechanisms = append(c.Security.Mechanisms, m)
				}
			default:
				return fmt.Errorf("mechanism %q is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER are)", m)
			}
		}
		return nil
	}},
	{name: "plain.sasl.jaas.config", typ: "password", doc: "PlainLoginModule JAAS line whose user_NAME=\"password\" options are the PLAIN users.", apply: func(c *Config, v string) error {
		c.Security.plainJAAS = v
		if v == "" {
			return nil
		}
		u, err := auth.PlainUsersFromJAAS(v)
		c.Security.PlainUsers = u
		return err
	}},
	msKey("connection.failed.authentication.delay.ms", "100", "Delay before a failed login is answered and its connection closed.", 0, math.MaxInt32, func(c *Config, d time.Duration) { c.Security.FailedAuthDelay = d }),
}

func parseProtocolMap(v string) (map[string]string, error) {
	m := map[string]string{}
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		name, proto, ok := strings.Cut(e, ":")
		name, proto = strings.TrimSpace(name), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not NAME:PROTOCOL", e)
		}
		if !slices.Contains([]string{protoPlaintext, protoSSL, protoSaslPlaintext, protoSaslSSL}, proto) {
			return nil, fmt.Errorf("%q: unknown security protocol %q", e, proto)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("listener name %s repeated", name)
		}
		m[name] = proto
	}
	return m, nil
}

// validateSecurity refuses listeners gregor cannot serve as configured.
func (c *Config) validateSecurity() error {
	for _, l := range c.Socket.Listeners {
		p := c.Security.protocol(l.Name)
		if p == protoPlaintext {
			continue
		}
		if l.Name == c.Cluster.ControllerListener && p != protoSSL && c.Security.Controller == nil {
			return fmt.Errorf("config: listener.security.protocol.map: controller listener %s is %s without a controller login (sasl.mechanism.controller.protocol)", l.Name, p)
		}
		if isTLS(p) {
			if _, ok := c.Security.TLS[l.Name]; !ok {
				return fmt.Errorf("config: %s: listener %s is %s but has no TLS settings", auth.KeySSLKeystoreLocation, l.Name, p)
			}
		}
		if p == protoSaslPlaintext || p == protoSaslSSL {
			if err := c.validateSASLListener(l); err != nil {
				return err
			}
		}
	}
	return nil
}

// SASL mechanisms: SCRAM, OAUTHBEARER and re-authentication (KIP-368).

// SASLConfig holds the SCRAM, OAUTHBEARER and re-authentication settings.
// SCRAM credentials live in the controller quorum, not here.
type SASLConfig struct {
	// OAuthBearer is the KIP-768 token validation (sasl.oauthbearer.*);
	// set when any of its keys is.
	OAuthBearer *auth.JWTConfig
	// MaxReauth is connections.max.reauth.ms: how long an authenticated
	// SASL session lasts before the client must re-authenticate (0: for
	// ever). ListenerMaxReauth overrides it per listener
	// (listener.name.<name>.connections.max.reauth.ms).
	MaxReauth         time.Duration
	ListenerMaxReauth map[string]time.Duration

	// BootstrapScram are SCRAM credentials the quorum gets when the
	// cluster is first created: the first administrator (AddScram; serve
	// --add-scram). Not a config key: it holds secrets.
	BootstrapScram []controller.ScramUpsertion

	// oauthProps are the sasl.oauthbearer.* values as given.
	oauthProps map[string]string
}

// maxReauth is the session lifetime on the listener called name.
func (s *SASLConfig) maxReauth(listener string) time.Duration {
	if d, ok := s.ListenerMaxReauth[strings.ToLower(listener)]; ok {
		return d
	}
	return s.MaxReauth
}

// AddScram adds a bootstrap SCRAM credential given in the form of
// `kafka-storage format --add-scram`:
// SCRAM-SHA-512=[name=admin,password=admin-secret] (see auth.ParseScramSpec).
func (c *Config) AddScram(spec string) error {
	sp, err := auth.ParseScramSpec(spec)
	if err != nil {
		return err
	}
	c.Security.SASL.BootstrapScram = append(c.Security.SASL.BootstrapScram, scramUpsertion(sp))
	return nil
}

// oauthKey is a KIP-768 key: its value is collected and read, with the
// others, by auth.JWTConfigFromKafka.
func oauthKey(name, def, doc string) configDef {
	return configDef{name: name, typ: "string", def: def, doc: doc, apply: func(c *Config, v string) error {
		if v == def {
			return nil // auth.JWTConfigFromKafka has Kafka's defaults
		}
		if c.Security.SASL.oauthProps == nil {
			c.Security.SASL.oauthProps = map[string]string{}
		}
		c.Security.SASL.oauthProps[name] = v
		return nil
	}}
}

// saslConfigDefs are the keys of SASLConfig.
var saslConfigDefs = []configDef{
	msKey("connections.max.reauth.ms", "0", "Longest an authenticated SASL session lasts before the client must re-authenticate (KIP-368); 0 means for ever. Per listener: listener.name.<name>.connections.max.reauth.ms.", 0, math.MaxInt64, func(c *Config, d time.Duration) { c.Security.SASL.MaxReauth = d }),
	oauthKey(auth.KeyJWKSEndpointURL, "", "OAUTHBEARER: the JWKS holding the keys that sign tokens; a file:// URL (re-read when the file changes)."),
	oauthKey(auth.KeyExpectedAudience, "", "OAUTHBEARER: audiences a token's aud claim must name one of (comma-separated); empty refuses tokens with an aud claim."),
	oauthKey(auth.KeyExpectedIssuer, "", "OAUTHBEARER: the iss claim a token must have; empty accepts any."),
	oauthKey(auth.KeySubClaimName, "sub", "OAUTHBEARER: the claim holding the principal name."),
	oauthKey(auth.KeyScopeClaimName, "scope", "OAUTHBEARER: the claim holding the token's scopes."),
	oauthKey(auth.KeyClockSkewSeconds, "30", "OAUTHBEARER: seconds of leeway on a token's exp, nbf and iat."),
}

// listenerKeyDef is a key that may also be set for one listener as
// listener.name.<lowercase name>.<key>.
type listenerKeyDef struct {
	name  string
	apply func(c *Config, listener, v string) error
}

// listenerKeyDefs are the keys settable per listener: the SASL ones
// below and the ssl.* keys (config_tls.go).
var listenerKeyDefs = slices.Concat(saslListenerKeyDefs, tlsListenerKeyDefs, jaasListenerKeyDefs)

var saslListenerKeyDefs = []listenerKeyDef{
	{name: "connections.max.reauth.ms", apply: func(c *Config, listener, v string) error {
		n, err := parseInt(v, 0, math.MaxInt64)
		if err != nil {
			return err
		}
		if c.Security.SASL.ListenerMaxReauth == nil {
			c.Security.SASL.ListenerMaxReauth = map[string]time.Duration{}
		}
		c.Security.SASL.ListenerMaxReauth[listener] = scaled(n, time.Millisecond)
		return nil
	}},
}

// listenerKey splits listener.name.<listener>.<key> for a key of
// listenerKeyDefs.
func listenerKey(k string) (listener string, def listenerKeyDef, ok bool) {
	rest, ok := strings.CutPrefix(k, "listener.name.")
	if !ok {
		return "", listenerKeyDef{}, false
	}
	for _, d := range listenerKeyDefs {
		if l, found := strings.CutSuffix(rest, "."+d.name); found && l != "" && !strings.Contains(l, ".") {
			return strings.ToLower(l), d, true
		}
	}
	return "", listenerKeyDef{}, false
}

// applyListenerKeys applies listener.name.<l>.<key> settings; the
// listener must exist.
func (c *Config) applyListenerKeys(kvs [][2]string) error {
	for _, kv := range kvs {
		l, d, _ := listenerKey(kv[0])
		if !slices.ContainsFunc(c.Socket.Listeners, func(x Listener) bool { return strings.EqualFold(x.Name, l) }) {
			return fmt.Errorf("config: %s: no listener %s in listeners", kv[0], l)
		}
		if err := d.apply(c, l, strings.TrimSpace(kv[1])); err != nil {
			return fmt.Errorf("config: %s: %w", kv[0], err)
		}
	}
	return nil
}

// validateSASLListener checks that every mechanism a SASL listener offers
// can log anyone in: PLAIN needs users, OAUTHBEARER a JWKS. SCRAM users
// come from the quorum (the first administrator from serve --add-scram).
func (c *Config) validateSASLListener(l Listener) error {
	s := &c.Security
	if len(s.Mechanisms) == 0 {
		return fmt.Errorf("config: sasl.enabled.mechanisms: listener %s is %s but no supported mechanism is enabled", l.Name, s.protocol(l.Name))
	}
	if slices.Contains(s.Mechanisms, auth.MechanismPlain) && len(s.PlainUsers) == 0 {
		return fmt.Errorf("config: plain.sasl.jaas.config: listener %s offers PLAIN but no user_NAME option is set", l.Name)
	}
	if slices.Contains(s.Mechanisms, auth.MechanismOAuthBearer) && s.SASL.OAuthBearer == nil {
		return fmt.Errorf("config: %s: listener %s offers OAUTHBEARER but no JWKS is configured", auth.KeyJWKSEndpointURL, l.Name)
	}
	return nil
}

// buildOAuthBearer reads the KIP-768 keys into SASL.OAuthBearer when the
// JWKS URL is set.
func (c *Config) buildOAuthBearer() error {
	p := c.Security.SASL.oauthProps
	if p[auth.KeyJWKSEndpointURL] == "" {
		c.Security.SASL.OAuthBearer = nil
		return nil
	}
	jc, err := auth.JWTConfigFromKafka(p)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	c.Security.SASL.OAuthBearer = &jc
	return nil
}
