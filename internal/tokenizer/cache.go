package tokenizer

import "sync"

// maxCacheWords bounds a word cache; it is emptied when full.
const maxCacheWords = 1 << 16

// maxCachedWord is the longest word (in bytes) that is cached.
const maxCachedWord = 64

// wordCache remembers the ids of recently encoded words (BPE pre-tokenizer
// words, SentencePiece merge segments). It is safe for concurrent use.
type wordCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

// appendTo appends the cached ids of w to out and reports whether w was cached.
func (c *wordCache) appendTo(out []int, w string) ([]int, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	for _, id := range ids {
		out = append(out, int(id))
	}
	return out, ok
}

// put caches ids as the encoding of w.
func (c *wordCache) put(w string, ids []int) {
	v := make([]int32, len(ids))
	for i, id := range ids {
		v[i] = int32(id)
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCacheWords {
		c.m = make(map[string][]int32)
	}
	c.m[w] = v
	c.mu.Unlock()
}
