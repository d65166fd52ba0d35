package kernel

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Pool is a fixed set of persistent worker goroutines that split loops over
// ranges of indices. The goroutine that calls a method of the pool works too:
// a pool of n threads runs n-1 workers.
//
// A loop is cut into chunks that the caller and the workers claim one at a
// time, so a worker that the operating system has not scheduled yet (the
// machine may be shared) does not hold the caller up: the caller runs the
// chunks nobody has claimed. After a loop, idle workers spin for a short
// while (when GOMAXPROCS leaves room for them) so that the next loop of a
// tight sequence starts without a scheduler round trip, then park.
//
// A Pool is safe for concurrent use, but its loops run one at a time: a call
// made while another loop is running, including a nested call from inside a
// loop, runs on the calling goroutine alone. A nil *Pool is a valid pool of
// one thread.
type Pool struct {
	threads int
	spin    time.Duration

	mu  sync.Mutex // held by the goroutine whose loop the workers run
	gen uint64     // generation of the current loop, under mu

	// seq is the generation of the last loop announced to the workers.
	seq atomic.Uint64
	// claim is generation<<32 | chunks<<16 | next unclaimed chunk.
	claim   atomic.Uint64
	done    atomic.Int32 // chunks of the current loop finished
	waiting atomic.Bool  // the caller is parked on finished
	// finished carries one token when the last chunk ends while the caller
	// is parked.
	finished chan struct{}
	workers  []*worker
	exited   sync.WaitGroup
	closed   atomic.Bool

	// The current loop, written under mu before claim and seq; read by a
	// worker only after it has claimed a chunk of that loop.
	n       int
	task    task
	panicky atomic.Pointer[workerPanic]

	fn      funcTask
	mv      matvecTask
	mm      matmulTask
	scratch [][]float32 // per-thread scratch, indexed by thread number
}

type worker struct {
	sleeping atomic.Bool
	wake     chan struct{}
}

type workerPanic struct{ v any }

// task is a loop cut into chunks: run handles [lo, hi) on thread id.
type task interface {
	run(p *Pool, id, lo, hi int)
}

type funcTask struct{ fn func(lo, hi int) }

func (t *funcTask) run(_ *Pool, _, lo, hi int) { t.fn(lo, hi) }

// NewPool starts a pool of the given number of threads (the caller counts as
// one); threads <= 0 means runtime.NumCPU().
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	threads = min(threads, 1<<14) // chunks (up to 2 per thread) fit in 16 bits
	p := &Pool{
		threads:  threads,
		finished: make(chan struct{}, 1),
		scratch:  make([][]float32, threads),
	}
	if runtime.GOMAXPROCS(0) >= threads {
		p.spin = 100 * time.Microsecond
	}
	for i := 1; i < threads; i++ {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		p.exited.Add(1)
		go p.work(i, w)
	}
	return p
}

// Threads returns the number of threads of the pool (1 for a nil pool).
func (p *Pool) Threads() int {
	if p == nil {
		return 1
	}
	return p.threads
}

// Close stops the workers. The pool stays usable: later calls run on the
// calling goroutine alone. Close is idempotent.
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Swap(true) {
		return
	}
	p.gen++
	p.seq.Store(p.gen)
	for _, w := range p.workers {
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	p.exited.Wait()
}

// For calls fn on contiguous sub-ranges that together cover [0, n) exactly
// once, in parallel over the pool's threads, and returns when all are done.
// Each sub-range holds at least grain indices (grain < 1 counts as 1), so
// fn runs inline on the caller when n < 2·grain or the pool has one thread.
// fn must be safe to call concurrently on disjoint ranges. A panic in fn is
// passed on to the caller of For once every sub-range has ended.
func (p *Pool) For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	c := min(p.Threads(), n/grain)
	if c <= 1 || !p.mu.TryLock() {
		fn(0, n)
		return
	}
	defer p.mu.Unlock()
	p.fn.fn = fn
	p.run(&p.fn, n, c)
	p.fn.fn = nil
}

// acquire takes the pool for a kernel loop. It reports false when the pool is
// busy (or nil), in which case the caller must run alone without pool scratch.
func (p *Pool) acquire() bool {
	return p != nil && p.mu.TryLock()
}

// buf returns the scratch buffer of thread id, grown to at least n floats.
// id < 0 (no pool) allocates.
func (p *Pool) buf(id, n int) []float32 {
	if id < 0 {
		return make([]float32, n)
	}
	if len(p.scratch[id]) < n {
		p.scratch[id] = make([]float32, n)
	}
	return p.scratch[id][:n]
}

// scratch64 returns n floats of thread id's scratch (fresh memory when p is
// nil or id < 0) that start on a 64-byte (cache line) boundary.
func scratch64(p *Pool, id, n int) []float32 {
	var buf []float32
	if p == nil || id < 0 {
		buf = make([]float32, n+16)
	} else {
		buf = p.buf(id, n+16)
	}
	if a := uintptr(unsafe.Pointer(&buf[0])) % 64; a != 0 {
		buf = buf[(64-a)/4:]
	}
	return buf[:n]
}

// run executes t over [0, n) in c ≥ 2 chunks; the caller holds mu.
func (p *Pool) run(t task, n, c int) {
	if p.closed.Load() {
		t.run(p, 0, 0, n)
		return
	}
	p.gen = (p.gen + 1) & 0xffffffff
	p.task, p.n = t, n
	p.done.Store(0)
	p.claim.Store(p.gen<<32 | uint64(c)<<16)
	p.seq.Store(p.gen)
	for _, w := range p.workers[:min(c, p.threads)-1] {
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	p.participate(0, p.gen)
	p.wait(int32(c))
	p.task = nil
	if wp := p.panicky.Swap(nil); wp != nil {
		panic(fmt.Sprintf("kernel: panic in pool loop: %v", wp.v))
	}
}

// participate claims and runs chunks of loop gen on thread id until none is
// left. It reads the loop only after a successful claim: until that chunk is
// done the caller cannot start another loop.
func (p *Pool) participate(id int, gen uint64) {
	for {
		v := p.claim.Load()
		c, i := int(v>>16&0xffff), int(v&0xffff)
		if v>>32 != gen || i >= c {
			return
		}
		if !p.claim.CompareAndSwap(v, v+1) {
			continue
		}
		p.runChunk(id, i*p.n/c, (i+1)*p.n/c)
		if p.done.Add(1) == int32(c) && p.waiting.CompareAndSwap(true, false) {
			p.finished <- struct{}{}
		}
	}
}

func (p *Pool) runChunk(id, lo, hi int) {
	defer func() {
		if r := recover(); r != nil {
			p.panicky.CompareAndSwap(nil, &workerPanic{r})
		}
	}()
	p.task.run(p, id, lo, hi)
}

// wait returns when all c chunks of the current loop are done.
func (p *Pool) wait(c int32) {
	if p.done.Load() == c {
		return
	}
	if p.spin > 0 {
		deadline := time.Now().Add(p.spin)
		for i := 1; p.done.Load() != c; i++ {
			spinPause()
			if i%256 == 0 && time.Now().After(deadline) {
				break
			}
		}
		if p.done.Load() == c {
			return
		}
	}
	p.waiting.Store(true)
	if p.done.Load() == c && p.waiting.CompareAndSwap(true, false) {
		return
	}
	<-p.finished
}

// work is the loop of worker id (1 ≤ id < threads).
func (p *Pool) work(id int, w *worker) {
	defer p.exited.Done()
	var last uint64
	for {
		last = p.next(w, last)
		if p.closed.Load() {
			return
		}
		p.participate(id, last)
	}
}

// next waits for a seq value other than last: it spins for p.spin, then parks.
func (p *Pool) next(w *worker, last uint64) uint64 {
	if p.spin > 0 {
		deadline := time.Now().Add(p.spin)
		for i := 1; ; i++ {
			if s := p.seq.Load(); s != last {
				return s
			}
			spinPause()
			if i%256 == 0 && time.Now().After(deadline) {
				break
			}
		}
	}
	w.sleeping.Store(true)
	if s := p.seq.Load(); s != last {
		if !w.sleeping.CompareAndSwap(true, false) {
			<-w.wake // the caller saw us asleep and sent a token: take it
		}
		return s
	}
	<-w.wake
	return p.seq.Load()
}
