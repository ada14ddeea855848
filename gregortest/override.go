package gregortest

// BrokerOverride sets broker configuration keys, key=value as gregor's
// --override, on broker i (0-based) only, after the cluster-wide
// Override keys (so it wins over them): broker.rack, for one. Listener,
// quorum, node.id and log.dirs keys belong to the cluster.
func BrokerOverride(i int, kv ...string) Option {
	return func(o *options) {
		if o.perBroker == nil {
			o.perBroker = map[int][]string{}
		}
		o.perBroker[i] = append(o.perBroker[i], kv...)
	}
}
