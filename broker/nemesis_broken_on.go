//go:build nemesis_broken

package broker

// ackBeforeISR, in builds with the nemesis_broken tag only, makes the
// leader acknowledge an acks=all produce as soon as it has appended the
// records itself, as acks=1 would: a deliberately broken broker that loses
// acknowledged records when its leader fails before the followers copy
// them. gregortest/nemesis's TestNemesisCatchesBrokenAcks runs against it.
const ackBeforeISR = true
