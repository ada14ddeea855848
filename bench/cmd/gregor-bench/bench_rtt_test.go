package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
	"gregor/wire"
)

// TestRTTRequest: the Produce request rtt sends, framed as rawConn frames
// it, parses as one (header v2, body by kmsg) and carries a valid magic-2
// batch (length, CRC-32C) with one record holding the value.
func TestRTTRequest(t *testing.T) {
	t.Parallel()
	value := bytes.Repeat([]byte{7}, 1024)
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("rtt")).AppendRequest(nil, rttProduceRequest(-1, "bench-rtt", value), 42)
	if n := binary.BigEndian.Uint32(frame); int(n) != len(frame)-4 {
		t.Fatalf("size prefix %d for %d bytes", n, len(frame)-4)
	}
	req, err := wire.ParseRequest(frame[4:], func(key, version int16) bool { return key == 0 })
	if err != nil {
		t.Fatal(err)
	}
	if req.Key != 0 || req.Version != rttProduceVersion || req.CorrelationID != 42 {
		t.Fatalf("header: %+v", req.Header)
	}
	pr := req.Body.(*kmsg.ProduceRequest)
	if pr.Acks != -1 || len(pr.Topics) != 1 || pr.Topics[0].Topic != "bench-rtt" || len(pr.Topics[0].Partitions) != 1 {
		t.Fatalf("request: %+v", pr)
	}
	raw := pr.Topics[0].Partitions[0].Records
	var batch kmsg.RecordBatch
	if err := batch.ReadFrom(raw); err != nil {
		t.Fatal(err)
	}
	restamped := append([]byte(nil), raw...)
	storage.StampCRC(restamped)
	if int(batch.Length) != len(raw)-12 || !bytes.Equal(restamped, raw) {
		t.Fatalf("batch length %d for %d bytes, or bad CRC", batch.Length, len(raw))
	}
	if batch.Magic != 2 || batch.NumRecords != 1 || batch.ProducerID != -1 {
		t.Fatalf("batch: %+v", batch)
	}
	var rec kmsg.Record
	if err := rec.ReadFrom(batch.Records); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Value, value) {
		t.Fatal("record value differs")
	}
	if got := len(batch.Records); int(rec.Length) != got-2 { // 2-byte varint length for 1 KiB
		t.Fatalf("record length %d for %d bytes", rec.Length, got)
	}
}

// TestRTTResponse: a partition error in the response is reported, and so
// is a response to another request.
func TestRTTResponse(t *testing.T) {
	t.Parallel()
	respond := func(corr int32, code int16) []byte {
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = rttProduceVersion
		resp.Topics = []kmsg.ProduceResponseTopic{{Topic: "t", Partitions: []kmsg.ProduceResponseTopicPartition{{ErrorCode: code}}}}
		return wire.AppendResponse(nil, corr, resp)
	}
	// rawConn numbers its requests from 1.
	for _, tc := range []struct {
		name    string
		frame   []byte
		wantErr error
		anyErr  bool
	}{
		{"ok", respond(1, 0), nil, false},
		{"partition error", respond(1, kerr.NotLeaderForPartition.Code), kerr.NotLeaderForPartition, true},
		{"other correlation id", respond(2, 0), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			go func() {
				if _, err := wire.ReadFrame(b, nil, 1<<20); err == nil {
					b.Write(tc.frame)
				}
			}()
			rc := newRawConn(a, 5*time.Second)
			resp, _, err := rc.do(rttProduceRequest(-1, "t", []byte("12345678")))
			if err == nil {
				err = produceErr(resp.(*kmsg.ProduceResponse))
			}
			switch {
			case !tc.anyErr && err != nil:
				t.Fatal(err)
			case tc.anyErr && err == nil:
				t.Fatal("no error")
			case tc.wantErr != nil && err != tc.wantErr:
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}
