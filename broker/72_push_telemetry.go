package broker

// PushTelemetry (key 72), v0 (KIP-714).
//
// Pushes are accepted and dropped: gregor exports no client metrics. A push
// is checked as Kafka checks it: a zero client instance id is
// INVALID_REQUEST, a subscription id other than the one handed out by
// GetTelemetrySubscriptions is UNKNOWN_SUBSCRIPTION_ID, a codec other than
// none, gzip, snappy, lz4, zstd is UNSUPPORTED_COMPRESSION_TYPE, a payload over
// telemetryMaxBytes is TELEMETRY_TOO_LARGE.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var pushTelemetryHandler = handle(kmsg.PushTelemetry, 0, 0, func(s *deps, r *request, req *kmsg.PushTelemetryRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.PushTelemetryResponse)
	switch {
	case req.ClientInstanceID == ([16]byte{}):
		resp.ErrorCode = kerr.InvalidRequest.Code
	case req.SubscriptionID != telemetrySubscriptionID:
		resp.ErrorCode = kerr.UnknownSubscriptionID.Code
	case req.CompressionType < 0 || req.CompressionType > 4:
		resp.ErrorCode = kerr.UnsupportedCompressionType.Code
	case len(req.Metrics) > telemetryMaxBytes:
		resp.ErrorCode = kerr.TelemetryTooLarge.Code
	}
	return resp, nil
})
