package courier

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// A CacheStore keeps the entries of a session's HTTP cache (see [Cache]):
// opaque values under keys that name no secret (the identity in a key is a
// hash). [NewMemoryCache] keeps them in the process; a store in Redis
// (package redisstore) lets a fleet share them. A store must be safe for
// concurrent use. Its errors never fail a request: a Get that fails is a
// miss, a Set or Delete that fails is counted in Stats.Cache.StoreErrors
// and logged.
type CacheStore interface {
	// Get returns the value stored under key, or ErrCacheMiss.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key for ttl (0: as long as the store
	// likes); the store may drop it sooner. The session does not change
	// value afterwards.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key, if present.
	Delete(ctx context.Context, key string) error
}

// ErrCacheMiss is what a [CacheStore]'s Get returns for a key it does not
// hold.
var ErrCacheMiss = errors.New("courier: cache miss")

// NewMemoryCache returns a [CacheStore] in memory that holds at most
// maxBytes of values (keys included), dropping the least recently used
// entries to make room; a value larger than that is not kept. Expired
// entries are dropped when they are looked up or need the room.
func NewMemoryCache(maxBytes int64) CacheStore {
	return &memoryCache{max: maxBytes, items: map[string]*list.Element{}, now: time.Now}
}

type memoryCache struct {
	max int64
	now func() time.Time

	mu    sync.Mutex
	size  int64
	lru   list.List // front: most recently used *memoryItem
	items map[string]*list.Element
}

type memoryItem struct {
	key     string
	value   []byte
	expires time.Time // zero: never
}

func (m *memoryItem) cost() int64 { return int64(len(m.key) + len(m.value)) }

func (m *memoryCache) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.items[key]
	if !ok {
		return nil, ErrCacheMiss
	}
	it := e.Value.(*memoryItem)
	if !it.expires.IsZero() && !m.now().Before(it.expires) {
		m.remove(e)
		return nil, ErrCacheMiss
	}
	m.lru.MoveToFront(e)
	return it.value, nil
}

func (m *memoryCache) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	it := &memoryItem{key: key, value: value}
	if ttl > 0 {
		it.expires = m.now().Add(ttl)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.items[key]; ok {
		m.remove(e)
	}
	if it.cost() > m.max {
		return nil
	}
	for m.size+it.cost() > m.max {
		m.remove(m.lru.Back())
	}
	m.items[key] = m.lru.PushFront(it)
	m.size += it.cost()
	return nil
}

func (m *memoryCache) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.items[key]; ok {
		m.remove(e)
	}
	return nil
}

func (m *memoryCache) remove(e *list.Element) {
	it := m.lru.Remove(e).(*memoryItem)
	delete(m.items, it.key)
	m.size -= it.cost()
}
