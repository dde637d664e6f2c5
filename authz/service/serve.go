package service

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/mfa-authz/mfa-authz/authz/extauthz"
	"github.com/mfa-authz/mfa-authz/authz/forwardauth"
)

// Listeners are the service's bound sockets. Run binds them itself when
// they are nil; tests pass their own to learn the ports.
type Listeners struct {
	GRPC, HTTP net.Listener
}

// Run serves until ctx ends, then drains in-flight checks within
// server.shutdown_timeout. ready, when non-nil, is called with the bound
// addresses once the service answers SERVING.
func (s *Service) Run(ctx context.Context, l Listeners, ready func(Listeners)) error {
	cfg := s.Config
	var err error
	if l.GRPC == nil {
		if l.GRPC, err = net.Listen("tcp", cfg.Server.GRPCAddress); err != nil {
			return fmt.Errorf("server.grpc_address: %w", err)
		}
	}
	defer l.GRPC.Close()
	if l.HTTP == nil && cfg.Server.HTTPAddress != "" {
		if l.HTTP, err = net.Listen("tcp", cfg.Server.HTTPAddress); err != nil {
			return fmt.Errorf("server.http_address: %w", err)
		}
	}
	gopts := []grpc.ServerOption{
		// Envoy keeps long-lived HTTP/2 connections and may ping them.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if cfg.Server.TLS.Enabled() {
		certs, err := s.startTLS(ctx)
		if err != nil {
			if l.HTTP != nil {
				l.HTTP.Close()
			}
			return err
		}
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(certs.ServerConfig("h2"))))
		if l.HTTP != nil {
			l.HTTP = tls.NewListener(l.HTTP, certs.ServerConfig("http/1.1"))
		}
	}
	gs := grpc.NewServer(gopts...)
	authv3.RegisterAuthorizationServer(gs, extauthz.New(s.Engine, s.Log))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)

	errc := make(chan error, 2)
	var hsrv *http.Server
	if l.HTTP != nil {
		// Forward-auth and Envoy HTTP ext_authz checks go to the same engine
		// as gRPC checks; every other path falls through to the health mux.
		handler := forwardauth.New(s.Engine, s.Log, forwardauth.Options{
			Path:        cfg.Server.ForwardAuthPath,
			EnvoyPrefix: cfg.Server.EnvoyHTTPPrefix,
			Next:        s.apiHandler(s.pageHandler(s.opsHandler())),
		})
		hsrv = &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second,
			// Check subrequests are small and quick: bound every phase.
			ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		go func() { errc <- hsrv.Serve(l.HTTP) }()
	}
	go func() { errc <- gs.Serve(l.GRPC) }()
	go s.sweep(ctx)
	s.attachHealth(hs) // SERVING while ready (ops.go)
	// Not ready while a shared store (Redis) is down (storehealth.go).
	go s.WatchStoreHealth(ctx)
	// Sessions the CLI ended in the embedded store (revocations.go).
	go s.WatchRevocations(ctx)
	httpAddr := ""
	if l.HTTP != nil {
		httpAddr = l.HTTP.Addr().String()
	}
	s.Log.Info("mfa-authz serving",
		zap.String("grpc_address", l.GRPC.Addr().String()),
		zap.String("http_address", httpAddr),
		zap.String("profile", cfg.MFA.Profile),
		zap.Int("rules", len(s.Engine.Policy().Rules())))
	if ready != nil {
		ready(l)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		gs.Stop()
		if hsrv != nil {
			hsrv.Close()
		}
		return fmt.Errorf("listener failed: %w", err)
	}
	s.Log.Info("shutting down", zap.Duration("timeout", cfg.Server.ShutdownTimeout),
		zap.Duration("drain_delay", cfg.Server.DrainDelay))
	// The whole shutdown, drain delay included, fits in shutdown_timeout.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	// Readiness fails first: /readyz answers 503 and gRPC health
	// NOT_SERVING so balancers stop sending, while the listeners still
	// accept for drain_delay; then in-flight checks finish.
	s.startDraining()
	hs.Shutdown()
	if d := cfg.Server.DrainDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-sctx.Done():
		}
		t.Stop()
	}
	done := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(done)
	}()
	if hsrv != nil {
		_ = hsrv.Shutdown(sctx)
	}
	select {
	case <-done:
	case <-sctx.Done():
		s.Log.Warn("shutdown timeout: closing remaining connections")
		gs.Stop()
	}
	s.Log.Info("stopped")
	return nil
}

// sweep periodically forgets settled regulation entries to bound memory.
func (s *Service) sweep(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.Regulator.Sweep(now)
		}
	}
}
