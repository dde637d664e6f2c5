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

// redisOpenTimeout bounds connecting to Redis and checking the key at start.
const redisOpenTimeout = 10 * time.Second

// openRedis opens the Redis store. The key file must exist: every replica
// must use the same key, so none may invent its own.
func openRedis(c config.Storage, log *zap.Logger) (*redisstore.Store, error) {
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
	return redisstore.Open(ctx, c.Redis, key, log)
}

// sharedLimiter returns the regulation shared through st when st is the
// Redis store, nil (the engine's in-memory Regulator) otherwise.
func sharedLimiter(st store.Store, c regulation.Config) regulation.Limiter {
	if rs, ok := st.(*redisstore.Store); ok {
		return rs.Limiter(c)
	}
	return nil
}

// persistRegulation keeps reg's failures and bans in st when st is the
// embedded store, so that a restart forgets neither. Records that cannot
// be read are logged: those users' next attempts fail closed (503) until
// an operator repairs or removes the record.
func persistRegulation(st store.Store, reg *regulation.Regulator, log *zap.Logger) {
	d, ok := st.(*store.Dir)
	if !ok {
		return
	}
	err := reg.Persist(d, func(err error) {
		log.Error("regulation: saving a user's failures failed; a restart would forget them", zap.Error(err))
	})
	if err != nil {
		log.Error("regulation: reading saved failures and bans", zap.Error(err))
	}
}

// shareSessions puts the Redis store's sessions behind the in-memory
// cache when st is the Redis store.
func shareSessions(st store.Store, sessions *cache.Sessions) {
	if rs, ok := st.(*redisstore.Store); ok {
		sessions.SetShared(rs.Sessions())
	}
}
