// Deterministic generator of differential cases: flagd flag definitions
// (variants of every type, targeting over every JsonLogic and flagd operator)
// and evaluation contexts full of type edge cases. Everything comes from one
// seeded PRNG, so a seed names a run exactly.
//
// Numbers whose JSON text matters (1.0 vs 1, -0.0, 1e2, 2^53+1) are generated
// as Raw values and written verbatim by toJson(): both evaluators then read the
// very same text (flagd-core through JSON.parse, ToggleMaster through jansson).
// The integer -0 is not generated: jansson reads it as the integer 0 (its
// sign is lost, a documented difference in docs/evaluation.md); -0.0 keeps it.

/** A number written exactly as `text` in JSON. */
export class Raw {
  constructor(text) { this.text = text; }
}
const raw = (t) => new Raw(t);

/** JSON text of v, writing Raw numbers verbatim. */
export function toJson(v) {
  if (v instanceof Raw) return v.text;
  if (v === null) return 'null';
  if (Array.isArray(v)) return '[' + v.map(toJson).join(',') + ']';
  if (typeof v === 'object') {
    return '{' + Object.keys(v).map((k) => JSON.stringify(k) + ':' + toJson(v[k])).join(',') + '}';
  }
  const t = JSON.stringify(v);
  if (t === undefined) throw new Error(`not JSON: ${String(v)}`);
  return t;
}

/** mulberry32: small, fast, good enough for test generation. */
export class Rng {
  constructor(seed) { this.s = seed >>> 0; }
  next() {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n) { return Math.floor(this.next() * n); }        // 0..n-1
  range(a, b) { return a + this.int(b - a + 1); }         // a..b
  chance(p) { return this.next() < p; }
  pick(a) { return a[this.int(a.length)]; }
  /** weighted pick: [[weight, value], ...] */
  wpick(pairs) {
    let total = 0;
    for (const [w] of pairs) total += w;
    let x = this.next() * total;
    for (const [w, v] of pairs) { if ((x -= w) < 0) return v; }
    return pairs[pairs.length - 1][1];
  }
  sample(a, k) {
    const c = a.slice();
    const out = [];
    while (out.length < k && c.length) out.push(c.splice(this.int(c.length), 1)[0]);
    return out;
  }
}

// ---- value pools ---------------------------------------------------------------

const NUMS = [0, 1, 2, -1, 3, 5, 10, 18, 42, 100, 0.5, 1.5, -2.5, 3.14, 1e-7,
  raw('1.0'), raw('2.0'), raw('-0.0'), raw('0.0'), raw('1e2'), raw('1E2'), raw('2.50'), raw('0.1'),
  raw('100000000'), raw('9007199254740993'), raw('1e21'), raw('-1.5e3')];
const NUMERIC_STRINGS = ['0', '1', '1.0', '01', '2', '10', ' 1 ', '1e2', '-1', '0x10', '3.14', '1,5', 'Infinity', '.5'];
const STRINGS = ['', 'abc', 'ABC', 'a,b', 'true', 'false', 'null', 'red', 'blue', 'gold', 'beta',
  'x@acme.com', 'bob@example.org', 'héllo', 'ü', '✓ ok', 'a.b', 'a b', 'undefined', 'NaN', '[object Object]'];
const VERSIONS = ['1.2.3', 'v1.2.3', 'V1.2.3', '1.2', '1', 'v2', '2.0.0', '2.0.0-rc.1', '1.2.3-beta.1',
  '1.2.3-beta.2', '1.2.3-alpha', '1.2.3+build.5', '1.2.3-rc.1+b', '01.2.3', '1.2.3.4', '1.02.3', 'vv1.0.0',
  ' 1.2.3', '1.2.3-01', '10.0.0', 'not-a-version', '', '1.2.3-', 'v1.2.3-0', '0.0.0'];
const VERSION_NUMS = [1, 2, 1.2, 10, 0, raw('1.0'), raw('100000000'), 1.5];
const SEMVER_OPS = ['=', '!=', '<', '<=', '>', '>=', '^', '~'];
const BAD_SEMVER_OPS = ['==', '===', '=>', '', 'x', 1];
const TARGETING_KEYS = ['user-1', 'user-2', 'user-42', 'alice', 'bob@example.org', 'Z', 'a-very-long-targeting-key-0123456789',
  'üser-7', '用户-3', 'emoji-😀', 'k'];

// Context attributes (paths the rules reference); some are never present.
const PATHS = ['email', 'plan', 'age', 'n', 'score', 'flag', 'version', 'tags', 'nums', 'items', 'user',
  'user.id', 'user.tier', 'user.address.city', 'user.address', 'user.tags.0', 'user.score', 'user.active',
  'tags.0', 'tags.1', 'nums.2', 'items.0.name', 'items.1.qty', 'empty', 'zero', 's', 'a.b', 'missing',
  'nope.deeper', '0', 'targetingKey', '$flagd.flagKey', 'arr.0.1', 'tags.length', 'email.length'];
const NUM_PATHS = ['n', 'age', 'score', 'user.score', 'nums.0', 'nums.2', 'items.0.qty', 'zero', 'missing'];
const STR_PATHS = ['email', 's', 'plan', 'user.tier', 'user.id', 'tags.0', 'user.address.city', 'targetingKey',
  '$flagd.flagKey', 'empty', 'missing'];
const BOOL_PATHS = ['flag', 'user.active', 'zero', 'empty', 'missing'];
const ARR_PATHS = ['tags', 'nums', 'items', 'arr', 'user.tags', 'empty', 's', 'missing'];

export const EVALUATORS = {
  isAcme: { ends_with: [{ var: 'email' }, '@acme.com'] },
  isAdult: { '>=': [{ var: 'age' }, 18] },
  isGold: { '==': [{ var: 'user.tier' }, 'gold'] },
  hasBeta: { in: ['beta', { var: 'tags' }] },
};
const REF_NAMES = [...Object.keys(EVALUATORS), 'noSuchEvaluator'];

// ---- variants ------------------------------------------------------------------

const STRING_NAMES = ['red', 'blue', 'green', 'gold', 'silver', 'beta', 'a', '1', '2', '0', 'true', 'false',
  'null', 'x@acme.com', 'NaN', 'a,b', '1.5', '-1'];
const NUMBER_NAMES = ['one', 'two', '1', '2', '3', '-1', '0.5', '1.5', '10', '100', '0'];
const OBJECT_NAMES = ['small', 'large', '1', 'true', 'x', 'red'];
const STRING_VALUES = ['#f00', '#00f', 'on', 'off', '', 'héllo ✓', 'v1', 'null', 'with "quotes"', 'tab\there'];
const NUMBER_VALUES = [0, 1, -1, 2.5, 100, 1e-3, raw('1.0'), raw('1e2'), 123456789, -0.5];

function objectValue(rng) {
  return rng.pick([
    { size: rng.int(10), tags: ['a', 'b'] },
    { enabled: true, nested: { k: null, n: rng.pick(NUMBER_VALUES) } },
    {},
    { list: [1, 'two', false, null], s: rng.pick(STRING_VALUES) },
  ]);
}

function makeVariants(rng, type) {
  const v = {};
  if (type === 'boolean') {
    const form = rng.pick([['on', 'off'], ['true', 'false'], ['true', 'false'], ['yes', 'no'], ['1', '0']]);
    v[form[0]] = true;
    v[form[1]] = false;
  } else if (type === 'string') {
    for (const n of rng.sample(STRING_NAMES, rng.range(2, 4))) v[n] = rng.pick(STRING_VALUES);
  } else if (type === 'number') {
    for (const n of rng.sample(NUMBER_NAMES, rng.range(2, 4))) v[n] = rng.pick(NUMBER_VALUES);
  } else {
    for (const n of rng.sample(OBJECT_NAMES, rng.range(2, 3))) v[n] = objectValue(rng);
  }
  return v;
}

// ---- expressions ---------------------------------------------------------------

class ExprGen {
  constructor(rng, names) {
    this.rng = rng;
    this.names = names;              // the flag's variant names
  }

  // leaves
  num() {
    const r = this.rng;
    return r.wpick([[6, () => r.pick(NUMS)], [2, () => r.pick(NUMERIC_STRINGS)], [5, () => this.varOf(NUM_PATHS)],
      [1, () => r.pick([true, false, null, '', 'abc', []])]])();
  }
  str() {
    const r = this.rng;
    return r.wpick([[5, () => r.pick(STRINGS)], [5, () => this.varOf(STR_PATHS)], [2, () => r.pick(this.names)],
      [1, () => r.pick(NUMS)]])();
  }
  bool() {
    const r = this.rng;
    return r.wpick([[3, () => r.pick([true, false])], [3, () => this.varOf(BOOL_PATHS)],
      [2, () => ({ $ref: r.chance(0.9) ? r.pick(Object.keys(EVALUATORS)) : 'noSuchEvaluator' })],
      [1, () => r.pick([0, 1, '', 'x', null, [], [0], {}])]])();
  }
  arr() {
    const r = this.rng;
    return r.wpick([[4, () => this.varOf(ARR_PATHS)],
      [3, () => r.pick([[1, 2, 3], ['a', 'b'], [], ['beta', 'x'], [1, '1', 1.5, null], [[1], [2, 3]], [{ name: 'a', qty: 1 }], [0, false, '']])],
      [1, () => r.pick(['abc', 3, null])]])();
  }

  /** A var over one of `paths`, in each accepted form. */
  varOf(paths) {
    const r = this.rng;
    const p = r.pick(paths);
    return r.wpick([
      [8, () => ({ var: p })],
      [2, () => ({ var: [p] })],
      [3, () => ({ var: [p, r.pick([0, 'dflt', null, true, ...this.names])] })],
      [1, () => ({ var: r.pick(PATHS) })],
      [0.3, () => ({ var: r.pick(['', null, [], 0, 1]) })],
      [0.3, () => ({ var: { cat: ['user.', r.pick(['tier', 'id', 'nope'])] } })],
    ])();
  }

  any(d) {
    const r = this.rng;
    if (d <= 0) return r.wpick([[3, () => this.num()], [3, () => this.str()], [2, () => this.bool()], [1, () => this.arr()], [1, () => null]])();
    return r.wpick([[3, () => this.numExpr(d)], [3, () => this.strExpr(d)], [3, () => this.boolExpr(d)], [1, () => this.arrExpr(d)]])();
  }

  boolExpr(d) {
    const r = this.rng;
    if (d <= 0) return this.bool();
    const sub = () => (r.chance(0.75) ? this.boolExpr(d - 1) : this.any(d - 1));
    const operand = () => r.wpick([[3, () => this.num()], [3, () => this.str()], [1, () => this.any(d - 1)], [1, () => this.bool()]])();
    return r.wpick([
      [6, () => ({ [r.pick(['==', '===', '!=', '!=='])]: [operand(), operand()] })],
      [6, () => ({ [r.pick(['<', '<=', '>', '>='])]: [r.chance(0.7) ? this.num() : operand(), r.chance(0.7) ? this.num() : operand()] })],
      [2, () => ({ [r.pick(['<', '<='])]: [this.num(), this.num(), this.num()] })],
      [2, () => (r.chance(0.5) ? { '!': [sub()] } : { '!': sub() })],
      [2, () => (r.chance(0.5) ? { '!!': [sub()] } : { '!!': sub() })],
      [4, () => ({ [r.pick(['and', 'or'])]: Array.from({ length: r.range(1, 3) }, sub) })],
      [3, () => ({ in: [this.str(), r.chance(0.5) ? this.str() : this.arrExpr(d - 1)] })],
      [3, () => ({ [r.pick(['starts_with', 'ends_with'])]: r.chance(0.9) ? [this.str(), this.str()] : r.pick([[this.str()], [this.num(), 'a'], 'abc']) })],
      [4, () => this.semVer()],
      [3, () => ({ [r.pick(['all', 'none', 'some'])]: [this.arrExpr(d - 1), this.scopedPred()] })],
      [1, () => ({ missing: Array.from({ length: r.range(1, 3) }, () => r.pick(PATHS)) })],
      [1, () => ({ missing_some: [r.range(0, 2), r.sample(PATHS, r.range(1, 3))] })],
      [2, () => this.bool()],
    ])();
  }

  semVer() {
    const r = this.rng;
    const version = () => r.wpick([[6, () => r.pick(VERSIONS)], [2, () => r.pick(VERSION_NUMS)], [4, () => ({ var: 'version' })], [1, () => null]])();
    const op = r.chance(0.92) ? r.pick(SEMVER_OPS) : r.pick(BAD_SEMVER_OPS);
    if (r.chance(0.04)) return { sem_ver: r.pick([[version(), op], [version(), op, version(), version()]]) };
    return { sem_ver: [version(), op, version()] };
  }

  /** A predicate for all/none/some/filter: runs with an array element as data. */
  scopedPred() {
    const r = this.rng;
    return r.pick([
      { '>': [{ var: '' }, r.pick([0, 1, 2, '1'])] },
      { '==': [{ var: '' }, r.pick(['beta', 1, 'a', null])] },
      { '!!': [{ var: '' }] },
      { '>=': [{ var: 'qty' }, 1] },
      { '==': [{ var: 'name' }, 'a'] },
      { in: [{ var: '' }, ['a', 'beta', 1]] },
      { var: '' },
      { '<': [{ var: '0' }, 2] },
      { starts_with: [{ var: '' }, 'b'] },
    ]);
  }

  numExpr(d) {
    const r = this.rng;
    if (d <= 0) return this.num();
    const sub = () => (r.chance(0.7) ? this.numExpr(d - 1) : this.num());
    const some = (a, b) => Array.from({ length: r.range(a, b) }, sub);
    return r.wpick([
      [4, () => ({ '+': some(1, 3) })],
      [1, () => ({ '+': this.num() })],
      [3, () => ({ '-': some(1, 2) })],
      [3, () => ({ '*': some(2, 3) })],
      [3, () => ({ '/': [sub(), sub()] })],
      [3, () => ({ '%': [sub(), r.chance(0.8) ? r.pick([2, 3, 5, 10, 0, -3, 1.5]) : sub()] })],
      [3, () => ({ [r.pick(['max', 'min'])]: some(1, 3) })],
      [2, () => ({ reduce: [this.arrExpr(d - 1), { [r.pick(['+', '*', 'max'])]: [{ var: 'current' }, { var: 'accumulator' }] }, r.pick([0, 1, null, '0'])] })],
      [2, () => this.num()],
    ])();
  }

  strExpr(d) {
    const r = this.rng;
    if (d <= 0) return this.str();
    return r.wpick([
      [4, () => ({ cat: Array.from({ length: r.range(1, 3) }, () => (r.chance(0.7) ? this.str() : this.any(d - 1))) })],
      [3, () => ({ substr: [this.str(), r.pick([0, 1, 2, -1, -3, 10, '1']), ...(r.chance(0.5) ? [r.pick([1, 2, -1, 0, 5, -10])] : [])] })],
      [2, () => ({ if: [this.boolExpr(d - 1), this.str(), this.str()] })],
      [3, () => this.str()],
    ])();
  }

  arrExpr(d) {
    const r = this.rng;
    if (d <= 0) return this.arr();
    return r.wpick([
      [3, () => ({ map: [this.arr(), r.pick([{ '*': [{ var: '' }, 2] }, { var: 'name' }, { cat: [{ var: '' }, '!'] }, { '+': [{ var: '' }, 1] }, { var: '' }])] })],
      [3, () => ({ filter: [this.arr(), this.scopedPred()] })],
      [3, () => ({ merge: Array.from({ length: r.range(1, 3) }, () => (r.chance(0.7) ? this.arr() : this.any(0))) })],
      [1, () => ({ missing: r.sample(PATHS, r.range(1, 3)) })],
      [1, () => ({ missing: [r.sample(PATHS, 2)] })],
      [1, () => ({ missing_some: [r.range(1, 2), r.sample(PATHS, r.range(1, 3))] })],
      [2, () => this.arr()],
    ])();
  }

  /** fractional, with or without a bucketing expression, with weight edge cases. */
  fractional() {
    const r = this.rng;
    const n = r.range(1, 4);
    const entries = [];
    for (let i = 0; i < n; i++) {
      const variant = r.wpick([[12, () => r.pick(this.names)], [1, () => 'purple'], [0.5, () => null], [0.5, () => r.pick([1, true])],
        [0.3, () => ({ cat: [r.pick(this.names)] })]])();
      const entry = r.wpick([
        [14, () => [variant, r.pick([10, 25, 50, 50, 90, 1, 0, 100, 33])]],
        [2, () => [variant]],
        [0.5, () => [variant, null]],
        [0.5, () => [variant, r.pick([12.5, -5, '50', 3000000000, raw('50.0'), true])]],
        [0.5, () => [variant, 50, 'extra']],
        [0.5, () => [variant, { '+': [10, 5] }]],
        [0.2, () => []],
        [0.2, () => variant],
      ])();
      entries.push(entry);
    }
    const bucketBy = r.wpick([
      [10, () => undefined],
      [2, () => ({ var: 'email' })],
      [2, () => ({ var: 'user.id' })],
      [2, () => ({ cat: [{ var: '$flagd.flagKey' }, { var: 'targetingKey' }] })],
      [1, () => ({ cat: [{ var: 'user.id' }, '-salt'] })],
      [1, () => r.pick(['fixed-key', 'üñí', ''])],
      [1, () => ({ var: 'n' })],
      [0.5, () => null],
    ])();
    return { fractional: bucketBy === undefined ? entries : [bucketBy, ...entries] };
  }

  /** An expression whose value names a variant (or null: the default). */
  variantExpr(d, types) {
    const r = this.rng;
    const names = this.names;
    const numericNames = names.filter((n) => n !== '' && !Number.isNaN(Number(n)));
    const boolNames = names.includes('true') || names.includes('false');
    const leaf = () => r.wpick([[8, () => r.pick(names)], [1, () => r.pick(['purple', 'RED', ''])], [2, () => null]])();
    if (d <= 0) return leaf();
    return r.wpick([
      [5, leaf],
      [12, () => {
        const args = [this.boolExpr(d - 1), this.variantExpr(d - 1, types)];
        while (r.chance(0.3)) args.push(this.boolExpr(d - 1), this.variantExpr(d - 1, types));
        if (r.chance(0.8)) args.push(this.variantExpr(d - 1, types));
        return { if: args };
      }],
      [0.5, () => ({ if: [this.variantExpr(d - 1, types)] })],
      [6, () => this.fractional()],
      [3, () => ({ var: r.pick(['plan', 'user.tier', 'tags.0']) })],
      [1, () => ({ var: [r.pick(['plan', 'nope']), r.pick(names)] })],
      [2, () => ({ cat: r.pick([[r.pick(names)], [{ var: 'plan' }], [r.pick(names).slice(0, 1), r.pick(names).slice(1)], [{ var: 'n' }]]) })],
      [1, () => ({ substr: [r.pick(names) + 'xyz', 0, r.pick(names).length] })],
      [boolNames ? 6 : 0.5, () => this.boolExpr(d)],
      [numericNames.length ? 5 : 0.5, () => this.numExpr(d)],
      [1, () => ({ [r.pick(['and', 'or'])]: [this.boolExpr(d - 1), this.variantExpr(d - 1, types)] })],
      [1, () => this.any(d - 1)],                                   // may be an array/object
      [0.4, () => ({ [r.pick(['regex_match', 'foo', 'log2', 'method'])]: [{ var: 'email' }, 'x'] })],   // unknown operators
      [0.4, () => ({ if: [false, { no_such_op: [1] }, r.pick(names)] })],                                // one in a branch not taken
      [0.4, () => ({ $ref: r.pick(REF_NAMES) })],
      [0.3, () => ({ var: '$flagd.flagKey' })],
    ])();
  }
}

// ---- contexts ------------------------------------------------------------------

function scalar(rng) {
  return rng.wpick([[4, () => rng.pick(NUMS)], [3, () => rng.pick(STRINGS)], [2, () => rng.pick(NUMERIC_STRINGS)],
    [1, () => rng.pick([true, false, null])]])();
}

function makeContext(rng, names) {
  const c = {};
  const maybe = (p, k, f) => { if (rng.chance(p)) c[k] = f(); };
  // targetingKey: usually a string; sometimes missing, empty, numeric, null
  maybe(0.85, 'targetingKey', () => rng.wpick([[20, () => rng.pick(TARGETING_KEYS) + (rng.chance(0.7) ? String(rng.int(1000)) : '')],
    [1, () => ''], [1, () => rng.pick([42, 7.5, raw('1.0')])], [0.5, () => null], [0.3, () => true]])());
  maybe(0.7, 'email', () => rng.wpick([[6, () => rng.pick(['ann', 'bob', 'cy', '']) + rng.pick(['@acme.com', '@example.org', '@ACME.COM', ''])],
    [1, () => scalar(rng)]])());
  maybe(0.7, 'plan', () => (rng.chance(0.7) ? rng.pick(names) : scalar(rng)));
  maybe(0.7, 'age', () => rng.wpick([[5, () => rng.int(90)], [2, () => scalar(rng)], [1, () => rng.pick(['42', '018', 17.5])]])());
  maybe(0.7, 'n', () => rng.wpick([[5, () => rng.range(-3, 10)], [4, () => scalar(rng)], [1, () => rng.pick([[], [1], {}, [1, 2]])]])());
  maybe(0.5, 'score', () => rng.pick([0.1, 0.2, 0.30000000000000004, 99.5, -1, raw('1.0'), '7', 1e21]));
  maybe(0.6, 'flag', () => rng.pick([true, false, 'true', 'false', 0, 1, '', null, [], {}]));
  maybe(0.6, 'version', () => (rng.chance(0.8) ? rng.pick(VERSIONS) : rng.pick(VERSION_NUMS)));
  maybe(0.6, 'tags', () => rng.pick([['beta', 'internal'], [], ['a', 1, null], 'beta', ['x'], [''], ['beta']]));
  maybe(0.6, 'nums', () => rng.pick([[1, 2, 3], [], [1, '2', 3.5], [null], [0], [raw('1.0'), 2], [-1, 10, 5]]));
  maybe(0.5, 'items', () => rng.pick([[{ name: 'a', qty: 1 }, { name: 'b', qty: 0 }], [], [{ name: 'c' }], [{ qty: '3' }, { name: 'a', qty: 2 }]]));
  maybe(0.3, 'arr', () => rng.pick([[[1, 2], [3]], [[]], [['a', 'b']]]));
  maybe(0.6, 'user', () => rng.wpick([[6, () => {
    const u = {};
    if (rng.chance(0.8)) u.id = rng.pick(['u1', 'u2', 'u-42', '', 7]);
    if (rng.chance(0.7)) u.tier = rng.chance(0.6) ? rng.pick(['gold', 'silver', ...names]) : scalar(rng);
    if (rng.chance(0.5)) u.address = rng.pick([{ city: 'Paris', zip: '75001' }, { city: '' }, {}, null, 'nowhere']);
    if (rng.chance(0.4)) u.tags = rng.pick([['beta'], [], ['x', 'y']]);
    if (rng.chance(0.4)) u.score = scalar(rng);
    if (rng.chance(0.4)) u.active = rng.pick([true, false, 1, 0, 'yes']);
    return u;
  }], [1, () => rng.pick(['alice', null, 3, [], [{ id: 'u1' }]])]])());
  maybe(0.4, 'empty', () => rng.pick(['', [], {}, null, 0]));
  maybe(0.4, 'zero', () => rng.pick([0, '0', false, '', null, raw('0.0'), raw('-0.0')]));
  maybe(0.5, 's', () => scalar(rng));
  maybe(0.2, 'a.b', () => 'literal-dotted-key');
  maybe(0.2, 'a', () => rng.pick([{ b: 'nested-b' }, 'str']));
  maybe(0.1, '0', () => 'zero-key');
  maybe(0.03, '$flagd', () => ({ flagKey: 'spoofed', timestamp: 1 }));
  return c;
}

// ---- flags and cases -------------------------------------------------------------

const KEY_DECOR = ['', '', '', '.v2', ':web', '_x', '-beta'];

/**
 * count cases: [{key, flag (flagd definition), context, type, query}]; query
 * is the key asked for (a few ask for a flag that does not exist).
 */
export function generateCases(seed, count) {
  const rng = new Rng(seed);
  const cases = [];
  for (let i = 0; i < count; i++) {
    const type = rng.pick(['boolean', 'string', 'number', 'object']);
    const variants = makeVariants(rng, type);
    const names = Object.keys(variants);
    const key = `f${i}${rng.pick(KEY_DECOR)}`;
    const flag = { state: rng.chance(0.08) ? 'DISABLED' : 'ENABLED', variants };
    const dv = rng.wpick([[16, 'name'], [2, 'null'], [2, 'absent']]);
    if (dv === 'name') flag.defaultVariant = rng.pick(names);
    else if (dv === 'null') flag.defaultVariant = null;
    const g = new ExprGen(rng, names);
    const t = rng.wpick([[8, 'rule'], [1, 'none'], [0.3, 'empty']]);
    if (t === 'rule') {
      // a bare literal as the whole targeting is rare in real files (flagd's
      // schema refuses it): keep a few, draw again for most
      let rule = g.variantExpr(rng.range(1, 4), type);
      for (let k = 0; k < 3 && (rule === null || typeof rule !== 'object') && rng.chance(0.85); k++) rule = g.variantExpr(rng.range(1, 4), type);
      flag.targeting = rule;
    }
    else if (t === 'empty') flag.targeting = {};
    if (rng.chance(0.3)) flag.metadata = rng.pick([{ team: 'web' }, { team: 'api', version: 3, beta: true }, { flagSetId: 'own' }]);
    const context = makeContext(rng, names);
    const query = rng.chance(0.01) ? `missing-${i}` : key;
    cases.push({ key, flag, context, type, query });
  }
  return cases;
}

/** The flagd flag file holding every case's flag. */
export function flagFile(cases) {
  const flags = {};
  for (const c of cases) flags[c.key] = c.flag;
  return toJson({
    $schema: 'https://flagd.dev/schema/v0/flags.json',
    metadata: { flagSetId: 'differential', version: 'v1' },
    flags,
    $evaluators: EVALUATORS,
  });
}
