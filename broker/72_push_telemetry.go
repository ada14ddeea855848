package broker

// PushTelemetry (key 72), v0 (KIP-714).
//
// Checked as Kafka's ClientMetricsManager checks a push: a zero instance id
// is INVALID_REQUEST, so is any push after one marked terminating; a push
// inside the push interval (other than the first after a
// GetTelemetrySubscriptions, or a terminating one) THROTTLING_QUOTA_EXCEEDED;
// a subscription id other than the instance's UNKNOWN_SUBSCRIPTION_ID; a
// codec other than none, gzip, snappy, lz4, zstd UNSUPPORTED_COMPRESSION_TYPE;
// a payload (compressed or not) over telemetry.max.bytes TELEMETRY_TOO_LARGE;
// a payload that is not OTLP MetricsData INVALID_RECORD. Accepted metrics
// are kept for /metrics as gregor_client_metric (telemetry.go).

import "github.com/twmb/franz-go/pkg/kmsg"

var pushTelemetryHandler = handle(kmsg.PushTelemetry, 0, 0, func(s *deps, r *request, req *kmsg.PushTelemetryRequest) (kmsg.Response, error) {
	return s.telemetry.push(r, req), nil
})
