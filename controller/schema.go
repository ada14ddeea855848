package controller

// The bbolt schema: every bucket the controller uses is declared here.
//
// The store holds materialized state (the result of applying every record),
// not the record log itself; with a Raft quorum this becomes the FSM
// snapshot and the log lives in raft's own store.
//
//	meta     "cluster_id" -> cluster ID string
//	         "schema"     -> schemaVersion as a decimal string
//	brokers  big-endian uint32 node ID -> JSON Broker
//	topics   16-byte topic ID -> JSON storedTopic
//
// bbolt values are only valid inside their transaction: decoders copy
// (json.Unmarshal and copy() do).
var (
	bucketMeta    = []byte("meta")
	bucketBrokers = []byte("brokers")
	bucketTopics  = []byte("topics")

	keyClusterID = []byte("cluster_id")
	keySchema    = []byte("schema")
)

const schemaVersion = "1"

// allBuckets is created on Open.
var allBuckets = [][]byte{bucketMeta, bucketBrokers, bucketTopics}

// storedTopic is the on-disk form of a Topic (the ID is the key).
type storedTopic struct {
	Name       string            `json:"name"`
	Internal   bool              `json:"internal,omitempty"`
	Partitions []Partition       `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}
