package service

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/internal/tlsreload"
)

// opsHandler serves liveness, readiness and metrics on the HTTP listener.
func (s *Service) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		// Live: the process answers. Readiness is /readyz.
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET "+config.MetricsPath, s.ops.metrics.Handler())
	return mux
}

// certPollInterval is how often the TLS files are checked for changes.
var certPollInterval = time.Second

// startTLS loads server.tls and keeps it fresh until ctx ends.
func (s *Service) startTLS(ctx context.Context) (*tlsreload.Reloader, error) {
	t := s.Config.Server.TLS
	r, err := tlsreload.New(tlsreload.Files{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile})
	if err != nil {
		return nil, err
	}
	s.ops.metrics.CertificateLoaded(true, r.Certificate().NotAfter)
	r.OnLoad = func(notAfter time.Time, err error) {
		if err != nil {
			s.ops.metrics.CertificateLoaded(false, notAfter)
			s.Log.Error("TLS certificate reload failed; the previous certificate keeps serving", zap.Error(err))
			return
		}
		s.ops.metrics.CertificateLoaded(true, notAfter)
		s.Log.Info("TLS certificate reloaded", zap.Time("not_after", notAfter))
	}
	go r.Watch(ctx, certPollInterval)
	s.Log.Info("serving TLS", zap.Bool("mutual", t.ClientCAFile != ""), zap.Time("not_after", r.Certificate().NotAfter))
	return r, nil
}
