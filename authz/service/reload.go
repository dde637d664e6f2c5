package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"reflect"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/policy"
)

// Reloader re-reads the config file while the service runs: when its
// content changes (polled) and when asked (SIGHUP). A reload applies only
// what can change safely under load:
//
//   - policy (the whole section: rules, anonymous, case_insensitive, …):
//     compiled, then swapped atomically with Engine.SetPolicy; checks
//     already running finish with the old policy;
//   - log.level (when the service's Level is set);
//   - log.decisions and log.decision_sample_rate.
//
// Every other key (listeners, TLS file paths, storage, identity, mfa,
// profile, totp, regulation, cache, api, codes, delivery, limits) is read
// at start only: a change to it is logged as needing a restart and not
// applied. TLS certificate files reload on their own (authz/tlsreload).
// A risky setting (config.Warnings) that a reload brings in is logged at
// WARN, naming its key, as at start.
// A file that does not parse or validate is rejected as a whole: it is
// logged, counted (mfa_authz_policy_reloads_total{result="failure"}) and
// the running policy keeps serving.
type Reloader struct {
	svc  *Service
	path string

	mu      sync.Mutex
	applied *config.Config    // the config whose reloadable keys are in force
	seen    [sha256.Size]byte // the file content last tried, good or bad
	unread  bool              // the last poll could not read the file
	// warned is the config warnings of the last file accepted (or of the
	// config the service started with): a reload logs only the new ones.
	warned map[config.Warning]bool
}

// NewReloader returns a reloader of the config file at path, which the
// service was built from.
func (s *Service) NewReloader(path string) *Reloader {
	r := &Reloader{svc: s, path: path, applied: s.Config, warned: warningSet(s.Config)}
	if data, err := os.ReadFile(path); err == nil {
		r.seen = sha256.Sum256(data)
	}
	return r
}

// Reload reads the file and applies it even if it did not change.
func (r *Reloader) Reload() error {
	_, err := r.reload(true)
	return err
}

// reload applies the file if forced or if its content changed since the
// last try; changed reports whether it tried.
func (r *Reloader) reload(force bool) (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	data, err := os.ReadFile(r.path)
	if err != nil {
		if !force && r.unread {
			return false, err // reported once, not every poll
		}
		r.unread = true
		return r.failed(fmt.Errorf("config: %w", err))
	}
	r.unread = false
	sum := sha256.Sum256(data)
	if !force && bytes.Equal(sum[:], r.seen[:]) {
		return false, nil
	}
	r.seen = sum
	c, err := config.Parse(data)
	if err != nil {
		return r.failed(fmt.Errorf("%s: %w", r.path, err))
	}
	pol, err := policy.Compile(c.Policy)
	if err != nil { // Parse compiled it already; kept for safety
		return r.failed(fmt.Errorf("%s: %w", r.path, err))
	}
	var level zapcore.Level
	if r.svc.Level != nil {
		if level, err = zapcore.ParseLevel(c.Log.Level); err != nil {
			return r.failed(fmt.Errorf("%s: log.level: %w", r.path, err))
		}
	}
	s := r.svc
	s.Engine.SetPolicy(pol)
	if s.Level != nil {
		s.Level.SetLevel(level)
	}
	s.ops.dlog.Configure(decisionMode(c.Log), c.Log.DecisionSampleRate)
	s.ops.metrics.Reloaded(true)
	s.ops.metrics.PolicyLoaded(len(pol.Rules()), time.Now())
	s.updateReady()
	if keys := restartKeys(r.applied, c); len(keys) > 0 {
		s.Log.Warn("config reloaded, but these keys change only on restart", zap.Strings("keys", keys))
	}
	// A risky setting the reload brings in is logged like at start; keys
	// read at start only were named above as waiting for a restart.
	for _, w := range c.Warnings() {
		if !r.warned[w] {
			logWarning(s.Log, w)
		}
	}
	r.warned = warningSet(c)
	old := r.applied
	next := *old
	next.Policy, next.Log.Level, next.Log.Decisions, next.Log.DecisionSampleRate =
		c.Policy, c.Log.Level, c.Log.Decisions, c.Log.DecisionSampleRate
	r.applied = &next
	s.Log.Info("config reloaded", zap.Int("rules", len(pol.Rules())), zap.String("log_level", c.Log.Level),
		zap.String("decisions", c.Log.Decisions))
	return true, nil
}

func warningSet(c *config.Config) map[config.Warning]bool {
	set := map[config.Warning]bool{}
	for _, w := range c.Warnings() {
		set[w] = true
	}
	return set
}

func (r *Reloader) failed(err error) (bool, error) {
	r.svc.ops.metrics.Reloaded(false)
	r.svc.Log.Error("config reload rejected; the running policy keeps serving", zap.Error(err))
	return true, err
}

// restartKeys names the top-level sections (and log.format) of next that
// differ from cur in keys a reload does not apply.
func restartKeys(cur, next *config.Config) []string {
	a, b := *cur, *next
	a.Policy, b.Policy = policy.Config{}, policy.Config{}
	a.Log.Level, b.Log.Level = "", ""
	a.Log.Decisions, b.Log.Decisions = "", ""
	a.Log.DecisionSampleRate, b.Log.DecisionSampleRate = 0, 0
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var keys []string
	for i := 0; i < va.NumField(); i++ {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			tag := va.Type().Field(i).Tag.Get("yaml")
			if tag == "log" {
				tag = "log.format"
			}
			keys = append(keys, tag)
		}
	}
	return keys
}

// Watch polls the file every interval and reloads it when its content
// changed, and reloads it whenever hup delivers (SIGHUP), until ctx ends.
// hup may be nil.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = r.reload(false)
		case <-hup:
			r.svc.Log.Info("SIGHUP: reloading the config", zap.String("config", r.path))
			_ = r.Reload()
		}
	}
}
