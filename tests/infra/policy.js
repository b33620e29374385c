#!/usr/bin/env node
// Policy checks on the Terraform in deploy/aws (or the directory given):
// parses every .tf with @cdktf/hcl2json and asserts the security and sizing
// rules of the architecture (issue 5, "AWS as code"). One line per check,
// `ok - <name>` or `FAIL - <name>: <why>`, then `policy: N passed, N failed`;
// exit 1 if any check failed.
//
//   node tests/infra/policy.js [DIR]
//   node tests/infra/policy.js --each DIR...   for each DIR: a "### DIR" line,
//                                              its result lines; exit 0
//   node tests/infra/policy.js --render-user-data DIR [JSON | FILE=JSON...]
//                                              the user data as templatefile()
//                                              renders it, with sample values
//                                              (JSON object: overrides; those
//                                              named like a Terraform variable
//                                              also feed what derives from it,
//                                              tls_secret_arn -> app_port), to
//                                              stdout or to each FILE
//
// tests/infra/run.sh also runs it on mutated copies of deploy/aws to prove
// that each rule fails when broken.
'use strict';

const fs = require('fs');
const path = require('path');
const os = require('os');
const zlib = require('zlib');
const { execFileSync } = require('child_process');
const H = require('./hcl');

let dir; // the directory being checked
const OPEN = new Set(['0.0.0.0/0', '::/0']);
const EC2_USER_DATA_LIMIT = 16384; // bytes, before base64 (after gzip when gzipped)
// Sample values for var.tls_secret_arn and var.public_hostname, and the
// instance's EC2 public name standing in for aws_instance.*.public_dns.
const TLS_ARN = 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:togglemaster/tls-certificate-AbC123';
const HOSTNAME = 'flags.example.com';
// The admin token secret's ARN as a plan would know it (name_prefix adds 26
// characters), standing in for aws_secretsmanager_secret.*.arn.
const ADMIN_ARN = 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:togglemaster/admin-token-20250101000000000000000001-AbCdEf';
const PUBLIC_DNS = 'ec2-203-0-113-7.sa-east-1.compute.amazonaws.com';
const ALB_DNS = 'togglemaster-alb-1234567890.sa-east-1.elb.amazonaws.com'; // aws_lb.*.dns_name
const ACM_ARN = 'arn:aws:acm:sa-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

let results = [];
const checks = [];
const check = (name, fn) => checks.push({ name, fn });

class Fail extends Error {}
function assert(cond, msg) {
  if (!cond) throw new Fail(msg);
}
const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const show = (v) => JSON.stringify(v);

// ------------------------------------------------------------------ model

let M; // merged model, as planned in the mode being checked (see planView)
let files; // [{name, text, json}]
let VIEWS; // { single: model, ha: model }

// ------------------------------------------------------------- the two modes
//
// var.mode picks one of two shapes. Each check runs on the model a plan in
// one mode would build: resources whose count is 0 in that mode are left
// out, and an attribute whose whole value is a conditional on the mode
// (var.mode, or a local derived only from it) is replaced by the branch
// that mode takes, e.g. a route_table_id of
// "${local.ha ? aws_route_table.private_nat[0].id : aws_route_table.private.id}".
// Expressions that also read other variables stay as written; the checks
// that need them evaluate them with variable values (varValues).

function modeLocal(name, base, seen = new Set()) {
  const v = base.locals[name];
  if (seen.has(name) || typeof v !== 'string') return false;
  seen.add(name);
  const refs = H.references(v);
  return refs.length > 0 && refs.every((r) => r === 'var.mode' || (r.startsWith('local.') && modeLocal(r.slice(6), base, seen)));
}

function dependsOnMode(v, base) {
  if (!H.isExpr(v)) return false;
  const refs = H.references(v);
  return refs.some((r) => r === 'var.mode' || (r.startsWith('local.') && modeLocal(r.slice(6), base))) &&
    refs.every((r) => !r.startsWith('var.') || r === 'var.mode');
}

// Evaluates a mode-dependent expression: locals derived from the mode are
// computed, any other reference stays symbolic ("${aws_x.y.id}").
async function evalMode(v, base, mode) {
  const values = { mode };
  const refs = new Proxy({}, {
    getOwnPropertyDescriptor: (t, k) => ({ value: refs[k], configurable: true, enumerable: true, writable: false }),
    get: (t, k) => (typeof k === 'string' && k.startsWith('local.') && modeLocal(k.slice(6), base) ? localValue(k.slice(6)) : `\${${String(k)}}`),
  });
  const cache = {};
  const localValue = (name) => {
    if (!(name in cache)) cache[name] = H.evaluateTemplateSync(base.locals[name], values, refs);
    return cache[name];
  };
  // Parse the mode's locals first (twice: one may read another).
  for (let pass = 0; pass < 2; pass++) {
    for (const name of Object.keys(base.locals).filter((n) => modeLocal(n, base))) {
      await H.evaluateTemplate(base.locals[name], values, refs).catch(() => {});
    }
  }
  return H.evaluateTemplate(v, values, refs);
}

async function planView(base, mode) {
  const view = JSON.parse(JSON.stringify(base));
  const walk = async (v) => {
    if (Array.isArray(v)) return Promise.all(v.map(walk));
    if (v && typeof v === 'object') {
      const out = {};
      for (const [k, x] of Object.entries(v)) out[k] = await walk(x);
      return out;
    }
    if (!dependsOnMode(v, base)) return v;
    try {
      return await evalMode(v, base, mode);
    } catch (err) {
      return v;
    }
  };
  for (const kind of ['resource', 'data']) {
    for (const [type, byName] of Object.entries(view[kind])) {
      for (const [name, r] of Object.entries(byName)) {
        if (r.count !== undefined && dependsOnMode(r.count, base)) {
          const n = await evalMode(r.count, base, mode);
          if (n === 0) {
            delete byName[name];
            continue;
          }
        }
        byName[name] = await walk(r);
      }
      if (Object.keys(byName).length === 0) delete view[kind][type];
    }
  }
  return view;
}

// A check on the ha plan (the others check the default, single).
const checkHa = (name, fn) => check(`ha: ${name}`, async () => {
  M = VIEWS.ha;
  try {
    await fn();
  } finally {
    M = VIEWS.single;
  }
});

const resources = (type) => Object.entries(M.resource[type] || {});
const data = (type) => Object.entries(M.data[type] || {});
const only = (type) => {
  const all = resources(type);
  assert(all.length === 1, `expected exactly one ${type}, found ${all.length}`);
  return all[0];
};

// Every variable's value in a plan with these overrides (else its default).
function varValues(overrides = {}) {
  const values = {};
  for (const [name, v] of Object.entries(M.variable)) if ('default' in v) values[name] = v.default;
  for (const [name, v] of Object.entries(overrides)) if (name in M.variable) values[name] = v;
  return values;
}

// A value, or the default of the variable it is exactly "${var.x}".
function resolve(v) {
  const m = typeof v === 'string' && /^\$\{var\.([A-Za-z0-9_]+)\}$/.exec(v);
  if (!m) return v;
  const variable = M.variable[m[1]];
  return variable && 'default' in variable ? variable.default : undefined;
}

// "${aws_security_group.app.id}" -> "aws_security_group.app" (or null).
function refOf(v, attr) {
  const m = typeof v === 'string' && /^\$\{([a-z0-9_]+\.[A-Za-z0-9_-]+)(\[[^\]]*\])?\.([a-z_]+)\}$/.exec(v);
  return m && (!attr || m[3] === attr) ? m[1] : null;
}

// Subnets classified by the route table they are associated with.
function subnetTiers() {
  const tables = {};
  for (const [name, rt] of resources('aws_route_table')) {
    const routes = [...(rt.route || [])];
    for (const [, r] of resources('aws_route')) {
      if (refOf(r.route_table_id, 'id') === `aws_route_table.${name}`) routes.push(r);
    }
    // A default route through a NAT gateway (ha) keeps a subnet private:
    // nothing can reach in through it.
    const internet = routes.some((r) => !r.nat_gateway_id && (OPEN.has(r.cidr_block) || OPEN.has(r.ipv6_cidr_block) ||
      OPEN.has(r.destination_cidr_block) || OPEN.has(r.destination_ipv6_cidr_block)));
    tables[`aws_route_table.${name}`] = { routes, internet };
  }
  const tier = {};
  for (const [, assoc] of resources('aws_route_table_association')) {
    const subnet = refOf(assoc.subnet_id, 'id');
    const table = refOf(assoc.route_table_id, 'id');
    if (!subnet || !tables[table]) continue;
    const t = tables[table].internet ? 'public' : 'private';
    tier[subnet] = tier[subnet] && tier[subnet] !== t ? 'mixed' : t;
  }
  return { tables, tier };
}

// Every security-group rule, whatever resource style declares it.
function sgRules() {
  const rules = [];
  const push = (dir, sg, proto, from, to, sources, where) =>
    rules.push({ dir, sg, proto: String(resolve(proto)), from: resolve(from), to: resolve(to), sources, where });
  for (const type of ['aws_security_group', 'aws_default_security_group']) {
    for (const [name, sg] of resources(type)) {
      for (const dir of ['ingress', 'egress']) {
        for (const r of sg[dir] || []) {
          const sources = [
            ...(r.cidr_blocks || []).map((v) => ({ kind: 'cidr', value: v })),
            ...(r.ipv6_cidr_blocks || []).map((v) => ({ kind: 'cidr', value: v })),
            ...(r.security_groups || []).map((v) => ({ kind: 'sg', value: refOf(v, 'id') || v })),
            ...(r.prefix_list_ids || []).map((v) => ({ kind: 'prefix', value: v })),
            ...(r.self ? [{ kind: 'sg', value: `${type}.${name}` }] : []),
          ];
          push(dir, `${type}.${name}`, r.protocol, r.from_port, r.to_port, sources, `${type}.${name} inline ${dir}`);
        }
      }
    }
  }
  for (const [name, r] of resources('aws_security_group_rule')) {
    const sources = [
      ...(r.cidr_blocks || []).map((v) => ({ kind: 'cidr', value: v })),
      ...(r.ipv6_cidr_blocks || []).map((v) => ({ kind: 'cidr', value: v })),
      ...(r.source_security_group_id ? [{ kind: 'sg', value: refOf(r.source_security_group_id, 'id') || r.source_security_group_id }] : []),
      ...(r.prefix_list_ids || []).map((v) => ({ kind: 'prefix', value: v })),
      ...(r.self ? [{ kind: 'sg', value: refOf(r.security_group_id, 'id') }] : []),
    ];
    push(r.type, refOf(r.security_group_id, 'id'), r.protocol, r.from_port, r.to_port, sources, `aws_security_group_rule.${name}`);
  }
  for (const dir of ['ingress', 'egress']) {
    for (const [name, r] of resources(`aws_vpc_security_group_${dir}_rule`)) {
      const sources = [];
      if (r.cidr_ipv4 !== undefined) sources.push({ kind: 'cidr', value: r.cidr_ipv4 });
      if (r.cidr_ipv6 !== undefined) sources.push({ kind: 'cidr', value: r.cidr_ipv6 });
      if (r.referenced_security_group_id !== undefined) {
        sources.push({ kind: 'sg', value: refOf(r.referenced_security_group_id, 'id') || r.referenced_security_group_id });
      }
      if (r.prefix_list_id !== undefined) sources.push({ kind: 'prefix', value: r.prefix_list_id });
      push(dir, refOf(r.security_group_id, 'id'), r.ip_protocol, r.from_port, r.to_port, sources,
        `aws_vpc_security_group_${dir}_rule.${name}`);
    }
  }
  return rules;
}

function covers(rule, port) {
  if (['-1', 'all'].includes(rule.proto)) return true;
  if (!['tcp', '6'].includes(rule.proto)) return false;
  const from = typeof rule.from === 'number' ? rule.from : -Infinity; // unknown: assume it covers
  const to = typeof rule.to === 'number' ? rule.to : Infinity;
  return from <= port && port <= to;
}

// A CIDR source (after variable defaults) that is the whole internet.
function isOpen(source) {
  if (source.kind !== 'cidr') return false;
  const v = resolve(source.value);
  return v === undefined ? false : OPEN.has(v) || /\/0$/.test(String(v));
}

// All IAM policy documents: data.aws_iam_policy_document.<name> -> statements.
function policyDocs() {
  const docs = {};
  for (const [name, doc] of data('aws_iam_policy_document')) docs[`data.aws_iam_policy_document.${name}`] = doc.statement || [];
  return docs;
}
const docOf = (v) => {
  const m = typeof v === 'string' && /^\$\{(data\.aws_iam_policy_document\.[A-Za-z0-9_-]+)\.json\}$/.exec(v);
  return m ? m[1] : null;
};

// The dynamic blocks of every policy document, which hcl2json keeps apart
// from the static statements: doc -> [{type, for_each, iterator, content}].
function dynamicBlocks() {
  const docs = {};
  for (const [name, doc] of data('aws_iam_policy_document')) {
    docs[`data.aws_iam_policy_document.${name}`] = [].concat(doc.dynamic || []).flatMap((byType) =>
      Object.entries(byType).flatMap(([type, blocks]) => blocks.map((b) => ({
        type, for_each: b.for_each, iterator: b.iterator || type, content: (b.content || [])[0] || {},
      }))));
  }
  return docs;
}

// A policy document's statements as a plan with these variable values would
// render them: the static ones as written, each dynamic one expanded (its
// strings evaluated, with ITERATOR.value/.key for each element).
async function plannedStatements(doc, overrides) {
  const statements = [...(policyDocs()[doc] || [])];
  const values = varValues(overrides);
  // Strings are templates/expressions; hcl2json writes a list literal as a
  // JSON array of them, and nested blocks as arrays of objects.
  const evaluate = async (v, refs) => {
    if (Array.isArray(v)) return Promise.all(v.map((x) => evaluate(x, refs)));
    if (v && typeof v === 'object') {
      const out = {};
      for (const [k, x] of Object.entries(v)) out[k] = await evaluate(x, refs);
      return out;
    }
    return H.evaluateTemplate(v, values, refs);
  };
  for (const d of dynamicBlocks()[doc] || []) {
    assert(d.type === 'statement', `${doc}: dynamic "${d.type}"`);
    const items = await evaluate(d.for_each, {});
    assert(Array.isArray(items), `${doc}: for_each ${show(d.for_each)} is not a list`);
    for (const [i, item] of items.entries()) {
      statements.push(await evaluate(d.content, { [`${d.iterator}.value`]: item, [`${d.iterator}.key`]: i }));
    }
  }
  return statements;
}

// --------------------------------------------------------------- checks

check('terraform >= 1.5 and hashicorp/aws ~> 5.0', () => {
  const tf = M.terraform;
  assert(tf.some((t) => t.required_version === '>= 1.5'), `required_version: ${show(tf.map((t) => t.required_version))}`);
  const aws = tf.flatMap((t) => (t.required_providers || []).map((p) => p.aws)).find(Boolean);
  assert(aws && aws.source === 'hashicorp/aws' && aws.version === '~> 5.0', `aws provider: ${show(aws)}`);
});

check('provider region is var.region, default sa-east-1; default_tags set', () => {
  const p = M.provider.aws;
  assert(p && p.region === '${var.region}', `provider region: ${show(p && p.region)}`);
  assert(M.variable.region && M.variable.region.default === 'sa-east-1', `var.region default: ${show(M.variable.region && M.variable.region.default)}`);
  const tags = p.default_tags && p.default_tags[0] && p.default_tags[0].tags;
  assert(tags && tags.Project, 'provider default_tags with a Project tag');
});

check('every variable has a description and a type', () => {
  const bad = Object.entries(M.variable).filter(([, v]) => !v.description || !v.type).map(([n]) => n);
  assert(bad.length === 0, `missing description/type: ${bad.join(', ')}`);
});

check('every variable default passes its own validation', async () => {
  const bad = [];
  for (const [name, v] of Object.entries(M.variable)) {
    if (!('default' in v) || v.default === null || !v.validation) continue;
    const r = await H.validate(M, name, v.default);
    if (!r.ok) bad.push(`${name}=${show(v.default)}: ${r.failed.join('; ')}`);
  }
  assert(bad.length === 0, bad.join(' | '));
});

check('var.admin_cidr has no default and its validation rejects the open internet', async () => {
  const v = M.variable.admin_cidr;
  assert(v, 'no variable admin_cidr');
  assert(!('default' in v), `admin_cidr must be required, has default ${show(v.default)}`);
  for (const bad of ['0.0.0.0/0', '0.0.0.0/1', '::/0', '10.0.0.0/8', '198.51.100.7/24', '203.0.113.7', 'not-a-cidr', '']) {
    assert(!(await H.validate(M, 'admin_cidr', bad)).ok, `admin_cidr = ${show(bad)} is accepted`);
  }
  for (const good of ['203.0.113.7/32', '198.51.100.0/24']) {
    const r = await H.validate(M, 'admin_cidr', good);
    assert(r.ok, `admin_cidr = ${show(good)} is rejected: ${r.failed.join('; ')}`);
  }
});

check('var.deb_url accepts only empty or a plain https:// URL', async () => {
  for (const bad of ['http://example.com/t.deb', "https://example.com/t.deb'; rm -rf /", 'https://x/$(id).deb', 'ftp://x']) {
    assert(!(await H.validate(M, 'deb_url', bad)).ok, `deb_url = ${show(bad)} is accepted`);
  }
  for (const good of ['', 'https://github.com/o/r/releases/download/v1/togglemaster_0.1.0_amd64.deb']) {
    assert((await H.validate(M, 'deb_url', good)).ok, `deb_url = ${show(good)} is rejected`);
  }
});

// --- network

check('VPC 10.0.0.0/16 with DNS hostnames', () => {
  const [, vpc] = only('aws_vpc');
  assert(resolve(vpc.cidr_block) === '10.0.0.0/16', `cidr_block: ${show(resolve(vpc.cidr_block))}`);
  assert(vpc.enable_dns_hostnames === true, 'enable_dns_hostnames must be true (public DNS name)');
});

check('two public and two private subnets in two AZs from data.aws_availability_zones', () => {
  const { tier } = subnetTiers();
  const count = (t) => Object.entries(M.resource.aws_subnet || {}).reduce((n, [name, s]) =>
    n + (tier[`aws_subnet.${name}`] === t ? Number(s.count || 1) : 0), 0);
  assert(count('public') === 2, `public subnets: ${count('public')}`);
  assert(count('private') === 2, `private subnets: ${count('private')}`);
  for (const [name, s] of resources('aws_subnet')) {
    const azRefs = H.references(s.availability_zone);
    const viaLocal = azRefs.filter((r) => r.startsWith('local.')).flatMap((r) => H.references(M.locals[r.slice(6)]));
    assert([...azRefs, ...viaLocal].includes('data.aws_availability_zones'.concat('.', Object.keys(M.data.aws_availability_zones || {})[0])),
      `aws_subnet.${name}: availability_zone ${show(s.availability_zone)} not from data.aws_availability_zones`);
    assert(/count\.index/.test(s.availability_zone), `aws_subnet.${name}: one AZ per subnet (count.index)`);
  }
});

check('subnet CIDRs lie inside the VPC and do not overlap', () => {
  const [, vpc] = only('aws_vpc');
  const net = H.parseCidr4(resolve(vpc.cidr_block));
  const range = ({ ip, bits }) => {
    const start = ((ip[0] << 24) >>> 0) + (ip[1] << 16) + (ip[2] << 8) + ip[3];
    return [start, start + 2 ** (32 - bits) - 1];
  };
  const [vs, ve] = range(net);
  const cidrs = [...resolve('${var.public_subnet_cidrs}'), ...resolve('${var.private_subnet_cidrs}')];
  const ranges = cidrs.map((c) => range(H.parseCidr4(c)));
  ranges.forEach(([s, e], i) => assert(s >= vs && e <= ve, `${cidrs[i]} is outside the VPC`));
  ranges.forEach(([s, e], i) => ranges.forEach(([s2, e2], j) =>
    assert(i === j || e < s2 || e2 < s, `${cidrs[i]} overlaps ${cidrs[j]}`)));
});

check('public route table: 0.0.0.0/0 to the internet gateway', () => {
  const { tables, tier } = subnetTiers();
  const [igwName] = only('aws_internet_gateway');
  const publicTables = Object.entries(tables).filter(([, t]) => t.internet);
  assert(publicTables.length === 1, `route tables with an internet route: ${publicTables.map(([n]) => n).join(', ')}`);
  const route = publicTables[0][1].routes.find((r) => r.cidr_block === '0.0.0.0/0' || r.destination_cidr_block === '0.0.0.0/0');
  assert(refOf(route.gateway_id, 'id') === `aws_internet_gateway.${igwName}`, `default route goes to ${show(route.gateway_id)}`);
  assert(Object.values(tier).includes('public'), 'no subnet associated with the public route table');
});

check('private route table has no internet route (0.0.0.0/0, ::/0, NAT, IGW)', () => {
  const { tables, tier } = subnetTiers();
  const privateSubnets = Object.keys(tier).filter((s) => tier[s] === 'private');
  assert(privateSubnets.length > 0, 'no private subnet');
  for (const [, assoc] of resources('aws_route_table_association')) {
    if (!privateSubnets.includes(refOf(assoc.subnet_id, 'id'))) continue;
    const table = tables[refOf(assoc.route_table_id, 'id')];
    for (const r of table.routes) {
      assert(!r.gateway_id && !r.nat_gateway_id && !r.egress_only_gateway_id && !OPEN.has(r.cidr_block) &&
        !OPEN.has(r.destination_cidr_block), `private route ${show(r)}`);
    }
  }
  const [name, rt] = resources('aws_route_table').find(([n]) => !tables[`aws_route_table.${n}`].internet) || [];
  assert(rt && eq(rt.route, []), `aws_route_table.${name} must declare route = [] so Terraform removes routes added by hand`);
  assert(Object.values(tier).every((t) => t !== 'mixed'), 'a subnet is associated with both kinds of route table');
});

check('private subnets never map public IPs on launch', () => {
  const { tier } = subnetTiers();
  for (const [name, s] of resources('aws_subnet')) {
    if (tier[`aws_subnet.${name}`] === 'private') assert(s.map_public_ip_on_launch !== true, `aws_subnet.${name}`);
  }
});

// --- security groups

const APP_SG = () => refOf(only('aws_instance')[1].vpc_security_group_ids && only('aws_instance')[1].vpc_security_group_ids[0], 'id');
const DB_SG = () => refOf(only('aws_db_instance')[1].vpc_security_group_ids && only('aws_db_instance')[1].vpc_security_group_ids[0], 'id');

check('EC2 and RDS each use exactly one security group of their own', () => {
  const [, ec2] = only('aws_instance');
  const [, db] = only('aws_db_instance');
  assert(ec2.vpc_security_group_ids && ec2.vpc_security_group_ids.length === 1, `instance SGs: ${show(ec2.vpc_security_group_ids)}`);
  assert(db.vpc_security_group_ids && db.vpc_security_group_ids.length === 1, `RDS SGs: ${show(db.vpc_security_group_ids)}`);
  assert(APP_SG() && DB_SG() && APP_SG() !== DB_SG(), `app SG ${APP_SG()}, db SG ${DB_SG()}`);
});

check('DB ingress: only 5432/tcp, only from the app security group (no CIDR)', () => {
  const rules = sgRules().filter((r) => r.dir === 'ingress' && r.sg === DB_SG());
  assert(rules.length >= 1, 'no ingress rule on the DB security group');
  for (const r of rules) {
    assert(r.proto === 'tcp' && r.from === 5432 && r.to === 5432, `${r.where}: ${r.proto} ${r.from}-${r.to}`);
    assert(r.sources.length > 0 && r.sources.every((s) => s.kind === 'sg' && s.value === APP_SG()),
      `${r.where}: sources ${show(r.sources)}`);
  }
});

check('DB security group has no egress rule', () => {
  const rules = sgRules().filter((r) => r.dir === 'egress' && r.sg === DB_SG());
  assert(rules.length === 0, rules.map((r) => r.where).join(', '));
});

check('SSH (22) only from var.admin_cidr, only on the app security group', () => {
  const rules = sgRules().filter((r) => r.dir === 'ingress' && covers(r, 22));
  assert(rules.length >= 1, 'no SSH rule at all');
  for (const r of rules) {
    assert(r.sg === APP_SG(), `${r.where}: port 22 on ${r.sg}`);
    assert(r.sources.every((s) => s.kind === 'cidr' && s.value === '${var.admin_cidr}'), `${r.where}: sources ${show(r.sources)}`);
  }
});

check('no rule opens 22 or 5432 to 0.0.0.0/0 or ::/0', () => {
  for (const r of sgRules().filter((x) => x.dir === 'ingress')) {
    for (const port of [22, 5432]) {
      if (covers(r, port)) assert(!r.sources.some(isOpen), `${r.where}: port ${port} open to ${show(r.sources)}`);
    }
  }
});

check('app ingress: 80 and 443 open to 0.0.0.0/0, nothing but 22/80/443', () => {
  const rules = sgRules().filter((r) => r.dir === 'ingress' && r.sg === APP_SG());
  for (const port of [80, 443]) {
    assert(rules.some((r) => r.proto === 'tcp' && r.from === port && r.to === port &&
      r.sources.some((s) => resolve(s.value) === '0.0.0.0/0')), `port ${port} not open to 0.0.0.0/0`);
  }
  for (const r of rules) {
    assert(r.proto === 'tcp' && r.from === r.to && [22, 80, 443].includes(r.from), `${r.where}: ${r.proto} ${r.from}-${r.to}`);
  }
});

check('the VPC default security group is stripped of rules', () => {
  const [, sg] = only('aws_default_security_group');
  assert(!sg.ingress && !sg.egress, 'aws_default_security_group declares rules');
});

// --- EC2

check('EC2: t3.micro, Debian 12 AMI (owner 136693071363, debian-12-amd64-*)', () => {
  const [, ec2] = only('aws_instance');
  assert(resolve(ec2.instance_type) === 't3.micro', `instance_type: ${show(resolve(ec2.instance_type))}`);
  const ami = /^\$\{data\.aws_ami\.([A-Za-z0-9_-]+)\.id\}$/.exec(ec2.ami);
  assert(ami, `ami: ${show(ec2.ami)} is not a data.aws_ami`);
  const d = M.data.aws_ami[ami[1]];
  assert(eq(d.owners, ['136693071363']), `owners: ${show(d.owners)}`);
  const nameFilter = (d.filter || []).find((f) => f.name === 'name');
  assert(nameFilter && eq(nameFilter.values, ['debian-12-amd64-*']), `name filter: ${show(nameFilter)}`);
  assert(d.most_recent === true, 'most_recent = true');
});

check('EC2: in a public subnet with a public IPv4 address', () => {
  const [, ec2] = only('aws_instance');
  const { tier } = subnetTiers();
  assert(tier[refOf(ec2.subnet_id, 'id')] === 'public', `subnet ${show(ec2.subnet_id)} is ${tier[refOf(ec2.subnet_id, 'id')]}`);
  assert(ec2.associate_public_ip_address === true || resources('aws_eip').length > 0, 'no public address');
});

check('EC2: IMDSv2 required (http_tokens = "required")', () => {
  const [, ec2] = only('aws_instance');
  const md = (ec2.metadata_options || [])[0] || {};
  assert(md.http_tokens === 'required', `http_tokens: ${show(md.http_tokens)}`);
  assert(md.http_put_response_hop_limit === undefined || md.http_put_response_hop_limit <= 1, 'hop limit above 1');
});

check('EC2: root volume gp3, 20 GiB, encrypted', () => {
  const [, ec2] = only('aws_instance');
  const root = (ec2.root_block_device || [])[0] || {};
  assert(root.encrypted === true, `encrypted: ${show(root.encrypted)}`);
  assert(root.volume_type === 'gp3' && resolve(root.volume_size) === 20, `${show(root.volume_type)} ${show(resolve(root.volume_size))} GiB`);
});

check('EC2: runs with the instance profile whose role this stack defines, after its policy exists', () => {
  const [, ec2] = only('aws_instance');
  const profile = refOf(ec2.iam_instance_profile, 'name');
  assert(profile && profile.startsWith('aws_iam_instance_profile.'), `iam_instance_profile: ${show(ec2.iam_instance_profile)}`);
  const p = M.resource.aws_iam_instance_profile[profile.split('.')[1]];
  assert(refOf(p.role, 'name') && refOf(p.role, 'name').startsWith('aws_iam_role.'), `profile role: ${show(p.role)}`);
  const policies = resources('aws_iam_role_policy').map(([n]) => `\${aws_iam_role_policy.${n}}`);
  assert(policies.every((x) => (ec2.depends_on || []).includes(x)),
    `depends_on ${show(ec2.depends_on)}: the first boot reads the secret, so the instance must wait for its policy`);
});

// --- IAM

check('IAM: the role is assumable by ec2.amazonaws.com only', () => {
  const [, role] = only('aws_iam_role');
  const docs = policyDocs();
  const statements = docs[docOf(role.assume_role_policy)];
  assert(statements, `assume_role_policy ${show(role.assume_role_policy)} is not an aws_iam_policy_document`);
  for (const s of statements) {
    assert(eq(s.actions, ['sts:AssumeRole']), `actions ${show(s.actions)}`);
    assert(eq(s.principals, [{ identifiers: ['ec2.amazonaws.com'], type: 'Service' }]), `principals ${show(s.principals)}`);
  }
});

check('IAM: exactly one inline policy, no managed policies or attachments', () => {
  const [roleName, role] = only('aws_iam_role');
  for (const t of ['aws_iam_role_policy_attachment', 'aws_iam_policy_attachment', 'aws_iam_policy', 'aws_iam_role_policies_exclusive']) {
    assert(resources(t).length === 0, `${t} present`);
  }
  assert(!role.managed_policy_arns && !role.inline_policy, 'managed_policy_arns/inline_policy on the role');
  const inline = resources('aws_iam_role_policy').filter(([, p]) => refOf(p.role, 'id') === `aws_iam_role.${roleName}` ||
    refOf(p.role, 'name') === `aws_iam_role.${roleName}`);
  assert(inline.length === 1 && resources('aws_iam_role_policy').length === 1, `aws_iam_role_policy: ${inline.length}`);
});

// The two secrets the instance always reads, as the policy names them.
const DB_SECRET_REF = () => `\${aws_db_instance.${only('aws_db_instance')[0]}.master_user_secret[0].secret_arn}`;
const ADMIN_SECRET_REF = () => `\${aws_secretsmanager_secret.${only('aws_secretsmanager_secret')[0]}.arn}`;
const instancePolicyDoc = () => {
  const [, policy] = only('aws_iam_role_policy');
  const doc = docOf(policy.policy);
  assert(doc && policyDocs()[doc], `policy ${show(policy.policy)} is not an aws_iam_policy_document (a jsonencode() policy cannot be checked)`);
  return doc;
};

check('IAM: only secretsmanager:GetSecretValue on the RDS-managed secret ARN; the one other statement is the admin token\'s', () => {
  const statements = policyDocs()[instancePolicyDoc()];
  const db = statements.filter((s) => (s.resources || []).includes(DB_SECRET_REF()));
  assert(db.length === 1, `${db.length} statements name the RDS-managed secret`);
  const [s] = db;
  assert((s.effect || 'Allow') === 'Allow', `effect ${s.effect}`);
  assert(eq(s.actions, ['secretsmanager:GetSecretValue']), `actions ${show(s.actions)}`);
  assert(eq(s.resources, [DB_SECRET_REF()]), `resources ${show(s.resources)}`);
  assert(!s.not_actions && !s.not_resources, 'not_actions/not_resources grant everything else');
  const others = statements.filter((x) => x !== s);
  assert(others.length === 1 && eq(others[0].resources, [ADMIN_SECRET_REF()]),
    `static statements besides the database one must be the admin token's alone: ${show(others)}`);
});

check('IAM: the admin token secret: GetSecretValue and PutSecretValue on exactly its ARN; no other statement writes', async () => {
  const all = await plannedStatements(instancePolicyDoc(), { tls_secret_arn: TLS_ARN });
  const mine = all.filter((s) => (s.resources || []).includes(ADMIN_SECRET_REF()));
  assert(mine.length === 1, `${mine.length} statements name the admin token secret; resources: ${show(all.map((s) => s.resources))}`);
  const [s] = mine;
  assert((s.effect || 'Allow') === 'Allow', `effect ${s.effect}`);
  assert(eq([...(s.actions || [])].sort(), ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']),
    `actions ${show(s.actions)}, expected exactly GetSecretValue and PutSecretValue`);
  assert(eq(s.resources, [ADMIN_SECRET_REF()]), `resources ${show(s.resources)}, expected exactly the admin token secret`);
  const keys = Object.keys(s).filter((k) => !['sid', 'effect', 'actions', 'resources'].includes(k));
  assert(keys.length === 0, `also sets ${keys.join(', ')}`);
  for (const x of all.filter((y) => y !== s)) {
    assert(eq(x.actions, ['secretsmanager:GetSecretValue']), `${show(x.resources)}: actions ${show(x.actions)}`);
  }
});

check('IAM: only with var.tls_secret_arn set, GetSecretValue on exactly that secret too', async () => {
  const doc = instancePolicyDoc();
  const fixed = policyDocs()[doc];
  const isFixed = (s) => fixed.some((f) => eq(f, s));
  const plain = await plannedStatements(doc, { tls_secret_arn: '' });
  assert(plain.length === fixed.length && plain.every(isFixed),
    `with tls_secret_arn = "" (the default) the policy must stay its static statements (database, admin token): ${show(plain)}`);
  const tls = await plannedStatements(doc, { tls_secret_arn: TLS_ARN });
  const extra = tls.filter((s) => !isFixed(s));
  assert(tls.length === fixed.length + 1 && extra.length === 1, `with tls_secret_arn set: ${show(tls)}`);
  const [s] = extra;
  assert((s.effect || 'Allow') === 'Allow', `effect ${s.effect}`);
  assert(eq(s.actions, ['secretsmanager:GetSecretValue']), `actions ${show(s.actions)}`);
  assert(eq(s.resources, [TLS_ARN]), `resources ${show(s.resources)}, expected exactly the tls_secret_arn`);
  const others = Object.keys(s).filter((k) => !['sid', 'effect', 'actions', 'resources'].includes(k));
  assert(others.length === 0, `also sets ${others.join(', ')}`);
});

check('var.tls_secret_arn: empty by default, else one full Secrets Manager ARN (no wildcard)', async () => {
  const v = M.variable.tls_secret_arn;
  assert(v && v.default === '', `default ${show(v && v.default)}`);
  const base = 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:';
  for (const good of ['', TLS_ARN, `${base}rds!db-0f1e2d3c-AbCdEf`, 'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:tls-AbC123']) {
    const r = await H.validate(M, 'tls_secret_arn', good);
    assert(r.ok, `tls_secret_arn = ${show(good)} is rejected: ${r.failed.join('; ')}`);
  }
  for (const bad of ['*', `${base}*`, `${base}togglemaster/*`, `${base}tls-AbC12*`, `${base}tls`, `${base}tls-AbC123 `,
    'arn:aws:secretsmanager:sa-east-1:*:secret:tls-AbC123', 'arn:aws:s3:::bucket/tls-AbC123', 'togglemaster/tls-AbC123',
    `${base}tls-AbC123'; id`]) {
    assert(!(await H.validate(M, 'tls_secret_arn', bad)).ok, `tls_secret_arn = ${show(bad)} is accepted`);
  }
  const h = M.variable.public_hostname;
  assert(h && h.default === '', `public_hostname default ${show(h && h.default)}`);
  for (const good of ['', HOSTNAME, 'a.b-c.example']) {
    assert((await H.validate(M, 'public_hostname', good)).ok, `public_hostname = ${show(good)} is rejected`);
  }
  for (const bad of ['https://flags.example.com', 'flags', '-x.example.com', 'a..example.com', 'flags.example.com/', 'x.example.com; id']) {
    assert(!(await H.validate(M, 'public_hostname', bad)).ok, `public_hostname = ${show(bad)} is accepted`);
  }
});

check('IAM: no "*" in any action or resource of any policy document', () => {
  const dynamic = dynamicBlocks();
  for (const [name, statements] of Object.entries(policyDocs())) {
    for (const s of [...statements, ...(dynamic[name] || []).map((d) => d.content)]) {
      for (const v of [...(s.actions || []), ...(s.resources || []), ...(s.not_actions || []), ...(s.not_resources || [])]) {
        assert(!/\*/.test(String(v).replace(/\[\*\]/g, '')), `${name}: ${show(v)}`);
      }
    }
  }
  for (const [name, p] of resources('aws_iam_role_policy')) {
    assert(!/"\*"|:\*"/.test(String(p.policy)), `aws_iam_role_policy.${name}: wildcard`);
  }
});

// --- the admin API token

check('admin token: one Secrets Manager secret under var.name, default key; its value never passes through Terraform', async () => {
  const [name, secret] = only('aws_secretsmanager_secret');
  const label = secret.name_prefix !== undefined ? secret.name_prefix : secret.name;
  assert(typeof label === 'string' && label.startsWith('${var.name}'), `aws_secretsmanager_secret.${name}: name ${show(label)} not under var.name`);
  assert(secret.kms_key_id === undefined, 'kms_key_id: a customer-managed key needs kms: grants the instance does not have');
  // The value: generated by the instance. A secret version or a random_*
  // resource would put it in the state in clear text.
  for (const t of ['aws_secretsmanager_secret_version', 'random_password', 'random_string', 'random_bytes', 'random_id']) {
    assert(resources(t).length === 0, `${t}: the token's value would be in the Terraform state`);
  }
  for (const f of files) {
    assert(!/^\s*(ephemeral|resource)\s+"random_/m.test(f.text), `${f.name}: a random_* block`);
  }
  const days = resolve(secret.recovery_window_in_days);
  assert(days === 0 || (typeof days === 'number' && days >= 7 && days <= 30), `recovery_window_in_days ${show(days)}`);
  const m = /^\$\{var\.([A-Za-z0-9_]+)\}$/.exec(secret.recovery_window_in_days);
  if (m) {
    for (const bad of [1, 6, 31, -1]) assert(!(await H.validate(M, m[1], bad)).ok, `var.${m[1]} accepts ${bad}`);
    for (const good of [0, 7, 30]) assert((await H.validate(M, m[1], good)).ok, `var.${m[1]} rejects ${good}`);
  }
});

// --- RDS

check('RDS: PostgreSQL 15', () => {
  const [, db] = only('aws_db_instance');
  assert(db.engine === 'postgres', `engine ${show(db.engine)}`);
  assert(String(resolve(db.engine_version)).split('.')[0] === '15', `engine_version ${show(resolve(db.engine_version))}`);
});

check('RDS: db.t4g.micro, Single-AZ, gp3 20 GiB', async () => {
  const [, db] = only('aws_db_instance');
  assert(resolve(db.instance_class) === 'db.t4g.micro', `instance_class ${show(resolve(db.instance_class))}`);
  const multiAz = await H.evaluateTemplate(db.multi_az, varValues());
  assert(multiAz === false, `multi_az ${show(db.multi_az)} is ${show(multiAz)} by default`);
  assert(db.storage_type === 'gp3' && resolve(db.allocated_storage) === 20, `${show(db.storage_type)} ${show(resolve(db.allocated_storage))}`);
});

check('RDS: not publicly accessible', () => {
  const [, db] = only('aws_db_instance');
  assert(db.publicly_accessible === false, `publicly_accessible = ${show(db.publicly_accessible)}`);
});

check('RDS: storage encrypted', () => {
  const [, db] = only('aws_db_instance');
  assert(db.storage_encrypted === true, `storage_encrypted = ${show(db.storage_encrypted)}`);
});

check('RDS: automated backups kept >= 7 days', async () => {
  const [, db] = only('aws_db_instance');
  const days = resolve(db.backup_retention_period);
  assert(typeof days === 'number' && days >= 7, `backup_retention_period ${show(days)}`);
  const m = /^\$\{var\.([A-Za-z0-9_]+)\}$/.exec(db.backup_retention_period);
  if (m) assert(!(await H.validate(M, m[1], 6)).ok, `var.${m[1]} accepts 6`);
});

check('RDS: master password managed by RDS (Secrets Manager), none in code', () => {
  const [, db] = only('aws_db_instance');
  assert(db.manage_master_user_password === true, `manage_master_user_password ${show(db.manage_master_user_password)}`);
  assert(!('password' in db) && !('password_wo' in db), 'aws_db_instance sets password');
  for (const f of files) {
    const hit = /^(?!\s*#)[^\n]*\b(password|passwd|secret_string)\s*=\s*"[^"$\n]+"/im.exec(f.text);
    assert(!hit, `${f.name}: ${hit && hit[0].trim()}`);
  }
  assert(resources('aws_secretsmanager_secret_version').length === 0 && resources('random_password').length === 0,
    'the password must not pass through Terraform');
});

check('RDS: subnet group over the private subnets only', () => {
  const [, db] = only('aws_db_instance');
  const group = refOf(db.db_subnet_group_name, 'name');
  assert(group && group.startsWith('aws_db_subnet_group.'), `db_subnet_group_name ${show(db.db_subnet_group_name)}`);
  const g = M.resource.aws_db_subnet_group[group.split('.')[1]];
  const refs = [].concat(g.subnet_ids).flatMap((v) => H.references(v));
  const { tier } = subnetTiers();
  assert(refs.length > 0 && refs.every((r) => tier[r] === 'private'), `subnet_ids ${show(g.subnet_ids)}`);
  const subnets = refs.map((r) => M.resource.aws_subnet[r.split('.')[1]]);
  assert(subnets.reduce((n, s) => n + Number(s.count || 1), 0) >= 2, 'an RDS subnet group needs two AZs');
});

check('RDS: TLS forced (rds.force_ssl = 1)', () => {
  const [, db] = only('aws_db_instance');
  const pg = refOf(db.parameter_group_name, 'name');
  assert(pg && pg.startsWith('aws_db_parameter_group.'), `parameter_group_name ${show(db.parameter_group_name)}`);
  const params = M.resource.aws_db_parameter_group[pg.split('.')[1]].parameter || [];
  assert(params.some((p) => p.name === 'rds.force_ssl' && String(p.value) === '1'), 'rds.force_ssl is not 1');
});

check('RDS: destroy keeps a final snapshot by default', () => {
  const [, db] = only('aws_db_instance');
  assert(resolve(db.skip_final_snapshot) === false, `skip_final_snapshot default ${show(resolve(db.skip_final_snapshot))}`);
  assert(db.final_snapshot_identifier, 'final_snapshot_identifier');
});

// --- outputs, user data, example variables

// An output's value in a plan with these variable values: the instance's
// public name is PUBLIC_DNS, locals are evaluated (one level).
async function outputValue(name, overrides) {
  const values = varValues(overrides);
  const refs = {};
  for (const [ec2] of resources('aws_instance')) {
    for (const at of [`aws_instance.${ec2}`, `aws_instance.${ec2}[0]`]) {
      refs[`${at}.public_dns`] = PUBLIC_DNS;
      refs[`${at}.public_ip`] = '203.0.113.7';
    }
  }
  for (const [lb] of Object.entries(VIEWS.ha.resource.aws_lb || {})) refs[`aws_lb.${lb}[0].dns_name`] = ALB_DNS;
  for (const [secret] of resources('aws_secretsmanager_secret')) refs[`aws_secretsmanager_secret.${secret}.arn`] = ADMIN_ARN;
  const value = M.output[name].value;
  for (const ref of H.references(value).filter((r) => r.startsWith('local.'))) {
    refs[ref] = await H.evaluateTemplate(M.locals[ref.slice(6)], values, { ...refs });
  }
  return H.evaluateTemplate(value, values, refs);
}

check('outputs: app_url, ssh_command, rds_endpoint, db_secret_arn', async () => {
  for (const name of ['app_url', 'ssh_command', 'rds_endpoint', 'db_secret_arn']) {
    assert(M.output[name] && M.output[name].description, `output ${name}`);
  }
  const url = await outputValue('app_url', {});
  assert(url === `http://${PUBLIC_DNS}`, `app_url by default: ${show(url)}, expected http://<the instance's public DNS name>`);
});

check('outputs: app_url and smoke_test_command say https:// with tls_secret_arn, public_hostname when set', async () => {
  for (const [overrides, want] of [
    [{}, `http://${PUBLIC_DNS}`],
    [{ tls_secret_arn: TLS_ARN }, `https://${PUBLIC_DNS}`],
    [{ tls_secret_arn: TLS_ARN, public_hostname: HOSTNAME }, `https://${HOSTNAME}`],
    [{ public_hostname: HOSTNAME }, `http://${HOSTNAME}`],
  ]) {
    const url = await outputValue('app_url', overrides);
    assert(url === want, `app_url with ${show(overrides)}: ${show(url)}, expected ${show(want)}`);
    const smoke = await outputValue('smoke_test_command', overrides);
    assert(smoke === `scripts/smoke-test.sh ${want}`, `smoke_test_command with ${show(overrides)}: ${show(smoke)}`);
  }
});

check('outputs: admin_token_secret_arn, and admin_token_command that prints the token', async () => {
  for (const name of ['admin_token_secret_arn', 'admin_token_command']) {
    assert(M.output[name] && M.output[name].description, `output ${name}`);
  }
  const arn = await outputValue('admin_token_secret_arn', {});
  assert(arn === ADMIN_ARN, `admin_token_secret_arn: ${show(arn)}`);
  const cmd = await outputValue('admin_token_command', {});
  const want = `aws secretsmanager get-secret-value --region sa-east-1 --secret-id ${ADMIN_ARN} --query SecretString --output text`;
  assert(cmd === want, `admin_token_command: ${show(cmd)}, expected ${show(want)}`);
});

// The user data template, its variables and sample values for them: the
// values a plan with these variable overrides would pass.
async function userData(overrides = {}) {
  const [, ec2] = only('aws_instance');
  assert(ec2.user_data === undefined || ec2.user_data_base64 === undefined, 'both user_data and user_data_base64');
  const gzip = ec2.user_data_base64 !== undefined;
  const call = gzip ? ec2.user_data_base64 : ec2.user_data;
  const m = new RegExp(`^\\$\\{${gzip ? 'base64gzip\\(' : ''}templatefile\\("\\$\\{path\\.module\\}/([A-Za-z0-9_.-]+)", ` +
    `local\\.([a-z_]+)\\)${gzip ? '\\)' : ''}\\}$`).exec(call);
  assert(m, `user_data${gzip ? '_base64' : ''} ${show(call)} is not ${gzip ? 'base64gzip(templatefile(path, local.x))' : 'templatefile(path, local.x)'}`);
  const vars = M.locals[m[2]];
  assert(vars && typeof vars === 'object', `local.${m[2]} is not an object`);
  const src = fs.readFileSync(path.join(dir, m[1]), 'utf8');
  // Realistic, long sample values (the size limit must hold for real ones).
  const values = varValues(overrides);
  const sample = {};
  for (const [k, v] of Object.entries(vars)) {
    const fileRef = typeof v === 'string' && /^\$\{file\("\$\{path\.module\}\/([A-Za-z0-9_./-]+)"\)\}$/.exec(v);
    if (fileRef) sample[k] = fs.readFileSync(path.join(dir, fileRef[1]), 'utf8');
    else if (!H.isExpr(v)) sample[k] = v;
    else if (/master_user_secret/.test(v)) sample[k] = 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:rds!db-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0-AbCdEf';
    else if (/^\$\{aws_secretsmanager_secret\.[A-Za-z0-9_-]+\.arn\}$/.test(v)) sample[k] = ADMIN_ARN;
    else if (/\.address\}$/.test(v)) sample[k] = 'togglemaster-db.c1a2b3c4d5e6.sa-east-1.rds.amazonaws.com';
    else if (/\.port\}$/.test(v)) sample[k] = 5432;
    else if (/deb_url/.test(v)) sample[k] = `https://github.com/example-org/togglemaster/releases/download/v0.1.0/${'x'.repeat(120)}.deb`;
    else if (/deb_sha256/.test(v)) sample[k] = 'a'.repeat(64);
    else if (H.references(v).length > 0 && H.references(v).every((r) => r.startsWith('var.'))) sample[k] = await H.evaluateTemplate(v, values);
    else sample[k] = resolve(v);
    assert(sample[k] !== undefined, `no sample value for ${k} = ${v}`);
  }
  return { template: m[1], vars, sample, src, gzip };
}

check('user data: the template uses exactly the variables passed to it', async () => {
  const { vars, sample, src } = await userData();
  const { used } = H.renderTemplate(src, sample);
  const unused = Object.keys(vars).filter((k) => !used.has(k));
  assert(unused.length === 0, `passed but unused: ${unused.join(', ')}`);
});

check('user data: renders to a bash script that parses (bash -n), under 16 KiB', async () => {
  for (const overrides of [{}, { tls_secret_arn: TLS_ARN }, { mode: 'ha', alb_certificate_arn: ACM_ARN }]) {
    const { sample, src, gzip } = await userData(overrides);
    const { text } = H.renderTemplate(src, sample);
    assert(text.startsWith('#!/bin/bash\n'), 'no #!/bin/bash line');
    // EC2 counts the bytes it is given: gzip's output for user_data_base64
    // = base64gzip(...) (cloud-init decompresses it), else the text.
    const size = gzip ? zlib.gzipSync(text).length : Buffer.byteLength(text);
    assert(size < EC2_USER_DATA_LIMIT, `${size} bytes${gzip ? ' gzipped' : ''} with ${show(overrides)} (EC2 limit ${EC2_USER_DATA_LIMIT})`);
    const tmp = path.join(os.tmpdir(), `tm-user-data-${process.pid}.sh`);
    fs.writeFileSync(tmp, text);
    try {
      execFileSync('bash', ['-n', tmp], { stdio: 'pipe' });
    } catch (err) {
      throw new Fail(`bash -n: ${String(err.stderr).trim()}`);
    } finally {
      fs.unlinkSync(tmp);
    }
  }
  const { sample, src } = await userData();
  const embedded = Object.entries(sample).filter(([, v]) => typeof v === 'string' && v.includes('\n'));
  for (const [k, v] of embedded) {
    const delim = new RegExp(`<<'([A-Z_]+)'\\n\\$\\{${k}\\}\\n\\1$`, 'm').exec(src);
    assert(delim, `${k}: not embedded as <<'DELIM' ... DELIM`);
    assert(!v.split('\n').includes(delim[1]), `${k} contains its heredoc delimiter ${delim[1]}`);
  }
});

check('user data: starts the service on port 80 and writes the env file from the secret', async () => {
  const { sample, src } = await userData();
  assert(String(sample.app_port) === '80', `app_port ${show(sample.app_port)}`);
  assert(/AmbientCapabilities=CAP_NET_BIND_SERVICE/.test(src), 'no CAP_NET_BIND_SERVICE drop-in for port 80');
  assert(/systemctl (enable|restart)[^\n]*togglemaster\.service/.test(src), 'does not start togglemaster.service');
  assert(/togglemaster-fetch-secret/.test(src) && /secretsmanager get-secret-value|"get-secret-value"/.test(sample.fetch_secret || ''), 'no secret fetch');
  assert(/sha256sum -c/.test(src), 'the .deb checksum is never checked');
});

check('user data: with tls_secret_arn, port 443 and the ARN for deploy.env; by default neither', async () => {
  const plain = (await userData()).sample;
  assert(String(plain.app_port) === '80', `app_port by default: ${show(plain.app_port)}`);
  assert(!Object.values(plain).includes(TLS_ARN), 'the sample ARN without tls_secret_arn set');
  const { sample, src } = await userData({ tls_secret_arn: TLS_ARN });
  assert(String(sample.app_port) === '443', `app_port with tls_secret_arn: ${show(sample.app_port)}`);
  const arnVar = Object.keys(sample).find((k) => sample[k] === TLS_ARN);
  assert(arnVar, 'the TLS secret ARN is not passed to the template');
  assert(new RegExp(`TM_TLS_SECRET_ARN=\\$[A-Z_]+|TM_TLS_SECRET_ARN=\\$\\{${arnVar}\\}`).test(src), 'deploy.env gets no TM_TLS_SECRET_ARN');
  assert(/TM_TLS_SECRET_ARN/.test(sample.fetch_secret) && /TLS_CERT_FILE/.test(sample.fetch_secret), 'the fetch script does not handle TM_TLS_SECRET_ARN');
});

check('user data: AUTH_REQUIRED=true, deploy.env names the admin token secret, no token in the user data', async () => {
  const { vars, sample, src } = await userData();
  const arnVar = Object.keys(vars).find((k) => vars[k] === ADMIN_SECRET_REF());
  assert(arnVar, `the admin token secret's ARN (${ADMIN_SECRET_REF()}) is not passed to the template`);
  const heredoc = /^cat > \/etc\/togglemaster\/deploy\.env <<EOF\n([\s\S]*?)\nEOF$/m.exec(src);
  assert(heredoc, 'no `cat > /etc/togglemaster/deploy.env <<EOF` block');
  const lines = heredoc[1].split('\n');
  assert(lines.includes('AUTH_REQUIRED=true'), 'deploy.env does not set AUTH_REQUIRED=true');
  const assigned = src.split('\n').filter((l) => !/^\s*#/.test(l) && /AUTH_REQUIRED=/.test(l));
  assert(assigned.length === 1, `AUTH_REQUIRED is assigned more than once: ${show(assigned)}`);
  const shellVar = lines.map((l) => /^TM_ADMIN_SECRET_ARN=\$([A-Z_]+)$/.exec(l)).find(Boolean);
  assert(lines.includes(`TM_ADMIN_SECRET_ARN=\${${arnVar}}`) ||
    (shellVar && new RegExp(`^${shellVar[1]}='\\$\\{${arnVar}\\}'$`, 'm').test(src)),
  `deploy.env gets no TM_ADMIN_SECRET_ARN=\${${arnVar}}`);
  assert(!/ADMIN_TOKEN=/.test(src), 'the user data sets ADMIN_TOKEN itself (it would be in the instance attributes)');
  assert(/TM_ADMIN_SECRET_ARN/.test(sample.fetch_secret) && /ADMIN_TOKEN=/.test(sample.fetch_secret) &&
    /put-secret-value/.test(sample.fetch_secret), 'the fetch script does not read (or create) the admin token');
  assert(/"auth"/.test(src) && /systemctl stop togglemaster\.service/.test(src),
    'the boot does not check that /ready reports auth on (an older package would serve everyone)');
});

check('terraform.tfvars.example sets only declared variables and no secret', async () => {
  const file = path.join(dir, 'terraform.tfvars.example');
  const text = fs.readFileSync(file, 'utf8');
  const json = await require('@cdktf/hcl2json').parse('terraform.tfvars', text);
  const unknown = Object.keys(json).filter((k) => !(k in M.variable));
  assert(unknown.length === 0, `undeclared: ${unknown.join(', ')}`);
  assert(!/password/i.test(Object.keys(json).join(' ')), 'sets a password');
  for (const [k, v] of Object.entries(json)) {
    const r = await H.validate(M, k, v);
    assert(r.ok, `${k}: ${r.failed.join('; ')}`);
  }
});

check('cost table (prices.json) prices the Terraform defaults', async () => {
  const file = path.join(dir, 'prices.json');
  const usage = JSON.parse(fs.readFileSync(file, 'utf8')).usage;
  const [, ec2] = only('aws_instance');
  const [, db] = only('aws_db_instance');
  const want = {
    instance_type: resolve(ec2.instance_type),
    root_volume_gb: resolve(ec2.root_block_device[0].volume_size),
    db_instance_class: resolve(db.instance_class),
    db_multi_az: await H.evaluateTemplate(db.multi_az, varValues()),
    db_storage_gb: resolve(db.allocated_storage),
    backup_retention_days: resolve(db.backup_retention_period),
    public_ipv4_addresses: ec2.associate_public_ip_address ? 1 : 0,
    secrets: (db.manage_master_user_password ? 1 : 0) + resources('aws_secretsmanager_secret').length,
  };
  const diff = Object.keys(want).filter((k) => usage[k] !== want[k]).map((k) => `${k}: ${show(usage[k])} != ${show(want[k])}`);
  assert(diff.length === 0, diff.join(', '));
});

// --- mode = "ha" (each check runs on the plan with mode = "ha")

const HA = { mode: 'ha', alb_certificate_arn: ACM_ARN };
// An attribute's value in a plan with these variables: "${local.x}" is
// the local's value, "${var...}" expressions are evaluated.
async function planned(v, overrides = HA) {
  const m = typeof v === 'string' && /^\$\{local\.([a-z_]+)\}$/.exec(v);
  return H.evaluateTemplate(m ? M.locals[m[1]] : v, varValues(overrides));
}

checkHa('no public instance: no aws_instance; the group launches into the private subnets only, without public addresses', () => {
  assert(resources('aws_instance').length === 0, 'an aws_instance in ha');
  const [, asg] = only('aws_autoscaling_group');
  const { tier } = subnetTiers();
  const subnets = [].concat(asg.vpc_zone_identifier).flatMap((v) => H.references(v)).filter((r) => r.startsWith('aws_subnet.'));
  assert(subnets.length > 0 && subnets.every((r) => tier[r] === 'private'),
    `vpc_zone_identifier ${show(asg.vpc_zone_identifier)}: ${show(subnets.map((r) => tier[r]))}`);
  for (const r of subnets) assert(M.resource.aws_subnet[r.split('.')[1]].map_public_ip_on_launch !== true, `${r} maps public IPs`);
  const [, lt] = only('aws_launch_template');
  const lref = refOf(asg.launch_template && asg.launch_template[0].id, 'id');
  assert(lref && lref.startsWith('aws_launch_template.'), `launch_template ${show(asg.launch_template)}`);
  for (const ni of lt.network_interfaces || []) {
    assert(ni.associate_public_ip_address !== true && ni.associate_public_ip_address !== 'true', 'network_interfaces asks for a public address');
  }
  const md = (lt.metadata_options || [])[0] || {};
  assert(md.http_tokens === 'required', `launch template http_tokens ${show(md.http_tokens)}`);
  assert(resources('aws_eip').every(([n]) => /nat/.test(n)), 'an Elastic IP other than the NAT gateway\'s');
});

checkHa('no SSH: no rule admits 22, no key pair; Session Manager only, with exactly its channel actions', async () => {
  const ssh = sgRules().filter((r) => r.dir === 'ingress' && covers(r, 22));
  assert(ssh.length === 0, `port 22 admitted by ${ssh.map((r) => r.where).join(', ')}`);
  // The key pair's count also reads ssh_public_key: none even when it is set.
  for (const [name, kp] of resources('aws_key_pair')) {
    const values = varValues({ ...HA, ssh_public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample admin@laptop' });
    const n = await H.evaluateTemplate(String(kp.count).replace(/local\.ha\b/g, 'var.mode == "ha"'), values);
    assert(n === 0, `aws_key_pair.${name}: count ${show(kp.count)} is ${show(n)} in ha with ssh_public_key set`);
  }
  const [, lt] = only('aws_launch_template');
  assert(lt.key_name === undefined, `launch template key_name ${show(lt.key_name)}`);
  const [roleName] = only('aws_iam_role');
  const policies = resources('aws_iam_role_policy');
  assert(policies.length === 2 && policies.every(([, p]) => refOf(p.role, 'id') === `aws_iam_role.${roleName}`),
    `inline policies: ${show(policies.map(([n]) => n))}`);
  for (const t of ['aws_iam_role_policy_attachment', 'aws_iam_policy_attachment', 'aws_iam_policy']) assert(resources(t).length === 0, `${t} present`);
  const sm = policies.find(([n]) => n !== 'instance_secrets');
  const doc = /^\$\{(data\.aws_iam_policy_document\.[A-Za-z0-9_-]+)(\[0\])?\.json\}$/.exec(sm[1].policy);
  assert(doc, `policy ${show(sm[1].policy)}`);
  const statements = policyDocs()[doc[1]];
  const want = ['ssm:UpdateInstanceInformation', 'ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel',
    'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'];
  assert(statements.length === 1 && eq([...statements[0].actions].sort(), want.sort()) && (statements[0].effect || 'Allow') === 'Allow',
    `Session Manager statements ${show(statements)}, expected exactly ${show(want)}`);
  // The secrets policy is the single mode's, minus the TLS secret (the ALB terminates TLS).
  const tls = await plannedStatements(instancePolicyDocHa(), { mode: 'ha', tls_secret_arn: TLS_ARN });
  assert(!tls.some((x) => (x.resources || []).includes(TLS_ARN)), 'the TLS secret is readable in ha');
});

checkHa('ALB-only ingress: the internet reaches only the ALB on 443/80; the app only from the ALB on its port; the DB only from the app', async () => {
  const [albName, alb] = only('aws_lb');
  assert(alb.internal === false && alb.load_balancer_type === 'application', `aws_lb.${albName}: internal ${show(alb.internal)}`);
  const { tier } = subnetTiers();
  const albSubnets = H.references(alb.subnets).filter((r) => r.startsWith('aws_subnet.'));
  assert(albSubnets.length > 0 && albSubnets.every((r) => tier[r] === 'public'), `ALB subnets ${show(alb.subnets)}`);
  assert(alb.security_groups && alb.security_groups.length === 1, `ALB security groups ${show(alb.security_groups)}`);
  const ALB = refOf(alb.security_groups[0], 'id');
  const [, asg] = only('aws_autoscaling_group');
  const [, lt] = only('aws_launch_template');
  assert(lt.vpc_security_group_ids && lt.vpc_security_group_ids.length === 1, `launch template SGs ${show(lt.vpc_security_group_ids)}`);
  const APP = refOf(lt.vpc_security_group_ids[0], 'id');
  assert(APP && APP !== ALB, `app SG ${APP}, ALB SG ${ALB}`);
  const port = (await planned('${var.app_port_ha}'));
  const ingress = sgRules().filter((r) => r.dir === 'ingress');
  for (const r of ingress) {
    if (r.sources.some(isOpen)) {
      assert(r.sg === ALB && r.proto === 'tcp' && r.from === r.to && [80, 443].includes(r.from), `${r.where}: ${r.proto} ${r.from}-${r.to} open to the internet`);
    }
  }
  const app = ingress.filter((r) => r.sg === APP);
  assert(app.length >= 1, 'no ingress on the app SG');
  for (const r of app) {
    assert(r.sources.every((s) => s.kind === 'sg' && s.value === ALB), `${r.where}: sources ${show(r.sources)}`);
    assert(r.proto === 'tcp' && (await planned(r.from)) === port && (await planned(r.to)) === port, `${r.where}: ${r.proto} ${r.from}-${r.to}, service port ${port}`);
  }
  const db = refOf(only('aws_db_instance')[1].vpc_security_group_ids[0], 'id');
  for (const r of ingress.filter((x) => x.sg === db)) {
    assert(r.from === 5432 && r.to === 5432 && r.sources.every((s) => s.kind === 'sg' && s.value === APP), `${r.where}: ${show(r.sources)}`);
  }
  const [, tg] = only('aws_lb_target_group');
  assert((await planned(tg.port)) === port, `target group port ${show(tg.port)}`);
  assert(asg.target_group_arns && refOf(asg.target_group_arns[0], 'arn') === `aws_lb_target_group.${only('aws_lb_target_group')[0]}`, `target_group_arns ${show(asg.target_group_arns)}`);
});

checkHa('Multi-AZ on (RDS), unless db_multi_az says otherwise', async () => {
  const [, db] = only('aws_db_instance');
  assert((await planned(db.multi_az)) === true, `multi_az ${show(db.multi_az)} in ha`);
  assert((await planned(db.multi_az, { ...HA, db_multi_az: false })) === false, 'db_multi_az = false is ignored');
});

checkHa('HTTPS listener on 443 uses var.alb_ssl_policy and var.alb_certificate_arn; 80 only redirects to HTTPS', async () => {
  const listeners = resources('aws_lb_listener');
  const https = listeners.filter(([, l]) => l.protocol === 'HTTPS');
  assert(https.length === 1 && https[0][1].port === 443, `HTTPS listeners ${show(https.map(([n]) => n))}`);
  const [, l] = https[0];
  assert(l.ssl_policy === '${var.alb_ssl_policy}', `ssl_policy ${show(l.ssl_policy)}`);
  assert(l.certificate_arn === '${var.alb_certificate_arn}', `certificate_arn ${show(l.certificate_arn)}`);
  for (const bad of ['ELBSecurityPolicy-2016-08', 'ELBSecurityPolicy-TLS-1-0-2015-04', 'ELBSecurityPolicy-TLS-1-1-2017-01', '']) {
    assert(!(await H.validate(M, 'alb_ssl_policy', bad)).ok, `alb_ssl_policy = ${show(bad)} is accepted`);
  }
  for (const [, x] of listeners.filter(([, y]) => y.protocol !== 'HTTPS')) {
    const a = (x.default_action || [])[0] || {};
    const r = (a.redirect || [])[0] || {};
    assert(a.type === 'redirect' && r.protocol === 'HTTPS' && String(r.port) === '443' && /^HTTP_30[18]$/.test(r.status_code),
      `listener on ${x.port} does not redirect to HTTPS: ${show(a)}`);
  }
  assert(!(await H.validate(M, 'alb_certificate_arn', 'arn:aws:acm:sa-east-1:123456789012:certificate/*')).ok, 'a wildcard certificate ARN is accepted');
});

checkHa('deregistration delay >= SHUTDOWN_DRAIN + SHUTDOWN_TIMEOUT; /ready health check seen within the drain; rolling instance refresh', async () => {
  const [, tg] = only('aws_lb_target_group');
  const hc = (tg.health_check || [])[0] || {};
  assert(hc.path === '/ready', `health check path ${show(hc.path)}`);
  for (const overrides of [HA, { ...HA, shutdown_drain: 10, shutdown_timeout: 14 }]) {
    const delay = await planned(tg.deregistration_delay, overrides);
    const drain = await planned('${var.shutdown_drain}', overrides);
    const timeout = await planned('${var.shutdown_timeout}', overrides);
    assert(typeof delay === 'number' && delay >= drain + timeout, `deregistration_delay ${show(delay)} < ${drain} + ${timeout} with ${show(overrides)}`);
    assert(drain + timeout <= 30, `SHUTDOWN_DRAIN + SHUTDOWN_TIMEOUT ${drain + timeout} beyond TimeoutStopSec=30`);
  }
  const interval = await planned(hc.interval);
  const threshold = await planned(hc.unhealthy_threshold);
  assert(interval * threshold <= (await planned('${var.shutdown_drain}')), `interval ${interval} x ${threshold} > shutdown_drain by default`);
  for (const bad of [16, 0]) assert(!(await H.validate(M, 'shutdown_drain', bad)).ok, `shutdown_drain = ${bad} is accepted`);
  const [, asg] = only('aws_autoscaling_group');
  assert(asg.health_check_type === 'ELB', `health_check_type ${show(asg.health_check_type)}`);
  const ir = (asg.instance_refresh || [])[0] || {};
  assert(ir.strategy === 'Rolling', `instance_refresh ${show(ir)}`);
  const lt = asg.launch_template[0];
  assert(/\.latest_version\}$/.test(lt.version), `launch_template version ${show(lt.version)}: a new version must reach the group`);
});

checkHa('user data: the same template, MAX_CLIENT_CONNECTIONS=0 and the drain behind the ALB, the SSM agent; nothing added in single', async () => {
  const [, lt] = only('aws_launch_template');
  assert(/^\$\{base64gzip\(templatefile\("\$\{path\.module\}\/user-data\.sh\.tftpl", local\.user_data_vars\)\)\}$/.test(lt.user_data),
    `launch template user_data ${show(lt.user_data)}`);
  M = VIEWS.single; // userData() reads the single instance's template call
  const ha = await userData(HA);
  const one = await userData({});
  M = VIEWS.ha;
  const text = H.renderTemplate(ha.src, ha.sample).text;
  assert(String(ha.sample.app_port) === String(await planned('${var.app_port_ha}')), `app_port ${show(ha.sample.app_port)} in ha`);
  assert(ha.sample.tls_secret_arn === '', `tls_secret_arn ${show(ha.sample.tls_secret_arn)} in ha`);
  const env = /^cat > \/etc\/togglemaster\/deploy\.env <<EOF\n([\s\S]*?)\nEOF$/m.exec(text);
  assert(env, 'no deploy.env block');
  const lines = env[1].split('\n');
  for (const want of ['MAX_CLIENT_CONNECTIONS=0', `SHUTDOWN_DRAIN=${await planned('${var.shutdown_drain}')}`,
    `SHUTDOWN_TIMEOUT=${await planned('${var.shutdown_timeout}')}`]) {
    assert(lines.includes(want), `deploy.env lacks ${want} in ha`);
  }
  assert(/^systemctl enable --now amazon-ssm-agent$/m.test(text), 'the SSM agent is not installed and started in ha');
  // In single the additions render to nothing, so a running single
  // instance's user data (user_data_replace_on_change) is not changed.
  const single = H.renderTemplate(one.src, one.sample).text;
  assert(!/MAX_CLIENT_CONNECTIONS|SHUTDOWN_DRAIN|amazon-ssm-agent/.test(single), 'the ha additions render in single');
  assert(Object.entries(one.sample).every(([k, v]) => !/^lb_/.test(k) || v === ''), `lb_* not empty in single: ${show(one.sample)}`);
});

checkHa('private instances reach out through one NAT gateway in a public subnet; the IGW route stays on the public table', () => {
  const [, nat] = only('aws_nat_gateway');
  const { tier, tables } = subnetTiers();
  assert(tier[refOf(nat.subnet_id, 'id')] === 'public', `NAT gateway subnet ${show(nat.subnet_id)}`);
  const privateTables = Object.entries(tables).filter(([, t]) => !t.internet);
  for (const [name, t] of privateTables) {
    for (const r of t.routes) assert(!r.gateway_id && !r.egress_only_gateway_id, `${name}: route ${show(r)}`);
  }
});

checkHa('cost table (prices.json usage_ha) prices the ha defaults', async () => {
  const usage = JSON.parse(fs.readFileSync(path.join(dir, 'prices.json'), 'utf8')).usage_ha;
  assert(usage, 'no usage_ha in prices.json');
  const [, lt] = only('aws_launch_template');
  const [, db] = only('aws_db_instance');
  const want = {
    instance_type: await planned(lt.instance_type),
    instances: await planned('${var.asg_desired_capacity}'),
    root_volume_gb: await planned(lt.block_device_mappings[0].ebs[0].volume_size),
    db_instance_class: resolve(db.instance_class),
    db_multi_az: await planned(db.multi_az),
    db_storage_gb: resolve(db.allocated_storage),
    public_ipv4_addresses: 2 + resources('aws_eip').length, // the ALB's, one per public subnet, and the NAT gateway's
  };
  const diff = Object.keys(want).filter((k) => usage[k] !== want[k]).map((k) => `${k}: ${show(usage[k])} != ${show(want[k])}`);
  assert(diff.length === 0, diff.join(', '));
});

const instancePolicyDocHa = () => {
  const p = resources('aws_iam_role_policy').find(([n]) => n === 'instance_secrets');
  assert(p, 'no aws_iam_role_policy.instance_secrets');
  return docOf(p[1].policy);
};

// ------------------------------------------------------------------ main

async function runDir(d) {
  dir = path.resolve(d);
  results = [];
  let loaded;
  try {
    loaded = await H.loadDir(dir);
  } catch (err) {
    return [{ name: `load ${dir}`, error: err.message }];
  }
  files = loaded.files;
  try {
    VIEWS = { single: await planView(loaded.model, 'single'), ha: await planView(loaded.model, 'ha') };
  } catch (err) {
    return [{ name: `plan views of ${dir}`, error: err.message }];
  }
  M = VIEWS.single;
  for (const name of loaded.names) {
    const err = loaded.errors.find((e) => e.name === name);
    results.push(err ? { name: `parse ${name}`, error: err.error } : { name: `parse ${name}` });
  }
  for (const { name, fn } of checks) {
    try {
      await fn();
      results.push({ name });
    } catch (err) {
      const why = err instanceof Fail ? err.message : `${err.constructor.name}: ${err.message}`;
      results.push({ name, error: why });
    }
  }
  return results;
}

function print(rs) {
  let failed = 0;
  for (const r of rs) {
    if (r.error) failed++;
    console.log(r.error ? `FAIL - ${r.name}: ${r.error}` : `ok - ${r.name}`);
  }
  return failed;
}

(async () => {
  const args = process.argv.slice(2);
  if (args[0] === '--render-user-data') {
    dir = path.resolve(args[1]);
    const loaded = await H.loadDir(dir);
    if (loaded.errors.length) throw new Error(loaded.errors.map((e) => `${e.name}: ${e.error}`).join('; '));
    M = loaded.model;
    // Overrides name template variables; those that are also Terraform
    // variables feed the values derived from them (tls_secret_arn -> app_port).
    const render = async (json) => {
      const overrides = JSON.parse(json || '{}');
      const { sample, src } = await userData(overrides);
      return H.renderTemplate(src, { ...sample, ...overrides }).text;
    };
    const outputs = args.slice(2).filter((a) => /^[^{][^=]*=/.test(a));
    if (outputs.length === 0) process.stdout.write(await render(args[2]));
    for (const o of outputs) fs.writeFileSync(o.slice(0, o.indexOf('=')), await render(o.slice(o.indexOf('=') + 1)));
    return;
  }
  if (args[0] === '--each') {
    for (const d of args.slice(1)) {
      console.log(`### ${d}`);
      print(await runDir(d));
    }
    return;
  }
  const rs = await runDir(args[0] || path.join(__dirname, '..', '..', 'deploy', 'aws'));
  const failed = print(rs);
  console.log(`policy: ${rs.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
