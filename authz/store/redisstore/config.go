package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is the `storage.redis` config section. The store is used when URL
// or Addresses is set; otherwise the embedded store is.
type Config struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// (TLS) for
	// one server. It excludes Addresses.
	URL string `yaml:"url"`
	// Addresses are host:port entries: the cluster's seed nodes (Cluster),
	// the sentinels (SentinelMaster), or one server.
	Addresses []string `yaml:"addresses"`
	// Cluster selects Redis Cluster over Addresses.
	Cluster bool `yaml:"cluster"`
	// SentinelMaster is the master's name; Addresses are then sentinels.
	SentinelMaster string `yaml:"sentinel_master"`
	// Username and Password authenticate (ACL); PasswordFile reads the
	// password from a file instead (trailing newline removed).
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// DB is the database number (not with Cluster).
	DB int `yaml:"db"`
	// TLS connects with TLS (implied by a rediss:// URL); CAFile adds a CA
	// bundle (PEM) to trust; ServerName overrides the name verified.
	TLS        bool   `yaml:"tls"`
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"tls_server_name"`
	// DialTimeout bounds connecting; ReadTimeout bounds each command's
	// read and write.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// PoolSize is the connection pool size per node; 0: 10 per CPU.
	PoolSize int `yaml:"pool_size"`
	// KeyPrefix starts every key, so deployments can share a server.
	KeyPrefix string `yaml:"key_prefix"`
}

// Defaults of Config.
const (
	DefaultDialTimeout = 2 * time.Second
	DefaultReadTimeout = 500 * time.Millisecond
	DefaultKeyPrefix   = "mfa-authz"
)

// DefaultConfig returns the defaults; the store stays off (no URL).
func DefaultConfig() Config {
	return Config{DialTimeout: DefaultDialTimeout, ReadTimeout: DefaultReadTimeout, KeyPrefix: DefaultKeyPrefix}
}

// Enabled reports whether the Redis store is configured.
func (c Config) Enabled() bool { return c.URL != "" || len(c.Addresses) > 0 }

// Validate reports every invalid field, naming its key under storage.redis.
func (c Config) Validate() error {
	if !c.Enabled() {
		if c.Cluster || c.SentinelMaster != "" || c.Password != "" || c.PasswordFile != "" || c.TLS || c.CAFile != "" {
			return errors.New("storage.redis: url or addresses must be set for the other storage.redis keys to apply")
		}
		return nil
	}
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("storage.redis.%s: "+format, append([]any{key}, args...)...))
	}
	if c.URL != "" {
		if len(c.Addresses) > 0 {
			add("url", "set url or addresses, not both")
		}
		if c.Cluster || c.SentinelMaster != "" {
			add("url", "cluster and sentinel_master take addresses, not a url")
		}
		if _, err := redis.ParseURL(c.URL); err != nil {
			// The error may quote the URL, which may hold a password.
			add("url", "want redis://host:port[/db] or rediss://host:port[/db]")
		}
	}
	for i, a := range c.Addresses {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			add(fmt.Sprintf("addresses[%d]", i), "want host:port, got %q", a)
		}
	}
	if len(c.Addresses) > 1 && !c.Cluster && c.SentinelMaster == "" {
		add("addresses", "several addresses need cluster: true or sentinel_master")
	}
	if c.Cluster && c.SentinelMaster != "" {
		add("cluster", "cluster and sentinel_master exclude each other")
	}
	if c.Cluster && c.DB != 0 {
		add("db", "Redis Cluster has only db 0, got %d", c.DB)
	}
	if c.DB < 0 {
		add("db", "must not be negative, got %d", c.DB)
	}
	if c.Password != "" && c.PasswordFile != "" {
		add("password_file", "set password or password_file, not both")
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			add("ca_file", "%v", err)
		}
	}
	if c.DialTimeout <= 0 {
		add("dial_timeout", "must be positive, got %s", c.DialTimeout)
	}
	if c.ReadTimeout <= 0 {
		add("read_timeout", "must be positive, got %s", c.ReadTimeout)
	}
	if c.PoolSize < 0 {
		add("pool_size", "must not be negative, got %d", c.PoolSize)
	}
	if c.KeyPrefix == "" || strings.ContainsAny(c.KeyPrefix, "{} \t\r\n") {
		add("key_prefix", "must be non-empty without braces or spaces, got %q", c.KeyPrefix)
	}
	return errors.Join(errs...)
}

// universalOptions turns c into the client's options.
func (c Config) universalOptions() (*redis.UniversalOptions, error) {
	o := &redis.UniversalOptions{
		Addrs:                 c.Addresses,
		IsClusterMode:         c.Cluster,
		MasterName:            c.SentinelMaster,
		Username:              c.Username,
		Password:              c.Password,
		DB:                    c.DB,
		DialTimeout:           c.DialTimeout,
		ReadTimeout:           c.ReadTimeout,
		WriteTimeout:          c.ReadTimeout,
		PoolSize:              c.PoolSize,
		ContextTimeoutEnabled: true,
		// Fail fast: a request waits for at most one retry, then is denied.
		MaxRetries:    1,
		DialerRetries: 1,
	}
	useTLS := c.TLS
	if c.URL != "" {
		u, err := redis.ParseURL(c.URL)
		if err != nil {
			return nil, errors.New("storage.redis.url: want redis://host:port[/db] or rediss://host:port[/db]")
		}
		o.Addrs = []string{u.Addr}
		o.DB = u.DB
		if u.Username != "" {
			o.Username = u.Username
		}
		if u.Password != "" {
			o.Password = u.Password
		}
		useTLS = useTLS || u.TLSConfig != nil
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("storage.redis.password_file: %w", err)
		}
		o.Password = strings.TrimRight(string(b), "\r\n")
	}
	if c.SentinelMaster != "" {
		// Sentinels usually share the servers' password.
		o.SentinelUsername, o.SentinelPassword = o.Username, o.Password
	}
	if useTLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
		if tc.ServerName == "" && len(o.Addrs) == 1 && !c.Cluster && c.SentinelMaster == "" {
			tc.ServerName, _, _ = net.SplitHostPort(o.Addrs[0])
		}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("storage.redis.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("storage.redis.ca_file: %s holds no PEM certificate", c.CAFile)
			}
			tc.RootCAs = pool
		}
		o.TLSConfig = tc
	}
	return o, nil
}
