package broker

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"gregor/auth"
)

func init() {
	kafkaDefaults["listener.security.protocol.map"] = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
	kafkaDefaults["sasl.enabled.mechanisms"] = "GSSAPI"
	kafkaDefaults["connection.failed.authentication.delay.ms"] = "100"
	// Kafka has only the listener-prefixed listener.name.<l>.plain.sasl.jaas.config.
	gregorDefaults["plain.sasl.jaas.config"] = ""
}

// wantSecurityDefaults is DefaultConfig's Security (TestConfigDefaultsMatchKafka).
var wantSecurityDefaults = SecurityConfig{
	ProtocolMap:     map[string]string{"PLAINTEXT": "PLAINTEXT", "SSL": "SSL", "SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL"},
	FailedAuthDelay: 100 * time.Millisecond,
	tls: tlsProps{global: map[string]string{"ssl.client.auth": "none", "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
		"ssl.endpoint.identification.algorithm": "https", "ssl.keystore.type": "PEM", "ssl.principal.mapping.rules": "DEFAULT",
		"ssl.protocol": "TLSv1.3", "ssl.truststore.type": "PEM"}},
	interBrokerMechanism: "GSSAPI",
	controllerMechanism:  "GSSAPI",
}

const testPlainJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";`

// saslOverrides make a broker with a SASL_PLAINTEXT client listener (and a
// PLAINTEXT inter-broker one) offering PLAIN for admin and alice.
func saslOverrides() []string {
	return []string{
		"listeners=SASL://127.0.0.1:0,INTERNAL://127.0.0.1:0",
		"listener.security.protocol.map=SASL:SASL_PLAINTEXT,INTERNAL:PLAINTEXT",
		"inter.broker.listener.name=INTERNAL",
		"sasl.enabled.mechanisms=PLAIN",
		"plain.sasl.jaas.config=" + testPlainJAAS,
	}
}

func TestSecurityConfigKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		kvs     []string
		field   func(*Config) any
		want    any
		wantErr string
	}{
		{name: "protocol map", kvs: []string{"listener.security.protocol.map=PLAINTEXT:plaintext, X:SASL_PLAINTEXT"},
			field: func(c *Config) any { return c.Security.ProtocolMap }, want: map[string]string{"PLAINTEXT": "PLAINTEXT", "X": "SASL_PLAINTEXT"}},
		{name: "unmapped listener is plaintext", kvs: []string{"listener.security.protocol.map=A:SSL"},
			field: func(c *Config) any { return c.Security.protocol("PLAINTEXT") }, want: "PLAINTEXT"},
		{name: "mechanisms", kvs: []string{"sasl.enabled.mechanisms=GSSAPI, PLAIN"},
			field: func(c *Config) any { return c.Security.Mechanisms }, want: []string{"PLAIN"}},
		{name: "jaas users", kvs: []string{"plain.sasl.jaas.config=" + testPlainJAAS},
			field: func(c *Config) any { return c.Security.PlainUsers }, want: auth.PlainUsers{"admin": "admin-secret", "alice": "alice-secret"}},
		{name: "failed delay", kvs: []string{"connection.failed.authentication.delay.ms=5"},
			field: func(c *Config) any { return c.Security.FailedAuthDelay }, want: 5 * time.Millisecond},
		{name: "sasl listener", kvs: saslOverrides(),
			field: func(c *Config) any { return c.Security.protocol("SASL") }, want: "SASL_PLAINTEXT"},
		{name: "bad protocol", kvs: []string{"listener.security.protocol.map=A:TLS"}, wantErr: `unknown security protocol "TLS"`},
		{name: "bad map entry", kvs: []string{"listener.security.protocol.map=A"}, wantErr: `"A" is not NAME:PROTOCOL`},
		{name: "repeated name", kvs: []string{"listener.security.protocol.map=A:SSL,A:SSL"}, wantErr: "listener name A repeated"},
		{name: "gssapi-only mechanisms refused", kvs: []string{"sasl.enabled.mechanisms=SCRAM-SHA-1"}, wantErr: `mechanism "SCRAM-SHA-1" is not supported`},
		{name: "bad jaas", kvs: []string{"plain.sasl.jaas.config=org.example.Other required;"}, wantErr: "plain.sasl.jaas.config"},
		{name: "ssl listener without key store", kvs: []string{"listeners=SSL://:1,PLAINTEXT://:2", "inter.broker.listener.name=PLAINTEXT"}, wantErr: "ssl.keystore.location: listener SSL is SSL but has no key store"},
		{name: "ssl jks refused", kvs: []string{"listeners=SSL://:1,PLAINTEXT://:2", "inter.broker.listener.name=PLAINTEXT", "ssl.keystore.type=JKS"}, wantErr: "ssl.keystore.type=JKS: only PEM is supported"},
		{name: "ssl protocol per listener", kvs: []string{"listeners=SSL://:1,PLAINTEXT://:2", "inter.broker.listener.name=PLAINTEXT", "listener.name.ssl.ssl.protocol=SSLv3"}, wantErr: "listener.name.ssl.ssl.protocol: listener SSL"},
		{name: "ssl mapping rules", kvs: []string{"listeners=SSL://:1,PLAINTEXT://:2", "inter.broker.listener.name=PLAINTEXT", "ssl.keystore.location=/k.pem", "ssl.principal.mapping.rules=RULE:x"}, wantErr: "ssl.principal.mapping.rules"},
		{name: "ssl prefixed key overrides", kvs: []string{"listeners=SSL://:1,PLAINTEXT://:2", "inter.broker.listener.name=PLAINTEXT", "ssl.keystore.location=/a.pem", "listener.name.ssl.ssl.keystore.location=/b.pem", "ssl.client.auth=requested", "ssl.truststore.location=/ca.pem", "ssl.protocol=TLSv1.2"},
			field: func(c *Config) any {
				s := c.Security.TLS["SSL"].Settings
				return []any{s.KeystoreLocation, s.ClientAuth, s.TruststoreLocation, s.EnabledProtocols}
			}, want: []any{"/b.pem", "requested", "/ca.pem", []string{"TLSv1.2"}}},
		{name: "ssl inter-broker", kvs: []string{"listeners=SSL://:1", "ssl.keystore.location=/k.pem"},
			field: func(c *Config) any { return []any{c.Cluster.InterBrokerListener, c.Security.InterBroker == nil} }, want: []any{"SSL", true}},
		{name: "sasl controller without PLAIN refused", kvs: []string{"listeners=PLAINTEXT://:1,CONTROLLER://:2", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL", "ssl.keystore.location=/k.pem"},
			wantErr: `sasl.mechanism.controller.protocol: controller listener CONTROLLER is SASL_SSL; "GSSAPI" is not supported on it (PLAIN is)`},
		{name: "sasl controller PLAIN not enabled", kvs: []string{"listeners=PLAINTEXT://:1,CONTROLLER://:2", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT", "sasl.mechanism.controller.protocol=PLAIN"},
			wantErr: "sasl.mechanism.controller.protocol: PLAIN must be in sasl.enabled.mechanisms"},
		{name: "sasl controller without login", kvs: []string{"listeners=PLAINTEXT://:1,CONTROLLER://:2", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT", "sasl.mechanism.controller.protocol=PLAIN",
			"sasl.enabled.mechanisms=PLAIN", `plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_c="pw";`},
			wantErr: "listener.name.controller.plain.sasl.jaas.config: no username and password options for the controller login"},
		{name: "sasl_ssl controller", kvs: []string{"listeners=PLAINTEXT://:1,CONTROLLER://:2", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL", "ssl.keystore.location=/k.pem",
			"sasl.mechanism.controller.protocol=PLAIN", "sasl.enabled.mechanisms=PLAIN", `plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_c="pw";`,
			`listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="c" password="pw";`},
			field: func(c *Config) any {
				return []any{*c.Security.Controller, c.Security.TLS["CONTROLLER"].Settings.KeystoreLocation}
			}, want: []any{ControllerSASL{Mechanism: "PLAIN", Username: "c", Password: "pw"}, "/k.pem"}},
		{name: "ssl controller", kvs: []string{"listeners=PLAINTEXT://:1,CONTROLLER://:2", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL", "ssl.keystore.location=/k.pem"},
			field: func(c *Config) any { return c.Security.TLS["CONTROLLER"].Settings.KeystoreLocation }, want: "/k.pem"},
		{name: "security.inter.broker.protocol", kvs: []string{"listeners=PLAINTEXT://:1,SSL://:2", "ssl.keystore.location=/k.pem", "security.inter.broker.protocol=SSL"},
			field: func(c *Config) any { return c.Cluster.InterBrokerListener }, want: "SSL"},
		{name: "both inter-broker keys refused", kvs: []string{"listeners=PLAINTEXT://:1,SSL://:2", "ssl.keystore.location=/k.pem", "security.inter.broker.protocol=SSL", "inter.broker.listener.name=SSL"},
			wantErr: "only one of inter.broker.listener.name and security.inter.broker.protocol"},
		{name: "sasl without mechanism", kvs: []string{"listeners=SASL://:1,PLAINTEXT://:2", "listener.security.protocol.map=SASL:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT", "inter.broker.listener.name=PLAINTEXT"},
			wantErr: "sasl.enabled.mechanisms: listener SASL"},
		{name: "sasl without users", kvs: []string{"listeners=SASL://:1,PLAINTEXT://:2", "listener.security.protocol.map=SASL:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT", "inter.broker.listener.name=PLAINTEXT", "sasl.enabled.mechanisms=PLAIN"},
			wantErr: "plain.sasl.jaas.config: listener SASL"},
		{name: "sasl inter-broker without mechanism", kvs: []string{"listeners=SASL://:1", "listener.security.protocol.map=SASL:SASL_PLAINTEXT", "sasl.enabled.mechanisms=PLAIN", "plain.sasl.jaas.config=" + testPlainJAAS},
			wantErr: `sasl.mechanism.inter.broker.protocol: inter-broker listener SASL is SASL_PLAINTEXT; "GSSAPI" is not supported`},
		{name: "sasl inter-broker plain", kvs: []string{"listeners=SASL://:1", "listener.security.protocol.map=SASL:SASL_PLAINTEXT", "sasl.enabled.mechanisms=PLAIN", "plain.sasl.jaas.config=" + testPlainJAAS, "sasl.mechanism.inter.broker.protocol=PLAIN"},
			field: func(c *Config) any { return *c.Security.InterBroker }, want: InterBrokerSASL{Mechanism: "PLAIN", Username: "admin", Password: "admin-secret"}},
		{name: "sasl inter-broker scram", kvs: []string{"listeners=SASL://:1", "listener.security.protocol.map=SASL:SASL_SSL", "ssl.keystore.location=/k.pem", "sasl.enabled.mechanisms=SCRAM-SHA-512",
			"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512", `listener.name.sasl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="b-secret";`},
			field: func(c *Config) any { return *c.Security.InterBroker }, want: InterBrokerSASL{Mechanism: "SCRAM-SHA-512", Username: "broker", Password: "b-secret"}},
		{name: "sasl inter-broker mechanism not enabled", kvs: []string{"listeners=SASL://:1", "listener.security.protocol.map=SASL:SASL_PLAINTEXT", "sasl.enabled.mechanisms=PLAIN", "plain.sasl.jaas.config=" + testPlainJAAS, "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256"},
			wantErr: "SCRAM-SHA-256 must be in sasl.enabled.mechanisms"},
		{name: "sasl inter-broker without jaas", kvs: []string{"listeners=SASL://:1", "listener.security.protocol.map=SASL:SASL_PLAINTEXT", "sasl.enabled.mechanisms=SCRAM-SHA-256", "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256"},
			wantErr: "listener.name.sasl.scram-sha-256.sasl.jaas.config: the inter-broker listener SASL"},
		{name: "listener jaas wrong module", kvs: []string{"listeners=SASL://:1,PLAINTEXT://:2", "inter.broker.listener.name=PLAINTEXT", `listener.name.sasl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b";`},
			wantErr: "is not org.apache.kafka.common.security.scram.ScramLoginModule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load("", nil, tc.kvs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.field(&c); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}
