package broker

// txnPartitionHandlers lists the partition-side transaction APIs:
// TxnOffsetCommit, DescribeProducers.
var txnPartitionHandlers = []handler{txnOffsetCommitHandler, describeProducersHandler}
