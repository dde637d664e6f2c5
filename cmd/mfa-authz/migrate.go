package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/store/redisstore"
)

// migrateCmd copies enrollments (with their TOTP replay guards) from an
// embedded store directory to Redis. Records name users by an HMAC, so the
// user id comes from inside the encrypted record; records written before
// ids were stored there are found through --users.
func migrateCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "migrate --from DIR --to REDIS_URL --config FILE [--users FILE] [--force]", stderr)
	from := fs.String("from", "", "embedded store directory to read (storage.path); required")
	to := fs.String("to", "", "redis:// or rediss:// URL to write; default: storage.redis of the config")
	cfgPath := fs.String("config", "", "config file (its storage.key_file and storage.redis); required")
	usersPath := fs.String("users", "", "file of user ids, one a line, for records written before user ids were stored in them")
	force := fs.Bool("force", false, "replace enrollments that already exist in Redis")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *from == "" || *cfgPath == "" || fs.NArg() > 0 {
		return usageErr("migrate: --from DIR and --config FILE are required and it takes no arguments")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	rc := cfg.Storage.Redis
	if *to != "" {
		rc = redisstore.DefaultConfig()
		rc.URL = *to
		rc.Username, rc.Password, rc.PasswordFile = cfg.Storage.Redis.Username, cfg.Storage.Redis.Password, cfg.Storage.Redis.PasswordFile
		rc.CAFile, rc.ServerName, rc.KeyPrefix = cfg.Storage.Redis.CAFile, cfg.Storage.Redis.ServerName, cfg.Storage.Redis.KeyPrefix
	}
	if !rc.Enabled() {
		return usageErr("migrate: give --to REDIS_URL or set storage.redis in the config")
	}
	var users []string
	if *usersPath != "" {
		data, err := os.ReadFile(*usersPath)
		if err != nil {
			return fmt.Errorf("migrate: --users: %w", err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			if u := strings.TrimRight(sc.Text(), "\r"); u != "" {
				users = append(users, u)
			}
		}
	}
	key, err := store.LoadKey(cfg.Storage.KeyFile)
	if err != nil {
		return err
	}
	defer clear(key)
	if _, err := os.Stat(*from); err != nil {
		return fmt.Errorf("migrate: --from: %w", err)
	}
	src, err := store.OpenDir(*from, key)
	if err != nil {
		return err
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log, err := service.NewLogger(config.Log{Level: "warn", Format: "console"})
	if err != nil {
		return err
	}
	dst, err := redisstore.Open(ctx, rc, key, log)
	if err != nil {
		return err
	}
	defer dst.Close()

	var copied, skipped, unnamed, broken int
	err = src.Export(ctx, users, func(x store.Exported) error {
		switch {
		case x.Err != nil:
			broken++
			fmt.Fprintf(stderr, "skipped %s: %v\n", x.Name, x.Err)
			return nil
		case x.User == "":
			unnamed++
			fmt.Fprintf(stderr, "skipped %s: the record holds no user id (written by an older version); list the user in --users\n", x.Name)
			return nil
		}
		err := dst.PutEnrollment(ctx, x.User, x.Enrollment, *force)
		if errors.Is(err, store.ErrExists) {
			skipped++
			fmt.Fprintf(stderr, "skipped user %q: already enrolled in Redis (--force replaces)\n", x.User)
			return nil
		}
		if err != nil {
			return fmt.Errorf("migrate: user %q: %w", x.User, err)
		}
		if x.HasStep {
			if _, err := dst.UseTOTPStep(ctx, x.User, x.LastStep); err != nil {
				return fmt.Errorf("migrate: user %q: replay guard: %w", x.User, err)
			}
		}
		copied++
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Copied %d enrollments; skipped %d existing, %d without user id, %d unreadable.\n", copied, skipped, unnamed, broken)
	if unnamed > 0 || broken > 0 {
		return errors.New("migrate: some enrollments were not copied (see above)")
	}
	return nil
}
