package broker

// GetTelemetrySubscriptions (key 71), v0 (KIP-714).
//
// gregor has no client-metrics subscriptions: every client is told it is
// subscribed to no metrics (empty RequestedMetrics, subscription id 0), so
// a KIP-714 client does not push. A client asking with instance id zero is
// assigned a fresh random one, as Kafka does.

import (
	"crypto/rand"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// telemetryMaxBytes is the largest PushTelemetry payload accepted
	// (Kafka's telemetry.max.bytes default).
	telemetryMaxBytes = 1 << 20
	// telemetryPushIntervalMillis is the interval told to clients (Kafka's
	// default client-metrics interval).
	telemetryPushIntervalMillis = 300_000
	// telemetrySubscriptionID is the id of the one (empty) subscription.
	telemetrySubscriptionID = 0
)

var getTelemetrySubscriptionsHandler = handle(kmsg.GetTelemetrySubscriptions, 0, 0, func(s *deps, r *request, req *kmsg.GetTelemetrySubscriptionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.GetTelemetrySubscriptionsResponse)
	resp.ClientInstanceID = req.ClientInstanceID
	if resp.ClientInstanceID == ([16]byte{}) {
		_, _ = rand.Read(resp.ClientInstanceID[:]) // crypto/rand never returns an error
	}
	resp.SubscriptionID = telemetrySubscriptionID
	resp.AcceptedCompressionTypes = []int8{4, 3, 1, 2} // zstd, lz4, gzip, snappy, Kafka's order
	resp.PushIntervalMillis = telemetryPushIntervalMillis
	resp.TelemetryMaxBytes = telemetryMaxBytes
	resp.RequestedMetrics = []string{}
	return resp, nil
})
