// Prompt processing and generation speed of llama.cpp on a GGUF file, on the
// CPU, through node-llama-cpp's prebuilt binaries (it picks the CPU variant
// that fits the machine: haswell = AVX2/FMA on a Zen 3). Prints one JSON line
// per round, like `unswift bench --json`.
//
//   npm install && node bench.mjs MODEL.gguf [threads] [prompt tokens] [rounds]
import {getLlama} from "node-llama-cpp";

const [, , modelPath, threadsArg, nArg, roundsArg] = process.argv;
if (!modelPath) {
  console.error("usage: node bench.mjs MODEL.gguf [threads] [prompt tokens] [rounds]");
  process.exit(2);
}
const threads = parseInt(threadsArg || "1");
const n = parseInt(nArg || "128");
const rounds = parseInt(roundsArg || "4");
const gen = 32;

const llama = await getLlama({gpu: false, build: "never", logLevel: process.env.LOG_LEVEL || "error"});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
for (let r = 0; r < rounds; r++) {
  const context = await model.createContext({contextSize: Math.max(512, n + gen + 8), batchSize: 512, threads, sequences: 1});
  const seq = context.getSequence();
  const tokens = Array.from({length: n}, (_, i) => 3 + (i * 7) % 250);
  let t = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(tokens);
  const promptS = (performance.now() - t) / 1000;
  t = performance.now();
  let g = 0;
  for await (const _ of seq.evaluate([5], {temperature: 0})) {
    if (++g >= gen) break;
  }
  const genS = (performance.now() - t) / 1000;
  console.log(JSON.stringify({engine: "llama.cpp (node-llama-cpp 3.22.1)", model: modelPath, threads,
    prompt_tokens: n, prompt_tokens_per_s: n / promptS, gen_tokens: g, gen_tokens_per_s: g / genS}));
  await context.dispose();
}
