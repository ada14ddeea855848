package broker

// Client quota enforcement, as Kafka's ClientQuotaManager and
// ClientRequestQuotaManager do it: after a request is handled its usage is
// recorded in the rate of the quota entity that applies to the
// connection's user and client id (quota.Resolve, Kafka's eight levels),
// and a rate over its bound gives a throttle time (quota.Rate). Produce is
// measured in record bytes received, Fetch (consumers only) in record
// bytes returned, request_percentage in handler time; Produce and Fetch
// take the larger of their byte and request throttles. The throttle goes
// in the response's throttle_time_ms; conn.go then mutes the connection
// for that long (KIP-219), or, for versions before KIP-219, holds the
// response back for that long.

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
	"gregor/quota"
)

// The kinds of client quota a request is measured against.
const (
	quotaProduce = iota
	quotaFetch
	quotaRequest
	numQuotaKinds
)

var quotaKindKeys = [numQuotaKinds]string{quota.KeyProducerByteRate, quota.KeyConsumerByteRate, quota.KeyRequestPercentage}
var quotaKindNames = [numQuotaKinds]string{"produce", "fetch", "request"}

// quotaExempt are the APIs Kafka never throttles by request quota:
// connection set-up and the inter-broker (cluster action) APIs.
var quotaExempt = map[kmsg.Key]bool{
	kmsg.ApiVersions: true, kmsg.SASLHandshake: true, kmsg.SASLAuthenticate: true,
	kmsg.AlterPartition: true, kmsg.BrokerRegistration: true, kmsg.BrokerHeartbeat: true,
	kmsg.AllocateProducerIDs: true, kmsg.WriteTxnMarkers: true,
}

// quotas holds the rates of the quota entities in use.
type quotas struct {
	cfg  quota.Config
	snap func() *controller.Snapshot

	mu      sync.Mutex
	sensors map[sensorKey]*sensor
	buckets map[quota.Entity]*quota.TokenBucket // controller_mutation_rate
	ipRates map[string]*quota.Rate              // connection_creation_rate
	swept   time.Time

	throttled    [numQuotaKinds]prometheus.Counter
	throttleTime [numQuotaKinds]prometheus.Counter
}

type sensorKey struct {
	kind   int
	entity quota.Entity
}

type sensor struct {
	rate *quota.Rate
	used time.Time
}

// newQuotas returns the enforcement state, reading quota values from
// snap and registering its metrics on reg.
func newQuotas(cfg QuotaConfig, snap func() *controller.Snapshot, reg *prometheus.Registry) *quotas {
	q := &quotas{cfg: quota.Config{WindowNum: cfg.WindowNum, WindowSize: cfg.WindowSize}, snap: snap, sensors: map[sensorKey]*sensor{},
		buckets: map[quota.Entity]*quota.TokenBucket{}, ipRates: map[string]*quota.Rate{}}
	throttled := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gregor_quota_throttled_responses_total",
		Help: "Responses throttled by a client quota, by quota (produce, fetch, request)."}, []string{"quota"})
	throttleTime := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gregor_quota_throttle_seconds_total",
		Help: "Throttle time given to clients by client quotas, by quota."}, []string{"quota"})
	for k := range numQuotaKinds {
		q.throttled[k] = throttled.WithLabelValues(quotaKindNames[k])
		q.throttleTime[k] = throttleTime.WithLabelValues(quotaKindNames[k])
	}
	reg.MustRegister(throttled, throttleTime)
	return q
}

// snapStore is a quota.Store over a controller snapshot.
type snapStore struct{ s *controller.Snapshot }

func (st snapStore) Quota(e quota.Entity, key string) (float64, bool) {
	return st.s.ClientQuota(controller.QuotaEntity{
		User:     controller.QuotaName{Set: e.HasUser, Default: e.UserDefault, Name: e.User},
		ClientID: controller.QuotaName{Set: e.HasClientID, Default: e.ClientIDDefault, Name: e.ClientID},
	}, key)
}

// usage is what one request used, per quota kind (bytes, or
// percent-seconds of handler time); used marks the kinds it counts for.
type usage struct {
	value [numQuotaKinds]float64
	used  [numQuotaKinds]bool
}

// record adds u to the rates of user's and clientID's quota entities and
// returns the throttle time: the largest of the kinds' throttles.
func (q *quotas) record(user, clientID string, u usage, now time.Time) time.Duration {
	snap := q.snap()
	if len(snap.ClientQuotas()) == 0 {
		return 0
	}
	store := snapStore{snap}
	var worst time.Duration
	worstKind := -1
	for k := range numQuotaKinds {
		if !u.used[k] {
			continue
		}
		e, bound, _, ok := quota.Resolve(store, user, clientID, quotaKindKeys[k])
		if !ok {
			continue
		}
		d := q.sensor(k, e, now).RecordAndThrottle(u.value[k], bound, now)
		if k == quotaRequest {
			// ClientRequestQuotaManager bounds its throttle by one window.
			d = min(d, q.cfg.WindowSize)
		}
		if d > worst {
			worst, worstKind = d, k
		}
	}
	if worstKind >= 0 {
		q.throttled[worstKind].Inc()
		q.throttleTime[worstKind].Add(worst.Seconds())
	}
	return worst
}

// sensor returns the rate of kind for entity e, made on first use. Rates
// idle for the whole monitored span (which measure zero) are dropped now
// and then.
func (q *quotas) sensor(kind int, e quota.Entity, now time.Time) *quota.Rate {
	q.mu.Lock()
	defer q.mu.Unlock()
	span := time.Duration(q.cfg.WindowNum) * q.cfg.WindowSize
	if now.Sub(q.swept) > span {
		q.swept = now
		for k, s := range q.sensors {
			if now.Sub(s.used) > span {
				delete(q.sensors, k)
			}
		}
	}
	k := sensorKey{kind, e}
	s := q.sensors[k]
	if s == nil {
		s = &sensor{rate: quota.NewRate(q.cfg)}
		q.sensors[k] = s
	}
	s.used = now
	return s.rate
}

// requestUsage measures a handled request: its record bytes for Produce
// and consumer Fetch, its handler time for the request quota. Inter-broker
// requests (and replica fetches) are exempt.
func requestUsage(r *request, handlerTime time.Duration) (usage, bool) {
	var u usage
	key := kmsg.Key(r.Key)
	if quotaExempt[key] {
		return u, false
	}
	switch req := r.body.(type) {
	case *kmsg.ProduceRequest:
		var n int
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				n += len(p.Records)
			}
		}
		u.value[quotaProduce], u.used[quotaProduce] = float64(n), true
	case *kmsg.FetchRequest:
		if replicaOf(r) >= 0 {
			return u, false
		}
		var n int64
		for _, rg := range r.regions {
			n += rg.Len
		}
		u.value[quotaFetch], u.used[quotaFetch] = float64(n), true
	}
	if key == kmsg.JoinGroup || key == kmsg.SyncGroup {
		return u, true // their handlers wait for the rebalance: no request time
	}
	// Kafka records request time as a percentage of one second per second.
	u.value[quotaRequest] = float64(handlerTime.Nanoseconds()) * 100 / float64(time.Second)
	u.used[quotaRequest] = true
	return u, true
}

// throttler is a response with a throttle_time_ms field.
type throttler interface {
	Throttle() (millis int32, clientThrottles bool)
	SetThrottle(millis int32)
}

// throttleRequest records r's usage and, when a quota is exceeded, puts
// the throttle time in resp. It returns the throttle time and whether the
// client throttles itself (KIP-219: the broker mutes the connection after
// the response) or not (older versions: the broker holds the response
// back). resp is nil for acks=0 Produce.
func (s *deps) throttleRequest(r *request, resp kmsg.Response, start, end time.Time) (time.Duration, bool) {
	if s.quotas == nil {
		return 0, false
	}
	var tr throttler
	if resp != nil {
		var ok bool
		if tr, ok = resp.(throttler); !ok {
			return 0, false // nowhere to tell the client
		}
	}
	u, ok := requestUsage(r, end.Sub(start)-r.waited)
	if !ok {
		return 0, false
	}
	clientID := ""
	if r.ClientID != nil {
		clientID = *r.ClientID
	}
	d := s.quotas.record(r.conn.Principal().Name, clientID, u, end)
	if tr == nil {
		return d, d > 0
	}
	// A throttle the handler set (controller_mutation_rate) counts too.
	if old, _ := tr.Throttle(); time.Duration(old)*time.Millisecond > d {
		d = time.Duration(old) * time.Millisecond
	}
	if d <= 0 {
		return 0, false
	}
	ms := int32(min(d.Milliseconds(), int64(1<<31-1)))
	if old, _ := tr.Throttle(); old < ms {
		tr.SetThrottle(ms)
	}
	_, clientThrottles := tr.Throttle()
	return d, clientThrottles
}

// mutationQuota is the controller_mutation_rate quota of one CreateTopics,
// CreatePartitions or DeleteTopics request, as Kafka's
// ControllerMutationQuota: strict (from CreateTopics v6, CreatePartitions
// v3, DeleteTopics v5) a topic is refused with THROTTLING_QUOTA_EXCEEDED
// while the entity's token bucket is below zero, and the one that takes
// it below zero still passes; permissive (older versions) every topic
// passes and the request is throttled by throttle_time_ms alone. A nil
// mutationQuota (no quota applies) allows everything.
type mutationQuota struct {
	bucket   *quota.TokenBucket
	bound    float64
	strict   bool
	clock    Clock
	throttle time.Duration
}

// mutationQuota returns r's mutation quota, or nil when none applies.
func (s *deps) mutationQuota(r *request, strictSince int16) *mutationQuota {
	q := s.quotas
	if q == nil || quotaExempt[kmsg.Key(r.Key)] {
		return nil
	}
	clientID := ""
	if r.ClientID != nil {
		clientID = *r.ClientID
	}
	e, bound, _, ok := quota.Resolve(snapStore{q.snap()}, r.conn.Principal().Name, clientID, quota.KeyControllerMutationRate)
	if !ok {
		return nil
	}
	b := lockedGet(&q.mu, q.buckets, e, func() *quota.TokenBucket { return quota.NewTokenBucket(q.cfg) })
	return &mutationQuota{bucket: b, bound: bound, strict: r.Version >= strictSince, clock: s.clock}
}

// exceeded reports whether a strict quota refuses the next topic.
func (m *mutationQuota) exceeded() bool {
	if m == nil || !m.strict {
		return false
	}
	d := quota.Throttle(m.bucket.Tokens(m.bound, m.clock.Now()), m.bound)
	m.throttle = max(m.throttle, d)
	return d > 0
}

// record counts n partitions created or deleted.
func (m *mutationQuota) record(n int) {
	if m == nil || n <= 0 {
		return
	}
	tokens := m.bucket.Record(float64(n), m.bound, m.clock.Now())
	if !m.strict {
		m.throttle = max(m.throttle, quota.Throttle(tokens, m.bound))
	}
}

// finish puts the throttle in resp's throttle_time_ms.
func (m *mutationQuota) finish(resp throttler) {
	if m == nil || m.throttle <= 0 {
		return
	}
	ms := int32(min(m.throttle.Milliseconds(), int64(1<<31-1)))
	if old, _ := resp.Throttle(); old < ms {
		resp.SetThrottle(ms)
	}
}

// errThrottlingQuota is the message of a topic refused by the mutation
// quota.
var errThrottlingQuota = kmsg.StringPtr(kerr.ThrottlingQuotaExceeded.Message)

// connectionThrottle records a new connection from ip against its
// connection_creation_rate (the ip's own quota, else the default ip
// quota) and returns how long it is throttled, as Kafka's ConnectionQuotas:
// over the rate, the connection does not count and is closed after the
// throttle time.
func (q *quotas) connectionThrottle(ip string, now time.Time) time.Duration {
	if q == nil {
		return 0
	}
	snap := q.snap()
	bound, ok := snap.ClientQuota(controller.QuotaEntity{IP: controller.QuotaName{Set: true, Name: ip}}, quota.KeyConnectionCreationRate)
	if !ok {
		if bound, ok = snap.ClientQuota(controller.QuotaEntity{IP: controller.QuotaName{Set: true, Default: true}}, quota.KeyConnectionCreationRate); !ok {
			return 0
		}
	}
	r := lockedGet(&q.mu, q.ipRates, ip, func() *quota.Rate { return quota.NewRate(q.cfg) })
	d := r.RecordAndThrottle(1, bound, now)
	if d > 0 {
		r.Record(-1, now) // a refused connection is not counted
	}
	return d
}

// lockedGet returns m[k] under mu, made with mk on first use.
func lockedGet[K comparable, V any](mu *sync.Mutex, m map[K]V, k K, mk func() V) V {
	mu.Lock()
	defer mu.Unlock()
	v, ok := m[k]
	if !ok {
		v = mk()
		m[k] = v
	}
	return v
}
