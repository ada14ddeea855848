package broker

import (
	"math"
	"time"
)

// TxnConfig holds the transaction coordinator's settings.
type TxnConfig struct {
	StateLogPartitions         int32         // transaction.state.log.num.partitions
	StateLogReplicationFactor  int16         // transaction.state.log.replication.factor (capped by live brokers)
	StateLogMinISR             int           // transaction.state.log.min.isr
	StateLogSegmentBytes       int64         // transaction.state.log.segment.bytes
	MaxTimeout                 time.Duration // transaction.max.timeout.ms
	AbortTimedOutInterval      time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	IDExpiration               time.Duration // transactional.id.expiration.ms
	RemoveExpiredCheckInterval time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms
	PartitionVerification      bool          // transaction.partition.verification.enable
	EndWait                    time.Duration // transaction.end.wait.ms (gregor)
}

// txnConfigDefs are the keys of TxnConfig.
var txnConfigDefs = []configDef{
	intKey("transaction.state.log.num.partitions", "50", "Partitions of __transaction_state.", 1, 1<<16, func(c *Config, n int64) { c.Txn.StateLogPartitions = int32(n) }),
	intKey("transaction.state.log.replication.factor", "1", "Replication factor of __transaction_state, at most the live brokers (gregor's default; Kafka's is 3).", 1, math.MaxInt16, func(c *Config, n int64) { c.Txn.StateLogReplicationFactor = int16(n) }),
	intKey("transaction.state.log.min.isr", "1", "min.insync.replicas of __transaction_state.", 1, math.MaxInt16, func(c *Config, n int64) { c.Txn.StateLogMinISR = int(n) }),
	intKey("transaction.state.log.segment.bytes", "104857600", "segment.bytes of __transaction_state.", 1<<14, math.MaxInt32, func(c *Config, n int64) { c.Txn.StateLogSegmentBytes = n }),
	msKey("transaction.max.timeout.ms", "900000", "Largest transaction timeout a producer may ask for.", 1, math.MaxInt32, func(c *Config, d time.Duration) { c.Txn.MaxTimeout = d }),
	msKey("transaction.abort.timed.out.transaction.cleanup.interval.ms", "10000", "How often timed-out transactions are looked for and aborted.", 1, math.MaxInt32, func(c *Config, d time.Duration) { c.Txn.AbortTimedOutInterval = d }),
	msKey("transactional.id.expiration.ms", "604800000", "An idle transactional id is forgotten after this long.", 1, math.MaxInt32, func(c *Config, d time.Duration) { c.Txn.IDExpiration = d }),
	boolKey("transaction.partition.verification.enable", "true", "Check each transactional Produce partition with its transaction coordinator (AddPartitionsToTxn verify_only) before appending.", func(c *Config, b bool) { c.Txn.PartitionVerification = b }),
	msKey("transaction.end.wait.ms", "1000", "gregor: how long EndTxn waits for the transaction's markers before it answers, so the producer's next AddPartitionsToTxn is not answered CONCURRENT_TRANSACTIONS (kgo then backs off 20 ms, sarama 100 ms); 0 answers once the commit or abort decision is durable, as Kafka does.", 0, math.MaxInt32, func(c *Config, d time.Duration) { c.Txn.EndWait = d }),
	msKey("transaction.remove.expired.transaction.cleanup.interval.ms", "3600000", "How often expired transactional ids are looked for.", 1, math.MaxInt32, func(c *Config, d time.Duration) { c.Txn.RemoveExpiredCheckInterval = d }),
}
