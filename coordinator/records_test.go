package coordinator

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
)

func TestRecordsRoundTrip(t *testing.T) {
	t.Parallel()
	g := newGroup(&shard{c: New(DefaultConfig())}, "grp")
	g.protocolType, g.protocol, g.generation, g.leader = "consumer", "range", 3, "m1"
	g.members["m1"] = &member{id: "m1", clientID: "c", protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte("sub")}}, assignment: []byte("asg")}
	batch := buildBatch(1000, []kv{
		{offsetCommitKey("grp", "t", 2), offsetCommitValue(offsetEntry{offset: 42, leaderEpoch: 1, metadata: "md", commitMs: 1000})},
		{groupMetadataKey("grp"), g.metadataValue()},
		{offsetCommitKey("grp", "t", 3), nil},
	})
	var got []record
	if err := forEachRecord(batch, func(_ int64, k, v []byte) error {
		r, err := decodeRecord(k, v)
		got = append(got, r)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].offset.value.offset != 42 || got[0].offset.value.metadata != "md" || got[0].offset.partition != 2 {
		t.Fatalf("offset record: %+v", got[0].offset)
	}
	gv := got[1].group.value
	if gv.Generation != 3 || *gv.Protocol != "range" || len(gv.Members) != 1 || !bytes.Equal(gv.Members[0].Assignment, []byte("asg")) {
		t.Fatalf("group record: %+v", gv)
	}
	if got[2].offset == nil || got[2].offset.value != nil {
		t.Fatalf("tombstone: %+v", got[2])
	}
}

// FuzzDecodeRecords: arbitrary __consumer_offsets bytes never panic the
// loader.
func FuzzDecodeRecords(f *testing.F) {
	f.Add(buildBatch(1, []kv{{offsetCommitKey("g", "t", 0), offsetCommitValue(offsetEntry{offset: 1})}}))
	f.Add(buildBatch(1, []kv{{groupMetadataKey("g"), nil}, {[]byte{0, 9}, []byte{1}}}))
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.Members = []kmsg.GroupMetadataValueMember{{MemberID: "m", Subscription: []byte{1}}}
	f.Add(buildBatch(1, []kv{{groupMetadataKey("g"), v.AppendTo(nil)}}))
	f.Add([]byte{})
	parts := map[[16]byte][]int32{{1}: {0, 1}}
	f.Add(buildBatch(1, []kv{
		{cgKey(cgRecordMetadata, "g"), cgGroupValue(3, 77)},
		{cgKey(cgRecordMember, "g", "m"), cgMemberValue(&cgMemberMeta{clientID: "c", topics: []string{"t"}, regex: kmsg.StringPtr("t.*")})},
		{cgKey(cgRecordTargetMember, "g", "m"), cgTargetValue(parts)},
		{cgKey(cgRecordTargetMetadata, "g"), cgEpochValue(3)},
		{cgKey(cgRecordCurrent, "g", "m"), cgCurrentValue(3, 2, 1, parts, nil)},
		{cgKey(cgRecordCurrent, "g", "m"), nil},
	}))
	f.Add(buildBatch(1, []kv{{cgKey(cgRecordMember, "g", "m"), cgMemberValue(&cgMemberMeta{clientID: "c", topics: []string{"t"},
		classic: &classicMeta{sessionTimeout: time.Second, protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 1}}}}})}}))
	f.Add(append(buildTxnBatch(1, 7, 0, []kv{{offsetCommitKey("g", "t", 0), offsetCommitValue(offsetEntry{offset: 1})}}),
		storage.BuildControlBatch(7, 0, true, 0, 1)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		walkBatches(b, func(storage.BatchHeader, bool) error { return nil }, func(_ storage.BatchHeader, _ int64, k, v []byte) error {
			_, err := decodeRecord(k, v)
			return err
		})
		// Also as a bare key/value pair split in the middle.
		decodeRecord(b[:len(b)/2], b[len(b)/2:])
	})
}

// TestClassicMemberMetadataRecord: a classic member's metadata goes in tag
// 0 of its ConsumerGroupMemberMetadataValue as Kafka writes a nullable
// struct in a tagged field (marker byte 1, then the struct), and reads
// back.
func TestClassicMemberMetadataRecord(t *testing.T) {
	t.Parallel()
	c := &classicMeta{sessionTimeout: 10 * time.Second, protocols: []kmsg.JoinGroupRequestProtocol{{Name: "r", Metadata: []byte{1, 2}}}}
	v := cgMemberValue(&cgMemberMeta{clientID: "c", topics: []string{}, classic: c})
	wantTail := []byte{1, 0, 13, 1, 0, 0, 0x27, 0x10, 2, 2, 'r', 3, 1, 2, 0, 0}
	if !bytes.HasSuffix(v, wantTail) {
		t.Fatalf("value % x does not end in % x", v, wantTail)
	}
	rec, err := decodeConsumerRecord(cgRecordMember, cgKey(cgRecordMember, "g", "m"), v)
	if err != nil {
		t.Fatal(err)
	}
	got := rec.meta.classic
	if got == nil || got.sessionTimeout != c.sessionTimeout || len(got.protocols) != 1 || got.protocols[0].Name != "r" || !slices.Equal(got.protocols[0].Metadata, []byte{1, 2}) {
		t.Fatalf("decoded %+v", got)
	}
	// Without the tag: a member of the consumer protocol.
	rec, err = decodeConsumerRecord(cgRecordMember, cgKey(cgRecordMember, "g", "m"), cgMemberValue(&cgMemberMeta{clientID: "c", topics: []string{}}))
	if err != nil || rec.meta.classic != nil {
		t.Fatalf("no tag: %v %+v", err, rec.meta)
	}
	// A truncated struct is a corrupt record.
	bad := append(slices.Clone(v[:len(v)-len(wantTail)]), 1, 0, 3, 1, 0, 0)
	if _, err := decodeConsumerRecord(cgRecordMember, cgKey(cgRecordMember, "g", "m"), bad); err == nil {
		t.Fatal("truncated classic metadata decoded")
	}
}
