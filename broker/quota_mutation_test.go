package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestControllerMutationQuota: controller_mutation_rate 1 (partition per
// second) with 2 windows of 1 s gives a token bucket of 2. A strict
// CreateTopics (v7) of topics with 2, 1 and 1 partitions creates the first
// two (the second takes the bucket to -1) and refuses the third with
// THROTTLING_QUOTA_EXCEEDED and about 1 s of throttle_time_ms; a DeleteTopics
// v6 right after is refused too. A permissive CreateTopics (v5) of another
// client id creates a 5-partition topic and is throttled about 3 s instead.
func TestControllerMutationQuota(t *testing.T) {
	t.Parallel()
	b := startQuotaBroker(t, quotaEntry("client-id", "mut-new", "controller_mutation_rate", 1),
		quotaEntry("client-id", "mut-old", "controller_mutation_rate", 1))
	dial := func(id string) *rawConn { return dialRaw(t, b, id) }
	create := func(version int16, parts map[string]int32, order ...string) *kmsg.CreateTopicsRequest {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.TimeoutMillis = version, 5000
		for _, name := range order {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts[name], 1
			req.Topics = append(req.Topics, rt)
		}
		return req
	}
	near := func(ms int32, want time.Duration) bool {
		d := time.Duration(ms) * time.Millisecond
		return d > want-200*time.Millisecond && d <= want
	}

	rc := dial("mut-new")
	resp := rc.do(create(7, map[string]int32{"mut-a": 2, "mut-b": 1, "mut-c": 1}, "mut-a", "mut-b", "mut-c")).(*kmsg.CreateTopicsResponse)
	want := []int16{0, 0, kerr.ThrottlingQuotaExceeded.Code}
	for i, st := range resp.Topics {
		if st.ErrorCode != want[i] {
			t.Errorf("strict create %s: %v, want %v", st.Topic, kerr.ErrorForCode(st.ErrorCode), kerr.ErrorForCode(want[i]))
		}
	}
	if !near(resp.ThrottleMillis, time.Second) {
		t.Errorf("strict create: throttle %d ms, want about 1000", resp.ThrottleMillis)
	}
	// The connection is muted for the throttle; a second connection of the
	// same client id shares the bucket.
	rc2 := dial("mut-new")
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version, del.TimeoutMillis = 6, 5000
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("mut-a")
	del.Topics = append(del.Topics, dt)
	dresp := rc2.do(del).(*kmsg.DeleteTopicsResponse)
	if dresp.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || dresp.ThrottleMillis <= 0 {
		t.Errorf("strict delete: %v, throttle %d ms, want THROTTLING_QUOTA_EXCEEDED", kerr.ErrorForCode(dresp.Topics[0].ErrorCode), dresp.ThrottleMillis)
	}

	old := dial("mut-old")
	oresp := old.do(create(5, map[string]int32{"mut-old": 5}, "mut-old")).(*kmsg.CreateTopicsResponse)
	if oresp.Topics[0].ErrorCode != 0 || !near(oresp.ThrottleMillis, 3*time.Second) {
		t.Errorf("permissive create: %v, throttle %d ms, want created and about 3000 ms", kerr.ErrorForCode(oresp.Topics[0].ErrorCode), oresp.ThrottleMillis)
	}
	// A client id without a quota is never throttled.
	free := dial("mut-free")
	fresp := free.do(create(7, map[string]int32{"mut-f1": 4, "mut-f2": 4}, "mut-f1", "mut-f2")).(*kmsg.CreateTopicsResponse)
	for _, st := range fresp.Topics {
		if st.ErrorCode != 0 || fresp.ThrottleMillis != 0 {
			t.Errorf("free create %s: %v, throttle %d ms", st.Topic, kerr.ErrorForCode(st.ErrorCode), fresp.ThrottleMillis)
		}
	}
}

// quotaEntry sets key to v on the entity typ=name.
func quotaEntry(typ, name, key string, v float64) kadm.AlterClientQuotaEntry {
	return kadm.AlterClientQuotaEntry{Entity: kadm.ClientQuotaEntity{{Type: typ, Name: kmsg.StringPtr(name)}},
		Ops: []kadm.AlterClientQuotaOp{{Key: key, Value: v}}}
}

// startQuotaBroker starts a broker sampling quotas over 2 windows of 1 s
// and sets entries with kadm.
func startQuotaBroker(t *testing.T, entries ...kadm.AlterClientQuotaEntry) *testBroker {
	t.Helper()
	b := startBroker(t, "quota.window.num=2", "quota.window.size.seconds=1")
	res, err := b.admin().AlterClientQuotas(context.Background(), entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("alter %+v: %v %s", r.Entity, r.Err, r.ErrMessage)
		}
	}
	return b
}
