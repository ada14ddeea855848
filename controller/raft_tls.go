package controller

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// RaftTLS secures the Raft transport (an SSL controller listener): the
// listener serves Server, and each connection to another voter is made
// with Client for that voter's host, so with client authentication
// required on Server the quorum runs over mutual TLS.
type RaftTLS struct {
	Server *tls.Config
	// Client returns the configuration for dialling a voter whose address
	// has the host serverName.
	Client func(serverName string) *tls.Config
}

// tlsStream is a raft.StreamLayer over TLS: accepted connections run the
// server handshake on their first read (in Raft's handler goroutine),
// dialled ones complete the client handshake within the dial timeout.
type tlsStream struct {
	net.Listener
	adv net.Addr
	cfg *RaftTLS
}

func (s *tlsStream) Addr() net.Addr { return s.adv }

func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(address), s.cfg.Client(host))
}

// newTLSTransport is raft.NewTCPTransportWithLogger's transport with the
// stream wrapped in TLS: the same pool size (3) and I/O timeout (10s).
func newTLSTransport(bind string, adv *net.TCPAddr, cfg *RaftTLS, log hclog.Logger) (*raft.NetworkTransport, error) {
	if adv.IP == nil || adv.IP.IsUnspecified() {
		return nil, errors.New("controller: raft address is not advertisable")
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if cfg.Server == nil || cfg.Client == nil {
		ln.Close()
		return nil, fmt.Errorf("controller: raft tls needs both a server and a client configuration")
	}
	stream := &tlsStream{Listener: tls.NewListener(ln, cfg.Server), adv: adv, cfg: cfg}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  log,
	}), nil
}
