package service

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/store/redisstore"
	"github.com/mfa-authz/mfa-authz/cache"
)

// OpenStore opens the store the storage section configures: Redis when
// storage.redis is set (see openRedis), else the embedded store, creating
// its key on first use. It is the one place that chooses a backend: the
// server and every CLI command on the configured store open it here, and
// the rest of the wiring asks the store for its capabilities
// (store.SharedSessions and the like), never for its type.
func OpenStore(c config.Storage, log *zap.Logger) (store.Store, error) {
	if !c.AllowReadableKeyFile {
		if err := store.CheckKeyFileMode(c.KeyFile); err != nil {
			return nil, err
		}
	}
	if c.Redis.Enabled() {
		return openRedis(c, log)
	}
	key, created, err := store.LoadOrCreateKey(c.KeyFile)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created a new store key; back it up and keep it apart from the data",
			zap.String("key_file", c.KeyFile))
	}
	for _, w := range store.KeyFileWarnings(c.KeyFile, c.Path) {
		log.Warn(w, zap.String("key_file", c.KeyFile))
	}
	return store.OpenDir(c.Path, key)
}

// redisOpenTimeout bounds connecting to Redis and checking the key at start.
const redisOpenTimeout = 10 * time.Second

// openRedis opens the Redis store. The key file must exist: every replica
// must use the same key, so none may invent its own.
func openRedis(c config.Storage, log *zap.Logger) (store.Store, error) {
	key, err := store.LoadKey(c.KeyFile)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	for _, w := range store.KeyFileWarnings(c.KeyFile, c.Path) {
		log.Warn(w, zap.String("key_file", c.KeyFile))
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisOpenTimeout)
	defer cancel()
	rs, err := redisstore.Open(ctx, c.Redis, key, log)
	if err != nil {
		// A nil *redisstore.Store must not become a non-nil store.Store.
		return nil, err
	}
	return rs, nil
}

// sharedLimiter returns the regulation shared through st when st is a
// store.SharedLimiter (Redis), nil (the engine's in-memory Regulator)
// otherwise.
func sharedLimiter(st store.Store, c regulation.Config) regulation.Limiter {
	if sl, ok := st.(store.SharedLimiter); ok {
		return sl.Limiter(c)
	}
	return nil
}

// persistRegulation keeps reg's failures and bans in st when st is a
// store.RegulationJournal (the embedded store), so that a restart forgets
// neither. Records that cannot be read are logged: those users' next
// attempts fail closed (503) until an operator repairs or removes the
// record.
func persistRegulation(st store.Store, reg *regulation.Regulator, log *zap.Logger) {
	j, ok := st.(store.RegulationJournal)
	if !ok {
		return
	}
	err := reg.Persist(j, func(err error) {
		log.Error("regulation: saving a user's failures failed; a restart would forget them", zap.Error(err))
	})
	if err != nil {
		log.Error("regulation: reading saved failures and bans", zap.Error(err))
	}
}

// shareSessions puts st's shared sessions behind the in-memory cache when
// st is a store.SharedSessions (Redis).
func shareSessions(st store.Store, sessions *cache.Sessions) {
	if ss, ok := st.(store.SharedSessions); ok {
		sessions.SetShared(ss.Sessions())
	}
}
