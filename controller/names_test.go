package controller

import (
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"orders.v1_final-2", true},
		{"__consumer_offsets", true},
		{"ABCxyz019", true},
		{"...", true},
		{strings.Repeat("x", 249), true},
		{strings.Repeat("x", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"a b", false},
		{"a/b", false},
		{"a:b", false},
		{"topic\x00", false},
		{"tópico", false},
		{"a+b", false},
	}
	for _, tc := range tests {
		t.Run(tc.name[:min(len(tc.name), 20)], func(t *testing.T) {
			t.Parallel()
			err := ValidateTopicName(tc.name)
			if tc.ok {
				wantErr(t, err, nil, "")
			} else {
				wantErr(t, err, ErrInvalidTopic, "")
			}
		})
	}
}

func TestTopicNameCollision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		existing, create string
		collides         bool
	}{
		{"a.b", "a_b", true},
		{"a_b", "a.b", true},
		{"a.b_c", "a_b.c", true},
		{"a.b", "a-b", false},
		{"a.b", "a.bc", false},
	}
	for _, tc := range tests {
		t.Run(tc.existing+"~"+tc.create, func(t *testing.T) {
			t.Parallel()
			c := openTest(t, "")
			mustCreate(t, c, CreateTopic{Name: tc.existing})
			_, err := c.CreateTopic(CreateTopic{Name: tc.create, NumPartitions: 1, ReplicationFactor: 1})
			if tc.collides {
				wantErr(t, err, ErrInvalidTopic, "collides with existing topic: "+tc.existing)
			} else {
				wantErr(t, err, nil, "")
			}
		})
	}
}
