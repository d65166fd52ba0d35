package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/unswift/unswift/internal/calib"
	"github.com/unswift/unswift/internal/release"
	"github.com/unswift/unswift/internal/tensor"
)

func cmdSecure(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("secure", "-m MODEL --calib FILE --order N -o RELEASE.gguf [flags]", stderr)
	var mf modelFlags
	mf.register(fs)
	calibPath := fs.String("calib", "", "calibration text file (required)")
	calibTokens := fs.Int("calib-tokens", 20000, "calibration tokens, run in windows of the model's context")
	order := fs.Int("order", 8, "Taylor order N (0..32)")
	out := fs.String("o", "", "release file to write (required)")
	basis := fs.String("basis", "taylor", "taylor (the paper's series), chebyshev (interpolation on each channel's interval) or lsq (least squares on calibration samples)")
	center := fs.String("center", "mid", "taylor: expansion point per channel: mid ((min+max)/2) or mean")
	margin := fs.Float64("margin", release.DefaultMargin, "chebyshev, lsq: widen each channel's calibrated interval by this fraction of its range")
	tail := fs.String("tail", "", "chebyshev, lsq: outside the interval, exact (default: clamp and add act(g) − act(edge)), linear (continue with the edge slope) or none")
	expand := fs.String("expand", "", "channels to expand: auto (inside the convergence region; taylor's default), all (the other bases' default), a count K or a fraction of the narrowest")
	safety := fs.Float64("safety", release.DefaultSafety, "auto: expand channels whose calibrated range stays within this fraction of the convergence radius")
	dtype := fs.String("dtype", "f32", "coefficient type: f32, f16 or bf16")
	seed := fs.Int64("seed", -1, "seed of the secret sign perturbation, for reproducible builds (default: crypto-random)")
	target := fs.Float64("target-slowdown", 0, "choose the smallest order whose predicted slowdown is at least this (overrides --order)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *calibPath == "" {
		return fmt.Errorf("no calibration text: pass --calib FILE (for example ../shared/data/tinystories_valid_prefix.txt)")
	}
	if *out == "" {
		return fmt.Errorf("no output file: pass -o RELEASE.gguf")
	}
	typ, err := tensor.ParseDType(*dtype)
	if err != nil {
		return err
	}
	opt := release.Options{Order: *order, Basis: *basis, Center: *center, Margin: *margin, Tail: *tail, Expand: *expand, Safety: *safety, DType: typ}
	if *seed >= 0 {
		s := uint64(*seed)
		opt.Seed = &s
	}
	if *target == 0 {
		if *order < 0 || *order > release.MaxOrder {
			return fmt.Errorf("order %d is outside 0..%d", *order, release.MaxOrder)
		}
	} else if *target < 1 {
		return fmt.Errorf("--target-slowdown %v must be at least 1", *target)
	}
	text, err := os.ReadFile(*calibPath)
	if err != nil {
		return fmt.Errorf("reading calibration text: %w", err)
	}
	m, pool, err := mf.open()
	if err != nil {
		return err
	}
	defer m.Close()
	defer pool.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	bar := newProgress(stderr, "calibrate")
	samples := 0
	if *basis == "lsq" {
		samples = 512
	}
	cal, err := calib.Collect(ctx, m, pool, string(text), calib.Options{Tokens: *calibTokens, Samples: samples, Progress: bar.update})
	bar.done()
	if err != nil {
		return err
	}
	plan, err := release.NewPlan(m, cal, opt)
	if err != nil {
		return err
	}
	if *target != 0 {
		n, ok := release.OrderForSlowdown(m, plan, typ, *target)
		if !ok {
			return fmt.Errorf("no order up to %d reaches a predicted slowdown of %.2f× with %.1f%% of channels expanded (at most %.2f×)",
				release.MaxOrder, *target, 100*plan.Share(), release.PredictedSlowdown(m, plan, n, typ))
		}
		fmt.Fprintf(stderr, "order %d: the smallest with a predicted slowdown ≥ %.2f× (%.2f×)\n", n, *target, release.PredictedSlowdown(m, plan, n, typ))
		opt.Order = n
		if plan, err = release.NewPlan(m, cal, opt); err != nil {
			return err
		}
	}
	bar = newProgress(stderr, "write")
	err = release.Write(*out, m, plan, opt)
	bar.done()
	if err != nil {
		return err
	}
	if err := plan.WriteSummary(stdout); err != nil {
		return err
	}
	o, r := release.BytesPerToken(m, plan, plan.Order, typ)
	fmt.Fprintf(stdout, "predicted slowdown at order %d: %.2f× (%.2f MB → %.2f MB read per token)\n", plan.Order, float64(r)/float64(o), float64(o)/1e6, float64(r)/1e6)
	fmt.Fprintf(stdout, "wrote %s (%d calibration tokens)\n", *out, cal.Tokens)
	return nil
}
