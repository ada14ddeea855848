package controller

import (
	"crypto/tls"
	"net"
	"time"

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
