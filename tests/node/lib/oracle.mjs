// Reference evaluators used to EXPLAIN differences between flagd-core and
// ToggleMaster, never to hide them.
//
// flagd-core's evaluation is: json-logic-engine + flagd-core's four operators
// (fractional, sem_ver, starts_with, ends_with) + its flag logic (a throw while
// evaluating -> ERROR/GENERAL; the targeting result named by JavaScript's
// toString()). ToggleMaster is specified as: json-logic-js (the JsonLogic
// reference) + flagd's Go evaluator for the rest. Each of those four
// choices is one "knob" here:
//
//   a  throwCode: a rule that throws while evaluating answers PARSE_ERROR
//      (flagd's Go evaluator) instead of GENERAL (flagd-core).
//   b  engine: json-logic-js 2.0.5 (the reference) instead of
//      json-logic-engine 5.0.7 (flagd-core's).
//   c  ops: flagd's four operators ported from flagd's Go evaluator
//      (core/pkg/evaluator: fractional.go, semver.go with
//      golang.org/x/mod/semver, string_comparison.go) instead of flagd-core's.
//   d  naming: a non-string targeting result names the variant of its JSON text
//      with quotes removed (Go: json encoding, strings.ReplaceAll `"`) instead of
//      JavaScript's toString(). A string result names itself. (Go's encoder
//      would also escape <, >, &, \ and control characters in it, so flagd Go
//      can never choose a variant whose name holds one; the generator's names
//      avoid them, and ToggleMaster uses the string as it is.)
//   e  targeting: a targeting that is a JSON number, boolean, "", [] or null
//      is a rule to evaluate (Go evaluates anything but an absent or {}
//      targeting) instead of no targeting (flagd-core: it is falsy or
//      Object.keys() of it is empty).
//
// With every knob off the oracle must reproduce flagd-core exactly (the test
// checks that on every case it uses the oracle for, so a mistake here shows
// up as a failure, not as an excuse). A difference between flagd-core and
// ToggleMaster is excluded only when every knob on (ToggleMaster's
// specification) reproduces ToggleMaster's answer exactly; the smallest set
// of knobs that also does names the difference in the report.
//
// Further knobs model suspected ToggleMaster bugs (differential.mjs
// TODO_BUGS): numberNaming 'js', semverNumbers 'js', unknownOps 'eager'.
import { LogicEngine } from 'json-logic-engine';
import jsonLogic from 'json-logic-js';
import semver from 'semver';
import MurmurHash3 from 'imurmurhash';

const LOGGER_SYMBOL = Symbol.for('flagd.logger');   // flagd-core's
const quietLogger = { debug() {}, info() {}, warn() {}, error() {} };

// ---- flagd-core's operators, copied from flagd-core 4.0.1 (index.esm.js): same logic, log calls dropped ----

function getLoggerFromContext(context) {
  const logger = context[LOGGER_SYMBOL];
  if (!logger) throw new Error('Logger not found in context');
  return logger;
}

function jsCompare(method, data, context) {
  getLoggerFromContext(context);
  if (!Array.isArray(data)) return null;
  if (data.length != 2) return null;
  if (typeof data[0] !== 'string' || typeof data[1] !== 'string') return null;
  return method === 'starts_with' ? data[0].startsWith(data[1]) : data[0].endsWith(data[1]);
}

function jsNormalizeVersion(rawVersion) {
  const str = String(rawVersion).replace(/^[vV]/, '');
  const strict = semver.parse(str);
  if (strict) return strict;
  if (/^\d+(\.\d+)?$/.test(str)) return semver.coerce(str);
  return null;
}

function jsSemVer(data, context) {
  getLoggerFromContext(context);
  if (!Array.isArray(data)) return null;
  const args = Array.from(data);
  if (args.length != 3) return null;
  const v1 = jsNormalizeVersion(args[0]);
  const v2 = jsNormalizeVersion(args[2]);
  if (!v1 || !v2) return null;
  const operator = String(args[1]);
  const result = semver.compare(v1, v2);
  switch (operator) {
    case '=': return result == 0;
    case '!=': return result != 0;
    case '<': return result < 0;
    case '<=': return result <= 0;
    case '>=': return result >= 0;
    case '>': return result > 0;
    case '^': return v1.major == v2.major;
    case '~': return v1.major == v2.major && v1.minor == v2.minor;
  }
  return null;
}

function jsToBucketingList(from) {
  const bucketingArray = [];
  let totalWeight = 0;
  for (let i = 0; i < from.length; i++) {
    const entry = from[i];
    if (!Array.isArray(entry)) throw new Error('Invalid bucket entries');
    if (entry.length == 0 || entry.length > 2) throw new Error('Invalid bucketing entry. Requires at least a variant');
    let variant;
    if (typeof entry[0] === 'string' || typeof entry[0] === 'number' || typeof entry[0] === 'boolean') variant = entry[0];
    else if (entry[0] === null || entry[0] === undefined) variant = null;
    else throw new Error('Bucketing requires variant to be a string, number, or boolean');
    let weight = 1;
    if (entry.length >= 2) {
      const rawWeight = entry[1];
      if (typeof rawWeight !== 'number' || !Number.isInteger(rawWeight)) throw new Error('Bucketing requires weight to be an integer');
      weight = Math.max(0, rawWeight);
    }
    bucketingArray.push({ fraction: weight, variant });
    totalWeight += weight;
  }
  return { fractions: bucketingArray, totalWeight };
}

function jsFractional(data, context) {
  getLoggerFromContext(context);
  if (!Array.isArray(data)) return null;
  const args = Array.from(data);
  if (args.length < 1) return null;
  const flagdProperties = context.$flagd;
  if (!flagdProperties) return null;
  let bucketBy;
  let buckets;
  if (typeof args[0] == 'string') {
    bucketBy = args[0];
    buckets = args.slice(1, args.length);
  } else {
    const targetingKey = context.targetingKey;
    if (!targetingKey) return null;
    bucketBy = `${flagdProperties.flagKey}${targetingKey}`;
    buckets = args;
  }
  let bucketingList;
  try {
    bucketingList = jsToBucketingList(buckets);
  } catch {
    return null;
  }
  if (bucketingList.totalWeight > 2147483647) return null;
  const hashUint32 = BigInt(new MurmurHash3(bucketBy).result() >>> 0);
  const bucket = (hashUint32 * BigInt(bucketingList.totalWeight)) >> BigInt(32);
  let sum = BigInt(0);
  for (const e of bucketingList.fractions) {
    sum += BigInt(e.fraction);
    if (sum > bucket) return e.variant;
  }
  return null;
}

// ---- flagd's Go operators, ported (flagd core/pkg/evaluator) ----------------------

/** MurmurHash3 x86_32, seed 0, over the UTF-8 bytes of s (github.com/twmb/murmur3 StringSum32). */
export function murmur3Utf8(s) {
  const b = Buffer.from(s, 'utf8');
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = 0;
  const nblocks = b.length >> 2;
  for (let i = 0; i < nblocks; i++) {
    let k = b.readUInt32LE(i * 4);
    k = Math.imul(k, c1); k = (k << 15) | (k >>> 17); k = Math.imul(k, c2);
    h ^= k; h = (h << 13) | (h >>> 19); h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const t = nblocks * 4;
  switch (b.length & 3) {
    case 3: k ^= b[t + 2] << 16; // fallthrough
    case 2: k ^= b[t + 1] << 8; // fallthrough
    case 1: k ^= b[t]; k = Math.imul(k, c1); k = (k << 15) | (k >>> 17); k = Math.imul(k, c2); h ^= k;
  }
  h ^= b.length;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function goFractional(values, data) {
  if (!Array.isArray(values)) return null;
  if (values.length < 1) return null;
  if (!isPlainObject(data)) return null;                         // "data isn't of type map[string]any"
  const props = isPlainObject(data.$flagd) ? data.$flagd : {};
  const flagKey = typeof props.flagKey === 'string' ? props.flagKey : '';
  let rest = values;
  let bucketBy;
  if (typeof values[0] === 'string') {
    bucketBy = values[0];
    rest = values.slice(1);
  } else {
    if (values[0] === null || values[0] === undefined) rest = values.slice(1);   // nil bucketing value dropped
    const tk = data.targetingKey;
    if (tk === null || tk === undefined) return null;
    if (typeof tk !== 'string') return null;                      // error: no targetingKey
    if (tk === '') return null;
    bucketBy = `${flagKey}${tk}`;
  }
  let total = 0;
  const weighted = [];
  for (const d of rest) {
    if (!Array.isArray(d)) return null;
    if (d.length === 0) return null;
    const v = d[0];
    if (!(typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number' || v === null || v === undefined)) return null;
    let weight = 1;
    if (d.length >= 2) {
      const w = d[1];
      if (typeof w !== 'number' && w !== null && w !== undefined) return null;
      if (typeof w === 'number') {
        weight = Math.trunc(w);
        if (w !== weight) return null;                            // weights must be integers
      }
    }
    if (weight > 2147483647) return null;
    if (weight < 0) weight = 0;
    total += weight;
    weighted.push({ v: v === undefined ? null : v, weight });
  }
  if (total > 2147483647) return null;
  if (total === 0) return null;
  const bucket = (BigInt(murmur3Utf8(bucketBy)) * BigInt(total)) >> 32n;
  let end = 0n;
  for (const e of weighted) {
    end += BigInt(e.weight);
    if (bucket < end) return e.v;
  }
  return null;
}

// golang.org/x/mod/semver
function goSemverParse(v) {
  const m = /^v(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?)?)?$/.exec(v);
  if (!m) return null;
  return { major: m[1], minor: m[2] ?? '0', patch: m[3] ?? '0', pre: m[4] ?? '' };
}
function goCmpInt(a, b) {
  if (a === b) return 0;
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : 1;
}
function goCmpPre(x, y) {
  if (x === y) return 0;
  if (x === '') return 1;
  if (y === '') return -1;
  const xs = x.split('.');
  const ys = y.split('.');
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const a = xs[i];
    const b = ys[i];
    if (a === b) continue;
    const an = /^\d+$/.test(a);
    const bn = /^\d+$/.test(b);
    if (an !== bn) return an ? -1 : 1;
    if (an) return goCmpInt(a, b);
    return a < b ? -1 : 1;
  }
  return xs.length === ys.length ? 0 : xs.length < ys.length ? -1 : 1;
}
function goSemverCompare(a, b) {
  const pa = goSemverParse(a);
  const pb = goSemverParse(b);
  if (!pa && !pb) return 0;
  if (!pa) return -1;
  if (!pb) return 1;
  return goCmpInt(pa.major, pb.major) || goCmpInt(pa.minor, pb.minor) || goCmpInt(pa.patch, pb.patch) || goCmpPre(pa.pre, pb.pre);
}
/** fmt.Sprintf("%v", float64): strconv 'g' with the shortest digits, so an exponent from 1e+06 up and below 1e-04. */
export function goPrintFloat(n) {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mant, ex] = n.toExponential().split('e');   // shortest round-trip digits
  const x = Number(ex);
  if (x < -4 || x >= 6) return `${mant}e${x < 0 ? '-' : '+'}${String(Math.abs(x)).padStart(2, '0')}`;
  return String(n);
}
// TODO-knob semverNumbers: 'js' writes a number operand of sem_ver with
// JavaScript's String() instead of Go's %v (see differential.mjs TODO_BUGS).
let semverNumberText = 'go';
function goEnsureString(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return semverNumberText === 'js' ? String(v) : goPrintFloat(v);
  if (typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return '<nil>';
  return 'composite';   // [a b] / map[...]: never a valid version either way
}
function goNormalizeVersion(v) {
  let s = goEnsureString(v);
  if (!s.startsWith('v')) s = 'v' + (s.startsWith('V') ? s.slice(1) : s);
  return goSemverParse(s) ? s : null;
}
function goSemVer(values) {
  if (!Array.isArray(values) || values.length !== 3) return null;
  const a = goNormalizeVersion(values[0]);
  if (a === null) return null;
  if (typeof values[1] !== 'string') return null;
  const op = values[1];
  const b = goNormalizeVersion(values[2]);
  if (b === null) return null;
  const major = (s) => 'v' + goSemverParse(s).major;
  const majorMinor = (s) => { const p = goSemverParse(s); return `v${p.major}.${p.minor}`; };
  const c = goSemverCompare(a, b);
  switch (op) {
    case '<': return c === -1;
    case '=': return c === 0;
    case '!=': return c !== 0;
    case '<=': return c <= 0;
    case '>=': return c >= 0;
    case '>': return c === 1;
    case '~': return goSemverCompare(majorMinor(a), majorMinor(b)) === 0;
    case '^': return goSemverCompare(major(a), major(b)) === 0;
    default: return null;
  }
}
function goStringComparison(method, values) {
  if (!Array.isArray(values) || values.length !== 2) return null;
  if (typeof values[0] !== 'string' || typeof values[1] !== 'string') return null;
  return method === 'starts_with' ? values[0].startsWith(values[1]) : values[0].endsWith(values[1]);
}

/** Go's encoding/json of a JsonLogic value (HTML-safe escaping, sorted keys); throws on NaN/Inf. */
export function goJson(v, nonFiniteAsNull = false) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) {
      if (nonFiniteAsNull) return 'null';
      throw new Error('json: unsupported value');
    }
    return Object.is(v, -0) ? '-0' : String(v);
  }
  if (typeof v === 'string') {
    let out = '"';
    for (const ch of v) {
      const c = ch.codePointAt(0);
      if (ch === '"') out += '\\"';
      else if (ch === '\\') out += '\\\\';
      else if (ch === '\n') out += '\\n';
      else if (ch === '\r') out += '\\r';
      else if (ch === '\t') out += '\\t';
      else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) out += '\\u' + c.toString(16).padStart(4, '0');
      else out += ch;
    }
    return out + '"';
  }
  if (Array.isArray(v)) return '[' + v.map((x) => goJson(x, nonFiniteAsNull)).join(',') + ']';
  return '{' + Object.keys(v).sort().map((k) => goJson(k) + ':' + goJson(v[k], nonFiniteAsNull)).join(',') + '}';
}

// ---- engines ---------------------------------------------------------------------

/** Records calls where the Go port and flagd-core's operator disagree (labels for the report). */
let opLog = null;
function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }
function opCall(name, goFn, jsFn, args) {
  const g = goFn();
  if (opLog) {
    let j;
    try { j = jsFn(); } catch (e) { j = `throws ${e.message}`; }
    if (!same(g, j)) opLog.push({ op: name, args, go: g, js: j });
  }
  return g;
}

const withLogger = (data) => (data !== null && typeof data === 'object' ? data : Object(data ?? {}));

function makeJle(ops) {
  const e = new LogicEngine();
  if (ops === 'js') {
    e.addMethod('starts_with', (d, c) => jsCompare('starts_with', d, c));
    e.addMethod('ends_with', (d, c) => jsCompare('ends_with', d, c));
    e.addMethod('sem_ver', jsSemVer);
    e.addMethod('fractional', jsFractional);
  } else {
    e.addMethod('starts_with', (d, c) => opCall('starts_with', () => goStringComparison('starts_with', d), () => jsCompare('starts_with', d, c), d));
    e.addMethod('ends_with', (d, c) => opCall('ends_with', () => goStringComparison('ends_with', d), () => jsCompare('ends_with', d, c), d));
    e.addMethod('sem_ver', (d, c) => opCall('sem_ver', () => goSemVer(d), () => jsSemVer(d, c), d));
    e.addMethod('fractional', (d, c) => opCall('fractional', () => goFractional(d, c), () => jsFractional(d, c), d));
  }
  return e;
}
const JLE = { js: makeJle('js'), go: makeJle('go') };

// json-logic-js has one global operation table: the ops mode is switched per call.
let jljsOps = 'js';
for (const name of ['starts_with', 'ends_with']) {
  jsonLogic.add_operation(name, function (...args) {
    return jljsOps === 'js' ? jsCompare(name, args, withLogger(this))
      : opCall(name, () => goStringComparison(name, args), () => jsCompare(name, args, withLogger(this)), args);
  });
}
jsonLogic.add_operation('sem_ver', function (...args) {
  return jljsOps === 'js' ? jsSemVer(args, withLogger(this)) : opCall('sem_ver', () => goSemVer(args), () => jsSemVer(args, withLogger(this)), args);
});
jsonLogic.add_operation('fractional', function (...args) {
  return jljsOps === 'js' ? jsFractional(args, withLogger(this)) : opCall('fractional', () => goFractional(args, this), () => jsFractional(args, withLogger(this)), args);
});
const JLJS_OPS = new Set(['==', '===', '!=', '!==', '>', '>=', '<', '<=', '!!', '!', '%', 'log', 'in', 'cat', 'substr', '+', '*', '-', '/',
  'min', 'max', 'merge', 'var', 'missing', 'missing_some', 'if', '?:', 'and', 'or', 'filter', 'map', 'reduce', 'all', 'none', 'some',
  'starts_with', 'ends_with', 'sem_ver', 'fractional']);

/** The operators a rule names that json-logic-js and flagd do not know (for unknownOps: 'eager'). */
function unknownOps(rule, out = []) {
  if (Array.isArray(rule)) { for (const r of rule) unknownOps(r, out); return out; }
  if (isPlainObject(rule)) {
    const keys = Object.keys(rule);
    if (keys.length === 1) {
      if (!JLJS_OPS.has(keys[0])) out.push(keys[0]);
      unknownOps(rule[keys[0]], out);
    }
  }
  return out;
}

/** Replaces {"$ref": name} by the shared rule, as flagd-core's loader does. */
export function resolveRefs(rule, evaluators) {
  if (Array.isArray(rule)) return rule.map((r) => resolveRefs(r, evaluators));
  if (isPlainObject(rule)) {
    const keys = Object.keys(rule);
    if (keys.length === 1 && keys[0] === '$ref' && typeof rule.$ref === 'string' && Object.hasOwn(evaluators, rule.$ref)) {
      return structuredClone(evaluators[rule.$ref]);
    }
    const o = {};
    for (const k of keys) o[k] = resolveRefs(rule[k], evaluators);
    return o;
  }
  return rule;
}

// ---- the flag-level evaluation -----------------------------------------------------

export const BASE = Object.freeze({ throwCode: 'GENERAL', engine: 'jle', ops: 'js', naming: 'js', targeting: 'js' });
export const KNOBS = {
  a: { throwCode: 'PARSE_ERROR' },
  b: { engine: 'jljs' },
  c: { ops: 'go' },
  d: { naming: 'go' },
  e: { targeting: 'go' },
};

export class Oracle {
  constructor(evaluators, setMetadata) {
    this.evaluators = evaluators;
    this.setMetadata = setMetadata;
    this.built = new Map();       // `${ops} ${flagKey}` -> {fn} | {error}
  }

  rule(flagKey, flag) {
    return resolveRefs(flag.targeting, this.evaluators);
  }

  build(flagKey, flag, ops) {
    const k = `${ops} ${flagKey}`;
    if (!this.built.has(k)) {
      try {
        this.built.set(k, { fn: JLE[ops].build(this.rule(flagKey, flag)) });
      } catch (e) {
        this.built.set(k, { error: e });
      }
    }
    return this.built.get(k);
  }

  /**
   * One flag's answer in the normalized form the test compares:
   * {reason, variant?, value?, metadata} or {error, metadata}. `trace`, when
   * given, receives the raw targeting result and the operator disagreements.
   */
  evaluate(flagKey, flag, ctx, knobs, trace) {
    const metadata = { ...this.setMetadata, ...(flag.metadata ?? {}) };
    if (flag.state === 'DISABLED') return { reason: 'DISABLED', metadata };
    const defaultVariant = flag.defaultVariant || undefined;
    const variants = new Map(Object.entries(flag.variants));
    const finish = (variant, reason) => {
      if (variant === undefined || variant === null) {
        if (defaultVariant === undefined) return { reason: 'DEFAULT', metadata };
        variant = defaultVariant;
      }
      const value = variants.get(variant);
      if (value === undefined) return { error: 'GENERAL', metadata, thrown: false };
      return { reason, variant, value, metadata };
    };
    const targeting = flag.targeting;
    const hasTargeting = knobs.targeting === 'js'
      ? Boolean(targeting && Object.keys(targeting).length > 0)
      // Go: a json.RawMessage holds anything present but {} (even null, whose
      // rule then evaluates to null: DEFAULT)
      : targeting !== undefined && !(isPlainObject(targeting) && Object.keys(targeting).length === 0);
    if (!hasTargeting) return finish(undefined, 'STATIC');

    const data = { ...ctx, $flagd: { flagKey, timestamp: Math.floor(Date.now() / 1000) }, [LOGGER_SYMBOL]: quietLogger };
    let result;
    opLog = trace ? [] : null;
    semverNumberText = knobs.semverNumbers ?? 'go';
    try {
      if (knobs.engine === 'jle') {
        const b = this.build(flagKey, flag, knobs.ops);
        if ('error' in b) return { error: 'PARSE_ERROR', metadata };   // (it may throw NaN itself)
        result = b.fn(data);
      } else {
        // json-logic-js, like flagd's Go jsonlogic, fails on an unknown
        // operator only when evaluation reaches it; the TODO-knob
        // unknownOps: 'eager' fails every evaluation of such a rule instead.
        if (knobs.unknownOps === 'eager' && unknownOps(this.rule(flagKey, flag)).length) return { error: 'PARSE_ERROR', metadata };
        jljsOps = knobs.ops;
        result = jsonLogic.apply(this.rule(flagKey, flag), data);
      }
    } catch (e) {
      if (trace) trace.thrown = e instanceof Error ? e.message : String(e);
      return { error: knobs.throwCode, metadata, thrown: true };
    } finally {
      if (trace) trace.opDiffs = opLog;
      opLog = null;
      jljsOps = 'js';
      semverNumberText = 'go';
    }
    if (trace) trace.result = result;
    if (result === null || result === undefined) return finish(undefined, 'DEFAULT');
    let name;
    if (knobs.naming === 'js') {
      name = result.toString();
    } else if (typeof result === 'string') {
      name = result;
    } else if (knobs.numberNaming === 'js' && typeof result === 'number') {
      name = String(result);                            // "NaN", "Infinity", "0" for -0
    } else if (knobs.numberNaming === 'js') {
      name = goJson(result, true).replaceAll('"', '');  // NaN/Infinity inside arrays as null
    } else {
      try {
        name = goJson(result).replaceAll('"', '');
      } catch {
        return { error: 'PARSE_ERROR', metadata };      // Go's encoder refuses NaN/Inf: Apply fails
      }
    }
    return finish(name, 'TARGETING_MATCH');
  }
}

/**
 * Where json-logic-engine and json-logic-js first disagree inside a rule:
 * the deepest operator node (not under a map/filter/reduce/all/none/some
 * predicate, which runs on other data) whose two values differ. A label
 * for the report, e.g. "+: engine throws" or "==: values differ".
 */
export function engineDisagreement(rule, ctx, flagKey) {
  const data = { ...ctx, $flagd: { flagKey, timestamp: Math.floor(Date.now() / 1000) }, [LOGGER_SYMBOL]: quietLogger };
  const run = (fn) => { try { return { v: fn() }; } catch (e) { return { t: e instanceof Error ? e.message : String(e) }; } };
  const differ = (x, y) => ('t' in x) !== ('t' in y) || (!('t' in x) && !sameValue(x.v, y.v));
  let found = null;
  const visit = (node) => {
    if (found) return;
    if (Array.isArray(node)) { node.forEach(visit); return; }
    if (!isPlainObject(node) || Object.keys(node).length !== 1) return;
    const op = Object.keys(node)[0];
    const args = node[op];
    const scoped = ['map', 'filter', 'reduce', 'all', 'none', 'some'].includes(op);
    if (Array.isArray(args)) (scoped ? [args[0], args[2]] : args).forEach(visit);
    else visit(args);
    if (found) return;
    const x = run(() => JLE.js.build(node)(data));
    const y = run(() => jsonLogic.apply(node, data));
    if (differ(x, y)) {
      found = {
        op,
        node,
        engine: 't' in x ? `throws ${x.t}` : x.v,
        reference: 't' in y ? `throws ${y.t}` : y.v,
        kind: 't' in x && !('t' in y) ? 'engine throws' : 't' in y && !('t' in x) ? 'reference throws' : 'values differ',
      };
    }
  };
  visit(rule);
  return found;
}

function sameValue(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b) || (a === b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => sameValue(a[k], b[k]));
  }
  return a === b;
}

// ---- labels for the report ------------------------------------------------------------

const goValidVersion = (v) => goNormalizeVersion(v) !== null;
const jsValidVersion = (v) => { try { return jsNormalizeVersion(v) !== null; } catch { return false; } };

/** A short reason for one Go-vs-flagd-core operator disagreement. */
export function describeOpDiff(diff, ctx, flagKey) {
  const args = diff.args;
  if (typeof diff.js === 'string' && diff.js.startsWith('throws Logger not found')) {
    return `${diff.op}: inside a map/filter/reduce/all/none/some predicate flagd-core's operator throws (no logger in the element's data), Go evaluates it`;
  }
  if (diff.op === 'sem_ver') {
    if (Array.isArray(args) && args.length === 3) {
      for (const v of [args[0], args[2]]) {
        if (goValidVersion(v) !== jsValidVersion(v)) return `sem_ver: ${JSON.stringify(v)} is a version for ${goValidVersion(v) ? 'Go' : 'flagd-core'} only`;
      }
      if (typeof args[1] !== 'string') return 'sem_ver: non-string operator';
      return 'sem_ver: versions compare differently';
    }
    return 'sem_ver: other';
  }
  if (diff.op === 'fractional') {
    if (!Array.isArray(args) || args.length === 0) return 'fractional: other';
    const tk = ctx.targetingKey;
    if (typeof args[0] !== 'string' && (args[0] === null || args[0] === undefined)) return 'fractional: null bucketing value (Go drops it)';
    if (typeof args[0] !== 'string' && tk !== undefined && tk !== null && typeof tk !== 'string') return 'fractional: non-string targetingKey';
    const entries = typeof args[0] === 'string' ? args.slice(1) : args;
    if (entries.some((e) => Array.isArray(e) && e.length >= 2 && e[1] === null)) return 'fractional: null weight (Go: weight 1)';
    if (entries.some((e) => Array.isArray(e) && e.length > 2)) return 'fractional: entry longer than [variant, weight] (Go uses the first two)';
    const key = typeof args[0] === 'string' ? args[0] : `${flagKey}${tk}`;
    if (/[^\x00-\x7f]/.test(key)) return 'fractional: non-ASCII bucketing key (Go hashes UTF-8, flagd-core UTF-16 units)';
    return 'fractional: other';
  }
  return `${diff.op}: other`;
}
