package service

import (
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/telemetry"
)

// Version is the build's version, exported as mfa_authz_build_info; the
// command sets it before New.
var Version string

// ops is a service's production state: metrics, the decision log and
// readiness.
type ops struct {
	metrics *telemetry.Metrics
	dlog    *telemetry.DecisionLog

	// Readiness is the conjunction of three flags (see Service.Ready).
	storeOK  atomic.Bool
	draining atomic.Bool

	mu     sync.Mutex // orders health updates
	health *health.Server
}

// initOps builds the metrics and the decision log and installs them as the
// engine's observer.
func (s *Service) initOps() {
	o := &ops{metrics: telemetry.New(s.Sessions, Version)}
	o.dlog = telemetry.NewDecisionLog(s.Log, decisionMode(s.Config.Log), s.Config.Log.DecisionSampleRate, o.metrics.Counted())
	o.storeOK.Store(true)
	s.ops = o
	s.Engine.SetObserver(&telemetry.Observer{Metrics: o.metrics, Log: o.dlog})
	if p := s.Engine.Policy(); p != nil {
		o.metrics.PolicyLoaded(len(p.Rules()), time.Now())
	}
	s.updateReady()
}

// Metrics returns the service's Prometheus metrics.
func (s *Service) Metrics() *telemetry.Metrics { return s.ops.metrics }

// DecisionLog returns the service's decision log.
func (s *Service) DecisionLog() *telemetry.DecisionLog { return s.ops.dlog }

// SetStoreOK records whether the enrollment store is reachable. The
// service starts with the store OK (the embedded store is opened by New,
// and New fails if it cannot be). A store health probe (a ping loop for a
// networked store) calls SetStoreOK(false) when a ping fails and
// SetStoreOK(true) when it succeeds again; in between the service is not
// ready: /readyz answers 503 and gRPC health NOT_SERVING, so balancers
// route to healthy replicas. Checks are still decided meanwhile (failing
// closed on store errors). A failed ping should also be counted with
// Metrics().StoreError(telemetry.StoreOpPing). Safe for concurrent use.
func (s *Service) SetStoreOK(ok bool) {
	if s.ops.storeOK.Swap(ok) != ok {
		if ok {
			s.Log.Info("store reachable again; ready")
		} else {
			s.Log.Warn("store unreachable; not ready")
		}
	}
	s.updateReady()
}

// Ready reports whether the service should receive traffic: the store is
// reachable, a policy is loaded, and the service is not shutting down.
func (s *Service) Ready() bool {
	return s.ops.storeOK.Load() && !s.ops.draining.Load() && s.Engine.Policy() != nil
}

// startDraining makes readiness fail for good: the first step of a shutdown.
func (s *Service) startDraining() {
	s.ops.draining.Store(true)
	s.updateReady()
}

// attachHealth makes the gRPC health service follow readiness.
func (s *Service) attachHealth(hs *health.Server) {
	s.ops.mu.Lock()
	s.ops.health = hs
	s.ops.mu.Unlock()
	s.updateReady()
}

// updateReady publishes the readiness state to the gRPC health service
// (overall and per service name) and the metrics.
func (s *Service) updateReady() {
	s.ops.mu.Lock()
	defer s.ops.mu.Unlock()
	ready := s.Ready()
	s.ops.metrics.SetReady(ready)
	if s.ops.health == nil {
		return
	}
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ready {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.ops.health.SetServingStatus("", st)
	s.ops.health.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, st)
}

// decisionMode maps log.decisions, validated by package config, to the
// decision log's mode: telemetry knows nothing of the config file.
func decisionMode(c config.Log) telemetry.DecisionMode {
	switch c.Decisions {
	case config.DecisionsAll:
		return telemetry.DecisionsAll
	case config.DecisionsSampled:
		return telemetry.DecisionsSampled
	}
	return telemetry.DecisionsOff
}
