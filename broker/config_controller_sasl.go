package broker

import (
	"fmt"
	"slices"
	"strings"

	"gregor/auth"
	"gregor/controller"
)

// SASL on the controller listener: a controller listener mapped to
// SASL_PLAINTEXT or SASL_SSL logs every Raft connection in with PLAIN
// (controller/raft_sasl.go) before its first RPC, after the TLS handshake
// on SASL_SSL. As in Kafka, voters dial with
// sasl.mechanism.controller.protocol and the username and password of
// the listener's JAAS config (listener.name.<controller>.plain.sasl.jaas.config,
// else plain.sasl.jaas.config), and the listener checks them against the
// PLAIN users (user_NAME options of plain.sasl.jaas.config).

// ControllerSASL is the login voters use on a SASL controller listener.
type ControllerSASL struct {
	Mechanism          string // sasl.mechanism.controller.protocol (PLAIN)
	Username, Password string
}

// controllerSASLConfigDefs are the controller listener's SASL keys.
var controllerSASLConfigDefs = []configDef{
	{name: "sasl.mechanism.controller.protocol", typ: "string", def: "GSSAPI", doc: "SASL mechanism voters log in to each other's controller listener with when it is SASL_PLAINTEXT or SASL_SSL: PLAIN (must be in sasl.enabled.mechanisms).", apply: func(c *Config, v string) error {
		c.Security.controllerMechanism = strings.TrimSpace(v)
		return nil
	}},
}

// buildControllerSASL resolves the voters' login when the controller
// listener is SASL_PLAINTEXT or SASL_SSL.
func (c *Config) buildControllerSASL() error {
	s := &c.Security
	s.Controller = nil
	l := c.Cluster.ControllerListener
	p := s.protocol(l)
	if l == "" || p != protoSaslPlaintext && p != protoSaslSSL {
		return nil
	}
	m := s.controllerMechanism
	if m != auth.MechanismPlain {
		return fmt.Errorf("config: sasl.mechanism.controller.protocol: controller listener %s is %s; %q is not supported on it (PLAIN is)", l, p, m)
	}
	if !slices.Contains(s.Mechanisms, m) {
		return fmt.Errorf("config: sasl.mechanism.controller.protocol: %s must be in sasl.enabled.mechanisms", m)
	}
	key := "listener.name." + strings.ToLower(l) + ".plain.sasl.jaas.config"
	e, ok := s.listenerJAAS[strings.ToLower(l)][m]
	if !ok && s.plainJAAS != "" {
		e, _ = auth.ParseJAASSingle(s.plainJAAS) // parsed once already
		ok = true
	}
	if !ok {
		return fmt.Errorf("config: %s: the controller listener %s is %s but has no JAAS config with the voters' username and password", key, l, p)
	}
	user, pass := e.Options["username"], e.Options["password"]
	if user == "" || pass == "" {
		return fmt.Errorf("config: %s: no username and password options for the controller login", key)
	}
	s.Controller = &ControllerSASL{Mechanism: m, Username: user, Password: pass}
	return nil
}

// raftSASL is the Raft transport's login when the controller listener is
// SASL_PLAINTEXT or SASL_SSL.
func raftSASL(c *SecurityConfig) *controller.RaftSASL {
	cs := c.Controller
	if cs == nil {
		return nil
	}
	users := c.PlainUsers
	return &controller.RaftSASL{
		Mechanism: cs.Mechanism, Username: cs.Username, Password: cs.Password,
		Verify: func(user, password string) (bool, error) {
			if users == nil {
				return false, nil
			}
			return users.AuthenticatePlain(user, password)
		},
	}
}
