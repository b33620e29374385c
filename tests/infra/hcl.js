// Loading Terraform for the offline checks: parse with @cdktf/hcl2json
// (HashiCorp's own HCL parser, compiled to wasm), merge the files into one
// model, and evaluate the small subset of the expression language that the
// variable validations use, so those rules can be run on test values.
//
// The evaluator is deliberately partial: an unsupported node or function
// throws "unsupported", which the checks report as a failure, never a pass.
'use strict';

const fs = require('fs');
const path = require('path');
const { parse, getExpressionAst } = require('@cdktf/hcl2json');

// ---------------------------------------------------------------- loading

// Returns { files: [{name, text, json}], errors: [{name, error}], model }.
async function loadDir(dir) {
  const names = fs.readdirSync(dir).filter((n) => n.endsWith('.tf')).sort();
  const files = [];
  const errors = [];
  for (const name of names) {
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    try {
      files.push({ name, text, json: await parse(name, text) });
    } catch (err) {
      errors.push({ name, error: String(err.message || err).split('\n')[0] });
    }
  }
  return { names, files, errors, model: merge(files.map((f) => f.json)) };
}

function merge(docs) {
  const m = { resource: {}, data: {}, variable: {}, output: {}, locals: {}, terraform: [], provider: {} };
  for (const doc of docs) {
    for (const kind of ['resource', 'data']) {
      for (const [type, byName] of Object.entries(doc[kind] || {})) {
        m[kind][type] = m[kind][type] || {};
        for (const [name, bodies] of Object.entries(byName)) m[kind][type][name] = bodies[0];
      }
    }
    for (const kind of ['variable', 'output']) {
      for (const [name, bodies] of Object.entries(doc[kind] || {})) m[kind][name] = bodies[0];
    }
    for (const block of doc.locals || []) Object.assign(m.locals, block);
    m.terraform.push(...(doc.terraform || []));
    for (const [name, bodies] of Object.entries(doc.provider || {})) m.provider[name] = bodies[0];
  }
  return m;
}

// ------------------------------------------------------- expression helpers

const isExpr = (v) => typeof v === 'string' && v.startsWith('${') && v.endsWith('}');
const exprText = (v) => (isExpr(v) ? v.slice(2, -1) : null);

// Resource/data/var/local references in an expression string:
// "aws_subnet.private[*].id" -> "aws_subnet.private".
function references(v) {
  if (typeof v !== 'string') return [];
  const out = [];
  const re = /\b(data\.[a-z0-9_]+\.[A-Za-z0-9_-]+|var\.[A-Za-z0-9_]+|local\.[A-Za-z0-9_]+|aws_[a-z0-9_]+\.[A-Za-z0-9_-]+)/g;
  let match;
  while ((match = re.exec(v)) !== null) out.push(match[1]);
  return out;
}

// ---------------------------------------------------------------- evaluator

class EvalError extends Error {}
class Unsupported extends Error {}

// HCL string literal escapes (the AST keeps them raw).
function unescapeHcl(raw) {
  return raw.replace(/\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)|\$\$\{|%%\{/gs, (all, esc) => {
    if (all === '$${') return '${';
    if (all === '%%{') return '%{';
    switch (esc[0]) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case '"': return '"';
      case '\\': return '\\';
      case 'u': case 'U': return String.fromCodePoint(parseInt(esc.slice(1), 16));
      default: throw new EvalError(`invalid escape \\${esc}`);
    }
  });
}

function parseIPv4(s) {
  const parts = String(s).split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map((p) => (/^(0|[1-9][0-9]{0,2})$/.test(p) ? Number(p) : NaN));
  return bytes.every((b) => b >= 0 && b <= 255) ? bytes : null;
}

function parseCidr4(s) {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(String(s));
  const ip = m && parseIPv4(m[1]);
  const bits = m ? Number(m[2]) : -1;
  if (!ip || bits > 32) throw new EvalError(`invalid IPv4 CIDR "${s}"`);
  return { ip, bits };
}

const toInt = (b) => ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
const fromInt = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

function type(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v;
}

function want(v, t, fn) {
  if (v === null) throw new EvalError(`${fn}: argument must not be null`);
  if (t === 'string' && typeof v === 'number') return String(v);
  if (type(v) !== t) throw new EvalError(`${fn}: expected ${t}, got ${type(v)}`);
  return v;
}

// Terraform's functions used by the validations (semantics of Terraform 1.5+).
const FUNCTIONS = {
  can: null, // special-cased: errors become false
  try: null, // special-cased: first argument that evaluates without error
  length(v) {
    if (typeof v === 'string') return [...v].length;
    if (Array.isArray(v)) return v.length;
    if (v && typeof v === 'object') return Object.keys(v).length;
    throw new EvalError('length: unsupported type');
  },
  contains(list, v) {
    want(list, 'list', 'contains');
    return list.some((x) => x === v);
  },
  split(sep, s) {
    return want(s, 'string', 'split').split(want(sep, 'string', 'split'));
  },
  tonumber(v) {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && /^-?[0-9]+(\.[0-9]+)?$/.test(v)) return Number(v);
    throw new EvalError(`tonumber: cannot convert "${v}"`);
  },
  regex(pattern, s) {
    const m = new RegExp(want(pattern, 'string', 'regex'), 'u').exec(want(s, 'string', 'regex'));
    if (!m) throw new EvalError('regex: pattern did not match');
    return m.length > 1 ? m.slice(1) : m[0];
  },
  cidrnetmask(prefix) {
    const { bits } = parseCidr4(want(prefix, 'string', 'cidrnetmask'));
    return fromInt(bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
  },
  cidrhost(prefix, hostnum) {
    const { ip, bits } = parseCidr4(want(prefix, 'string', 'cidrhost'));
    const size = 2 ** (32 - bits);
    if (!Number.isInteger(hostnum) || hostnum < 0 || hostnum >= size) throw new EvalError('cidrhost: host number out of range');
    const network = bits === 0 ? 0 : (toInt(ip) & ((0xffffffff << (32 - bits)) >>> 0)) >>> 0;
    return fromInt((network + hostnum) >>> 0);
  },
  lower: (s) => want(s, 'string', 'lower').toLowerCase(),
  startswith: (s, p) => want(s, 'string', 'startswith').startsWith(want(p, 'string', 'startswith')),
};

function traverse(value, segments) {
  for (const seg of segments) {
    if (seg.type === 'indexTraversal') {
      const i = Number(seg.segment);
      if (!Array.isArray(value) || !Number.isInteger(i) || i < 0 || i >= value.length) {
        throw new EvalError(`index ${seg.segment} out of range`);
      }
      value = value[i];
    } else {
      if (value === null || typeof value !== 'object' || !(seg.segment in value)) {
        throw new EvalError(`no attribute "${seg.segment}"`);
      }
      value = value[seg.segment];
    }
  }
  return value;
}

function evalNode(node, scope) {
  const kids = node.children || [];
  switch (node.type) {
    case '': // parentheses
      return evalNode(kids[0], scope);
    case 'literalValue': {
      const { type: t, value } = node.meta;
      if (t === 'number') return Number(value);
      if (t === 'bool') return value === 'true';
      if (t === 'string') return unescapeHcl(value);
      if (t === 'null' || value === 'null') return null;
      throw new Unsupported(`literal of type ${t}`);
    }
    case 'template':
    case 'templateWrap':
      if (kids.length === 1 && node.type === 'templateWrap') return evalNode(kids[0], scope);
      return kids.map((k) => {
        const v = evalNode(k, scope);
        if (v === null || typeof v === 'object') throw new EvalError('cannot interpolate a non-primitive');
        return String(v);
      }).join('');
    case 'tuple':
      return kids.map((k) => evalNode(k, scope));
    case 'scopeTraversal': {
      const [root, ...rest] = node.meta.traversal;
      if (root.segment !== 'var') {
        // Resource attributes and locals only as the caller stubs them.
        if (scope.refs && Object.prototype.hasOwnProperty.call(scope.refs, node.meta.value)) return scope.refs[node.meta.value];
        throw new Unsupported(`reference ${node.meta.value}`);
      }
      const [name, ...more] = rest;
      if (!name || !(name.segment in scope.var)) throw new EvalError(`unknown variable ${node.meta.value}`);
      return traverse(scope.var[name.segment], more);
    }
    case 'relativeTraversal':
      return traverse(evalNode(kids[0], scope), node.meta.traversal);
    case 'index': {
      const coll = evalNode(kids[0], scope);
      const key = evalNode(kids[1], scope);
      return traverse(coll, [{ type: Array.isArray(coll) ? 'indexTraversal' : 'nameTraversal', segment: String(key) }]);
    }
    case 'conditional': {
      const c = evalNode(kids[0], scope);
      if (typeof c !== 'boolean') throw new EvalError('condition must be bool');
      return c ? evalNode(kids[1], scope) : evalNode(kids[2], scope);
    }
    case 'unaryOp': {
      const v = evalNode(kids[0], scope);
      if (node.meta.operator === 'logicalNot') {
        if (typeof v !== 'boolean') throw new EvalError('! needs a bool');
        return !v;
      }
      if (node.meta.operator === 'negate') {
        if (typeof v !== 'number') throw new EvalError('- needs a number');
        return -v;
      }
      throw new Unsupported(`unary ${node.meta.operator}`);
    }
    case 'binaryOp': {
      // Terraform (up to 1.11) evaluates both operands of && and || (no
      // short-circuit), so an error on either side is an error: same here.
      const a = evalNode(kids[0], scope);
      const b = evalNode(kids[1], scope);
      const op = node.meta.operator;
      const num = (x) => {
        if (typeof x === 'number') return x;
        if (typeof x === 'string' && /^-?[0-9]+(\.[0-9]+)?$/.test(x)) return Number(x);
        throw new EvalError(`${op}: not a number`);
      };
      const bool = (x) => {
        if (typeof x !== 'boolean') throw new EvalError(`${op}: not a bool`);
        return x;
      };
      switch (op) {
        case 'logicalAnd': return bool(a) && bool(b);
        case 'logicalOr': return bool(a) || bool(b);
        case 'equal': return JSON.stringify(a) === JSON.stringify(b);
        case 'notEqual': return JSON.stringify(a) !== JSON.stringify(b);
        case 'greaterThan': return num(a) > num(b);
        case 'greaterThanOrEqual': return num(a) >= num(b);
        case 'lessThan': return num(a) < num(b);
        case 'lessThanOrEqual': return num(a) <= num(b);
        case 'add': return num(a) + num(b);
        case 'subtract': return num(a) - num(b);
        case 'multiply': return num(a) * num(b);
        default: throw new Unsupported(`operator ${op}`);
      }
    }
    case 'function': {
      const name = node.meta.name;
      if (node.meta.expandedFinalArgument === true) throw new Unsupported('expanded argument');
      if (name === 'can') {
        try {
          evalNode(kids[0], scope);
          return true;
        } catch (err) {
          if (err instanceof Unsupported) throw err;
          return false;
        }
      }
      if (name === 'try') {
        for (const k of kids) {
          try {
            return evalNode(k, scope);
          } catch (err) {
            if (err instanceof Unsupported) throw err;
          }
        }
        throw new EvalError('try: no argument succeeded');
      }
      const fn = FUNCTIONS[name];
      if (!fn) throw new Unsupported(`function ${name}()`);
      return fn(...kids.map((k) => evalNode(k, scope)));
    }
    default:
      throw new Unsupported(`expression type "${node.type}" (${node.meta && node.meta.value})`);
  }
}

// Evaluates an expression string (as hcl2json writes it, "${...}", or a
// plain literal) with var.<name> = vars[name].
const astCache = new Map();
async function evaluate(expr, vars) {
  if (!isExpr(expr)) return expr;
  if (!astCache.has(expr)) astCache.set(expr, await getExpressionAst('expression.tf', exprText(expr)));
  return evalNode(astCache.get(expr), { var: vars });
}

// Evaluates a string value as hcl2json writes it: a template with ${...} and
// %{if}...%{endif} parts, or one whole "${...}" expression (whose value is
// returned as is, not as a string). var.<name> = vars[name]; refs maps any
// other reference ("aws_instance.app.public_dns", "local.x") to a value.
async function evaluateTemplate(text, vars, refs = {}) {
  if (typeof text !== 'string') return text;
  const src = `"${text}"`;
  if (!astCache.has(src)) astCache.set(src, await getExpressionAst('template.tf', src));
  return evalNode(astCache.get(src), { var: vars, refs });
}

// The same, synchronously, once the template's AST is cached (evaluateTemplate
// on the same text caches it). Used for locals inside a running evaluation.
function evaluateTemplateSync(text, vars, refs = {}) {
  if (typeof text !== 'string') return text;
  const src = `"${text}"`;
  if (!astCache.has(src)) throw new Unsupported(`template not parsed yet: ${text}`);
  return evalNode(astCache.get(src), { var: vars, refs });
}

// Runs every validation block of variable `name` with the given value.
// Returns { ok, failed: [error_message...], errors: [evaluation errors] }.
// A condition that errors rejects the value, as in Terraform.
async function validate(model, name, value) {
  const v = model.variable[name];
  if (!v) throw new Error(`no variable ${name}`);
  const failed = [];
  for (const rule of v.validation || []) {
    let result;
    try {
      result = await evaluate(rule.condition, { [name]: value });
    } catch (err) {
      if (err instanceof Unsupported) throw err;
      result = false;
    }
    if (result !== true) failed.push(rule.error_message);
  }
  return { ok: failed.length === 0, failed };
}

// ------------------------------------------------------------ templatefile

// Renders a Terraform template that uses only ${name} interpolations and
// the $${ / %%{ escapes (what deploy/aws templates are allowed to use).
// Returns { text, used: Set of names }.
function renderTemplate(src, vars) {
  let out = '';
  const used = new Set();
  let i = 0;
  while (i < src.length) {
    if (src.startsWith('$${', i)) { out += '${'; i += 3; continue; }
    if (src.startsWith('%%{', i)) { out += '%{'; i += 3; continue; }
    if (src.startsWith('%{', i)) throw new Error(`template directive at offset ${i} (not allowed here)`);
    if (src.startsWith('${', i)) {
      const end = src.indexOf('}', i);
      const inner = end < 0 ? '' : src.slice(i + 2, end);
      const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(inner);
      if (!m) throw new Error(`template expression "\${${inner.slice(0, 40)}}" is not a plain name`);
      if (!(m[1] in vars)) throw new Error(`template uses \${${m[1]}}, which is not passed`);
      used.add(m[1]);
      out += String(vars[m[1]]);
      i = end + 1;
      continue;
    }
    out += src[i++];
  }
  return { text: out, used };
}

module.exports = {
  loadDir, isExpr, exprText, references, evaluate, evaluateTemplate, evaluateTemplateSync, validate, renderTemplate, unescapeHcl, parseCidr4,
  Unsupported, EvalError,
};
