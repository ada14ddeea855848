package controller

import (
	"fmt"
	"strings"
)

// MaxTopicNameLength is Kafka's limit (249: a partition directory name is
// topic + "-" + partition and must fit in 255 bytes with a suffix).
const MaxTopicNameLength = 249

// Internal topic names (Kafka's Topic.isInternal).
const (
	ConsumerOffsetsTopic  = "__consumer_offsets"
	TransactionStateTopic = "__transaction_state"
	ShareGroupStateTopic  = "__share_group_state"
)

// IsInternalTopic reports whether name is one of Kafka's internal topics.
func IsInternalTopic(name string) bool {
	switch name {
	case ConsumerOffsetsTopic, TransactionStateTopic, ShareGroupStateTopic:
		return true
	}
	return false
}

// ValidateTopicName checks Kafka's topic name rules: 1..249 characters of
// [a-zA-Z0-9._-], and not "." or "..". The error wraps ErrInvalidTopic.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is illegal, it can't be empty", ErrInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name cannot be \".\" or \"..\"", ErrInvalidTopic)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: topic name is illegal, it can't be longer than %d characters (it starts %.40q)",
			ErrInvalidTopic, MaxTopicNameLength, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'",
				ErrInvalidTopic, name)
		}
	}
	return nil
}

// collisionKey maps a topic name to the key under which names collide:
// '.' and '_' are treated as equal because metric names replace one with
// the other.
func collisionKey(name string) string {
	return strings.ReplaceAll(name, ".", "_")
}
