package tokenizer

// candidate is a heap entry; before reports whether it is to be merged first.
type candidate[T any] interface {
	before(T) bool
}

// minHeap is a 4-ary heap of merge candidates, best first. It avoids the
// boxing of container/heap in the tokenizers' inner loops, and its shallow tree
// keeps sifting cheap on long texts.
type minHeap[T candidate[T]] struct {
	items []T
}

// init replaces the heap's contents with items, heapified in linear time.
func (h *minHeap[T]) init(items []T) {
	h.items = items
	for i := (len(items) - 2) / 4; i >= 0; i-- {
		h.down(i)
	}
}

func (h *minHeap[T]) len() int { return len(h.items) }

func (h *minHeap[T]) push(x T) {
	h.items = append(h.items, x)
	a := h.items
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !x.before(a[p]) {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = x
}

func (h *minHeap[T]) pop() T {
	a := h.items
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	h.items = a[:n]
	h.down(0)
	return top
}

// down moves item i down to its place.
func (h *minHeap[T]) down(i int) {
	a := h.items
	n := len(a)
	if i >= n {
		return
	}
	x := a[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for j := c + 1; j < c+4 && j < n; j++ {
			if a[j].before(a[m]) {
				m = j
			}
		}
		if !a[m].before(x) {
			break
		}
		a[i] = a[m]
		i = m
	}
	a[i] = x
}
