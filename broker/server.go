// Package broker serves the Kafka protocol: listeners, connections, and one
// handler per API key, delegating to storage, controller and coordinator.
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"gregor/controller"
	"gregor/storage"
)

// Server is one broker node.
type Server struct {
	cfg    Config
	log    zerolog.Logger
	ctrl   *controller.Controller
	parts  *partitions
	pids   *producerIDs
	groups *groups // consumer group coordinator
	repl   *replication
	peers  *peers
	table  *handlerTable

	listeners   []net.Listener
	listenerCfg []Listener // the listener each of listeners serves

	// ctx is cancelled when shutdown starts: long polls return early.
	ctx    context.Context
	cancel context.CancelFunc

	keptBuffers atomic.Int64 // request buffers connections keep (conn.keepBuffer)

	mu     sync.Mutex
	conns  map[*conn]struct{}
	perIP  map[string]int
	nextID uint64

	wg sync.WaitGroup // every goroutine the server starts

	// ready is closed once a cluster node is registered and caught up.
	ready     chan struct{}
	readyOnce sync.Once

	// skipControlledShutdown makes Run stop as if the node had died
	// (tests of failover by session expiry).
	skipControlledShutdown atomic.Bool

	// logDirFailure is the read error that took the log dir offline for
	// writes (Kafka's LogDirFailureChannel): from then on every produce
	// gets KAFKA_STORAGE_ERROR until the broker restarts. nil while online.
	logDirFailure atomic.Pointer[error]
	// lastShortLog is when logFailure last logged a failure for want of
	// descriptors or memory at error level (UnixNano).
	lastShortLog atomic.Int64
}

// failLogDir takes the log dir offline for writes after an I/O error
// reading it. The first failure is logged; the process keeps running.
//
// Running out of file descriptors (EMFILE, ENFILE) or memory is the
// process's limit, not the disk's: the read fails, the log dir stays.
// (gregor scale found one consumer fetch of a partition whose log could not
// be opened under a full descriptor table making every partition read-only.)
func (s *Server) failLogDir(err error) {
	if !isDiskFailure(err) {
		return
	}
	if s.logDirFailure.CompareAndSwap(nil, &err) {
		s.log.Error().Err(err).Str("log_dir", s.cfg.Log.Dir).Msg("log dir offline for writes after a read error")
	}
}

// isDiskFailure reports whether a storage error says something about the
// disk, rather than about the process's own resources.
func isDiskFailure(err error) bool {
	return !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) && !errors.Is(err, syscall.ENOMEM)
}

// logFailure starts the log line of a failed produce or fetch at error
// level, except for partitions whose log cannot be opened for want of
// descriptors or memory: one such line every shortLogEvery, the others at
// debug level (otherwise every request to every such partition logs one).
func logFailure(s *Server, err error) *zerolog.Event {
	if isDiskFailure(err) {
		return s.log.Error().Err(err)
	}
	now := time.Now().UnixNano()
	if last := s.lastShortLog.Load(); now-last >= int64(shortLogEvery) && s.lastShortLog.CompareAndSwap(last, now) {
		return s.log.Error().Err(err).Dur("next_in", shortLogEvery)
	}
	return s.log.Debug().Err(err)
}

const shortLogEvery = 10 * time.Second

// logDirOffline returns the error that took the log dir offline, or nil.
func (s *Server) logDirOffline() error {
	if e := s.logDirFailure.Load(); e != nil {
		return fmt.Errorf("%w: log dir %s is offline after a read error: %w", storage.ErrStorage, s.cfg.Log.Dir, *e)
	}
	return nil
}

// New opens the broker's state (metadata, logs) and binds its listeners.
// Serve with Run.
func New(cfg Config, log zerolog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, conns: map[*conn]struct{}{}, perIP: map[string]int{}, ready: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.table = newHandlerTable(handlers)

	dir := cfg.Log.Dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: log dir: %w", err)
	}
	metaDir := filepath.Join(dir, "__cluster_metadata-0")
	ctrl, err := controller.Open(s.controllerConfig(metaDir))
	if err != nil {
		return nil, fmt.Errorf("broker: metadata: %w", err)
	}
	s.ctrl = ctrl
	s.peers = &peers{s: s}
	s.pids = &producerIDs{s: s}
	s.parts = newPartitions(s, dir)
	s.groups = newGroups(s)
	s.repl = newReplication(s)
	fail := func(err error) (*Server, error) {
		s.closeListeners()
		s.parts.closeAll()
		ctrl.Close()
		return nil, err
	}
	if err := s.parts.openAll(); err != nil {
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
			s.cfg.Socket.Listeners[i].Port = port
			for j := range s.cfg.Socket.AdvertisedListeners {
				if s.cfg.Socket.AdvertisedListeners[j].Name == l.Name && s.cfg.Socket.AdvertisedListeners[j].Port == 0 {
					s.cfg.Socket.AdvertisedListeners[j].Port = port
				}
			}
		}
		s.listeners = append(s.listeners, ln)
		s.listenerCfg = append(s.listenerCfg, s.cfg.Socket.Listeners[i])
	}
	if !s.clustered() {
		if err := ctrl.RegisterBroker(s.selfBroker()); err != nil {
			return fail(fmt.Errorf("broker: register: %w", err))
		}
	}
	return s, nil
}

// Addr returns the address of the first listener.
func (s *Server) Addr() net.Addr { return s.listeners[0].Addr() }

// Run accepts connections until ctx is cancelled, then shuts down
// gracefully: listeners close, each connection finishes the request it is
// handling and writes every queued response, logs are flushed and closed.
func (s *Server) Run(ctx context.Context) error {
	if s.clustered() {
		// Serve nothing and lead nothing until registered and caught up
		// with the metadata log (listeners are bound: clients wait in the
		// accept backlog meanwhile).
		s.goroutine(s.membership)
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
	s.goroutine(s.repl.run)
	s.groups.start()
	for i, ln := range s.listeners {
		s.log.Info().Str("listener", s.listenerCfg[i].Name).Str("addr", ln.Addr().String()).Msg("listening")
		s.goroutine(func() { s.accept(ln, s.advertisedFor(s.listenerCfg[i].Name)) })
	}
	s.startLogMaintenance()
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
	s.peers.closeAll()
	var errs []error
	errs = append(errs, s.parts.closeAll())
	errs = append(errs, s.ctrl.Close())
	s.log.Info().Msg("stopped")
	return errors.Join(errs...)
}

// goroutine starts f tracked by the server's WaitGroup.
func (s *Server) goroutine(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

func (s *Server) closeListeners() {
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

func (s *Server) accept(ln net.Listener, adv Listener) {
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
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			nc.Close()
			return
		}
		ip := remoteIP(nc)
		if len(s.conns) >= s.cfg.Limits.MaxConnections || s.perIP[ip] >= s.cfg.Limits.MaxConnectionsPerIP {
			total, mine := len(s.conns), s.perIP[ip]
			s.mu.Unlock()
			nc.Close()
			s.log.Warn().Str("remote", nc.RemoteAddr().String()).Int("connections", total).Int("from_ip", mine).Msg("connection limit reached, closing new connection")
			continue
		}
		s.nextID++
		c := newConn(s, nc, s.nextID, adv)
		s.conns[c] = struct{}{}
		s.perIP[ip]++
		s.mu.Unlock()
		s.goroutine(c.serve)
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
