package eval

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/model"
)

// Exec says how the evaluation spreads its work over the cores.
//
// A small model does too little arithmetic per matrix for a split across
// threads to pay off, so it is run as Workers independent sequences at once
// (windows, prompts, task items), each on one thread. A large one runs one
// sequence at a time with every matrix split over Pool. A unit's numbers are
// the same whatever the number of workers, and results are gathered in input
// order, so an evaluation is deterministic.
type Exec struct {
	Pool    *kernel.Pool // used when Workers ≤ 1 (nil: one thread)
	Workers int          // independent single-thread workers; ≤ 1 runs on Pool
}

// SmallModelBytes is the weight size per token below which NewExec runs
// independent sequences in parallel rather than splitting each matrix.
const SmallModelBytes = 16 << 20

// NewExec chooses how to run m on threads cores (all of them when threads ≤ 0),
// using pool for large models.
func NewExec(m *model.Model, pool *kernel.Pool, threads int) Exec {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	if m.WeightBytesPerToken() < SmallModelBytes && threads > 1 {
		return Exec{Workers: threads}
	}
	return Exec{Pool: pool, Workers: 1}
}

// threads is the number of cores e uses.
func (e Exec) threads() int {
	if e.Workers > 1 {
		return e.Workers
	}
	return e.Pool.Threads()
}

// each calls fn(w, pool, i) for i in 0..n-1, on e.Workers goroutines (w is
// the worker's index, for per-worker state) or on the calling goroutine with
// e.Pool. It stops at the first error or when ctx is done. progress, if not
// nil, is called (never concurrently) after each unit with the count done.
func (e Exec) each(ctx context.Context, n int, fn func(w int, pool *kernel.Pool, i int) error, progress func(done, total int)) error {
	workers := min(max(e.Workers, 1), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(0, e.Pool, i); err != nil {
				return err
			}
			if progress != nil {
				progress(i+1, n)
			}
		}
		return nil
	}
	var (
		next   atomic.Int64
		mu     sync.Mutex
		done   int
		first  error
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				err := ctx.Err()
				if err == nil {
					err = fn(w, nil, i)
				}
				mu.Lock()
				if err != nil {
					if first == nil {
						first = err
					}
					failed.Store(true)
				} else {
					done++
					if progress != nil {
						progress(done, n)
					}
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	return first
}

// states hands out one model.State per worker and model, made on first use.
type states struct {
	mu sync.Mutex
	m  map[stateKey]*model.State
}

type stateKey struct {
	w int
	m *model.Model
}

func (s *states) get(w int, m *model.Model, pool *kernel.Pool) *model.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[stateKey]*model.State)
	}
	k := stateKey{w, m}
	st := s.m[k]
	if st == nil {
		st = m.NewState(pool, 0)
		s.m[k] = st
	}
	return st
}

// scorers hands out one Scorer per worker and model, made on first use (each
// keeps its context cache across the items its worker scores).
type scorers struct {
	prefix []int // shared by the contexts (see Scorer.SharePrefix)
	mu     sync.Mutex
	m      map[stateKey]*Scorer
}

func (s *scorers) get(w int, m *model.Model, pool *kernel.Pool) *Scorer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[stateKey]*Scorer)
	}
	k := stateKey{w, m}
	sc := s.m[k]
	if sc == nil {
		sc = NewScorer(m, pool)
		sc.setPrefix(s.prefix)
		s.m[k] = sc
	}
	return sc
}
