package broker

// GetTelemetrySubscriptions (key 71), v0 (KIP-714).
//
// Answers the client instance's subscription (telemetry.go): the metric
// prefixes of every client-metrics subscription whose match patterns the
// client matches ("*" and "" when one asks for all: Kafka's and KIP-714's
// spellings; none: an empty list, so the client does not push), the shortest of their push intervals, the
// accepted codecs, telemetry.max.bytes, delta temporality. A zero instance
// id gets a fresh random one. Asking again inside the push interval is
// THROTTLING_QUOTA_EXCEEDED, unless the last push was refused with
// UNKNOWN_SUBSCRIPTION_ID or UNSUPPORTED_COMPRESSION_TYPE.

import "github.com/twmb/franz-go/pkg/kmsg"

var getTelemetrySubscriptionsHandler = handle(kmsg.GetTelemetrySubscriptions, 0, 0, func(s *deps, r *request, req *kmsg.GetTelemetrySubscriptionsRequest) (kmsg.Response, error) {
	return s.telemetry.getSubscriptions(r, req), nil
})
