package broker

import (
	"math"
	"testing"
	"time"

	"gregor/controller"
)

func TestReplicationThrottled(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	q := newReplicationThrottle(&Config{NodeID: 2}, func() time.Time { return now })
	for _, tc := range []struct {
		list      string
		partition int32
		want      bool
	}{
		{"", 0, false},
		{"*", 7, true},
		{"0:2", 0, true},
		{"0:1", 0, false},
		{"1:2, 0:2", 0, true},
		{"10:2", 1, false},
		{"1:22", 1, false},
	} {
		top := &controller.Topic{Configs: map[string]string{followerThrottledRepl: tc.list}}
		if got := q.throttled(top, followerThrottledRepl, tc.partition); got != tc.want {
			t.Errorf("%q partition %d: throttled %v, want %v", tc.list, tc.partition, got, tc.want)
		}
		if q.throttled(top, leaderThrottledReplicas, tc.partition) {
			t.Errorf("%q: the leader list is empty but throttles", tc.list)
		}
	}
	if b := q.bound(followerThrottledRate); !math.IsInf(b, 1) {
		t.Errorf("default follower rate bound %v, want unlimited", b)
	}
	var nilq *replicationThrottle
	if nilq.throttled(&controller.Topic{Configs: map[string]string{followerThrottledRepl: "*"}}, followerThrottledRepl, 0) {
		t.Error("a nil throttle throttles")
	}
}
