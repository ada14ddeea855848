package broker

// Replication throttles, after Kafka's ReplicationQuotaManager (KIP-73):
// the dynamic broker configs leader.replication.throttled.rate and
// follower.replication.throttled.rate (bytes/s) bound the replication
// traffic of the replicas the topic configs
// leader.replication.throttled.replicas and
// follower.replication.throttled.replicas name ("partition:broker,..." or
// "*"; each broker reads the pairs naming itself). A leader serving a
// follower fetch leaves out the records of a throttled partition while
// its leader rate is over the bound and that follower is not in the ISR;
// a follower leaves a throttled partition out of its fetch while its
// follower rate is over the bound and it is not in the ISR. The bytes of
// throttled partitions are what the rates measure, over
// replication.quota.window.num windows of
// replication.quota.window.size.seconds, as Kafka's.

import (
	"math"
	"strconv"
	"strings"
	"time"

	"gregor/controller"
	"gregor/quota"
)

const (
	leaderThrottledRate     = "leader.replication.throttled.rate"
	followerThrottledRate   = "follower.replication.throttled.rate"
	leaderThrottledReplicas = "leader.replication.throttled.replicas"
	followerThrottledRepl   = "follower.replication.throttled.replicas"
)

// replicationThrottleConfigDefs are the broker keys of the throttles; the
// two rates are dynamic (config_cluster_ops.go).
var replicationThrottleConfigDefs = []configDef{
	longKey(leaderThrottledRate, strconv.FormatInt(math.MaxInt64, 10),
		"Bytes/s the leader sends to the followers of leader.replication.throttled.replicas (dynamic).", 0, nil),
	longKey(followerThrottledRate, strconv.FormatInt(math.MaxInt64, 10),
		"Bytes/s the follower fetches for the replicas of follower.replication.throttled.replicas (dynamic).", 0, nil),
	intKey("replication.quota.window.num", "11", "Number of samples kept for replication throttle rates.", 1, 1<<16,
		func(c *Config, n int64) { c.ClusterOps.ThrottleWindowNum = int(n) }),
	intKey("replication.quota.window.size.seconds", "1", "Time span of each replication throttle sample.", 1, 1<<20,
		func(c *Config, n int64) { c.ClusterOps.ThrottleWindowSize = time.Duration(n) * time.Second }),
}

// replicationThrottle holds this broker's two replication rates.
type replicationThrottle struct {
	cfg              *Config
	self             int32
	now              func() time.Time
	leader, follower *quota.Rate
}

func newReplicationThrottle(cfg *Config, now func() time.Time) *replicationThrottle {
	qc := quota.Config{WindowNum: cfg.ClusterOps.ThrottleWindowNum, WindowSize: cfg.ClusterOps.ThrottleWindowSize}
	return &replicationThrottle{cfg: cfg, self: cfg.NodeID, now: now, leader: quota.NewRate(qc), follower: quota.NewRate(qc)}
}

// bound is a rate key's value in bytes/s; +Inf when unset or unlimited.
func (q *replicationThrottle) bound(key string) float64 {
	v, _, ok := q.cfg.brokerValue(key)
	if !ok {
		return math.Inf(1)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n == math.MaxInt64 {
		return math.Inf(1)
	}
	return float64(n)
}

// throttled reports whether the topic config key (a throttled-replicas
// list) names partition on this broker.
func (q *replicationThrottle) throttled(t *controller.Topic, key string, partition int32) bool {
	if q == nil || t == nil {
		return false
	}
	v := strings.TrimSpace(t.Configs[key])
	if v == "" {
		return false
	}
	if v == "*" {
		return true
	}
	want := strconv.Itoa(int(partition)) + ":" + strconv.Itoa(int(q.self))
	for _, e := range strings.Split(v, ",") {
		if strings.TrimSpace(e) == want {
			return true
		}
	}
	return false
}

// exceeded reports whether rate r is over the bound of key now.
func (q *replicationThrottle) exceeded(r *quota.Rate, key string) bool {
	b := q.bound(key)
	if math.IsInf(b, 1) {
		return false
	}
	return r.Measure(q.now()) > b
}

// leaderSkip reports whether a leader serving follower id should leave
// out partition's records now.
func (q *replicationThrottle) leaderSkip(t *controller.Topic, partition int32, followerInSync bool) bool {
	return !followerInSync && q.throttled(t, leaderThrottledReplicas, partition) && q.exceeded(q.leader, leaderThrottledRate)
}

// followerSkip reports whether this follower should leave partition out
// of its next fetch.
func (q *replicationThrottle) followerSkip(t *controller.Topic, partition int32, inSync bool) bool {
	return !inSync && q.throttled(t, followerThrottledRepl, partition) && q.exceeded(q.follower, followerThrottledRate)
}

func (q *replicationThrottle) recordLeader(n int) { q.leader.Record(float64(n), q.now()) }

func (q *replicationThrottle) recordFollower(n int) { q.follower.Record(float64(n), q.now()) }
