//go:build !nemesis_broken

package broker

// ackBeforeISR is false in every real build: an acks=all produce waits
// until the in-sync replicas have the records (hwWait). The nemesis_broken
// build tag turns it on (nemesis_broken_on.go) so that the nemesis harness
// (gregortest/nemesis) can show its checker catches a broker that loses
// acknowledged records.
const ackBeforeISR = false
