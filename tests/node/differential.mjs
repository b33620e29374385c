#!/usr/bin/env node
// Differential test: ToggleMaster's evaluator against flagd's own JavaScript
// evaluator (@openfeature/flagd-core 4.0.1).
//
// What it proves: for >= 10,000 generated flag definitions (boolean, string,
// number and object variants; with and without defaultVariant; disabled; no
// targeting; targeting over every JsonLogic operator and flagd's fractional,
// sem_ver, starts_with, ends_with, $ref and $flagd.*) and generated contexts
// full of type edge cases, the real `togglemaster` binary, asked over HTTP
// through OFREP (POST /ofrep/v1/evaluate/flags/{key}), answers exactly what
// flagd-core answers (value, variant, reason, error code, metadata), except
// where the difference is one of the known deliberate ones in EXCLUSIONS
// below, or a suspected bug already reported (TODO_BUGS).
//
// How a difference is excused (lib/oracle.mjs): ToggleMaster is specified as
// json-logic-js (the JsonLogic reference) + flagd's Go evaluator. The oracle
// reproduces flagd-core exactly with every knob off (checked on each use),
// and that specification with every EXCLUSIONS knob on. A mismatch is
// excluded only when the full specification reproduces ToggleMaster's answer
// exactly; it is labelled by the smallest set of knobs that does. Anything
// else fails the run and is printed (flag, context, both answers).
//
// Usage: node tests/node/differential.mjs [--seed N] [--cases N]
//        [--concurrency N] [--show N]   (env: TM_DIFF_SEED, TM_DIFF_CASES)
// Last line: "node-differential: N passed, M failed" (N equal, M unexplained
// mismatches; excluded cases are counted on the line before).
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlagdCore } from '@openfeature/flagd-core';
import { generateCases, flagFile, toJson, EVALUATORS } from './lib/gen.mjs';
import { Oracle, BASE, KNOBS, engineDisagreement, describeOpDiff, resolveRefs } from './lib/oracle.mjs';
import { TmServer, tempDir, removeTempDir, tmCommand, request, requireBinary } from './lib/server.mjs';

// ---- the known, deliberate differences --------------------------------------------
// Each is one knob of lib/oracle.mjs; a mismatch is excluded when some set of
// these knobs (tried smallest first) turns flagd-core's behaviour into
// ToggleMaster's answer. Counts per set and per reason are printed at the end.
const EXCLUSIONS = {
  // (a) the rule throws while evaluating: flagd-core answers ERROR/GENERAL,
  //     flagd's Go evaluator (which ToggleMaster follows) ERROR/PARSE_ERROR.
  a: 'a rule that throws while evaluating: flagd-core GENERAL, Go flagd / ToggleMaster PARSE_ERROR',
  // (b) json-logic-engine (flagd-core's engine) differs from json-logic-js,
  //     the JsonLogic reference ToggleMaster implements (NaN throws, truthiness
  //     of {}, coercions...). Labelled by the first operator where they differ.
  b: 'json-logic-engine (flagd-core) differs from json-logic-js (the reference ToggleMaster follows)',
  // (c) flagd's own operators where flagd-core's JS differs from flagd's Go
  //     evaluator (null bucketing value, numeric targetingKey, null weights,
  //     UTF-8 hashing, sem_ver parsing...). Labelled by operator and reason.
  c: "flagd's operators as flagd's Go evaluator defines them, where flagd-core (JS) differs",
  // (d) a targeting result that is an array or an object: Go names the
  //     variant by its JSON text without quotes ("[a,b]"), JS by toString()
  //     ("a,b").
  d: 'a non-string targeting result named as Go does (JSON text) instead of toString()',
  // (e) "targeting": 0.5 / false / "" / [] / null (flagd's schema refuses
  //     them, both load them): Go evaluates them as constant rules, flagd-core
  //     ignores them (Object.keys() of a number is empty) and answers STATIC.
  //     (For null ToggleMaster answers STATIC like flagd-core, not DEFAULT like
  //     Go: the "(info)" line counts those cases; they are not mismatches.)
  e: 'a non-object targeting (number, boolean, "", [], null) evaluated as a rule (Go) instead of ignored (flagd-core)',
};
// Temporary exclusions of suspected ToggleMaster bugs, each with a repro
// reported, removed once decided. Empty: the three found so far (a numeric
// targeting result named with String() instead of Go's JSON, sem_ver number
// operands >= 1e6 printed as JavaScript does, and an unknown operator failing
// evaluations that never reach it) are fixed to flagd's Go behaviour, and the
// oracle's knobs for them (numberNaming, semverNumbers, unknownOps) stay off.
const TODO_BUGS = [];
const TODO_SETS = (() => {
  const sets = [];
  for (let m = 1; m < 1 << TODO_BUGS.length; m++) sets.push(TODO_BUGS.filter((_, i) => m & (1 << i)));
  return sets.sort((p, q) => p.length - q.length);
})();

// ---- arguments ------------------------------------------------------------------

function arg(name, envName, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0 && process.argv[i + 1] !== undefined) return Number(process.argv[i + 1]);
  if (envName && process.env[envName]) return Number(process.env[envName]);
  return dflt;
}
const SEED = arg('seed', 'TM_DIFF_SEED', 20261203) >>> 0;
const CASES = arg('cases', 'TM_DIFF_CASES', 12000);
const CONCURRENCY = arg('concurrency', null, 16);
const SHOW = arg('show', null, 5);

const quietLogger = { debug() {}, info() {}, warn() {}, error() {} };
const SET_METADATA = { flagSetId: 'differential', version: 'v1' };

// ---- normalized answers -----------------------------------------------------------
// {reason, variant?, value?, metadata} or {error, metadata?}

const DEFAULTS = { boolean: false, string: '', number: 0, object: {} };

/** flagd-core's answer through its generic resolve(type, key, default, context). */
function fromFlagdCore(core, c, ctx) {
  const r = core.resolve(c.type, c.query, DEFAULTS[c.type], ctx, quietLogger);
  if (r.reason === 'ERROR') {
    return { error: r.errorCode, metadata: r.errorCode === 'FLAG_NOT_FOUND' ? undefined : r.flagMetadata };
  }
  const out = { reason: r.reason, metadata: r.flagMetadata };
  if (r.variant !== undefined) { out.variant = r.variant; out.value = r.value; }   // else: the caller's default
  return out;
}

function fromToggleMaster(res) {
  let j;
  try { j = JSON.parse(res.text); } catch { return { error: `HTTP ${res.status} (not JSON)`, raw: res.text }; }
  if (res.status === 200) {
    const out = { reason: j.reason, metadata: j.metadata };
    if ('variant' in j || 'value' in j) { out.variant = j.variant; out.value = j.value; }
    return out;
  }
  if (res.status === 404 && j.errorCode === 'FLAG_NOT_FOUND') return { error: 'FLAG_NOT_FOUND' };
  if (res.status === 400 && j.errorCode) return { error: j.errorCode, metadata: j.metadata };
  return { error: `HTTP ${res.status}`, raw: res.text };
}

/** Canonical JSON (sorted keys) for deep comparison. */
function canon(v) {
  if (v === undefined) return 'undefined';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
  return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}';
}

function sameAnswer(x, y) {
  if ('error' in x || 'error' in y) {
    if (x.error !== y.error) return false;
    return x.error === 'FLAG_NOT_FOUND' || canon(x.metadata) === canon(y.metadata);
  }
  return x.reason === y.reason && x.variant === y.variant && canon(x.value) === canon(y.value) && canon(x.metadata) === canon(y.metadata);
}

const show = (a) => JSON.stringify(a, (k, v) => (k === 'thrown' ? undefined : v));

// ---- classification of a mismatch ------------------------------------------------------

const FULL = Object.assign({}, BASE, ...Object.values(KNOBS));

const KNOB_SETS = (() => {
  const names = Object.keys(EXCLUSIONS);
  const sets = [];
  for (let m = 1; m < 1 << names.length; m++) sets.push(names.filter((_, i) => m & (1 << i)));
  return sets.sort((p, q) => p.length - q.length);
})();

/** Returns {label, details[]} when known knobs explain ToggleMaster's answer, or {harness} / null. */
function classify(oracle, c, ctx, core, tm) {
  if (c.query !== c.key) return null;
  const base = oracle.evaluate(c.key, c.flag, ctx, BASE);
  if (!sameAnswer(base, core)) return { harness: `the oracle with every knob off answers ${show(base)}, flagd-core ${show(core)}` };
  // ToggleMaster's specification is every knob at once (json-logic-js +
  // flagd's Go evaluator): an exclusion applies only when that full
  // reference reproduces ToggleMaster's answer, so a knob that happens to
  // match cannot excuse a departure from the reference.
  const full = oracle.evaluate(c.key, c.flag, ctx, FULL);
  if (!sameAnswer(full, tm)) return { spec: `the full reference (json-logic-js + Go flagd) answers ${show(full)}` };
  for (const set of KNOB_SETS) {
    const knobs = Object.assign({}, BASE, ...set.map((k) => KNOBS[k]));
    const trace = {};
    const o = oracle.evaluate(c.key, c.flag, ctx, knobs, trace);
    if (!sameAnswer(o, tm)) continue;
    const details = [];
    for (const k of set) {
      if (k === 'a') {
        const t = {};
        oracle.evaluate(c.key, c.flag, ctx, { ...BASE, ...(set.includes('b') ? KNOBS.b : {}) }, t);
        details.push(`a: ${set.includes('b') ? 'json-logic-js' : 'json-logic-engine'} throws "${String(t.thrown ?? '?').slice(0, 60)}"`);
      } else if (k === 'b') {
        const d = engineDisagreement(resolveRefs(c.flag.targeting, EVALUATORS), ctx, c.key);
        details.push(d ? `b: ${d.op}: ${d.kind}` : 'b: (no single operator found)');
      } else if (k === 'c') {
        const diffs = trace.opDiffs ?? [];
        details.push(diffs.length ? `c: ${describeOpDiff(diffs[0], ctx, c.key)}` : 'c: (no operator disagreement recorded)');
      } else if (k === 'e') {
        details.push(`e: targeting ${JSON.stringify(c.flag.targeting)}`.slice(0, 60));
      } else if (k === 'd') {
        const r = trace.result;
        details.push(`d: result ${Array.isArray(r) ? 'array' : r === null ? 'null' : typeof r === 'number' ? `number ${Object.is(r, -0) ? '-0' : String(r)}` : typeof r}`);
      }
    }
    return { label: set.join('+'), details };
  }
  return null;
}

// ---- coverage --------------------------------------------------------------------------
// Every operator the brief asks for must appear in the generated rules (the
// run fails otherwise, so a generator change cannot silently drop one).
const REQUIRED_OPS = ['var', 'missing', 'missing_some', 'if', '==', '===', '!=', '!==', '!', '!!', 'or', 'and', '<', '<=', '>', '>=',
  'max', 'min', '+', '-', '*', '/', '%', 'map', 'filter', 'reduce', 'all', 'none', 'some', 'merge', 'in', 'cat', 'substr',
  'starts_with', 'ends_with', 'sem_ver', 'fractional', '$ref', '$flagd.flagKey', '< (3 args)', '<= (3 args)'];

function operatorsIn(rule, out = new Set()) {
  if (Array.isArray(rule)) { for (const r of rule) operatorsIn(r, out); return out; }
  if (rule && typeof rule === 'object' && !(rule.constructor && rule.constructor.name === 'Raw')) {
    const keys = Object.keys(rule);
    if (keys.length === 1) {
      const op = keys[0];
      out.add(op);
      if ((op === '<' || op === '<=') && Array.isArray(rule[op]) && rule[op].length === 3) out.add(`${op} (3 args)`);
      if (op === 'var' && JSON.stringify(rule[op]).includes('$flagd.flagKey')) out.add('$flagd.flagKey');
    }
    for (const k of keys) operatorsIn(rule[k], out);
  }
  return out;
}

// ---- running -----------------------------------------------------------------------

async function main() {
  requireBinary();
  const t0 = Date.now();
  console.log(`node-differential: seed ${SEED} (override with --seed N or TM_DIFF_SEED), ${CASES} cases`);
  const cases = generateCases(SEED, CASES);
  const text = flagFile(cases);
  const dir = tempDir('tm-diff-');
  const file = join(dir, 'flags.json');
  writeFileSync(file, text);

  // flagd-core
  const core = new FlagdCore(undefined, quietLogger);
  core.setConfigurations(text);
  const tCore = Date.now();

  // ToggleMaster: import the same file, then serve it
  const db = `sqlite://${join(dir, 'tm.db')}`;
  tmCommand(['migrate'], db);
  const imp = tmCommand(['import', file], db);
  const m = /imported: (\d+) created/.exec(imp.stdout + imp.stderr);
  if (!m || Number(m[1]) !== CASES) throw new Error(`import did not create ${CASES} flags:\n${(imp.stdout + imp.stderr).slice(-2000)}`);
  const server = await new TmServer(db).start();
  const tImport = Date.now();
  console.log(`node-differential: flagd-core loaded in ${tCore - t0} ms; ToggleMaster imported and serving in ${tImport - tCore} ms (port ${server.port})`);

  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const answers = new Array(cases.length);
  let next = 0;
  async function worker() {
    while (next < cases.length) {
      const i = next++;
      const c = cases[i];
      const body = `{"context":${toJson(c.context)}}`;
      answers[i] = await request(agent, server.port, 'POST', `/ofrep/v1/evaluate/flags/${encodeURIComponent(c.query)}`, body);
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const tHttp = Date.now();
  agent.destroy();
  await server.stop();

  // coverage of the generated cases
  const opCount = new Map();
  for (const c of cases) for (const op of operatorsIn(c.flag.targeting)) opCount.set(op, (opCount.get(op) ?? 0) + 1);
  const outcomes = new Map();
  for (const r of answers) {
    let k;
    try { const j = JSON.parse(r.text); k = j.reason ?? j.errorCode; } catch { k = `HTTP ${r.status}`; }
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  }
  const missingOps = REQUIRED_OPS.filter((op) => !opCount.get(op));

  // compare
  const oracle = new Oracle(EVALUATORS, SET_METADATA);
  let passed = 0;
  let nTodo = 0;
  // Also (information, not a failure): cases where ToggleMaster and flagd-core
  // agree but the full reference (+ the TODO knobs) does not; 0 expected.
  // TM_DIFF_SPEC_CHECK=0 skips it.
  const specCheck = process.env.TM_DIFF_SPEC_CHECK !== '0';
  const specOnly = [];
  const failures = [];
  const excluded = new Map();      // label -> {count, details: Map(detail -> {count, example})}
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const ctx = JSON.parse(toJson(c.context));
    const core1 = fromFlagdCore(core, c, ctx);
    const tm = fromToggleMaster(answers[i]);
    if (sameAnswer(core1, tm)) {
      passed++;
      if (specCheck) {
        const cp = { ...c, flag: JSON.parse(toJson(c.flag)) };
        const ok = [[], ...TODO_SETS].some((set) => sameAnswer(oracle.evaluate(cp.key, cp.flag, ctx, Object.assign({}, FULL, ...set.map((b) => b.knobs))), tm));
        if (!ok && c.query === c.key) specOnly.push({ c, core: core1, tm, full: oracle.evaluate(cp.key, cp.flag, ctx, FULL) });
      }
      continue;
    }
    // the oracle reads the flag as JSON text parses (Raw numbers become numbers)
    const cp = { ...c, flag: JSON.parse(toJson(c.flag)) };
    const why = classify(oracle, cp, ctx, core1, tm);
    const todo = why && why.spec && TODO_SETS.find((set) => sameAnswer(oracle.evaluate(cp.key, cp.flag, ctx, Object.assign({}, FULL, ...set.map((b) => b.knobs))), tm));
    if (why && why.label) {
      if (!excluded.has(why.label)) excluded.set(why.label, { count: 0, details: new Map() });
      const e = excluded.get(why.label);
      e.count++;
      const key = why.details.join(' | ');
      if (!e.details.has(key)) e.details.set(key, { count: 0, example: { c, core: core1, tm } });
      e.details.get(key).count++;
    } else if (todo) {
      for (const b of todo) {
        b.count = (b.count ?? 0) + 1;
        b.example ??= { c, core: core1, tm };
      }
      nTodo++;
    } else {
      failures.push({ c, core: core1, tm, harness: why?.harness, spec: why?.spec });
    }
  }
  const tCompare = Date.now();

  // report
  const nExcluded = [...excluded.values()].reduce((s, e) => s + e.count, 0);
  console.log(`node-differential: ${cases.length} OFREP requests in ${tHttp - tImport} ms (${CONCURRENCY} connections); compared in ${tCompare - tHttp} ms`);
  console.log(`node-differential: ToggleMaster outcomes: ${[...outcomes.entries()].sort((p, q) => q[1] - p[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  console.log(`node-differential: flags per operator: ${REQUIRED_OPS.map((op) => `${op} ${opCount.get(op) ?? 0}`).join(', ')}`);
  if (missingOps.length) console.log(`node-differential: FAIL: no generated rule uses ${missingOps.join(', ')}`);
  console.log(`node-differential: known differences excluded: ${nExcluded} case(s)`);
  for (const [label, e] of [...excluded.entries()].sort((p, q) => q[1].count - p[1].count)) {
    console.log(`  [${label}] ${e.count} case(s): ${label.split('+').map((k) => EXCLUSIONS[k]).join(' AND ')}`);
    for (const [detail, d] of [...e.details.entries()].sort((p, q) => q[1].count - p[1].count)) {
      console.log(`      ${String(d.count).padStart(5)}  ${detail}`);
      if (process.env.TM_DIFF_EXAMPLES) {
        console.log(`             flag ${d.example.c.key}: ${toJson(d.example.c.flag)}`);
        console.log(`             context: ${toJson(d.example.c.context)}`);
        console.log(`             flagd-core: ${show(d.example.core)}  togglemaster: ${show(d.example.tm)}`);
      }
    }
  }
  console.log(`node-differential: suspected ToggleMaster bugs excluded for now (TODO): ${nTodo} case(s)`);
  for (const b of TODO_BUGS) {
    console.log(`  [TODO] ${b.count ?? 0} case(s): ${b.why}`);
    if (b.example && process.env.TM_DIFF_EXAMPLES) {
      console.log(`             flag ${b.example.c.key}: ${toJson(b.example.c.flag)}`);
      console.log(`             context: ${toJson(b.example.c.context)}`);
      console.log(`             flagd-core: ${show(b.example.core)}  togglemaster: ${show(b.example.tm)}`);
    }
  }
  if (failures.length) {
    console.log(`node-differential: ${failures.length} unexplained mismatch(es); the first ${Math.min(SHOW, failures.length)}:`);
    for (const f of failures.slice(0, SHOW)) {
      console.log(`--- flag ${f.c.key}${f.c.query !== f.c.key ? ` (asked for ${f.c.query})` : ''}`);
      console.log(`    definition: ${toJson(f.c.flag)}`);
      console.log(`    context:    ${toJson(f.c.context)}`);
      console.log(`    flagd-core:   ${show(f.core)}`);
      console.log(`    togglemaster: ${show(f.tm)}`);
      if (f.harness) console.log(`    HARNESS: ${f.harness}`);
      if (f.spec) console.log(`    reference:    ${f.spec}`);
    }
  }
  if (specCheck) {
    console.log(`node-differential: (info) ToggleMaster agrees with flagd-core but not with the full reference in ${specOnly.length} case(s)`);
    for (const f of specOnly.slice(0, SHOW)) {
      console.log(`    ${f.c.key}: ${toJson(f.c.flag)}\n      context ${toJson(f.c.context)}\n      both: ${show(f.tm)}\n      reference: ${show(f.full)}`);
    }
  }
  removeTempDir(dir);
  console.log(`node-differential: total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const failed = failures.length + (missingOps.length ? 1 : 0);
  console.log(`node-differential: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  console.error(err && err.stack ? err.stack : err);
  console.log('node-differential: 0 passed, 1 failed');
  process.exit(1);
});
