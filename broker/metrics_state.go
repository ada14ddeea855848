package broker

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gregor/controller"
	"gregor/coordinator"
)

// stateCollector reads the broker's state when Prometheus scrapes:
// cluster and partition health from the metadata, logs and traffic from
// the open partitions, consumer lag from the group coordinator against
// the local high watermarks, controller and Raft state, connections. It
// holds no state of its own and puts nothing on the request path.
type stateCollector struct {
	self         int32
	perPartition bool
	cfg          *Config
	ctrl         *controller.Controller
	parts        *partitions
	groups       *groups
	repl         *replication
	remote       *remoteHW // high watermarks of partitions led elsewhere (nil on a single node)
	// conns returns the open connections per listener name.
	conns func() map[string]int
}

var (
	descBrokers          = prometheus.NewDesc("gregor_cluster_brokers", "Registered brokers, by fenced state.", []string{"fenced"}, nil)
	descController       = prometheus.NewDesc("gregor_controller_id", "Node id of the active controller (-1: none known).", nil, nil)
	descActiveController = prometheus.NewDesc("gregor_controller_active", "1 if this node is the active controller.", nil, nil)
	descRaftTerm         = prometheus.NewDesc("gregor_raft_term", "Current Raft term of the controller quorum.", nil, nil)
	descRaftCommit       = prometheus.NewDesc("gregor_raft_commit_index", "Raft commit index.", nil, nil)
	descRaftApplied      = prometheus.NewDesc("gregor_raft_applied_index", "Raft index applied to the metadata.", nil, nil)
	descRaftLast         = prometheus.NewDesc("gregor_raft_last_log_index", "Last Raft log index on this node.", nil, nil)
	descRaftState        = prometheus.NewDesc("gregor_raft_state", "1 for this node's Raft state.", []string{"state"}, nil)
	descMetadataVersion  = prometheus.NewDesc("gregor_metadata_version", "Version of the metadata snapshot this node serves.", nil, nil)

	descTopics          = prometheus.NewDesc("gregor_topics", "Topics in the cluster.", nil, nil)
	descPartitions      = prometheus.NewDesc("gregor_partitions", "Partition replicas this broker hosts.", nil, nil)
	descLeaders         = prometheus.NewDesc("gregor_partition_leaders", "Partitions this broker leads.", nil, nil)
	descUnderReplicated = prometheus.NewDesc("gregor_under_replicated_partitions", "Partitions this broker leads whose ISR is smaller than their replica set.", nil, nil)
	descUnderMinISR     = prometheus.NewDesc("gregor_under_min_isr_partitions", "Partitions this broker leads whose ISR is smaller than min.insync.replicas.", nil, nil)
	descOffline         = prometheus.NewDesc("gregor_offline_partitions", "Partitions in the cluster without a leader (reported by the active controller only).", nil, nil)
	descISRShrinks      = prometheus.NewDesc("gregor_isr_shrinks_total", "ISR shrinks this broker made as leader.", nil, nil)
	descISRExpands      = prometheus.NewDesc("gregor_isr_expands_total", "ISR expansions this broker made as leader.", nil, nil)
	descFollowerReads   = prometheus.NewDesc("gregor_fetch_follower_reads_total", "Partitions of consumer fetches this broker served as a follower (KIP-392).", nil, nil)
	descReplicaFetches  = prometheus.NewDesc("gregor_replica_fetch_requests_total", "Fetch requests this broker sent as a follower, by fetch session kind (full, incremental; KIP-227).", []string{"session"}, nil)
	descReplicaFetchTPs = prometheus.NewDesc("gregor_replica_fetch_request_partitions_total", "Partitions named in the Fetch requests this broker sent as a follower.", nil, nil)
	descReplicaForgets  = prometheus.NewDesc("gregor_replica_fetch_forgotten_partitions_total", "Partitions in the forgotten_topics_data of the Fetch requests this broker sent as a follower.", nil, nil)
	descReplicaFetchB   = prometheus.NewDesc("gregor_replica_fetch_request_bytes_total", "Encoded bytes of the Fetch request bodies this broker sent as a follower.", nil, nil)
	descReadRedirects   = prometheus.NewDesc("gregor_fetch_preferred_replica_total", "Partitions of consumer fetches this broker, as leader, sent to a preferred read replica (KIP-392).", nil, nil)

	descLogSize     = prometheus.NewDesc("gregor_log_size_bytes", "Bytes of a partition's log segments.", []string{"topic", "partition"}, nil)
	descLogSegments = prometheus.NewDesc("gregor_log_segments", "Segments of a partition's log.", []string{"topic", "partition"}, nil)
	descLogStart    = prometheus.NewDesc("gregor_log_start_offset", "A partition's log start offset.", []string{"topic", "partition"}, nil)
	descLogEnd      = prometheus.NewDesc("gregor_log_end_offset", "A partition's log end offset.", []string{"topic", "partition"}, nil)
	descHW          = prometheus.NewDesc("gregor_log_high_watermark", "A partition's high watermark.", []string{"topic", "partition"}, nil)
	descTopicSize   = prometheus.NewDesc("gregor_topic_log_size_bytes", "Bytes of a topic's local log segments.", []string{"topic"}, nil)
	descTopicSegs   = prometheus.NewDesc("gregor_topic_log_segments", "Segments of a topic's local logs.", []string{"topic"}, nil)

	descBytesIn    = prometheus.NewDesc("gregor_topic_bytes_in_total", "Record batch bytes produced to a topic on this broker.", []string{"topic"}, nil)
	descRecordsIn  = prometheus.NewDesc("gregor_topic_records_in_total", "Records produced to a topic on this broker.", []string{"topic"}, nil)
	descBytesOut   = prometheus.NewDesc("gregor_topic_bytes_out_total", "Record batch bytes consumers fetched from a topic on this broker (followers excluded).", []string{"topic"}, nil)
	descGroupLag   = prometheus.NewDesc("gregor_consumer_group_lag", "High watermark minus the group's committed offset, by partition.", []string{"group", "topic", "partition"}, nil)
	descGroupTLag  = prometheus.NewDesc("gregor_consumer_group_topic_lag", "Sum of the group's lag over a topic's partitions.", []string{"group", "topic"}, nil)
	descGroupOff   = prometheus.NewDesc("gregor_consumer_group_committed_offset", "The group's committed offset, by partition.", []string{"group", "topic", "partition"}, nil)
	descGroupState = prometheus.NewDesc("gregor_consumer_group_state", "1 for the group's state.", []string{"group", "state"}, nil)
	descGroupMemb  = prometheus.NewDesc("gregor_consumer_group_members", "Members of the group.", []string{"group"}, nil)
	descConns      = prometheus.NewDesc("gregor_connections", "Open client connections, by listener.", []string{"listener"}, nil)
)

// Describe sends nothing: the collector is unchecked, as its series come
// and go with topics and groups.
func (c *stateCollector) Describe(chan<- *prometheus.Desc) {}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.ctrl.Snapshot()
	c.collectCluster(ch, snap)
	c.collectPartitions(ch, snap)
	c.collectGroups(ch)
	for name, n := range c.conns() {
		gauge(ch, descConns, float64(n), name)
	}
}

func (c *stateCollector) collectCluster(ch chan<- prometheus.Metric, snap *controller.Snapshot) {
	fenced := 0
	for _, b := range snap.Brokers {
		if b.Fenced {
			fenced++
		}
	}
	gauge(ch, descBrokers, float64(len(snap.Brokers)-fenced), "false")
	gauge(ch, descBrokers, float64(fenced), "true")
	gauge(ch, descController, float64(snap.ControllerID))
	active := 0.0
	if c.ctrl.IsLeader() {
		active = 1
	}
	gauge(ch, descActiveController, active)
	gauge(ch, descMetadataVersion, float64(snap.Version))
	if rs := c.ctrl.RaftState(); rs.Enabled {
		gauge(ch, descRaftTerm, float64(rs.Term))
		gauge(ch, descRaftCommit, float64(rs.CommitIndex))
		gauge(ch, descRaftApplied, float64(rs.AppliedIndex))
		gauge(ch, descRaftLast, float64(rs.LastIndex))
		gauge(ch, descRaftState, 1, rs.State)
	}
}

func (c *stateCollector) collectPartitions(ch chan<- prometheus.Metric, snap *controller.Snapshot) {
	var leaders, under, underMin, offline int
	for _, t := range snap.Topics {
		for _, p := range t.Partitions {
			if p.Leader < 0 {
				offline++
			}
			if p.Leader != c.self {
				continue
			}
			leaders++
			if len(p.ISR) < len(p.Replicas) {
				under++
			}
			if len(p.Replicas) > 1 && len(p.ISR) < c.cfg.minInsyncReplicas(t) {
				underMin++
			}
		}
	}
	gauge(ch, descTopics, float64(len(snap.Topics)))
	gauge(ch, descLeaders, float64(leaders))
	gauge(ch, descUnderReplicated, float64(under))
	gauge(ch, descUnderMinISR, float64(underMin))
	if c.ctrl.IsLeader() {
		gauge(ch, descOffline, float64(offline))
	}
	counter(ch, descISRShrinks, float64(c.repl.isrShrinks.Load()))
	counter(ch, descFollowerReads, float64(c.repl.followerReads.Load()))
	counter(ch, descReadRedirects, float64(c.repl.readRedirects.Load()))
	counter(ch, descISRExpands, float64(c.repl.isrExpands.Load()))
	fs := &c.repl.fetches
	counter(ch, descReplicaFetches, float64(fs.full.Load()), "full")
	counter(ch, descReplicaFetches, float64(fs.incremental.Load()), "incremental")
	counter(ch, descReplicaFetchTPs, float64(fs.partitions.Load()))
	counter(ch, descReplicaForgets, float64(fs.forgotten.Load()))
	counter(ch, descReplicaFetchB, float64(fs.bytes.Load()))

	type topicSums struct{ size, segs, bytesIn, recordsIn, bytesOut int64 }
	sums := map[string]*topicSums{}
	all := c.parts.all()
	gauge(ch, descPartitions, float64(len(all)))
	for _, p := range all {
		s := sums[p.topic]
		if s == nil {
			s = &topicSums{}
			sums[p.topic] = s
		}
		size, segs := p.log.Size(), int64(p.log.Segments())
		s.size += size
		s.segs += segs
		s.bytesIn += p.traffic.bytesIn.Load()
		s.recordsIn += p.traffic.recordsIn.Load()
		s.bytesOut += p.traffic.bytesOut.Load()
		if c.perPartition {
			idx := strconv.Itoa(int(p.index))
			gauge(ch, descLogSize, float64(size), p.topic, idx)
			gauge(ch, descLogSegments, float64(segs), p.topic, idx)
			gauge(ch, descLogStart, float64(p.log.LogStartOffset()), p.topic, idx)
			gauge(ch, descLogEnd, float64(p.log.LogEndOffset()), p.topic, idx)
			gauge(ch, descHW, float64(p.log.HighWatermark()), p.topic, idx)
		}
	}
	for topic, s := range sums {
		if !c.perPartition {
			gauge(ch, descTopicSize, float64(s.size), topic)
			gauge(ch, descTopicSegs, float64(s.segs), topic)
		}
		counter(ch, descBytesIn, float64(s.bytesIn), topic)
		counter(ch, descRecordsIn, float64(s.recordsIn), topic)
		counter(ch, descBytesOut, float64(s.bytesOut), topic)
	}
}

// groupLag is one partition's committed offset and lag.
type groupLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	HW        int64  `json:"high_watermark"`
	Lag       int64  `json:"lag"`
}

// lagOf returns the committed offsets of a group this broker coordinates
// and their lag against each partition's high watermark: this broker's
// replica's when it has one, else the leader's (remote; nil on a single
// node). Partitions whose high watermark is not known (no replica here,
// leader unreachable) are left out.
func lagOf(ctx context.Context, coord *coordinator.Coordinator, parts *partitions, remote *remoteHW, group string) ([]groupLag, error) {
	fetched, code, err := coord.FetchOffsets(ctx, group, nil)
	if err != nil || code != 0 {
		return nil, err
	}
	var out []groupLag
	var missing []tp
	committed := map[tp]int64{}
	for _, t := range fetched {
		for _, fp := range t.Partitions {
			if fp.Offset < 0 || fp.ErrorCode != 0 {
				continue
			}
			p := parts.lookup(t.Topic, fp.Partition)
			if p == nil {
				missing = append(missing, tp{t.Topic, fp.Partition})
				committed[tp{t.Topic, fp.Partition}] = fp.Offset
				continue
			}
			hw := p.log.HighWatermark()
			out = append(out, groupLag{Topic: t.Topic, Partition: fp.Partition, Committed: fp.Offset, HW: hw, Lag: max(0, hw-fp.Offset)})
		}
	}
	for k, hw := range remote.fetch(ctx, missing) {
		off := committed[k]
		out = append(out, groupLag{Topic: k.topic, Partition: k.index, Committed: off, HW: hw, Lag: max(0, hw-off)})
	}
	return out, nil
}

func (c *stateCollector) collectGroups(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	coord := c.groups.coord
	listed, err := coord.ListGroups(ctx, nil)
	if err != nil {
		return
	}
	for _, l := range listed {
		gauge(ch, descGroupState, 1, l.Group, l.State)
		if _, _, n, ok := groupSummary(ctx, coord, l.Group); ok {
			gauge(ch, descGroupMemb, float64(n), l.Group)
		}
		lags, err := lagOf(ctx, coord, c.parts, c.remote, l.Group)
		if err != nil {
			continue
		}
		perTopic := map[string]int64{}
		for _, g := range lags {
			perTopic[g.Topic] += g.Lag
			if c.perPartition {
				idx := strconv.Itoa(int(g.Partition))
				gauge(ch, descGroupLag, float64(g.Lag), l.Group, g.Topic, idx)
				gauge(ch, descGroupOff, float64(g.Committed), l.Group, g.Topic, idx)
			}
		}
		for topic, lag := range perTopic {
			gauge(ch, descGroupTLag, float64(lag), l.Group, topic)
		}
	}
}
