package broker

// TxnConfig holds the transaction coordinator's settings.
type TxnConfig struct{}

// txnConfigDefs are the keys of TxnConfig.
var txnConfigDefs = []configDef{}
