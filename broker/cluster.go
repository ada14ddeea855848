package broker

// A node's place in a cluster. A gregor node is a broker and, when
// controller.quorum.voters is set, a controller voter (KRaft's combined
// mode), or runs one role only (process.roles=broker: a Raft observer;
// process.roles=controller: a voter that hosts no partitions and that
// clients never see): each node applies the replicated metadata log, so every broker
// answers Metadata from its own copy, while changes (topics, configs,
// brokers, ISRs, producer ids) are made by the quorum leader. Requests
// that change metadata are forwarded over the Kafka protocol to the
// leader's inter-broker listener, as Kafka brokers forward to the active
// controller.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"gregor/auth"
	"gregor/controller"
	"gregor/wire"
)

// forwardClientPrefix marks requests one broker forwards to another, so the
// receiver never forwards them again (no loops while leadership moves).
const forwardClientPrefix = "gregor-forward-"

var (
	errNoController = errors.New("broker: no active controller known")
)

// clustered reports whether this node is a member of a controller quorum.
func (s *Server) clustered() bool { return len(s.cfg.Cluster.Voters) > 0 }

// controllerConfig maps the broker configuration to the controller's.
func (s *Server) controllerConfig(metaDir string, keys map[string]*auth.TLS) controller.Config {
	cfg := controller.Config{
		NodeID:                   s.cfg.NodeID,
		MetadataDir:              metaDir,
		DefaultNumPartitions:     s.cfg.Topics.NumPartitions,
		DefaultReplicationFactor: s.cfg.Topics.DefaultReplicationFactor,
		BrokerSessionTimeout:     s.cfg.Cluster.BrokerSessionTimeout,
		Logger:                   s.log,
		BootstrapScram:           s.cfg.Security.SASL.BootstrapScram,
	}
	if s.clustered() {
		cfg.Voters = s.cfg.Cluster.Voters
		cfg.Observers = s.cfg.Cluster.Observers
		if l, ok := s.cfg.listener(s.cfg.Cluster.ControllerListener); ok {
			cfg.RaftBind = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
		}
		cfg.RaftTLS = raftTLS(&s.cfg.Security, s.cfg.Cluster.ControllerListener, keys)
		cfg.RaftSASL = raftSASL(&s.cfg.Security)
	}
	return cfg
}

// selfBroker is this node's registration: its advertised listeners, the
// inter-broker one as the primary address.
func (s *Server) selfBroker() controller.Broker {
	b := controller.Broker{NodeID: s.cfg.NodeID, Rack: s.cfg.Cluster.Rack, BrokerOnly: s.cfg.Cluster.BrokerOnly, ControllerOnly: s.cfg.Cluster.ControllerOnly}
	for _, a := range s.cfg.Socket.AdvertisedListeners {
		b.Endpoints = append(b.Endpoints, controller.Endpoint{Name: a.Name, Host: a.Host, Port: a.Port})
	}
	ib := s.advertisedFor(s.cfg.Cluster.InterBrokerListener)
	b.Host, b.Port = ib.Host, ib.Port
	return b
}

// isForwarded reports whether r came from another gregor node forwarding.
func (r *request) isForwarded() bool {
	return r.ClientID != nil && strings.HasPrefix(*r.ClientID, forwardClientPrefix)
}

// metaView is what the parts read of the controller: the replicated
// metadata as of now, and a signal when it changes.
type metaView interface {
	Snapshot() *controller.Snapshot
	// Subscribe returns a channel that receives after each change, and
	// a function that ends the subscription.
	Subscribe() (<-chan struct{}, func())
}

// peers caches connections to other nodes, one per node and purpose.
type peers struct {
	meta     metaView
	listener string // the inter-broker listener's name
	clientID string
	dial     wire.DialConfig

	mu sync.Mutex
	m  map[string]*peer
}

func newPeers(meta metaView, interBrokerListener string, self int32, dial wire.DialConfig) *peers {
	return &peers{meta: meta, listener: interBrokerListener, clientID: forwardClientPrefix + strconv.Itoa(int(self)), dial: dial, m: map[string]*peer{}}
}

// interBrokerDial is how this broker dials the inter-broker listener of
// the others, as a Kafka client of its security protocol would: TLS with
// this broker's key store (the listener's own) as the client certificate
// and its trust store as the roots, then the SASL login of
// sasl.mechanism.inter.broker.protocol.
func interBrokerDial(c *SecurityConfig, listener string, keys map[string]*auth.TLS) wire.DialConfig {
	var d wire.DialConfig
	if t := keys[listener]; t != nil && isTLS(c.protocol(listener)) {
		d.TLS = t.ClientConfig
	}
	if ib := c.InterBroker; ib != nil {
		switch ib.Mechanism {
		case auth.MechanismPlain:
			d.SASL = plain.Auth{User: ib.Username, Pass: ib.Password}.AsMechanism()
		case auth.MechanismScramSHA256:
			d.SASL = scram.Auth{User: ib.Username, Pass: ib.Password}.AsSha256Mechanism()
		case auth.MechanismScramSHA512:
			d.SASL = scram.Auth{User: ib.Username, Pass: ib.Password}.AsSha512Mechanism()
		}
	}
	return d
}

// raftTLS is the Raft transport's TLS when the controller listener is SSL
// or SASL_SSL.
func raftTLS(c *SecurityConfig, listener string, keys map[string]*auth.TLS) *controller.RaftTLS {
	t := keys[listener]
	if t == nil || !isTLS(c.protocol(listener)) {
		return nil
	}
	return &controller.RaftTLS{Server: t.ServerConfig(), Client: t.ClientConfig}
}

func (ps *peers) get(id int32, purpose string) (*peer, error) {
	b, ok := ps.meta.Snapshot().Broker(id)
	if !ok {
		return nil, fmt.Errorf("broker: node %d is not registered", id)
	}
	host, port := b.Endpoint(ps.listener)
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	key := fmt.Sprintf("%d/%s/%s", id, purpose, addr)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[key]
	if p == nil {
		p = newPeer(addr, ps.clientID, ps.dial)
		ps.m[key] = p
	}
	return p, nil
}

func (ps *peers) closeAll() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.m {
		p.close()
	}
}

// link is this node's way to the active controller: the local controller
// when this node leads the quorum (or is a single node), else a request
// over the inter-broker listener to the node that does.
type link struct {
	ctrl      *controller.Controller
	peers     *peers
	self      int32
	clustered bool
	ctx       context.Context // ends at shutdown
	log       zerolog.Logger
	isr       isrBatcher
}

func newLink(ctrl *controller.Controller, peers *peers, self int32, clustered bool, ctx context.Context, log zerolog.Logger) *link {
	return &link{ctrl: ctrl, peers: peers, self: self, clustered: clustered, ctx: ctx, log: log}
}

// local reports whether controller calls can go to the local controller.
func (l *link) local() bool { return !l.clustered || l.ctrl.IsLeader() }

// toController sends req to the active controller. The caller checked that
// this node is not it.
func (l *link) toController(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	id, _, ok := l.ctrl.Leader()
	if !ok || id == l.self {
		return nil, errNoController
	}
	p, err := l.peers.get(id, "controller")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoController, err)
	}
	return p.do(ctx, req)
}

// forwardIfNotController forwards a metadata-changing client request to
// the active controller when this node is not it, returning the
// controller's response unchanged. ok is false when the request should be
// handled here: a single node, the controller itself, a request another
// node forwarded, or no reachable controller (then the controller calls
// fail with NOT_CONTROLLER and the client retries).
func (l *link) forwardIfNotController(r *request) (resp kmsg.Response, ok bool) {
	if l.local() || r.isForwarded() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	resp, err := l.toController(ctx, r.body)
	if err != nil {
		l.log.Debug().Err(err).Str("api", kmsg.NameForKey(r.Key)).Msg("forwarding to controller failed")
		return nil, false
	}
	return resp, true
}

// createTopic creates a topic from inside the broker (auto-creation,
// __consumer_offsets), forwarding to the controller when needed and
// waiting until this node's metadata has it.
func (l *link) createTopic(ct controller.CreateTopic) (*controller.Topic, error) {
	if l.local() {
		return l.ctrl.CreateTopic(ct)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = ct.Name, ct.NumPartitions, ct.ReplicationFactor
	for k, v := range ct.Configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	resp, err := l.toController(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", controller.ErrNotController, err)
	}
	st := resp.(*kmsg.CreateTopicsResponse).Topics[0]
	if st.ErrorCode != 0 && st.ErrorCode != kerr.TopicAlreadyExists.Code {
		msg := kerr.ErrorForCode(st.ErrorCode).Error()
		if st.ErrorMessage != nil {
			msg = *st.ErrorMessage
		}
		return nil, fmt.Errorf("broker: create topic %s: %s", ct.Name, msg)
	}
	t := waitForTopic(ctx, l.ctrl, ct.Name)
	if t == nil {
		return nil, fmt.Errorf("broker: topic %s created but not yet in local metadata", ct.Name)
	}
	if st.ErrorCode == kerr.TopicAlreadyExists.Code {
		return t, fmt.Errorf("%w: %s", controller.ErrTopicExists, ct.Name)
	}
	return t, nil
}

// waitForTopic waits until meta has topic name.
func waitForTopic(ctx context.Context, meta metaView, name string) *controller.Topic {
	ch, unsub := meta.Subscribe()
	defer unsub()
	for {
		if t := meta.Snapshot().Topic(name); t != nil {
			return t
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
}

// allocateProducerIDs asks the controller for a block of n producer ids
// and returns the first.
func (l *link) allocateProducerIDs(n int) (int64, error) {
	if l.local() {
		return l.ctrl.AllocateProducerIDs(n)
	}
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID = l.self
	ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
	defer cancel()
	resp, err := l.toController(ctx, req)
	if err != nil {
		return 0, err
	}
	ar := resp.(*kmsg.AllocateProducerIDsResponse)
	if ar.ErrorCode != 0 {
		return 0, kerr.ErrorForCode(ar.ErrorCode)
	}
	return ar.ProducerIDStart, nil
}

// membership registers this broker with the controller and heartbeats
// until shutdown. Single nodes register once (in New) and need no
// heartbeats.
//
// Membership runs on the wall clock, not the broker's Clock: the
// controller expires broker sessions on its own (wall) time.
func (s *Server) membership() {
	incarnation := [16]byte{}
	rand.Read(incarnation[:])
	registered := false
	backoff := 100 * time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if !registered {
			epoch, err := s.register(incarnation)
			if err != nil {
				s.log.Debug().Err(err).Msg("broker registration failed, retrying")
				t.Reset(backoff)
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			caughtUp, fenced := s.awaitCaughtUp(epoch)
			if !caughtUp {
				return
			}
			if fenced {
				// No heartbeat went out while catching up: a catch-up
				// longer than the session timeout gets the new
				// registration fenced, and only a new one unfences it.
				s.log.Warn().Int64("broker_epoch", epoch).Msg("fenced while catching up with the metadata log, registering again")
				t.Reset(0)
				continue
			}
			registered = true
			s.log.Info().Int64("broker_epoch", epoch).Msg("registered with the controller and caught up")
			s.readyOnce.Do(func() { close(s.ready) })
		}
		fenced, err := s.heartbeat(false)
		switch {
		case errors.Is(err, kerr.BrokerIDNotRegistered) || errors.Is(err, controller.ErrBrokerNotRegistered):
			// Unregistered (UnregisterBroker) while running: register
			// again, as a broker that starts.
			s.log.Warn().Msg("not registered with the controller, registering again")
			registered = false
			t.Reset(0)
			continue
		case err != nil:
			s.log.Debug().Err(err).Msg("broker heartbeat failed")
		case fenced:
			s.log.Warn().Msg("fenced by the controller, registering again")
			registered = false
		}
		t.Reset(s.cfg.Cluster.BrokerHeartbeatInterval)
	}
}

// register registers this broker with the active controller and returns
// the broker epoch the registration got.
func (s *Server) register(incarnation [16]byte) (int64, error) {
	b := s.selfBroker()
	if s.link.local() {
		if err := s.ctrl.RegisterBroker(b); err != nil {
			return 0, err
		}
		rb, _ := s.ctrl.Snapshot().Broker(b.NodeID)
		return rb.Epoch, nil
	}
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID = b.NodeID
	req.ClusterID = s.ctrl.Snapshot().ClusterID
	req.IncarnationID = incarnation
	req.Rack = b.Rack
	if b.BrokerOnly {
		req.UnknownTags.Set(tagBrokerOnly, []byte{1})
	}
	if b.ControllerOnly {
		req.UnknownTags.Set(tagControllerOnly, []byte{1})
	}
	for _, e := range b.Endpoints {
		l := kmsg.NewBrokerRegistrationRequestListener()
		l.Name, l.Host, l.Port = e.Name, e.Host, uint16(e.Port)
		req.Listeners = append(req.Listeners, l)
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	resp, err := s.link.toController(ctx, req)
	if err != nil {
		return 0, err
	}
	rr := resp.(*kmsg.BrokerRegistrationResponse)
	if rr.ErrorCode != 0 {
		return 0, kerr.ErrorForCode(rr.ErrorCode)
	}
	return rr.BrokerEpoch, nil
}

// awaitCaughtUp waits until this node's copy of the metadata log shows the
// registration that got epoch: everything committed before it (leader
// changes while we were down) has then been applied here too. Until then a
// restarted node's metadata is stale and it must neither serve clients nor
// act as a leader (Kafka: a broker unfences once caught up). caughtUp is
// false at shutdown; fenced is true if the controller fenced the
// registration meanwhile (its session expired while we caught up), which
// then needs a new one.
func (s *Server) awaitCaughtUp(epoch int64) (caughtUp, fenced bool) {
	ch, unsub := s.ctrl.Subscribe()
	defer unsub()
	for {
		b, ok := s.ctrl.Snapshot().Broker(s.cfg.NodeID)
		if done, fenced := registrationApplied(b, ok, epoch); done {
			return true, fenced
		}
		select {
		case <-ch:
		case <-time.After(200 * time.Millisecond):
		case <-s.ctx.Done():
			return false, false
		}
	}
}

// registrationApplied reports whether b, this broker's record in the local
// metadata (ok false if it has none), shows the registration that got
// epoch, and whether the broker is fenced in it. A fenced record at that
// epoch or later will not unfence by itself: unfencing takes a heartbeat
// or a registration, and none is sent while waiting.
func registrationApplied(b controller.Broker, ok bool, epoch int64) (applied, fenced bool) {
	if !ok || b.Epoch < epoch {
		return false, false
	}
	return true, b.Fenced
}

// heartbeat tells the controller this broker is alive; wantFence asks it to
// move leadership away and fence us (controlled shutdown).
func (s *Server) heartbeat(wantFence bool) (fenced bool, err error) {
	if s.ctrl.IsLeader() {
		return s.ctrl.BrokerHeartbeat(s.cfg.NodeID, wantFence)
	}
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID = s.cfg.NodeID
	req.WantFence = wantFence
	req.WantShutdown = wantFence
	// A heartbeat stuck on an unreachable old controller must give up well
	// within one session, or the new controller fences this live broker.
	timeout := min(max(s.cfg.Cluster.BrokerSessionTimeout/3, 250*time.Millisecond), 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := s.link.toController(ctx, req)
	if err != nil {
		return false, err
	}
	hb := resp.(*kmsg.BrokerHeartbeatResponse)
	if hb.ErrorCode != 0 {
		return false, kerr.ErrorForCode(hb.ErrorCode)
	}
	return hb.IsFenced, nil
}

// controlledShutdown asks the controller to move this broker's
// leaderships to other in-sync replicas before it stops, so clients fail
// over without waiting for a session timeout.
func (s *Server) controlledShutdown() {
	deadline := time.Now().Add(s.cfg.Cluster.ShutdownTimeout)
	for time.Now().Before(deadline) {
		fenced, err := s.heartbeat(true)
		if err == nil && fenced {
			s.log.Info().Msg("controlled shutdown: leadership moved")
			return
		}
		if err != nil {
			s.log.Debug().Err(err).Msg("controlled shutdown heartbeat failed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.log.Warn().Msg("controlled shutdown timed out")
}

// clientControllerID is the controller id Metadata and DescribeCluster
// report: the active controller when it is a broker clients may reach,
// else self, the broker answering, which forwards controller requests
// (Kafka's KRaft brokers report a random live broker).
func clientControllerID(snap *controller.Snapshot, self int32) int32 {
	if b, ok := snap.Broker(snap.ControllerID); ok && b.ServesClients() {
		return snap.ControllerID
	}
	if snap.ControllerID < 0 {
		return snap.ControllerID
	}
	return self
}
