package broker

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testBroker is an in-process broker on 127.0.0.1:0.
type testBroker struct {
	t      testing.TB
	srv    *Server
	cfg    Config
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// startBroker starts a broker with a fresh data dir and the given
// overrides (key=value, as --override). It is stopped at test cleanup.
func startBroker(t testing.TB, overrides ...string) *testBroker {
	t.Helper()
	return startBrokerOpts(t, nil, overrides...)
}

// startBrokerOpts is startBroker with options for New (WithClock).
func startBrokerOpts(t testing.TB, opts []Option, overrides ...string) *testBroker {
	t.Helper()
	ov := append([]string{"listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + t.TempDir()}, overrides...)
	cfg, err := Load("", nil, ov)
	if err != nil {
		t.Fatal(err)
	}
	return startBrokerConfig(t, cfg, opts...)
}

func startBrokerConfig(t testing.TB, cfg Config, opts ...Option) *testBroker {
	t.Helper()
	lg := zerolog.Nop()
	if os.Getenv("GREGOR_TEST_LOG") != "" {
		lg = zerolog.New(os.Stderr).Level(zerolog.DebugLevel)
	}
	srv, err := New(cfg, lg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &testBroker{t: t, srv: srv, cfg: cfg, addr: srv.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- srv.Run(ctx) }()
	t.Cleanup(func() { b.stop() })
	return b
}

// stop shuts the broker down gracefully and waits for it; idempotent.
func (b *testBroker) stop() {
	b.t.Helper()
	if b.cancel == nil {
		return
	}
	b.cancel()
	b.cancel = nil
	select {
	case err := <-b.done:
		if err != nil {
			b.t.Errorf("broker stopped with: %v", err)
		}
	case <-time.After(30 * time.Second):
		b.t.Fatal("broker did not stop within 30s")
	}
}

// restart stops the broker and starts a new one on the same data dir and
// port.
func (b *testBroker) restart() *testBroker {
	b.t.Helper()
	b.stop()
	cfg := b.cfg
	cfg.Socket.Listeners = append([]Listener(nil), b.srv.cfg.Socket.Listeners...)
	cfg.Socket.AdvertisedListeners = append([]Listener(nil), b.srv.cfg.Socket.AdvertisedListeners...)
	return startBrokerConfig(b.t, cfg)
}

// client returns a kgo client for the broker, closed at cleanup.
func (b *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}

func (b *testBroker) admin() *kadm.Client {
	return kadm.NewClient(b.client())
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
