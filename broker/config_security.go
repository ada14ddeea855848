package broker

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gregor/auth"
)

// Security protocols of listener.security.protocol.map.
const (
	protoPlaintext     = "PLAINTEXT"
	protoSSL           = "SSL"
	protoSaslPlaintext = "SASL_PLAINTEXT"
	protoSaslSSL       = "SASL_SSL"
)

// SecurityConfig holds the listeners' SASL settings. TLS listeners (SSL,
// SASL_SSL) are not served yet: Validate refuses them.
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
		doc: "Listener name to security protocol, NAME:PROTOCOL,...; SSL and SASL_SSL listeners are not supported yet.", apply: func(c *Config, v string) error {
			m, err := parseProtocolMap(v)
			c.Security.ProtocolMap = m
			return err
		}},
	{name: "sasl.enabled.mechanisms", typ: "list", def: "GSSAPI", doc: "SASL mechanisms offered on SASL listeners; only PLAIN is served (GSSAPI, Kafka's default, is ignored).", apply: func(c *Config, v string) error {
		c.Security.Mechanisms = nil
		for _, m := range strings.Split(v, ",") {
			m = strings.TrimSpace(m)
			switch m {
			case "":
			case "GSSAPI":
				// Kafka's default; not served, so not offered.
			case auth.MechanismPlain:
				c.Security.Mechanisms = append(c.Security.Mechanisms, m)
			default:
				return fmt.Errorf("mechanism %q is not supported (PLAIN is)", m)
			}
		}
		return nil
	}},
	{name: "plain.sasl.jaas.config", typ: "password", doc: "PlainLoginModule JAAS line whose user_NAME=\"password\" options are the PLAIN users.", apply: func(c *Config, v string) error {
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
		switch p := c.Security.protocol(l.Name); p {
		case protoSSL, protoSaslSSL:
			return fmt.Errorf("config: listener.security.protocol.map: listener %s is %s; TLS listeners are not supported yet", l.Name, p)
		case protoSaslPlaintext:
			if l.Name == c.Cluster.ControllerListener || l.Name == c.Cluster.InterBrokerListener {
				return fmt.Errorf("config: listener.security.protocol.map: listener %s is %s; the controller and inter-broker listeners must be PLAINTEXT", l.Name, p)
			}
			if len(c.Security.Mechanisms) == 0 {
				return fmt.Errorf("config: sasl.enabled.mechanisms: listener %s is %s but no supported mechanism is enabled", l.Name, p)
			}
			if len(c.Security.PlainUsers) == 0 {
				return fmt.Errorf("config: plain.sasl.jaas.config: listener %s offers PLAIN but no user_NAME option is set", l.Name)
			}
		}
	}
	return nil
}
