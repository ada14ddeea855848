package broker

// txnHandlers lists the APIs of transactions (issue 14): FindCoordinator key type 1 lives in 10_find_coordinator.go; the transaction APIs are listed here.
var txnHandlers = []handler{addPartitionsToTxnHandler, addOffsetsToTxnHandler, endTxnHandler, writeTxnMarkersHandler, describeTransactionsHandler, listTransactionsHandler}
