// Package attack is the attack lab: it tries to take the protected weights
// back from a TaylorMLP release, using only what the release file holds and
// public text, and measures how well that works (../shared/docs/TAYLORMLP.md
// §5). The original model, when given, is used only to score the results.
//
// Four attacks:
//
//   - [Algebraic]: every coefficient column Θ_n[:, j] is the down-projection
//     column W[:, j] times a scalar that depends only on released numbers (the
//     expansion point, or the interval, and the secret sign s_j). The attack
//     recomputes those scalars for both signs, fits W[:, j] by least squares
//     over the orders and keeps the sign with the lower residual; the fitted
//     bases' tail blocks hold W[:, j] (times released factors) directly. It
//     needs no text and runs in milliseconds.
//   - [Regression]: run the release on public text and solve the down
//     projection from its MLP inputs and outputs by least squares.
//   - Fine-tuning and distillation (the paper's RQ2): re-initialise the
//     protected columns and train them on public text, against the text
//     itself or against the release's predictions.
//
// [Run] runs a selection of them and writes a report (report.md,
// results.json, plots) and the algebraically recovered model as a plain GGUF
// file ([WriteRecovered]) that any runtime of its architecture loads.
// [Truth] scores a recovery against the original: it maps each release
// channel to the original channel whose gate row equals ± the released one.
//
// The algebraic and regression attacks handle every family the runtime
// secures: gated SiLU MLPs (llama, qwen2) and plain GELU MLPs (gpt2, phi2),
// where the up projection and its bias play the gate's part with up factor 1.
// The training attacks run on the train package's engine, which implements
// the same families (biases, LayerNorm, learned or rotate-half positions and
// parallel blocks included); for a model it does not run (train.Supports)
// Run refuses them by name and skips them under "all", saying why.
package attack
