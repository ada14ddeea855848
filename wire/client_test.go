package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeServer accepts one loopback connection, reads requests from it and
// answers each with reply's bytes (a whole frame); reply nil closes.
func fakeServer(t *testing.T, reply func(req Request) []byte) *Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		srv, err := ln.Accept()
		if err != nil {
			return
		}
		defer srv.Close()
		for {
			frame, err := ReadFrame(srv, nil, DefaultMaxFrameSize)
			if err != nil {
				return
			}
			req, err := ParseRequest(frame, func(int16, int16) bool { return true })
			if err != nil {
				return
			}
			out := reply(req)
			if out == nil {
				return
			}
			if _, err := srv.Write(out); err != nil {
				return
			}
		}
	}()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	c := NewClient(cli, "client-test")
	c.Timeout = 5 * time.Second
	return c
}

func sized(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func TestClientFlexibleHeaderTags(t *testing.T) {
	t.Parallel()
	c := fakeServer(t, func(req Request) []byte {
		resp := kmsg.NewPtrMetadataResponse()
		resp.Version = req.Version
		resp.ClusterID = kmsg.StringPtr("c1")
		b := binary.BigEndian.AppendUint32(nil, uint32(req.CorrelationID))
		b = append(b, 2, 7, 2, 'x', 'y', 9, 0) // two header tags: 7 ("xy") and 9 (empty)
		return sized(resp.AppendTo(b))
	})
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	resp, err := c.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if id := resp.(*kmsg.MetadataResponse).ClusterID; id == nil || *id != "c1" {
		t.Fatalf("cluster id %v", id)
	}
	if c.LastResponseSize() <= 4 {
		t.Fatalf("response size %d", c.LastResponseSize())
	}
}

// TestClientApiVersionsHeaderV0: ApiVersions v3 is flexible but its
// response header is v0 (no tag byte), as AppendResponse writes it.
func TestClientApiVersionsHeaderV0(t *testing.T) {
	t.Parallel()
	c := fakeServer(t, func(req Request) []byte {
		resp := req.Body.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 3, MaxVersion: 12}}
		return AppendResponse(nil, req.CorrelationID, resp)
	})
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	resp, err := c.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if k := resp.(*kmsg.ApiVersionsResponse).ApiKeys; len(k) != 1 || k[0].MaxVersion != 12 {
		t.Fatalf("api keys %+v", k)
	}
}

func TestClientPipelined(t *testing.T) {
	t.Parallel()
	c := fakeServer(t, func(req Request) []byte {
		return AppendResponse(nil, req.CorrelationID, req.Body.ResponseKind())
	})
	ctx := context.Background()
	var reqs []kmsg.Request
	var corrs []int32
	for v := int16(0); v < 3; v++ {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 9 + v
		corr, err := c.Send(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		reqs, corrs = append(reqs, req), append(corrs, corr)
	}
	for i, req := range reqs {
		resp, err := c.Recv(ctx, req, corrs[i])
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetVersion() != req.GetVersion() {
			t.Fatalf("response v%d to request v%d", resp.GetVersion(), req.GetVersion())
		}
	}
}

func TestClientWrongCorrelation(t *testing.T) {
	t.Parallel()
	c := fakeServer(t, func(req Request) []byte {
		return AppendResponse(nil, req.CorrelationID+1, req.Body.ResponseKind())
	})
	_, err := c.Do(context.Background(), kmsg.NewPtrMetadataRequest())
	if !errors.Is(err, ErrCorrelation) {
		t.Fatalf("err %v, want ErrCorrelation", err)
	}
}

// TestClientTruncated: a response cut short, by a close or by a stalled
// peer, is an error, never a hang.
func TestClientTruncated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		close bool
	}{{"closed", true}, {"stalled", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stall := make(chan struct{})
			t.Cleanup(func() { close(stall) })
			c := fakeServer(t, func(req Request) []byte {
				full := AppendResponse(nil, req.CorrelationID, req.Body.ResponseKind())
				if tc.close {
					return full[:len(full)-3]
				}
				<-stall
				return nil
			})
			if !tc.close {
				c.Timeout = 100 * time.Millisecond
			}
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 12
			corr, err := c.Send(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.close {
				if _, err := c.Recv(context.Background(), req, corr); err == nil {
					t.Fatal("stalled response read without error")
				}
				return
			}
			c.Conn().(*net.TCPConn).CloseWrite() // the server's next read sees EOF and it closes
			if _, err := c.Recv(context.Background(), req, corr); err == nil {
				t.Fatal("truncated response read without error")
			}
		})
	}
}

func TestClientContextCancel(t *testing.T) {
	t.Parallel()
	c := fakeServer(t, func(req Request) []byte { select {} })
	c.Timeout = 0
	ctx, cancel := context.WithCancel(context.Background())
	req := kmsg.NewPtrMetadataRequest()
	corr, err := c.Send(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := c.Recv(ctx, req, corr); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestDecodeResponseShort(t *testing.T) {
	t.Parallel()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	for _, frame := range [][]byte{nil, {0, 0, 0}, {0, 0, 0, 1}, {0, 0, 0, 1, 1, 5}} {
		if _, err := DecodeResponse(req, 1, frame); err == nil {
			t.Fatalf("frame %x decoded", frame)
		}
	}
}
