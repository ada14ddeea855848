package broker

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"gregor/auth"
)

// HTTPConfig holds the HTTP listener's settings: Prometheus metrics at
// /metrics, /healthz and /readyz, and the web console at /.
type HTTPConfig struct {
	// Listeners are host:port addresses (http.listeners, given as
	// http://host:port). None: no HTTP listener. Off by default so that
	// several brokers on one host (clusters, tests) never fight over a
	// port; `make run` turns it on at http://127.0.0.1:9644.
	Listeners []string
	// HTTPS are the Listeners given as https://host:port: they serve TLS
	// with the key store of the first SSL or SASL_SSL listener (no client
	// certificates asked).
	HTTPS []string
	// PerPartition exports per-partition series (log size, offsets, lag
	// per partition) when true (http.metrics.per.partition); false sums
	// them per topic, bounding cardinality on brokers with many partitions.
	PerPartition bool
	// MetricsAuth makes /metrics need the same HTTP Basic credentials as
	// the console when the broker has SASL users (http.metrics.auth);
	// false leaves it open for scrapers without credentials.
	MetricsAuth bool
}

// httpConfigDefs are the keys of HTTPConfig.
var httpConfigDefs = []configDef{
	{name: "http.listeners", typ: "list", def: "", doc: "gregor: HTTP listeners for metrics, health and the console, http://host:port or https://host:port (the key store of the first SSL or SASL_SSL listener); empty: none.", apply: func(c *Config, v string) error {
		c.HTTP.Listeners, c.HTTP.HTTPS = nil, nil
		for _, s := range splitList(v) {
			addr, https, err := parseHTTPListener(s)
			if err != nil {
				return err
			}
			c.HTTP.Listeners = append(c.HTTP.Listeners, addr)
			if https {
				c.HTTP.HTTPS = append(c.HTTP.HTTPS, addr)
			}
		}
		return nil
	}},
	boolKey("http.metrics.per.partition", "true", "gregor: export per-partition metrics (log size and offsets, lag per partition); false sums them per topic.", func(c *Config, b bool) { c.HTTP.PerPartition = b }),
	boolKey("http.metrics.auth", "true", "gregor: when the broker has SASL users (PLAIN or SCRAM), /metrics needs HTTP Basic credentials of one, as the console does; false leaves /metrics open.", func(c *Config, b bool) { c.HTTP.MetricsAuth = b }),
}

// parseHTTPListener parses http://host:port or https://host:port into
// host:port and whether it is https.
func parseHTTPListener(s string) (string, bool, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", false, fmt.Errorf("%q is not http://host:port or https://host:port", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || port == "" {
		return "", false, fmt.Errorf("%q is not http://host:port or https://host:port", s)
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port), u.Scheme == "https", nil
}

// httpsConfig is the TLS configuration of the https:// HTTP listeners:
// the key store of the first SSL or SASL_SSL listener, reloaded as its
// files change, without asking for client certificates (browsers log in
// with Basic credentials). nil when no HTTP listener is https.
func (c *Config) httpsConfig(now func() time.Time) (*tls.Config, error) {
	if len(c.HTTP.HTTPS) == 0 {
		return nil, nil
	}
	for _, l := range c.Socket.Listeners {
		lt, ok := c.Security.TLS[l.Name]
		if !ok {
			continue
		}
		settings := lt.Settings
		settings.ClientAuth = "none"
		t, err := auth.NewTLS(settings, now)
		if err != nil {
			return nil, fmt.Errorf("broker: http.listeners: https with listener %s's key store: %w", l.Name, err)
		}
		return t.ServerConfig(), nil
	}
	return nil, fmt.Errorf("broker: http.listeners: https needs an SSL or SASL_SSL listener whose key store it serves")
}
