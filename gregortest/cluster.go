package gregortest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker"
	"gregor/storage/vfs"
)

// An Option configures a Cluster.
type Option func(*options)

type options struct {
	brokers    int
	overrides  []string
	log        zerolog.Logger
	clientOpts []kgo.Opt
	pausable   bool             // pause.go
	perBroker  map[int][]string // override.go: BrokerOverride
	voters     int              // Voters; 0: every broker
	brokerOnly bool             // BrokerOnly
	ctrlOnly   bool             // ControllerOnly
	logDirs    int              // log dirs per broker (LogDirs); 0 is 1
	secure     bool             // secure.go
}

// LogDirs gives every broker n log dirs (JBOD): Dir and n-1 more, see
// Broker.LogDirs. The partition logs of all of them go through DiskFaults;
// a Rule whose Path names one dir fails that dir alone.
func LogDirs(n int) Option { return func(o *options) { o.logDirs = n } }

// Brokers sets the number of brokers (default 3). Every broker is also a
// controller voter.
func Brokers(n int) Option { return func(o *options) { o.brokers = n } }

// Voters makes only the first n brokers controller voters; the others
// start as observers (controller.quorum.observers: Raft non-voters that
// replicate the metadata), which AddRaftVoter can make voters.
func Voters(n int) Option { return func(o *options) { o.voters = n } }

// BrokerOnly makes the brokers past the Voters(n) voters broker-only
// nodes (process.roles=broker): observers that are never voters.
func BrokerOnly() Option { return func(o *options) { o.brokerOnly = true } }

// ControllerOnly splits the cluster as KRaft's split deployment: the first
// n nodes are controller-only voters (process.roles=controller), the
// others broker-only observers (process.roles=broker). Seeds and Client
// leave the controllers out; Broker(i).Request still reaches one.
func ControllerOnly(n int) Option {
	return func(o *options) { o.voters, o.brokerOnly, o.ctrlOnly = n, true, true }
}

// Override sets broker configuration keys, key=value as gregor's
// --override, on every broker. Listener, quorum, node.id and log.dirs keys
// belong to the cluster.
func Override(kv ...string) Option {
	return func(o *options) { o.overrides = append(o.overrides, kv...) }
}

// ClientOpts are options every client the cluster makes gets first: its
// own metadata probes, Client and Request (TLS and SASL for a secured
// client listener, whose protocol an Override of
// listener.security.protocol.map sets on the PLAINTEXT-named listener).
func ClientOpts(opts ...kgo.Opt) Option {
	return func(o *options) { o.clientOpts = append(o.clientOpts, opts...) }
}

// Logger gives the brokers a logger (default: none).
func Logger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// defaults make failure detection and replication quick enough for tests.
var defaults = []string{
	"broker.session.timeout.ms=4000",
	"broker.heartbeat.interval.ms=300",
	"replica.lag.time.max.ms=4000",
	"replica.fetch.wait.max.ms=200",
	"group.initial.rebalance.delay.ms=0",
	"controlled.shutdown.timeout.ms=15000",
}

// Cluster is a set of in-process gregor brokers on loopback, each with its
// own data directory. Broker i (0-based) has node ID i+1.
type Cluster struct {
	t       testing.TB
	opts    options
	brokers []*Broker
	pki     *securePKI // secure.go: nil unless secured

	mu       sync.Mutex
	isolated map[int32]bool
	cuts     map[[2]int32]bool // pairwise cuts (links.go), both directions
	shapes   map[int32]Shape   // shaped nodes (shape.go)
}

// Broker is one broker of a Cluster.
type Broker struct {
	c          *Cluster
	id         int32
	dir        string
	extraDirs  []string // log dirs after dir (LogDirs)
	clientPort int
	raft       *proxy       // fronts the broker's Raft transport
	kafka      *proxy       // fronts its inter-broker listener
	fs         *vfs.FaultFS // its partition logs' filesystem, kept across restarts
	client     *proxy       // Pausable: fronts its client listener
	clock      *pauseClock  // Pausable: its broker clock

	mu     sync.Mutex
	srv    *broker.Server
	cancel context.CancelFunc
	done   chan error
}

// NewCluster starts the brokers, waits until every broker is registered
// and unfenced and a controller is elected as each broker sees it, and
// stops everything at t's cleanup.
func NewCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o := options{brokers: 3, log: zerolog.Nop()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.brokers < 1 {
		t.Fatalf("gregortest: %d brokers", o.brokers)
	}
	c := &Cluster{t: t, opts: o, isolated: map[int32]bool{}, cuts: map[[2]int32]bool{}, shapes: map[int32]Shape{}}
	if o.secureEnabled() {
		var err error
		if c.pki, err = newSecurePKI(t.TempDir(), o.brokers); err != nil {
			t.Fatalf("gregortest: certificates: %v", err)
		}
		c.opts.clientOpts = slices.Concat(c.pki.clientOpts(), o.clientOpts)
	}
	dirs := make([]string, o.brokers)
	extra := make([][]string, o.brokers)
	for i := range dirs {
		dirs[i] = t.TempDir() // before c.close's cleanup, so removed after it
		for range o.logDirs - 1 {
			extra[i] = append(extra[i], t.TempDir())
		}
	}
	t.Cleanup(c.close)
	for i := 0; i < o.brokers; i++ {
		b := &Broker{c: c, id: int32(i + 1), dir: dirs[i], extraDirs: extra[i], fs: vfs.NewFaultFS(nil)}
		var err error
		if b.raft, err = newProxy(c, b.id, kindRaft); err != nil {
			t.Fatal(err)
		}
		if b.kafka, err = newProxy(c, b.id, kindKafka); err != nil {
			b.raft.close()
			t.Fatal(err)
		}
		if o.pausable {
			if err := b.makePausable(); err != nil {
				b.raft.close()
				b.kafka.close()
				t.Fatal(err)
			}
		}
		c.brokers = append(c.brokers, b)
	}
	for _, b := range c.brokers {
		if err := b.start(); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitReady()
	return c
}

// close stops every broker without controlled shutdowns (the last ones
// would wait for a quorum that is gone), then the proxies.
func (c *Cluster) close() {
	for _, b := range c.brokers {
		if err := b.stop(true); err != nil {
			c.t.Errorf("gregortest: broker %d: %v", b.id, err)
		}
	}
	for _, b := range c.brokers {
		b.raft.close()
		b.kafka.close()
		if b.client != nil {
			b.client.close()
		}
	}
}

// Broker returns broker i (0-based).
func (c *Cluster) Broker(i int) *Broker { return c.brokers[i] }

// Len returns the number of brokers.
func (c *Cluster) Len() int { return len(c.brokers) }

// Addrs returns every broker's client address, running or not, in order.
func (c *Cluster) Addrs() []string {
	var as []string
	for _, b := range c.brokers {
		as = append(as, b.Addr())
	}
	return as
}

// Seeds returns the client addresses of the running brokers.
func (c *Cluster) Seeds() []string {
	var as []string
	for _, b := range c.brokers {
		if b.Running() && !b.ControllerOnly() {
			as = append(as, b.Addr())
		}
	}
	return as
}

// Client returns a kgo client seeded with the running brokers, closed at
// cleanup.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(slices.Concat([]kgo.Opt{kgo.SeedBrokers(c.Seeds()...)}, c.opts.clientOpts, opts)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Stop shuts broker i down with a controlled shutdown (its leaderships
// move first) and waits for it.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if err := c.brokers[i].stop(false); err != nil {
		c.t.Fatalf("gregortest: stop broker %d: %v", c.brokers[i].id, err)
	}
}

// Kill stops broker i without a controlled shutdown, as if it had died:
// the cluster learns of it by its missed heartbeats.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	if err := c.brokers[i].stop(true); err != nil {
		c.t.Fatalf("gregortest: kill broker %d: %v", c.brokers[i].id, err)
	}
}

// Restart stops broker i if it runs (controlled shutdown) and starts it
// again on the same data directory and client port.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	b := c.brokers[i]
	if err := b.stop(false); err != nil {
		c.t.Fatalf("gregortest: stop broker %d: %v", b.id, err)
	}
	if err := b.start(); err != nil {
		c.t.Fatalf("gregortest: restart broker %d: %v", b.id, err)
	}
}

// Isolate cuts broker i off from the other brokers in both directions:
// Raft, replication and forwarded requests. Clients still reach it.
func (c *Cluster) Isolate(i int) {
	id := c.brokers[i].id
	c.mu.Lock()
	c.isolated[id] = true
	c.mu.Unlock()
	for _, b := range c.brokers {
		b.raft.cutLinks(id)
		b.kafka.cutLinks(id)
	}
}

// Heal undoes Isolate(i).
func (c *Cluster) Heal(i int) {
	c.mu.Lock()
	delete(c.isolated, c.brokers[i].id)
	c.mu.Unlock()
}

// DiskFaults returns the filesystem broker i's partition logs go through
// (storage's seam): Fail, SetSpace, CrashAfter and SetDelay on it make that
// disk fail or slow down while the broker runs, Heal makes it healthy
// again. It is the same across restarts of the broker. The metadata
// quorum's files do not go through it.
func (c *Cluster) DiskFaults(i int) *vfs.FaultFS {
	return c.brokers[i].fs
}

// cut reports whether traffic from node src to node dst is cut.
func (c *Cluster) cut(src, dst int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isolated[src] || c.isolated[dst] || c.cuts[[2]int32{src, dst}]
}

// WaitReady waits until every running broker sees every running broker
// registered and unfenced and knows the active controller.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	c.WaitFor("cluster ready", 60*time.Second, func() bool {
		want := len(c.Seeds())
		for _, b := range c.brokers {
			if !b.Running() || b.ControllerOnly() {
				continue // a controller-only node serves no Metadata
			}
			m, err := b.metadata()
			if err != nil || len(m.Brokers) != want || m.ControllerID < 0 {
				return false
			}
		}
		return true
	})
}

// WaitFor polls cond every 10ms until it holds, failing the test after
// timeout.
func (c *Cluster) WaitFor(what string, timeout time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("gregortest: timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ID returns the broker's node ID.
func (b *Broker) ID() int32 { return b.id }

// Addr returns the broker's client address (stable across restarts).
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.clientPort) }

// RaftAddr is the address other brokers reach its Raft transport at
// (its CONTROLLER listener as the quorum knows it).
func (b *Broker) RaftAddr() string { return b.raft.addr() }

// Dir returns the broker's data directory.
func (b *Broker) Dir() string { return b.dir }

// LogDirs returns the broker's log dirs: Dir, then those LogDirs added.
func (b *Broker) LogDirs() []string { return append([]string{b.dir}, b.extraDirs...) }

// Running reports whether the broker is started.
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv != nil
}

// Server returns the running broker's server, nil while stopped.
func (b *Broker) Server() *broker.Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv
}

// LogOffsets returns the log end offset and high watermark of the
// broker's replica of a partition; ok is false if it is stopped or has no
// log of the partition.
func (b *Broker) LogOffsets(topic string, partition int32) (logEnd, highWatermark int64, ok bool) {
	srv := b.Server()
	if srv == nil {
		return -1, -1, false
	}
	return srv.LogOffsets(topic, partition)
}

// LogStartOffset returns the log start offset of the broker's replica of
// a partition; ok is false if it is stopped or has no log of the partition.
func (b *Broker) LogStartOffset(topic string, partition int32) (int64, bool) {
	srv := b.Server()
	if srv == nil {
		return -1, false
	}
	return srv.LogStartOffset(topic, partition)
}

// Client returns a kgo client seeded with this broker only, closed at
// cleanup.
func (b *Broker) Client(opts ...kgo.Opt) *kgo.Client {
	b.c.t.Helper()
	cl, err := kgo.NewClient(slices.Concat([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, b.c.opts.clientOpts, opts)...)
	if err != nil {
		b.c.t.Fatal(err)
	}
	b.c.t.Cleanup(cl.Close)
	return cl
}

// Request sends req to this broker alone (no retries, no routing) on a
// fresh connection, at the newest version both sides support.
func (b *Broker) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	opts := slices.Concat([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, b.c.opts.clientOpts)
	if pr, ok := req.(*kmsg.ProduceRequest); ok {
		// kgo writes its own acks setting into Produce requests.
		switch pr.Acks {
		case 0:
			opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
		case 1:
			opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
		}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return cl.SeedBrokers()[0].Request(ctx, req)
}

func (b *Broker) metadata() (*kmsg.MetadataResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := b.Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// start starts the broker. Its Raft and inter-broker listeners take fresh
// ports behind the proxies, retried if another process takes one first.
func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return nil
	}
	var voters, observers []string
	for i, o := range b.c.brokers {
		if v := b.c.opts.voters; v > 0 && i >= v {
			observers = append(observers, fmt.Sprintf("%d@%s", o.id, o.raft.addr()))
		} else {
			voters = append(voters, fmt.Sprintf("%d@%s", o.id, o.raft.addr()))
		}
	}
	var (
		srv          *broker.Server
		raftAt, ibAt string
		err          error
	)
	for attempt := 0; attempt < 5; attempt++ {
		raftAt, ibAt, err = freeAddrs()
		if err != nil {
			return err
		}
		listenPort := b.clientPort
		if b.client != nil {
			listenPort = 0 // behind the client proxy, which holds clientPort
		}
		ov := append([]string{
			fmt.Sprintf("node.id=%d", b.id),
			fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,BROKER://%s,CONTROLLER://%s", listenPort, ibAt, raftAt),
			fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d,BROKER://%s", b.clientPort, b.kafka.addr()),
			"inter.broker.listener.name=BROKER",
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"controller.quorum.observers=" + strings.Join(observers, ","),
			"log.dirs=" + strings.Join(b.LogDirs(), ","),
		}, defaults...)
		if v := b.c.opts.voters; b.c.opts.brokerOnly && v > 0 && int(b.id) > v {
			ov = append(ov, "process.roles=broker")
		}
		if b.ControllerOnly() {
			ov = append(ov, "process.roles=controller")
		}
		if b.c.pki != nil {
			ov = append(ov, b.c.pki.overrides(b.id)...)
		}
		ov = append(ov, b.c.opts.overrides...)
		ov = append(ov, b.c.opts.perBroker[int(b.id-1)]...)
		cfg, lerr := broker.Load("", nil, ov)
		if lerr != nil {
			return lerr
		}
		cfg.Log.FS = b.fs
		var bopts []broker.Option
		if b.clock != nil {
			bopts = append(bopts, broker.WithClock(b.clock))
		}
		srv, err = broker.New(cfg, b.c.opts.log.With().Int32("node", b.id).Logger(), bopts...)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) && !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return err
	}
	if b.client != nil {
		b.client.setTarget(srv.Addr().String())
	} else {
		b.clientPort = srv.Addr().(*net.TCPAddr).Port
	}
	b.raft.setTarget(raftAt)
	b.kafka.setTarget(ibAt)
	ctx, cancel := context.WithCancel(context.Background())
	b.srv, b.cancel, b.done = srv, cancel, make(chan error, 1)
	go func() { b.done <- srv.Run(ctx) }()
	return nil
}

// stop stops the broker, without a controlled shutdown if kill, and waits
// for Run to return. Stopping a stopped broker does nothing.
func (b *Broker) stop(kill bool) error {
	b.mu.Lock()
	srv, cancel, done := b.srv, b.cancel, b.done
	b.srv, b.cancel = nil, nil
	b.mu.Unlock()
	if srv == nil {
		return nil
	}
	if kill {
		srv.SkipControlledShutdown()
	}
	cancel()
	defer b.raft.setTarget("")
	defer b.kafka.setTarget("")
	if b.client != nil {
		defer b.client.setTarget("")
	}
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		return fmt.Errorf("did not stop within 60s")
	}
}

// freeAddrs reserves two loopback addresses (closed again before use).
func freeAddrs() (string, string, error) {
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	defer l1.Close()
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	defer l2.Close()
	return l1.Addr().String(), l2.Addr().String(), nil
}

// Partition returns a partition's leader and ISR as this broker's metadata
// has them; ok is false if the broker is stopped or does not know it.
func (b *Broker) Partition(topic string, partition int32) (leader int32, isr []int32, ok bool) {
	if !b.Running() {
		return -1, nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := b.Request(ctx, req)
	if err != nil {
		return -1, nil, false
	}
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		if t.Topic == nil || *t.Topic != topic || t.ErrorCode != 0 {
			continue
		}
		for _, p := range t.Partitions {
			if p.Partition == partition && p.ErrorCode == 0 {
				return p.Leader, p.ISR, true
			}
		}
	}
	return -1, nil, false
}

// ControllerOnly reports whether b runs process.roles=controller
// (ControllerOnly).
func (b *Broker) ControllerOnly() bool {
	return b.c.opts.ctrlOnly && int(b.id) <= b.c.opts.voters
}
