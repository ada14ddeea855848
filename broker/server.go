// Package broker serves the Kafka protocol: listeners, connections, and one
// handler per API key, delegating to storage, controller and coordinator.
package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"gregor/controller"
	"gregor/quota"
	"gregor/storage/vfs"
)

// Server is one broker node: the assembly of its parts (New), its
// listeners and its lifecycle (Run).
type Server struct {
	*deps     // the parts, as handlers get them
	connSet   // open connections
	listeners []boundListener
	maint     *maintenance
	http      *httpServer        // metrics, health and console; nil without http.listeners
	cancel    context.CancelFunc // ends deps.ctx: shutdown has started
	wg        sync.WaitGroup     // every goroutine the server and its parts start

	// ready is closed once a cluster node is registered and caught up.
	ready     chan struct{}
	readyOnce sync.Once

	// skipControlledShutdown makes Run stop as if the node had died
	// (tests of failover by session expiry).
	skipControlledShutdown atomic.Bool

	// dirFailed is notified when a log dir goes offline (dirfailure.go).
	dirFailed signal
}

// boundListener is a bound client listener and its configuration.
type boundListener struct {
	net.Listener
	cfg Listener
	tls *tlsListener // SSL and SASL_SSL listeners; nil otherwise
}

// connSet is the server's open connections, counted per client IP.
type connSet struct {
	mu     sync.Mutex
	conns  map[*conn]struct{}
	perIP  map[string]int
	nextID uint64

	keptBuffers atomic.Int64 // request buffers connections keep (conn.keepBuffer)

	connRateOnce sync.Once
	connRate     *quota.Rate // new client connections (max.connection.creation.rate)
}

// Option replaces a part New would otherwise make (tests).
type Option func(*options)

type options struct {
	clock Clock
}

// WithClock makes the broker read time from c instead of the wall clock.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// New opens the broker's state (metadata, logs) and binds its listeners.
// Serve with Run.
//
// The parts, in the order they are made: the controller (metadata view),
// peers and link (requests to other nodes and to the active controller),
// partitions (logs), producer ids, groups (coordinator over
// __consumer_offsets), replication (leaders, followers, ISR), log
// maintenance. Each gets what it uses; none gets the Server.
func New(cfg Config, log zerolog.Logger, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{clock: wallClock{}}
	for _, opt := range opts {
		opt(&o)
	}
	c := &cfg
	loggers := newBrokerLoggers(log.GetLevel())
	log = log.Hook(loggers)
	s := &Server{connSet: connSet{conns: map[*conn]struct{}{}, perIP: map[string]int{}}, ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	d := &deps{cfg: c, log: log, clock: o.clock, ctx: ctx, table: newHandlerTable(servedHandlers(c)), loggers: loggers}
	s.deps = d
	d.authz = newAuthz(c.Authz, func() *controller.ACLSet { return d.ctrl.Snapshot().ACLs() }, o.clock, log)
	d.metrics = newMetrics(d.table)
	if c.Log.FS == nil {
		c.Log.FS = vfs.Default
	}
	c.Log.FS = timedFS{c.Log.FS, o.clock, d.metrics.fsync}

	dir := cfg.Log.Dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: log dir: %w", err)
	}
	tlsKeys, err := loadTLS(&c.Security, o.clock.Now)
	if err != nil {
		return nil, err
	}
	metaDir := filepath.Join(dir, "__cluster_metadata-0")
	ctrl, err := controller.Open(s.controllerConfig(metaDir, tlsKeys))
	if err != nil {
		return nil, fmt.Errorf("broker: metadata: %w", err)
	}
	d.ctrl = ctrl
	logDirs, err := prepareLogDirs(c.Log.FS, c.Log.logDirs(), c.NodeID, ctrl.Snapshot().ClusterID, o.clock, log)
	if err != nil {
		ctrl.Close()
		return nil, err
	}
	c.ClusterOps.meta = ctrl.Snapshot // dynamic broker configs
	d.quotas = newQuotas(c.Quota, ctrl.Snapshot, d.metrics.reg)
	d.telemetry = newTelemetry(c.Telemetry, o.clock, ctrl.Snapshot)
	d.metrics.reg.MustRegister(d.telemetry)
	if d.sasl, err = newSASLMechanisms(&c.Security, ctrl, o.clock); err != nil {
		ctrl.Close()
		return nil, err
	}
	peers := newPeers(ctrl, c.Cluster.InterBrokerListener, c.NodeID, interBrokerDial(&c.Security, c.Cluster.InterBrokerListener, tlsKeys))
	d.link = newLink(ctrl, peers, c.NodeID, s.clustered(), ctx, log)
	kick := newSignal()
	d.parts = newPartitions(logDirs, c.Log.FS, ctrl, c.storageConfig, o.clock, log, &s.wg, kick)
	s.dirFailed = newSignal()
	for _, ld := range logDirs {
		ld.onFail = s.dirFailed.notify
	}
	d.sessions = newFetchSessions(o.clock, c.Limits, log)
	d.pids = newProducerIDs(d.link.allocateProducerIDs)
	d.groups = newGroups(coordinatorConfig(c.Groups, ctrl, o.clock, log), c.Groups.OffsetsTopicReplicationFactor,
		c.NodeID, ctrl, d.parts, d.link, o.clock, log, ctx)
	if d.txns, err = newTxns(c.Txn, c.Groups.OffsetsTopicPartitions, c.NodeID, ctrl, d.parts, d.link, peers, d.pids, o.clock, log, ctx); err != nil {
		ctrl.Close()
		return nil, err
	}
	d.txnVerify = d.txns
	d.txns.local = d.writeTxnMarkers
	d.repl = newReplication(c.NodeID, s.clustered(), c.Replication, ctrl, d.parts, d.groups, d.link, peers, o.clock, log, ctx, &s.wg, kick)
	d.repl.txnState = d.txns
	d.repl.throttle = newReplicationThrottle(c, o.clock.Now) // replication_throttle.go
	s.maint = newMaintenance(c.Log, d.parts, o.clock, log, ctx)
	s.maint.cleanerBackoff = func() time.Duration { return c.liveDuration("log.cleaner.backoff.ms", c.Log.CleanerBackoff) }
	fail := func(err error) (*Server, error) {
		s.closeListeners()

		s.parts.closeAll()
		ctrl.Close()
		return nil, err
	}
	if err := s.parts.openAll(c.NodeID); err != nil {
		return fail(err)
	}
	// Client listeners; the controller listener belongs to the quorum.
	for i, l := range cfg.Socket.Listeners {
		if l.Name == cfg.Cluster.ControllerListener {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(l.Host, fmt.Sprint(l.Port)))
		if err != nil {
			return fail(fmt.Errorf("broker: listen %s: %w", l, err))
		}
		if l.Port == 0 { // tests: advertise the port we got
			port := int32(ln.Addr().(*net.TCPAddr).Port)
			c.Socket.Listeners[i].Port = port
			for j := range c.Socket.AdvertisedListeners {
				if c.Socket.AdvertisedListeners[j].Name == l.Name && c.Socket.AdvertisedListeners[j].Port == 0 {
					c.Socket.AdvertisedListeners[j].Port = port
				}
			}
		}
		bl := boundListener{Listener: ln, cfg: c.Socket.Listeners[i]}
		if proto := c.Security.protocol(l.Name); isTLS(proto) {
			bl.Listener, bl.tls = listenTLS(ln, proto, tlsKeys[l.Name], c.Security.TLS[l.Name])
		}
		s.listeners = append(s.listeners, bl)
	}
	if len(c.HTTP.Listeners) > 0 {
		var remote *remoteHW
		if s.clustered() {
			remote = &remoteHW{meta: ctrl, peers: peers, self: c.NodeID}
		}
		d.metrics.reg.MustRegister(&stateCollector{self: c.NodeID, perPartition: c.HTTP.PerPartition, cfg: c, ctrl: ctrl,
			parts: d.parts, groups: d.groups, repl: d.repl, remote: remote, conns: s.connsPerListener})
		ha := newHTTPAuth(c, d.sasl, d.authz, log)
		ui := newConsoleHandler(&consoleSource{self: c.NodeID, cfg: c, ctrl: ctrl, parts: d.parts, groups: d.groups, remote: remote, lns: s.listeners}, ha, log)
		tlsCfg, err := c.httpsConfig(o.clock.Now)
		if err != nil {
			return fail(err)
		}
		if s.http, err = newHTTPServer(c.HTTP.Listeners, c.HTTP.HTTPS, tlsCfg, d.metrics, ui, ha, s.readiness, log); err != nil {
			return fail(err)
		}
	}
	if !s.clustered() {
		if err := ctrl.RegisterBroker(s.selfBroker()); err != nil {
			return fail(fmt.Errorf("broker: register: %w", err))
		}
	}
	return s, nil
}

// HTTPAddr returns the address of the first HTTP listener, or nil.
func (s *Server) HTTPAddr() net.Addr {
	if s.http == nil || len(s.http.lns) == 0 {
		return nil
	}
	return s.http.lns[0].Addr()
}

// readiness is nil once the broker serves clients: registered and caught
// up (clusters), and not shutting down.
func (s *Server) readiness() error {
	if s.ctx.Err() != nil {
		return errors.New("shutting down")
	}
	if s.clustered() {
		select {
		case <-s.ready:
		default:
			return errors.New("not yet registered and caught up with the metadata log")
		}
	}
	return nil
}

// connsPerListener counts open connections by listener name.
func (s *Server) connsPerListener() map[string]int {
	out := map[string]int{}
	for _, ln := range s.listeners {
		out[ln.cfg.Name] = 0
	}
	s.mu.Lock()
	for c := range s.conns {
		out[c.adv.Name]++
	}
	s.mu.Unlock()
	return out
}

// Addr returns the address of the first listener.
func (s *Server) Addr() net.Addr { return s.listeners[0].Addr() }

// Run accepts connections until ctx is cancelled, then shuts down
// gracefully: listeners close, each connection finishes the request it is
// handling and writes every queued response, logs are flushed and closed.
func (s *Server) Run(ctx context.Context) error {
	if s.http != nil {
		s.http.serve(&s.wg)
	}
	if s.clustered() {
		// Serve nothing and lead nothing until registered and caught up
		// with the metadata log (listeners are bound: clients wait in the
		// accept backlog meanwhile).
		s.wg.Go(s.membership)
		s.log.Info().Msg("waiting to register and catch up with the metadata log")
		select {
		case <-s.ready:
		case <-ctx.Done():
			s.cancel()
			s.closeListeners()
			s.wg.Wait()
			return errors.Join(s.parts.closeAll(), s.ctrl.Close())
		}
	}
	s.wg.Go(s.repl.run)
	s.parts.resumeMoves(s.ctx) // log dir moves the last shutdown interrupted
	s.wg.Go(s.reportOfflineReplicas)
	s.wg.Go(func() { watchBrokerConfigs(s.ctx, s.ctrl, s.parts, s.log) })
	s.groups.start()
	s.txns.start()
	for _, ln := range s.listeners {
		s.log.Info().Str("listener", ln.cfg.Name).Str("addr", ln.Addr().String()).Msg("listening")
		s.wg.Go(func() { s.accept(ln, s.advertisedFor(ln.cfg.Name), s.cfg.Security.protocol(ln.cfg.Name)) })
	}
	s.maint.start(&s.wg)
	<-ctx.Done()
	s.log.Info().Msg("shutting down")
	if s.clustered() && !s.skipControlledShutdown.Load() {
		s.controlledShutdown()
	}
	s.cancel()
	s.closeListeners()
	s.mu.Lock()
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.Cluster.ShutdownTimeout):
		s.log.Warn().Dur("timeout", s.cfg.Cluster.ShutdownTimeout).Msg("shutdown timed out, closing connections")
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.groups.close()
	s.txns.close()
	s.link.peers.closeAll()
	var errs []error
	errs = append(errs, s.parts.closeAll())
	errs = append(errs, s.ctrl.Close())
	s.log.Info().Msg("stopped")
	return errors.Join(errs...)
}

func (s *Server) closeListeners() {
	if s.http != nil {
		s.http.shutdown()
		s.http.close()
	}
	for _, ln := range s.listeners {
		ln.Close()
	}
}

// advertisedFor returns the advertised listener with the given name, or
// the first advertised listener.
func (s *Server) advertisedFor(name string) Listener {
	for _, a := range s.cfg.Socket.AdvertisedListeners {
		if a.Name == name {
			return a
		}
	}
	return s.cfg.Socket.AdvertisedListeners[0]
}

// accept serves ln, a listener of security protocol proto.
func (s *Server) accept(ln boundListener, adv Listener, proto string) {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary errors (EMFILE): back off as net/http does.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			s.log.Warn().Err(err).Dur("retry_in", delay).Msg("accept failed")
			time.Sleep(delay)
			continue
		}
		delay = 0
		if adv.Name != s.cfg.Cluster.InterBrokerListener && !s.waitConnectionSlot() {
			nc.Close()
			return
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			nc.Close()
			return
		}
		ip := remoteIP(nc)
		if len(s.conns) >= s.cfg.liveInt("max.connections", s.cfg.Limits.MaxConnections) ||
			s.perIP[ip] >= s.cfg.liveInt("max.connections.per.ip", s.cfg.Limits.MaxConnectionsPerIP) {
			total, mine := len(s.conns), s.perIP[ip]
			s.mu.Unlock()
			nc.Close()
			s.log.Warn().Str("remote", nc.RemoteAddr().String()).Int("connections", total).Int("from_ip", mine).Msg("connection limit reached, closing new connection")
			continue
		}
		if d := s.deps.quotas.connectionThrottle(ip, s.deps.clock.Now()); d > 0 {
			s.mu.Unlock()
			s.log.Info().Str("remote", nc.RemoteAddr().String()).Dur("throttle", d).Msg("connection creation rate exceeded, closing new connection after the throttle time")
			s.wg.Go(func() {
				sleep(s.ctx, s.deps.clock, d)
				nc.Close()
			})
			continue
		}
		s.nextID++
		c := newConn(nc, s.nextID, adv, s.deps, s.cfg.Socket, &s.keptBuffers, s.log, s.removeConn)
		c.auth.required = proto == protoSaslPlaintext || proto == protoSaslSSL
		c.tls = ln.tls
		s.conns[c] = struct{}{}
		s.perIP[ip]++
		s.mu.Unlock()
		s.wg.Go(c.serve)
	}
}

// waitConnectionSlot holds a client listener's accept while the broker's
// new-connection rate is over max.connection.creation.rate, as Kafka's
// acceptor does (the inter-broker listener is exempt); false when the
// server stops meanwhile.
func (s *Server) waitConnectionSlot() bool {
	bound := s.cfg.Limits.MaxConnectionCreationRate
	if bound <= 0 || bound >= math.MaxInt32 {
		return true
	}
	s.connRateOnce.Do(func() {
		s.connRate = quota.NewRate(quota.Config{WindowNum: s.cfg.Quota.WindowNum, WindowSize: s.cfg.Quota.WindowSize})
	})
	for {
		now := s.deps.clock.Now()
		d := s.connRate.RecordAndThrottle(1, float64(bound), now)
		if d <= 0 {
			return true
		}
		s.connRate.Record(-1, now)
		if !sleep(s.ctx, s.deps.clock, d) {
			return false
		}
	}
}

func (s *Server) removeConn(c *conn) {
	ip := remoteIP(c.nc)
	s.mu.Lock()
	delete(s.conns, c)
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	s.mu.Unlock()
}

func remoteIP(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return nc.RemoteAddr().String()
}
