package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"gregor/broker/console"
)

// httpServer is the broker's HTTP side: /metrics (Prometheus), /healthz
// (the process serves), /readyz (registered and caught up, not shutting
// down) and the console at /. It is bound in New and served by Run.
type httpServer struct {
	lns []net.Listener
	srv *http.Server
	log zerolog.Logger
}

// newHTTPServer binds addrs, serving TLS with tlsCfg on those in https.
// ready reports readiness for /readyz; ha, if not nil, requires
// credentials for the console and /metrics.
func newHTTPServer(addrs, https []string, tlsCfg *tls.Config, m *metrics, ui http.Handler, ha *httpAuth, ready func() error, log zerolog.Logger) (*httpServer, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", ha.wrapMetrics(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, Timeout: 10 * time.Second})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("/", ha.wrap(ui))
	h := &httpServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, log: log}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			h.close()
			return nil, fmt.Errorf("broker: http listen %s: %w", a, err)
		}
		if slices.Contains(https, a) {
			ln = tls.NewListener(ln, tlsCfg)
		}
		h.lns = append(h.lns, ln)
	}
	return h, nil
}

// serve serves every listener until shutdown; it returns when they are
// all closed.
func (h *httpServer) serve(wg interface{ Go(func()) }) {
	for _, ln := range h.lns {
		h.log.Info().Str("addr", ln.Addr().String()).Msg("http listening")
		wg.Go(func() {
			if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				h.log.Warn().Err(err).Msg("http serve failed")
			}
		})
	}
}

// shutdown stops accepting and waits briefly for open requests.
func (h *httpServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.srv.Close()
	}
}

// close closes listeners that were never served.
func (h *httpServer) close() {
	for _, ln := range h.lns {
		ln.Close()
	}
}

// newConsoleHandler returns the console over the broker's parts, its
// pages filtered by the ACLs of ha's authenticated users.
func newConsoleHandler(src console.Source, ha *httpAuth, log zerolog.Logger) http.Handler {
	return console.New(src, ha.access(), log)
}
