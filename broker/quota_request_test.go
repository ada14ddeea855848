package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRequestPercentageQuota: request_percentage measures the handler
// time a client really used. With 0.001% of a thread (10 µs a second, at
// least 0.1 ms over the minimum 10 s span) on one client id, a run of
// Metadata requests (tens of µs each) is soon throttled (throttle_time_ms,
// at most one window; the run stops at the first), while another client
// id sending as many requests is not.
func TestRequestPercentageQuota(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := context.Background()
	adm := b.admin()
	if _, err := adm.CreateTopics(ctx, 8, 1, nil, "rq-a", "rq-b", "rq-c"); err != nil {
		t.Fatal(err)
	}
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kmsg.StringPtr("rq-limited")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: 0.001}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter: %+v %v", res, err)
	}
	run := func(id string) (sent int, throttleMs int32) {
		rc := dialRaw(t, b, id)
		for sent < 500 {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 12
			resp := rc.do(req).(*kmsg.MetadataResponse)
			sent++
			if resp.ThrottleMillis > 0 {
				return sent, resp.ThrottleMillis
			}
		}
		return sent, 0
	}
	n, ms := run("rq-limited")
	t.Logf("limited client: throttled %d ms after %d requests", ms, n)
	if ms == 0 {
		t.Errorf("none of %d Metadata responses of the limited client was throttled", n)
	}
	if ms > 1000 {
		t.Errorf("request throttle %d ms, more than one window", ms)
	}
	if n, ms := run("rq-free"); ms != 0 {
		t.Errorf("free client throttled %d ms after %d requests", ms, n)
	}
}
