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
		{name: "ssl listener refused", kvs: []string{"listener.security.protocol.map=PLAINTEXT:SSL"}, wantErr: "TLS listeners are not supported yet"},
		{name: "sasl without mechanism", kvs: []string{"listeners=SASL://:1,PLAINTEXT://:2", "listener.security.protocol.map=SASL:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT", "inter.broker.listener.name=PLAINTEXT"},
			wantErr: "sasl.enabled.mechanisms: listener SASL"},
		{name: "sasl without users", kvs: []string{"listeners=SASL://:1,PLAINTEXT://:2", "listener.security.protocol.map=SASL:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT", "inter.broker.listener.name=PLAINTEXT", "sasl.enabled.mechanisms=PLAIN"},
			wantErr: "plain.sasl.jaas.config: listener SASL"},
		{name: "sasl inter-broker refused", kvs: []string{"listeners=SASL://:1", "listener.security.protocol.map=SASL:SASL_PLAINTEXT", "sasl.enabled.mechanisms=PLAIN", "plain.sasl.jaas.config=" + testPlainJAAS},
			wantErr: "controller and inter-broker listeners must be PLAINTEXT"},
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
