package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTelemetryNoSubscription: a client with no instance id is assigned
// one, is subscribed to no metrics, and its pushes are checked as Kafka
// checks them.
func TestTelemetryNoSubscription(t *testing.T) {
	b := startBroker(t)
	cl := b.client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	get := kmsg.NewPtrGetTelemetrySubscriptionsRequest()
	gr, err := get.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if gr.ErrorCode != 0 {
		t.Fatalf("get subscriptions: %v", kerr.ErrorForCode(gr.ErrorCode))
	}
	if gr.ClientInstanceID == ([16]byte{}) {
		t.Fatal("no client instance id assigned")
	}
	if len(gr.RequestedMetrics) != 0 {
		t.Fatalf("requested metrics %q, want none", gr.RequestedMetrics)
	}
	if gr.TelemetryMaxBytes <= 0 || gr.PushIntervalMillis <= 0 {
		t.Fatalf("max bytes %d, interval %d", gr.TelemetryMaxBytes, gr.PushIntervalMillis)
	}

	// A client that has an id keeps it.
	get.ClientInstanceID = gr.ClientInstanceID
	gr2, err := get.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if gr2.ClientInstanceID != gr.ClientInstanceID {
		t.Fatalf("instance id changed: %x to %x", gr.ClientInstanceID, gr2.ClientInstanceID)
	}
	// Two fresh clients get different ids.
	get.ClientInstanceID = [16]byte{}
	gr3, err := get.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if gr3.ClientInstanceID == gr.ClientInstanceID {
		t.Fatal("two fresh clients were given the same instance id")
	}

	for _, tc := range []struct {
		name    string
		id      [16]byte
		sub     int32
		codec   int8
		metrics []byte
		want    *kerr.Error
	}{
		{"accepted", gr.ClientInstanceID, gr.SubscriptionID, 0, []byte("metrics"), nil},
		{"accepted zstd", gr.ClientInstanceID, gr.SubscriptionID, 4, []byte("metrics"), nil},
		{"zero instance id", [16]byte{}, gr.SubscriptionID, 0, nil, kerr.InvalidRequest},
		{"unknown subscription", gr.ClientInstanceID, gr.SubscriptionID + 1, 0, nil, kerr.UnknownSubscriptionID},
		{"unknown codec", gr.ClientInstanceID, gr.SubscriptionID, 9, nil, kerr.UnsupportedCompressionType},
		{"too large", gr.ClientInstanceID, gr.SubscriptionID, 0, make([]byte, gr.TelemetryMaxBytes+1), kerr.TelemetryTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			push := kmsg.NewPtrPushTelemetryRequest()
			push.ClientInstanceID, push.SubscriptionID, push.CompressionType, push.Metrics = tc.id, tc.sub, tc.codec, tc.metrics
			pr, err := push.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if got := kerr.ErrorForCode(pr.ErrorCode); got != error(tc.want) && !(tc.want == nil && got == nil) {
				t.Fatalf("push: %v, want %v", got, tc.want)
			}
		})
	}

	// ApiVersions advertises both at v0.
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int16]bool{}
	for _, k := range av.ApiKeys {
		if k.ApiKey == int16(kmsg.GetTelemetrySubscriptions) || k.ApiKey == int16(kmsg.PushTelemetry) {
			seen[k.ApiKey] = k.MinVersion == 0 && k.MaxVersion == 0
		}
	}
	if !seen[int16(kmsg.GetTelemetrySubscriptions)] || !seen[int16(kmsg.PushTelemetry)] {
		t.Fatalf("ApiVersions telemetry keys: %v", seen)
	}
}
