package broker

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// HTTPConfig holds the HTTP listener's settings: Prometheus metrics at
// /metrics, /healthz and /readyz, and the web console at /.
type HTTPConfig struct {
	// Listeners are host:port addresses (http.listeners, given as
	// http://host:port). None: no HTTP listener. Off by default so that
	// several brokers on one host (clusters, tests) never fight over a
	// port; `make run` turns it on at http://127.0.0.1:9644.
	Listeners []string
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
	{name: "http.listeners", typ: "list", def: "", doc: "gregor: HTTP listeners for metrics, health and the console, http://host:port; empty: none.", apply: func(c *Config, v string) error {
		c.HTTP.Listeners = nil
		for _, s := range splitList(v) {
			addr, err := parseHTTPListener(s)
			if err != nil {
				return err
			}
			c.HTTP.Listeners = append(c.HTTP.Listeners, addr)
		}
		return nil
	}},
	boolKey("http.metrics.per.partition", "true", "gregor: export per-partition metrics (log size and offsets, lag per partition); false sums them per topic.", func(c *Config, b bool) { c.HTTP.PerPartition = b }),
	boolKey("http.metrics.auth", "true", "gregor: when the broker has SASL users (PLAIN or SCRAM), /metrics needs HTTP Basic credentials of one, as the console does; false leaves /metrics open.", func(c *Config, b bool) { c.HTTP.MetricsAuth = b }),
}

// parseHTTPListener parses http://host:port into host:port.
func parseHTTPListener(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("%q is not http://host:port", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || port == "" {
		return "", fmt.Errorf("%q is not http://host:port", s)
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port), nil
}
