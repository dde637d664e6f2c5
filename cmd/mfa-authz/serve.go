package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/service"
)

func serveCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve --config FILE", stderr)
	cfgPath := fs.String("config", "", "config file (YAML); required")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		return usageErr("serve: --config FILE is required and takes no arguments")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log, level, err := service.NewLoggerWithLevel(cfg.Log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	service.Version = version
	svc, err := service.New(cfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	svc.Level = &level
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// The policy and the log settings reload when the file changes
	// (polled every second) and on SIGHUP.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go svc.NewReloader(*cfgPath).Watch(ctx, time.Second, hup)
	log.Info("starting", zap.String("version", version), zap.String("config", *cfgPath))
	return svc.Run(ctx, service.Listeners{}, nil)
}
