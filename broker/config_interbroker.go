package broker

import (
	"fmt"
	"slices"
	"strings"

	"gregor/auth"
)

// Inter-broker and controller security: the inter-broker listener may be
// SSL, SASL_PLAINTEXT or SASL_SSL, and brokers dial each other the way a
// Kafka client would (peer.go): TLS with this broker's own key store as
// the client certificate and its trust store as the roots, then a SASL
// login with sasl.mechanism.inter.broker.protocol and the username and
// password of the listener's JAAS config
// (listener.name.<l>.<mechanism>.sasl.jaas.config). The controller
// listener may be SSL: the Raft transport then runs over TLS with the
// listener's settings (controller/raft_tls.go).

// InterBrokerSASL is the login brokers use on a SASL inter-broker listener.
type InterBrokerSASL struct {
	Mechanism          string // sasl.mechanism.inter.broker.protocol
	Username, Password string // from the listener's JAAS config for Mechanism
}

// interBrokerConfigDefs are the inter-broker security keys.
var interBrokerConfigDefs = []configDef{
	{name: "sasl.mechanism.inter.broker.protocol", typ: "string", def: "GSSAPI", doc: "SASL mechanism brokers log in to each other with on a SASL inter-broker listener: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (must be in sasl.enabled.mechanisms).", apply: func(c *Config, v string) error {
		c.Security.interBrokerMechanism = strings.TrimSpace(v)
		return nil
	}},
	{name: "security.inter.broker.protocol", typ: "string", def: "", doc: "Instead of inter.broker.listener.name: brokers talk to each other on the listener named like this protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL). gregor: empty (Kafka: PLAINTEXT) means inter.broker.listener.name decides.", apply: func(c *Config, v string) error {
		v = strings.ToUpper(strings.TrimSpace(v))
		if v != "" && !slices.Contains([]string{protoPlaintext, protoSSL, protoSaslPlaintext, protoSaslSSL}, v) {
			return fmt.Errorf("unknown security protocol %q", v)
		}
		c.Cluster.interBrokerProtocol = v
		return nil
	}},
}

// jaasMechanisms are the mechanisms whose JAAS config a listener may set
// as listener.name.<l>.<lowercase mechanism>.sasl.jaas.config, with the
// login module each must name.
var jaasMechanisms = map[string]string{
	auth.MechanismPlain:       auth.PlainLoginModule,
	auth.MechanismScramSHA256: auth.ScramLoginModule,
	auth.MechanismScramSHA512: auth.ScramLoginModule,
}

// jaasListenerKeyDefs are the per-listener JAAS configs. Their username
// and password are the inter-broker login; PLAIN users (user_NAME) still
// come from the unprefixed plain.sasl.jaas.config.
var jaasListenerKeyDefs = func() []listenerKeyDef {
	var defs []listenerKeyDef
	for _, m := range []string{auth.MechanismPlain, auth.MechanismScramSHA256, auth.MechanismScramSHA512} {
		defs = append(defs, listenerKeyDef{name: strings.ToLower(m) + ".sasl.jaas.config", apply: func(c *Config, listener, v string) error {
			e, err := auth.ParseJAASSingle(v)
			if err != nil {
				return err
			}
			if e.LoginModule != jaasMechanisms[m] {
				return fmt.Errorf("login module %q is not %s", e.LoginModule, jaasMechanisms[m])
			}
			if c.Security.listenerJAAS == nil {
				c.Security.listenerJAAS = map[string]map[string]auth.JAASEntry{}
			}
			if c.Security.listenerJAAS[listener] == nil {
				c.Security.listenerJAAS[listener] = map[string]auth.JAASEntry{}
			}
			c.Security.listenerJAAS[listener][m] = e
			return nil
		}})
	}
	return defs
}()

// resolveInterBrokerListener applies security.inter.broker.protocol (before
// the inter-broker listener's default is chosen).
func (c *Config) resolveInterBrokerListener() error {
	p := c.Cluster.interBrokerProtocol
	if p == "" {
		return nil
	}
	if c.Cluster.InterBrokerListener != "" {
		return fmt.Errorf("config: security.inter.broker.protocol: only one of inter.broker.listener.name and security.inter.broker.protocol may be set")
	}
	c.Cluster.InterBrokerListener = p
	return nil
}

// buildInterBroker resolves the inter-broker SASL login when the
// inter-broker listener is SASL_PLAINTEXT or SASL_SSL.
func (c *Config) buildInterBroker() error {
	s := &c.Security
	s.InterBroker = nil
	l := c.Cluster.InterBrokerListener
	p := s.protocol(l)
	if p != protoSaslPlaintext && p != protoSaslSSL {
		return nil
	}
	m := s.interBrokerMechanism
	if _, ok := jaasMechanisms[m]; !ok {
		return fmt.Errorf("config: sasl.mechanism.inter.broker.protocol: inter-broker listener %s is %s; %q is not supported between brokers (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 are)", l, p, m)
	}
	if !slices.Contains(s.Mechanisms, m) {
		return fmt.Errorf("config: sasl.mechanism.inter.broker.protocol: %s must be in sasl.enabled.mechanisms", m)
	}
	key := "listener.name." + strings.ToLower(l) + "." + strings.ToLower(m) + ".sasl.jaas.config"
	e, ok := s.listenerJAAS[strings.ToLower(l)][m]
	if !ok && m == auth.MechanismPlain && s.plainJAAS != "" {
		e, _ = auth.ParseJAASSingle(s.plainJAAS) // parsed once already
		ok = true
	}
	if !ok {
		return fmt.Errorf("config: %s: the inter-broker listener %s is %s with %s but has no JAAS config with the broker's username and password", key, l, p, m)
	}
	user, pass := e.Options["username"], e.Options["password"]
	if user == "" {
		return fmt.Errorf("config: %s: no username option for the inter-broker login", key)
	}
	s.InterBroker = &InterBrokerSASL{Mechanism: m, Username: user, Password: pass}
	return nil
}
