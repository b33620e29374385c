// bench/eval_bench.mjs: the peer figure for bench/eval_bench.c: flagd's own
// JavaScript evaluator (@openfeature/flagd-core, pinned in package-lock.json)
// evaluating the same flag for the same contexts in-process, as a flagd
// in-process provider does. Prints one JSON line with nanoseconds per
// evaluation. Usage: node eval_bench.mjs FLAG_DOCUMENT_JSON CONTEXTS_FILE [ITERATIONS]
import { readFileSync } from 'node:fs';
import { FlagdCore } from '@openfeature/flagd-core';

const [, , flagText, contextsFile, itersText] = process.argv;
const iterations = Number(itersText || 1000000);
const flag = JSON.parse(flagText);
const core = new FlagdCore();
core.setConfigurations(JSON.stringify({ flags: { 'bench-eval': { state: 'ENABLED', ...flag } } }));
const contexts = readFileSync(contextsFile, 'utf8').split('\n').filter(Boolean)
  .map((line) => JSON.parse(line).context);
const logger = { debug() {}, info() {}, warn() {}, error() {} };

let matches = 0;
for (let i = 0; i < 20000; i++) core.resolveStringEvaluation('bench-eval', 'x', contexts[i % contexts.length], logger);
const t0 = process.hrtime.bigint();
for (let i = 0; i < iterations; i++) {
  const r = core.resolveStringEvaluation('bench-eval', 'x', contexts[i % contexts.length], logger);
  if (r.reason === 'TARGETING_MATCH') matches++;
}
const ns = Number(process.hrtime.bigint() - t0) / iterations;
console.log(JSON.stringify({ contexts: contexts.length, iterations, ns_per_eval: Number(ns.toFixed(1)),
  targeting_matches: matches, node: process.version }));
