package service

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mfa-authz/mfa-authz/authz/config"
)

// NewLoggerWithLevel builds the zap logger the log section asks for and
// returns its level, which a config reload may change (log.level).
func NewLoggerWithLevel(c config.Log) (*zap.Logger, zap.AtomicLevel, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, zap.AtomicLevel{}, fmt.Errorf("log.level: %w", err)
	}
	zc := zap.NewProductionConfig()
	if c.Format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.Sampling = nil
	l, err := zc.Build()
	if err != nil {
		return nil, zap.AtomicLevel{}, err
	}
	return l, zc.Level, nil
}
