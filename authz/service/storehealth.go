package service

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/telemetry"
)

// StoreHealthInterval is how often WatchStoreHealth pings the store, and
// the timeout of each ping.
const StoreHealthInterval = time.Second

// StoreHealthy reports whether the service's store answers now; a store
// that is not a store.Pinger always does.
func (s *Service) StoreHealthy(ctx context.Context) error {
	p, ok := s.Store.(store.Pinger)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, StoreHealthInterval)
	defer cancel()
	return p.Ping(ctx)
}

// WatchStoreHealth pings the store every StoreHealthInterval until ctx ends
// and reports the outcome with
// SetStoreOK: while the store does not answer the service is not ready
// (gRPC health NOT_SERVING, /readyz 503) and checks on protected routes are
// denied as unavailable by the engine; the first successful ping makes it
// ready again. It returns at once for a store that is not a store.Pinger.
func (s *Service) WatchStoreHealth(ctx context.Context) {
	if _, ok := s.Store.(store.Pinger); !ok {
		return
	}
	t := time.NewTicker(StoreHealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.StoreHealthy(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.Log.Debug("store ping failed", zap.Error(err))
			s.countPingError()
		}
		s.SetStoreOK(err == nil)
	}
}

// countPingError counts a failed ping in the store error metrics.
func (s *Service) countPingError() {
	if s.ops != nil && s.ops.metrics != nil {
		s.ops.metrics.StoreError(telemetry.StoreOpPing)
	}
}
