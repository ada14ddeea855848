package broker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
	"gregor/storage"
	"gregor/wire"
)

// handlers lists every API the broker serves: the core APIs below and each
// area's list (declared in handlers_<area>.go). Each entry is declared in
// the API's own file (NN_name.go). The table built from it dispatches
// requests and answers ApiVersions, so the two can never disagree.
var handlers = slices.Concat(coreHandlers, txnHandlers, txnPartitionHandlers, saslHandlers, aclHandlers, quotaHandlers, consumerGroupHandlers, metadataHandlers, clusterOpsHandlers, quorumHandlers)

// controllerOnlyKeys are the APIs a controller-only node
// (process.roles=controller) serves: the ones brokers send the active
// controller (registration, heartbeats, ISR changes, producer id blocks,
// log dir assignments), the admin requests they forward to it, the
// quorum's, and ApiVersions and SASL to connect at all. Clients never
// learn of the node; one that connects anyway gets UNSUPPORTED_VERSION
// for anything else, as from a Kafka controller.
var controllerOnlyKeys = []kmsg.Key{
	kmsg.ApiVersions, kmsg.SASLHandshake, kmsg.SASLAuthenticate,
	kmsg.BrokerRegistration, kmsg.BrokerHeartbeat, kmsg.UnregisterBroker,
	kmsg.AlterPartition, kmsg.AllocateProducerIDs, kmsg.AssignReplicasToDirs,
	kmsg.CreateTopics, kmsg.DeleteTopics, kmsg.CreatePartitions,
	kmsg.DescribeConfigs, kmsg.AlterConfigs, kmsg.IncrementalAlterConfigs,
	kmsg.CreateACLs, kmsg.DeleteACLs, kmsg.AlterClientQuotas, kmsg.AlterUserSCRAMCredentials,
	kmsg.ElectLeaders, kmsg.AlterPartitionAssignments, kmsg.ListPartitionReassignments,
	kmsg.UpdateFeatures, kmsg.DescribeQuorum, kmsg.AddRaftVoter, kmsg.RemoveRaftVoter,
}

// servedHandlers is the handler list of a node: every handler, or for a
// controller-only node those of controllerOnlyKeys.
func servedHandlers(c *Config) []handler {
	if !c.Cluster.ControllerOnly {
		return handlers
	}
	var hs []handler
	for _, h := range handlers {
		if slices.Contains(controllerOnlyKeys, h.key) {
			hs = append(hs, h)
		}
	}
	return hs
}

var coreHandlers = []handler{
	offsetForLeaderEpochHandler,
	electLeadersHandler,
	alterPartitionHandler,
	brokerRegistrationHandler,
	brokerHeartbeatHandler,
	assignReplicasToDirsHandler,
	allocateProducerIDsHandler,
	produceHandler,
	fetchHandler,
	listOffsetsHandler,
	metadataHandler,
	apiVersionsHandler,
	createTopicsHandler,
	deleteTopicsHandler,
	deleteRecordsHandler,
	initProducerIDHandler,
	describeConfigsHandler,
	alterConfigsHandler,
	createPartitionsHandler,
	describeClusterHandler,
	unregisterBrokerHandler,
	incrementalAlterConfigsHandler,
	offsetCommitHandler,
	offsetFetchHandler,
	findCoordinatorHandler,
	joinGroupHandler,
	heartbeatHandler,
	leaveGroupHandler,
	syncGroupHandler,
	describeGroupsHandler,
	listGroupsHandler,
	deleteGroupsHandler,
	offsetDeleteHandler,
}

// deps is what handlers use: the broker's parts and configuration. The
// server assembles it (New); handlers and connections get it, never the
// Server.
type deps struct {
	cfg      *Config
	log      zerolog.Logger
	clock    Clock
	ctx      context.Context // ends when shutdown starts: long polls return early
	ctrl     *controller.Controller
	link     *link
	parts    *partitions
	pids     *producerIDs
	groups   *groups // consumer group coordinator
	txns     *txns   // transaction coordinator
	repl     *replication
	sessions *fetchSessions // fetch sessions (KIP-227)
	table    *handlerTable
	// txnVerify checks transactional batches against their coordinator
	// before they are appended (KIP-890 part 1); nil until transactions are
	// served.
	txnVerify txnVerifier
	authz     *authz          // ACL authorization (authz.go)
	sasl      *saslMechanisms // SASL mechanisms of SASL listeners (conn_auth.go)
	metrics   *metrics        // request counters and histograms (metrics.go)
	loggers   *brokerLoggers  // log levels of BROKER_LOGGER resources (dynamic_configs.go)
	quotas    *quotas         // client quota rates (quotas.go)
	telemetry *telemetry      // client telemetry, KIP-714 (telemetry.go)
}

// forwardIfNotController: see link.forwardIfNotController.
func (s *deps) forwardIfNotController(r *request) (kmsg.Response, bool) {
	return s.link.forwardIfNotController(r)
}

// createTopic: see link.createTopic.
func (s *deps) createTopic(ct controller.CreateTopic) (*controller.Topic, error) {
	return s.link.createTopic(ct)
}

// topicConfig: see Config.topicConfig.
func (s *deps) topicConfig(t *controller.Topic, def controller.ConfigDef) (string, int8) {
	return s.cfg.topicConfig(t, def)
}

// request is one decoded request while it is being handled.
type request struct {
	wire.Header
	body kmsg.Request
	conn *conn
	// regions are the record regions of a Fetch response, spliced into it
	// in order in place of recordsMarker(i).
	regions []storage.Region
	// await, when set, is run by the connection's writer before the
	// response is encoded (acks=all waits for replication there, so the
	// connection keeps reading and appending meanwhile).
	await func()
	// waited is how long the handler waited for data (Fetch's long poll),
	// left out of the time a request quota counts.
	waited time.Duration
}

// handler serves one API key over [min, max] versions. fn returns the
// response (nil for none, as acks=0 Produce) or an error that closes the
// connection. Kafka errors go in the response's ErrorCode fields.
type handler struct {
	key      kmsg.Key
	min, max int16
	fn       func(s *deps, r *request) (kmsg.Response, error)
}

// handle adapts a typed handler function to the table.
func handle[T kmsg.Request](key kmsg.Key, min, max int16, fn func(s *deps, r *request, req T) (kmsg.Response, error)) handler {
	return handler{key: key, min: min, max: max, fn: func(s *deps, r *request) (kmsg.Response, error) {
		req, ok := r.body.(T)
		if !ok {
			return nil, fmt.Errorf("request body %T for key %d", r.body, key)
		}
		return fn(s, r, req)
	}}
}

type handlerTable struct {
	byKey   map[int16]*handler
	apiKeys []kmsg.ApiVersionsResponseApiKey
}

func newHandlerTable(hs []handler) *handlerTable {
	t := &handlerTable{byKey: map[int16]*handler{}}
	for i := range hs {
		h := &hs[i]
		if _, dup := t.byKey[int16(h.key)]; dup {
			panic(fmt.Sprintf("broker: two handlers for key %d", h.key))
		}
		if max := kmsg.RequestForKey(int16(h.key)).MaxVersion(); h.max > max {
			panic(fmt.Sprintf("broker: %s handler claims v%d, kmsg knows v%d", kmsg.NameForKey(int16(h.key)), h.max, max))
		}
		t.byKey[int16(h.key)] = h
		t.apiKeys = append(t.apiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: int16(h.key), MinVersion: h.min, MaxVersion: h.max})
	}
	sort.Slice(t.apiKeys, func(i, j int) bool { return t.apiKeys[i].ApiKey < t.apiKeys[j].ApiKey })
	return t
}

func (t *handlerTable) lookup(key int16) *handler { return t.byKey[key] }

// serves reports whether key is served at version: only those requests
// are decoded at all.
func (t *handlerTable) serves(key, version int16) bool {
	h := t.byKey[key]
	return h != nil && version >= h.min && version <= h.max
}

// apiVersionsResponse returns an ApiVersions response listing every served
// API, at the given response version.
func (t *handlerTable) apiVersionsResponse(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	resp.ApiKeys = append([]kmsg.ApiVersionsResponseApiKey(nil), t.apiKeys...)
	return resp
}
