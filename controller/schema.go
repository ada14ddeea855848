package controller

// The bbolt schema: every bucket the controller uses is declared here.
//
// The store holds materialized state (the result of applying every record),
// not the record log itself. With a Raft quorum the log lives in Raft's
// own store (RaftDir/raft.db) and this store is a cache of the FSM at
// applied_index, so a restarted node serves its last state at once and
// skips replayed entries it already holds.
//
//	meta     "cluster_id"       -> cluster ID string
//	         "schema"           -> schemaVersion as a decimal string
//	         "applied_index"    -> big-endian uint64 Raft index of the last
//	                               applied entry (absent without Raft)
//	         "next_producer_id" -> big-endian uint64 NextProducerID
//	         "features"         -> JSON map of feature name to the level a
//	                               record set (features.go; absent: defaults)
//	         "features_epoch"   -> big-endian uint64 FeaturesEpoch
//	brokers  big-endian uint32 node ID -> JSON Broker
//	topics   16-byte topic ID -> JSON storedTopic
//	scram    mechanism byte + user name -> JSON ScramCredential (scram.go)
//	broker_configs  big-endian uint32 broker id (0xffffffff: the cluster
//	         default) -> JSON map of dynamic broker configs (brokerconfigs.go)
//	quotas   JSON QuotaEntity -> JSON map of quota key to value (quotas.go)
//	acls     JSON ACL binding -> empty (acls.go)
//	client_metrics  subscription name -> JSON map of its configs (clientmetrics.go)
//
// bbolt values are only valid inside their transaction: decoders copy
// (json.Unmarshal and copy() do).
var (
	bucketMeta    = []byte("meta")
	bucketBrokers = []byte("brokers")
	bucketTopics  = []byte("topics")
	bucketScram   = []byte("scram")
	bucketQuotas  = []byte("quotas")

	bucketBrokerConfigs = []byte("broker_configs")
	bucketACLs          = []byte("acls")

	bucketClientMetrics = []byte("client_metrics")

	keyClusterID = []byte("cluster_id")
	keySchema    = []byte("schema")

	keyAppliedIndex   = []byte("applied_index")
	keyNextProducerID = []byte("next_producer_id")
	keyFeatures       = []byte("features")
	keyFeaturesEpoch  = []byte("features_epoch")
)

const schemaVersion = "1"

// allBuckets is created on Open.
var allBuckets = [][]byte{bucketMeta, bucketBrokers, bucketTopics, bucketScram, bucketQuotas, bucketBrokerConfigs, bucketACLs, bucketClientMetrics}

// storedTopic is the on-disk form of a Topic (the ID is the key).
type storedTopic struct {
	Name       string            `json:"name"`
	Internal   bool              `json:"internal,omitempty"`
	Partitions []Partition       `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}
