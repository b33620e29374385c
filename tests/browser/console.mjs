#!/usr/bin/env node
// The web console in a real browser (Debian's chromium, driven by
// playwright-core) against the real build/togglemaster binary over real
// HTTP. No mocks: every check goes through the UI and is confirmed with the
// API itself (the stored flag, the server's own OFREP answer, its own error
// text). axe-core checks each main view at 1280 px and 360 px wide.
//
// Screenshots for the README: the "screenshots" check takes
// console-desktop.png (1280x800), console-mobile.png (360 wide) and
// console-audit.png into
// build/screenshots/ on every run, and into docs/screenshots/ (the committed
// ones) with UPDATE_SCREENSHOTS=1. Not by default: the pixels differ from
// one machine to the next, and `make test` must leave the work tree clean
// for `make release` (which refuses uncommitted changes) in CI.
//
// Last line: "browser: N passed, M failed".
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { readFileSync, mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { TmServer, tempDir, tmCommand, requireBinary, REPO } from '../node/lib/server.mjs';
import { Runner, assert, eq, sleep, waitFor as waitForValue } from '../node/lib/runner.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ADMIN_TOKEN = 'browser-test-admin-token-0123456789abcdef';
const KEY_STORE = 'togglemaster.apiKey';
const only = process.argv[2] ? new RegExp(process.argv[2]) : null;

// ---- the test runner (tests/node/lib/runner.mjs) --------------------------------------

const runner = new Runner({ only });
const check = (name, fn) => runner.check(name, fn);
const waitFor = (what, fn, timeoutMs = 5000, everyMs = 25) => waitForValue(what, fn, timeoutMs, everyMs);

// ---- servers and the API -----------------------------------------------------------

async function startServer(env = {}) {
  const dir = tempDir('tm-browser-');
  const db = `sqlite://${join(dir, 'tm.db')}`;
  tmCommand(['migrate'], db);
  const s = new TmServer(db, { env: { SHUTDOWN_DRAIN: '0', ...env } });
  await s.start();
  return s;
}

async function api(server, method, path, body, key, { raw } = {}) {
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(server.url + path, { method, headers, body: payload });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  return { status: r.status, json, text, headers: r.headers };
}
async function mustApi(server, method, path, body, key) {
  const r = await api(server, method, path, body, key);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r;
}

// ---- the browser ---------------------------------------------------------------------

let browser;
const pageProblems = []; // CSP violations and uncaught script errors, from every page

async function newPage(server, { width = 1280, height = 800, path = '/#/flags', key, signIn = true } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageProblems.push(`${page.url()}: uncaught ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) pageProblems.push(`${page.url()}: ${m.text()}`);
  });
  await page.goto(server.url + path);
  if (key && signIn) await signInWith(page, key);
  return { context, page };
}

async function signInWith(page, key) {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.locator('#whoami .badge').waitFor();
}

async function waitList(page) {
  await page.getByRole('heading', { level: 1, name: 'Flags' }).waitFor();
  await page.locator('.flag-list, .empty').first().waitFor();
}

async function openEditor(page, name) {
  await page.evaluate((n) => { location.hash = `#/flags/${encodeURIComponent(n)}`; }, name);
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

async function axeCheck(page, label) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) throw new Error(`${label}: axe found ${bad.length} serious/critical violation(s):\n${bad.map((v) => `  [${v.impact}] ${v.id}: ${v.help} @ ${v.nodes.join(' | ')}`).join('\n')}`);
}

async function noHorizontalOverflow(page, width, label) {
  const sw = await page.evaluate(() => document.documentElement.scrollWidth);
  assert(sw <= width, `${label}: the page is ${sw} px wide at a ${width} px viewport (horizontal scrolling)`);
}

const ACME = { if: [{ ends_with: [{ var: 'email' }, '@acme.com'] }, 'on', { fractional: [['on', 25], ['off', 75]] }] };

// ---- the checks -------------------------------------------------------------------------

async function main() {
  requireBinary();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  // Usage is flushed every second so that evaluations by variant show up quickly.
  const open = await startServer({ USAGE_FLUSH_INTERVAL: '1' });
  const authed = await startServer({ ADMIN_TOKEN });
  try {
    await check('the console is served at / with the CSP, and its assets under hashed names', async () => {
      const r = await fetch(`${open.url}/`);
      eq(r.status, 200, 'GET / status');
      const csp = r.headers.get('content-security-policy') || '';
      assert(csp.includes("script-src 'self'") && csp.includes("default-src 'none'"), `CSP: ${csp}`);
      const html = await r.text();
      const js = /src="(\/assets\/app\.[^"]+\.js)"/.exec(html);
      const css = /href="(\/assets\/app\.[^"]+\.css)"/.exec(html);
      assert(js && css, 'index.html refers to hashed app.js and app.css');
      const a = await fetch(open.url + js[1]);
      eq(a.status, 200, `GET ${js[1]}`);
      assert(/immutable/.test(a.headers.get('cache-control') || ''), 'hashed asset is immutable');
    });

    await check('create a flag in the UI', async () => {
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        await page.getByRole('button', { name: 'New flag' }).click();
        const dialog = page.getByRole('dialog', { name: 'New flag' });
        await dialog.getByLabel('Name').fill('ui-created');
        await dialog.getByLabel('Type').selectOption('string');
        await dialog.getByLabel('Description (optional)').fill('Made in the browser');
        await dialog.getByRole('button', { name: 'Create flag' }).click();
        await page.getByRole('heading', { level: 1, name: 'ui-created' }).waitFor();
        const r = await mustApi(open, 'GET', '/flags/ui-created');
        eq(r.json.type, 'string', 'stored type');
        eq(r.json.description, 'Made in the browser', 'stored description');
        eq(r.json.state, 'DISABLED', 'stored state (not switched on)');
        // A name the server refuses is explained in the dialog, by the server's own words.
        await page.goto(`${open.url}/#/flags`);
        await waitList(page);
        await page.getByRole('button', { name: 'New flag' }).click();
        await page.getByRole('dialog', { name: 'New flag' }).getByLabel('Name').fill('ui-created');
        await page.getByRole('dialog', { name: 'New flag' }).getByRole('button', { name: 'Create flag' }).click();
        const dup = await api(open, 'POST', '/flags', { name: 'ui-created' });
        eq(dup.status, 409, 'API answer for a duplicate');
        await waitFor('the 409 message in the dialog', async () => (await page.locator('#new-flag-name-err').textContent()) === dup.json.error);
        await page.keyboard.press('Escape');
        await page.getByRole('dialog').waitFor({ state: 'detached' });
      } finally { await context.close(); }
    });

    await check('toggle a flag with one click in the list', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'ui-toggle', is_enabled: false, description: 'switch me' });
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        const sw = page.getByRole('switch', { name: 'ui-toggle enabled' });
        eq(await sw.getAttribute('aria-checked'), 'false', 'switch before');
        await sw.click();
        await waitFor('the switch to show on', async () => (await sw.getAttribute('aria-checked')) === 'true');
        eq((await mustApi(open, 'GET', '/flags/ui-toggle')).json.state, 'ENABLED', 'stored state after one click');
        await sw.click();
        await waitFor('the switch to show off', async () => (await sw.getAttribute('aria-checked')) === 'false');
        eq((await mustApi(open, 'GET', '/flags/ui-toggle')).json.state, 'DISABLED', 'stored state after a second click');
      } finally { await context.close(); }
    });

    await check('structured editor: an ends-with rule and a 25/75 split are stored as the expected JsonLogic', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'ui-rules', is_enabled: true });
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        await openEditor(page, 'ui-rules');
        eq(await page.locator('#mode-rules').getAttribute('aria-pressed'), 'true', 'no targeting opens in the rules editor');
        await page.getByRole('button', { name: 'Add rule' }).click();
        await page.getByLabel('Rule 1, condition 1: context attribute').fill('email');
        await page.getByLabel('Rule 1, condition 1: operator').selectOption('ends_with');
        await page.getByLabel('Rule 1, condition 1: value').fill('@acme.com');
        await page.getByLabel('Rule 1: variant to serve').selectOption('on');
        await page.getByLabel('Serve everyone no rule matched').selectOption('split');
        // Sliders always add up to 100: moving one moves the other.
        const onRange = page.getByRole('slider', { name: 'on share in percent' });
        await onRange.focus();
        await page.keyboard.press('ArrowLeft');
        eq(await page.getByLabel('off percent').inputValue(), '51', 'off after on went 50 -> 49');
        await page.getByLabel('on percent').fill('25');
        eq(await page.getByLabel('off percent').inputValue(), '75', 'off after on was set to 25');
        eq(await page.getByRole('slider', { name: 'off share in percent' }).inputValue(), '75', 'off slider');
        const put = page.waitForRequest((r) => r.method() === 'PUT' && r.url().endsWith('/flags/ui-rules'));
        await page.getByRole('button', { name: 'Save changes' }).click();
        const sent = JSON.parse((await put).postData());
        eq(Object.keys(sent).sort(), ['targeting'], 'members sent (only what changed)');
        await waitFor('the save to be acknowledged', async () => (await mustApi(open, 'GET', '/flags/ui-rules')).json.version === 2);
        eq((await mustApi(open, 'GET', '/flags/ui-rules')).json.targeting, ACME, 'stored targeting');
        // Reopened, it is shown in the rules editor again, as written.
        await page.reload();
        await page.getByRole('heading', { level: 1, name: 'ui-rules' }).waitFor();
        eq(await page.locator('#mode-rules').getAttribute('aria-pressed'), 'true', 'our own rule reopens in the rules editor');
        eq(await page.getByLabel('Rule 1, condition 1: value').inputValue(), '@acme.com', 'rule value reread');
        eq(await page.getByLabel('on percent').inputValue(), '25', 'split reread');
      } finally { await context.close(); }
    });

    await check('playground: acme context gets the rule variant, others the split variant the API gives', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'pg-flag', is_enabled: true, targeting: ACME });
      const { context, page } = await newPage(open, { path: '/#/playground' });
      try {
        await page.getByRole('heading', { level: 1, name: 'Playground' }).waitFor();
        const row = page.locator('#pg-table tr[data-flag="pg-flag"]');
        await page.getByLabel('Targeting key').fill('user-7');
        await page.getByLabel('Attribute 1 name').fill('email');
        await page.getByLabel('Attribute 1 value').fill('ann@acme.com');
        const api1 = await mustApi(open, 'POST', '/ofrep/v1/evaluate/flags/pg-flag', { context: { targetingKey: 'user-7', email: 'ann@acme.com' } });
        eq(api1.json.variant, 'on', 'API variant for ann@acme.com');
        await waitFor('acme row', async () => (await row.locator('.pg-variant').textContent()) === 'on'
          && (await row.locator('.pg-reason').textContent()) === api1.json.reason, 5000);
        // Non-acme users fall into the split; several keys so both variants are likely seen.
        const seen = new Set();
        for (const tk of ['user-1', 'user-2', 'user-3', 'user-4', 'user-5', 'user-6']) {
          await page.getByLabel('Targeting key').fill(tk);
          await page.getByLabel('Attribute 1 value').fill(`${tk}@example.com`);
          const want = await mustApi(open, 'POST', '/ofrep/v1/evaluate/flags/pg-flag', { context: { targetingKey: tk, email: `${tk}@example.com` } });
          await waitFor(`split row for ${tk}`, async () => (await row.locator('.pg-variant').textContent()) === want.json.variant
            && (await row.locator('.pg-value').textContent()) === JSON.stringify(want.json.value)
            && (await page.locator('#pg-status').textContent()).includes('evaluated'), 5000);
          seen.add(want.json.variant);
        }
        assert([...seen].every((v) => v === 'on' || v === 'off'), `split variants: ${[...seen]}`);
      } finally { await context.close(); }
    });

    await check('history shows the change with its before/after diff', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'ui-history', is_enabled: false, description: 'old words' });
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        await openEditor(page, 'ui-history');
        await page.getByLabel('Description').fill('new words');
        await page.getByRole('button', { name: 'Save changes' }).click();
        await waitFor('the description to be stored', async () => (await mustApi(open, 'GET', '/flags/ui-history')).json.description === 'new words');
        const entry = page.locator('.history-entry').first();
        await waitFor('an update entry', async () => (await entry.locator('.badge').textContent()) === 'updated');
        const drow = entry.locator('tr', { has: page.locator('th[scope=row]', { hasText: /^description$/ }) });
        eq((await drow.locator('td.before').textContent()).trim(), 'old words', 'before');
        eq((await drow.locator('td.after').textContent()).trim(), 'new words', 'after');
        const hist = (await mustApi(open, 'GET', '/flags/ui-history/history')).json.entries;
        eq(hist[0].before.description, 'old words', 'API history before');
        eq(await page.locator('.history-entry').count(), hist.length, 'one entry per audit record');
      } finally { await context.close(); }
    });

    await check('older history comes in pages, and the editor shows evaluations by variant', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'ui-busy', is_enabled: true });
      for (let i = 0; i < 24; i++) await mustApi(open, 'PUT', '/flags/ui-busy', { description: `change ${i}` });
      for (let i = 0; i < 3; i++) await mustApi(open, 'POST', '/ofrep/v1/evaluate/flags/ui-busy', { context: { targetingKey: `u${i}` } });
      const usage = await waitFor('the usage flush', async () => {
        const u = (await mustApi(open, 'GET', '/flags/ui-busy/usage?window=24h')).json;
        return u.variants.length && u.pending_on_this_instance === 0 ? u : null;
      }, 5000, 200);
      const total = usage.evaluations;
      eq(total, 3, 'API usage');
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        await openEditor(page, 'ui-busy');
        await waitFor('a first page of 20', async () => (await page.locator('.history-entry').count()) === 20);
        await page.getByRole('button', { name: 'Show older changes' }).click();
        await waitFor('all 25 entries', async () => (await page.locator('.history-entry').count()) === 25);
        eq(await page.getByRole('button', { name: 'Show older changes' }).count(), 0, 'no more pages');
        eq(await page.locator('.history-entry').last().locator('.badge').textContent(), 'created', 'oldest is the creation');
        const stat = page.locator('.stats div', { hasText: 'Evaluations, last 24 h' }).locator('dd');
        eq(await stat.textContent(), String(total), 'evaluations shown');
        eq(await page.locator('.usage-variants li').first().locator('.usage-name').textContent(), usage.variants[0].variant, 'variant shown');
      } finally { await context.close(); }
    });

    const ODD = { if: [{ or: [{ in: [{ var: 'country' }, ['de', 'fr']] }, { and: [{ starts_with: [{ var: 'email' }, 'a'] }, { '!': { var: 'beta' } }] }] }, 'on', { if: [{ sem_ver: [{ var: 'version' }, '>=', '2.0.0'] }, 'off', null] }] };

    await check('a rule the structured editor cannot show opens in the JSON editor unchanged and survives a description save', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'ui-odd', is_enabled: true, targeting: ODD, description: 'before' });
      const before = await mustApi(open, 'GET', '/flags/ui-odd');
      const storedText = JSON.stringify(before.json.targeting);
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        await openEditor(page, 'ui-odd');
        eq(await page.locator('#mode-json').getAttribute('aria-pressed'), 'true', 'JSON editor chosen');
        await page.locator('#json-notice').waitFor();
        eq(JSON.stringify(JSON.parse(await page.getByLabel('Targeting rule (JsonLogic)').inputValue())), storedText, 'JSON editor content');
        // The rules editor refuses it rather than rewriting it.
        await page.locator('#mode-rules').click();
        eq(await page.locator('#mode-json').getAttribute('aria-pressed'), 'true', 'still in the JSON editor');
        assert((await page.locator('#targeting-error').textContent()).includes('cannot show'), 'explains why');
        await page.getByLabel('Description').fill('after');
        const put = page.waitForRequest((r) => r.method() === 'PUT' && r.url().endsWith('/flags/ui-odd'));
        await page.getByRole('button', { name: 'Save changes' }).click();
        const body = (await put).postData();
        eq(JSON.parse(body), { description: 'after' }, 'PUT body');
        const after = await waitFor('the description to be stored', async () => {
          const r = await mustApi(open, 'GET', '/flags/ui-odd');
          return r.json.description === 'after' ? r : null;
        });
        eq(JSON.stringify(after.json.targeting), storedText, 'targeting byte for byte');
        const t0 = before.text.indexOf('"targeting"');
        const t1 = after.text.indexOf('"targeting"');
        assert(t0 >= 0 && t1 >= 0, 'targeting in both responses');
        eq(after.text.slice(t1, t1 + storedText.length + 12), before.text.slice(t0, t0 + storedText.length + 12), 'raw response text of targeting');
      } finally { await context.close(); }
    });

    await check('near misses of the generated shapes open in the JSON editor; the generated ones in the rules editor', async () => {
      const v = { on: true, off: false };
      const email = { var: 'email' };
      const cases = [
        ['json', { if: [{ ends_with: [email, '@acme.com'] }, 'on'] }], // no else
        ['json', { fractional: [['on', 50], ['off', 49]] }], // does not add up to 100
        ['json', { if: [{ and: [{ ends_with: [email, '@acme.com'] }] }, 'on', null] }], // "and" of one
        ['json', { fractional: [{ cat: [{ var: '$flagd.flagKey' }, email] }, ['on', 50], ['off', 50]] }], // own bucketing
        ['json', { if: [{ in: ['@acme', email] }, 'on', null] }], // substring "in"
        ['json', { if: [{ '==': [email, true] }, 'on', null] }], // boolean comparison
        ['json', { if: [{ ends_with: [email, '@acme.com'] }, 'maybe', null] }], // not a variant
        ['rules', { if: [{ and: [{ in: [{ var: 'country' }, ['de', 'fr']] }, { sem_ver: [{ var: 'version' }, '^', '2.0.0'] }] }, 'on', { '>=': [{ var: 'age' }, 18] }, 'off', 'on'] }],
        ['rules', { fractional: [['on', 10], ['off', 90]] }],
        ['rules', { if: [{ starts_with: [{ var: 'targetingKey' }, 'test-'] }, 'off', null] }],
      ];
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        for (const [i, [mode, targeting]] of cases.entries()) {
          const name = `near-${i}`;
          const made = await api(open, 'POST', '/flags', { name, is_enabled: true, variants: v, defaultVariant: 'off', targeting });
          if (made.status !== 201) {
            // The server refuses some outright; then there is nothing to show.
            assert(mode === 'json', `${JSON.stringify(targeting)} refused: ${made.text}`);
            console.log(`     (refused by the server, so not shown: ${JSON.stringify(targeting)})`);
            continue;
          }
          const stored = JSON.stringify((await mustApi(open, 'GET', `/flags/${name}`)).json.targeting);
          await openEditor(page, name);
          eq(await page.locator(`#mode-${mode}`).getAttribute('aria-pressed'), 'true', `${stored} opens in the ${mode} editor`);
          if (mode === 'json') {
            eq(JSON.stringify(JSON.parse(await page.getByLabel('Targeting rule (JsonLogic)').inputValue())), stored, `${stored} shown as stored`);
          }
          // A description change never sends the rule back, whichever editor shows it.
          await page.getByLabel('Description').fill(`touched ${i}`);
          const put = page.waitForRequest((r) => r.method() === 'PUT' && r.url().endsWith(`/flags/${name}`));
          await page.getByRole('button', { name: 'Save changes' }).click();
          eq(JSON.parse((await put).postData()), { description: `touched ${i}` }, `PUT body for ${stored}`);
          await page.getByText('version 2 ·').waitFor();
          eq(JSON.stringify((await mustApi(open, 'GET', `/flags/${name}`)).json.targeting), stored, `${stored} unchanged`);
        }
      } finally { await context.close(); }
    });

    await check("invalid targeting shows the server's validation message beside the field", async () => {
      await mustApi(open, 'POST', '/flags', { name: 'ui-invalid', is_enabled: true });
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        await openEditor(page, 'ui-invalid');
        await page.locator('#mode-json').click();
        const field = page.getByLabel('Targeting rule (JsonLogic)');
        for (const text of ['{"if": [{"no_such_op": [1]}, "on", null]}', '{"if": [{"var": "email"}, "on", ']) {
          await field.fill(text);
          const resp = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/flags/ui-invalid'));
          await page.getByRole('button', { name: 'Save changes' }).click();
          eq((await resp).status(), 400, `status for ${text}`);
          const want = await api(open, 'PUT', '/flags/ui-invalid', undefined, undefined, { raw: `{"targeting":${text}}` });
          eq(want.status, 400, 'the API refuses it too');
          assert(want.json.error, 'API error text');
          await waitFor(`the message for ${text}`, async () => (await page.locator('#targeting-error').textContent()) === want.json.error);
          eq(await field.getAttribute('aria-invalid'), 'true', 'field marked invalid');
          assert((await field.getAttribute('aria-describedby')).split(' ').includes('targeting-error'), 'message is tied to the field');
        }
        eq((await mustApi(open, 'GET', '/flags/ui-invalid')).json.targeting, undefined, 'nothing stored');
      } finally { await context.close(); }
    });

    await check('live: a change in one browser reaches a second one within 1 s (SSE)', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'ui-live', is_enabled: false });
      const a = await newPage(open);
      const b = await newPage(open);
      try {
        await waitList(a.page);
        await waitList(b.page);
        await waitFor('both consoles to be live', async () => (await a.page.locator('#live').textContent()) === 'Live'
          && (await b.page.locator('#live').textContent()) === 'Live', 5000);
        const swB = b.page.getByRole('switch', { name: 'ui-live enabled' });
        eq(await swB.getAttribute('aria-checked'), 'false', 'B before');
        const resp = a.page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/flags/ui-live'));
        await a.page.getByRole('switch', { name: 'ui-live enabled' }).click();
        await resp;
        const t0 = Date.now();
        await waitFor('B to show the flag on', async () => (await swB.getAttribute('aria-checked')) === 'true', 1000, 10);
        const dt = Date.now() - t0;
        // A flag created through the API (not a browser) appears too.
        await mustApi(open, 'POST', '/flags', { name: 'ui-live-new', description: 'from elsewhere' });
        await waitFor('B to list the new flag', async () => (await b.page.locator('li[data-flag="ui-live-new"]').count()) === 1, 1000, 10);
        await mustApi(open, 'DELETE', '/flags/ui-live-new');
        await waitFor('B to drop the deleted flag', async () => (await b.page.locator('li[data-flag="ui-live-new"]').count()) === 0, 1000, 10);
        console.log(`     (change seen by the second browser ${dt} ms after the write was acknowledged)`);
      } finally { await a.context.close(); await b.context.close(); }
    });

    await check('live: the playground re-evaluates when a flag changes elsewhere', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'pg-live', is_enabled: true, variants: { a: 'A', b: 'B' }, defaultVariant: 'a' });
      const { context, page } = await newPage(open, { path: '/#/playground' });
      try {
        const row = page.locator('#pg-table tr[data-flag="pg-live"]');
        await waitFor('the first evaluation', async () => (await row.count()) === 1 && (await row.locator('.pg-variant').textContent()) === 'a');
        await waitFor('the console to be live', async () => (await page.locator('#live').textContent()) === 'Live');
        await mustApi(open, 'PUT', '/flags/pg-live', { defaultVariant: 'b' });
        await waitFor('the new variant without a reload', async () => (await row.locator('.pg-variant').textContent()) === 'b', 2000, 10);
        await mustApi(open, 'PUT', '/flags/pg-live', { is_enabled: false });
        await waitFor('the disabled flag to leave the results', async () => (await row.count()) === 0, 2000, 10);
      } finally { await context.close(); }
    });

    await check('live: after a server restart the console reconnects and catches up (reset)', async () => {
      const dir = tempDir('tm-browser-restart-');
      const db = `sqlite://${join(dir, 'tm.db')}`;
      tmCommand(['migrate'], db);
      const s = new TmServer(db, { env: { SHUTDOWN_DRAIN: '0' } });
      await s.start();
      const { context, page } = await newPage(s);
      try {
        await waitList(page);
        await waitFor('live', async () => (await page.locator('#live').textContent()) === 'Live');
        await s.stop();
        await waitFor('the indicator to say it is reconnecting', async () => (await page.locator('#live').textContent()) === 'Reconnecting…', 5000);
        // While the server is down a flag arrives in the database by another route.
        const file = join(dir, 'flags.json');
        writeFileSync(file, JSON.stringify({ flags: { 'while-away': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' } } }));
        tmCommand(['import', file], db);
        await s.start(); // same port, a new run: the console's Last-Event-ID is not ours any more
        await waitFor('live again', async () => (await page.locator('#live').textContent()) === 'Live', 8000);
        await waitFor('the imported flag, without a reload', async () => (await page.locator('li[data-flag="while-away"]').count()) === 1, 3000);
      } finally { await context.close(); await s.stop(); }
    });

    await check('split among some variants: leave one out, 25/75 over the other two', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'ui-three', is_enabled: true, variants: { acme: 'acme', control: 'control', treatment: 'treatment' }, defaultVariant: 'control' });
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        await openEditor(page, 'ui-three');
        await page.getByRole('button', { name: 'Add rule' }).click();
        await page.getByLabel('Rule 1, condition 1: context attribute').fill('email');
        await page.getByLabel('Rule 1, condition 1: operator').selectOption('ends_with');
        await page.getByLabel('Rule 1, condition 1: value').fill('@acme.com');
        await page.getByLabel('Rule 1: variant to serve').selectOption('acme');
        await page.getByLabel('Serve everyone no rule matched').selectOption('split');
        const pct = async (n) => Number(await page.getByLabel(`${n} percent`).inputValue());
        eq((await pct('acme')) + (await pct('control')) + (await pct('treatment')), 100, 'even split adds up');
        await page.getByRole('button', { name: 'Leave acme out of the split' }).click();
        eq(await page.getByLabel('acme percent').count(), 0, 'acme left out');
        eq((await pct('control')) + (await pct('treatment')), 100, 'two left add up');
        await page.getByLabel('control percent').fill('25');
        eq(await pct('treatment'), 75, 'treatment follows');
        await page.getByRole('button', { name: 'Save changes' }).click();
        await waitFor('stored', async () => (await mustApi(open, 'GET', '/flags/ui-three')).json.version === 2);
        eq((await mustApi(open, 'GET', '/flags/ui-three')).json.targeting,
          { if: [{ ends_with: [{ var: 'email' }, '@acme.com'] }, 'acme', { fractional: [['control', 25], ['treatment', 75]] }] }, 'stored targeting');
      } finally { await context.close(); }
    });

    await check('auth: a client key reads but cannot write, and the console says why', async () => {
      await mustApi(authed, 'POST', '/flags', { name: 'auth-flag', is_enabled: false }, ADMIN_TOKEN);
      const key = (await mustApi(authed, 'POST', '/api/v1/keys', { name: 'browser client', role: 'client' }, ADMIN_TOKEN)).json.key;
      const { context, page } = await newPage(authed);
      try {
        // No key yet: the console asks for one.
        await page.getByLabel('API key').waitFor();
        await page.getByLabel('API key').fill('tm_000000000000_wrongwrongwrongwrongwrongwrongwrongwrongwro');
        await page.getByRole('button', { name: 'Continue' }).click();
        await waitFor('the refusal', async () => /not accepted/.test(await page.locator('.signin .field-error').textContent()));
        await signInWith(page, key);
        await waitList(page);
        eq((await page.locator('#whoami .badge').textContent()).trim(), 'client', 'role shown');
        const note = await page.locator('#role-note').textContent();
        assert(note.includes("Your key's role (client) can read flags but not change them"), `role note: ${note}`);
        assert(await page.getByRole('switch', { name: 'auth-flag enabled' }).isDisabled(), 'switch disabled');
        assert(await page.getByRole('button', { name: 'New flag' }).isDisabled(), 'New flag disabled');
        assert(await page.locator('#nav-keys').isHidden(), 'API keys hidden');
        await openEditor(page, 'auth-flag');
        assert(await page.getByRole('button', { name: 'Save changes' }).isDisabled(), 'Save disabled');
        assert(await page.getByRole('button', { name: 'Delete' }).isDisabled(), 'Delete disabled');
        assert(await page.getByRole('switch', { name: 'auth-flag enabled' }).isDisabled(), 'editor switch disabled');
        // The API, not the console, is what refuses: the same key is answered 403.
        eq((await api(authed, 'PUT', '/flags/auth-flag', { is_enabled: true }, key)).status, 403, 'API answer to the client key');
        eq((await mustApi(authed, 'GET', '/flags/auth-flag', undefined, ADMIN_TOKEN)).json.state, 'DISABLED', 'flag unchanged');
      } finally { await context.close(); }
    });

    await check('the key is kept in sessionStorage only, never localStorage or cookies', async () => {
      const key = (await mustApi(authed, 'POST', '/api/v1/keys', { name: 'browser editor', role: 'editor' }, ADMIN_TOKEN)).json.key;
      const { context, page } = await newPage(authed, { key });
      try {
        await waitList(page);
        eq(await page.evaluate((k) => sessionStorage.getItem(k), KEY_STORE), key, 'sessionStorage');
        eq(await page.evaluate(() => localStorage.length), 0, 'localStorage entries');
        eq(await page.evaluate(() => document.cookie), '', 'cookies');
        eq((await context.cookies()).length, 0, 'cookies in the browser context');
        await page.reload();
        await waitList(page); // same tab: still signed in
        const other = await context.newPage(); // a new tab has its own session storage
        await other.goto(`${authed.url}/`);
        await other.getByLabel('API key').waitFor();
        await other.close();
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByLabel('API key').waitFor();
        eq(await page.evaluate((k) => sessionStorage.getItem(k), KEY_STORE), null, 'removed on sign out');
      } finally { await context.close(); }
    });

    await check('API keys (admin): create shows the secret once, revoke stops it', async () => {
      const { context, page } = await newPage(authed, { key: ADMIN_TOKEN, path: '/#/keys' });
      try {
        await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
        await page.getByLabel('Name').fill('ci pipeline');
        await page.getByLabel('Role').selectOption('editor');
        await page.getByRole('button', { name: 'Create key' }).click();
        const dialog = page.getByRole('dialog', { name: 'Copy your new key now' });
        const secret = await dialog.getByLabel('Key').inputValue();
        assert(/^tm_[0-9a-f]{12}_/.test(secret), `secret shown: ${secret}`);
        eq((await api(authed, 'GET', '/flags', undefined, secret)).status, 200, 'the shown key works');
        await dialog.getByRole('button', { name: 'Done' }).click();
        await dialog.waitFor({ state: 'detached' });
        assert(!(await page.content()).includes(secret), 'the secret is gone from the page');
        const id = secret.slice(3, 15);
        await page.locator(`#revoke-${id}`).click();
        await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
        await waitFor('revoked', async () => (await api(authed, 'GET', '/flags', undefined, secret)).status === 401);
        const listed = (await mustApi(authed, 'GET', '/api/v1/keys', undefined, ADMIN_TOKEN)).json.find((k) => k.id === id);
        assert(listed && listed.revoked_at, 'revoked in the API');
        await waitFor('the row to say revoked', async () => /Revoked/.test(await page.locator(`tr[data-key="${id}"]`).textContent()));
      } finally { await context.close(); }
    });

    await check('audit log (admin): every kind of change, a filter, older pages, live entries; other roles are told why', async () => {
      await mustApi(authed, 'POST', '/flags', { name: 'audit-a', is_enabled: false }, ADMIN_TOKEN);
      await mustApi(authed, 'PUT', '/flags/audit-a', { is_enabled: true }, ADMIN_TOKEN);
      await mustApi(authed, 'PUT', '/evaluators/audit-ev', { rule: { '==': [1, 1] } }, ADMIN_TOKEN);
      const reader = (await mustApi(authed, 'POST', '/api/v1/keys', { name: 'audit reader', role: 'editor' }, ADMIN_TOKEN)).json;
      // More than a page (50) of entries in all.
      for (let i = 0; i < 55; i++) await mustApi(authed, 'POST', '/flags', { name: `audit-bulk-${i}` }, ADMIN_TOKEN);
      const all = (await mustApi(authed, 'GET', '/api/v1/audit?limit=1000', undefined, ADMIN_TOKEN)).json.entries;
      assert(all.length > 50 && all.length < 1000, `entries in the API: ${all.length}`);
      const { context, page } = await newPage(authed, { key: ADMIN_TOKEN, path: '/#/audit' });
      try {
        await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
        assert(await page.locator('#nav-audit').isVisible(), 'the admin sees Audit log in the navigation');
        const entries = page.locator('.history-entry');
        await waitFor('the first page', async () => (await entries.count()) === 50);
        // Newest first, the same entries as the API, each naming what it changed.
        eq(await entries.evaluateAll((els) => els.map((el) => Number(el.dataset.entry))), all.slice(0, 50).map((e) => e.id), 'first page ids');
        assert((await entries.first().textContent()).includes('audit-bulk-54'), 'newest entry names its flag');
        await page.getByRole('button', { name: 'Show older changes' }).click();
        await waitFor('the second page', async () => (await entries.count()) === Math.min(all.length, 100));
        eq(await page.evaluate(() => document.activeElement.dataset.entry), String(all[50].id), 'focus on the first older entry');
        // Reading older entries, a new change is announced, not forced in.
        await mustApi(authed, 'PUT', '/flags/audit-bulk-0', { is_enabled: true }, ADMIN_TOKEN);
        await page.getByRole('button', { name: 'Show them' }).waitFor({ timeout: 3000 });
        eq(await entries.count(), Math.min(all.length, 100), 'the pages being read stay as they are');
        await page.getByRole('button', { name: 'Show them' }).click();
        await waitFor('the newest page again', async () => (await entries.count()) === 50
          && (await entries.first().textContent()).includes('audit-bulk-0'));
        await page.getByRole('button', { name: 'Show them' }).waitFor({ state: 'hidden' });
        // Filter: one key's entries, then one flag's.
        await page.getByLabel('Kind').selectOption('key');
        await page.getByRole('button', { name: 'Show', exact: true }).click();
        const keyEntries = all.filter((e) => e.object.type === 'key');
        await waitFor('the key entries', async () => (await entries.count()) === keyEntries.length);
        const keyEntry = page.locator(`.history-entry[data-entry="${keyEntries[0].id}"] .audit-object`);
        eq((await keyEntry.textContent()).replace(/\s+/g, ' ').trim(), `API key audit reader ${reader.id}`, 'a key by its name and id');
        await page.getByLabel('Kind').selectOption('flag');
        await page.getByLabel('Name').fill('audit-a');
        await page.getByRole('button', { name: 'Show', exact: true }).click();
        await waitFor('the flag entries', async () => (await entries.count()) === 2);
        const texts = await entries.allTextContents();
        assert(/updated/.test(texts[0]) && /created/.test(texts[1]), `update then create: ${texts}`);
        const diff = entries.first().locator('tr', { hasText: 'is_enabled' });
        eq((await diff.locator('td.before').textContent()).trim(), 'false', 'before');
        eq((await diff.locator('td.after').textContent()).trim(), 'true', 'after');
        await entries.first().getByRole('link', { name: 'audit-a' }).waitFor();
        // A change made elsewhere appears without a reload (the change stream).
        const t0 = Date.now();
        await mustApi(authed, 'PUT', '/flags/audit-a', { description: 'changed elsewhere' }, ADMIN_TOKEN);
        await waitFor('the live entry', async () => (await entries.count()) === 3, 3000);
        console.log(`     (the new entry showed ${Date.now() - t0} ms after the write)`);
        assert((await entries.first().textContent()).includes('changed elsewhere'), 'the new entry is first');
      } finally { await context.close(); }
      // An editor reads a flag's history but not the whole trail: the API says 403, the console why.
      eq((await api(authed, 'GET', '/api/v1/audit', undefined, reader.key)).status, 403, 'API answer to an editor');
      const editor = await newPage(authed, { key: reader.key, path: '/#/audit' });
      try {
        await editor.page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
        assert(await editor.page.locator('#nav-audit').isHidden(), 'no Audit log in the navigation');
        await waitFor('the reason', async () => /needs the admin role. Your key's role \(editor\)/.test(await editor.page.locator('main').textContent()));
      } finally { await editor.context.close(); }
    });

    await check('evaluators: create one and use it from the rules editor with $ref', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'ui-ref', is_enabled: true });
      const { context, page } = await newPage(open, { path: '/#/evaluators' });
      try {
        await page.getByRole('heading', { level: 1, name: 'Evaluators' }).waitFor();
        await page.getByRole('button', { name: 'New evaluator' }).click();
        const dialog = page.getByRole('dialog', { name: 'New evaluator' });
        await dialog.getByLabel('Name').fill('staff');
        await dialog.getByLabel('Rule (JsonLogic)').fill('{"nope": [1]}');
        await dialog.getByRole('button', { name: 'Create evaluator' }).click();
        const want = await api(open, 'PUT', '/evaluators/staff', { rule: { nope: [1] } });
        await waitFor('the server message', async () => (await dialog.locator('#eval-rule-error').textContent()) === want.json.error);
        await dialog.getByLabel('Rule (JsonLogic)').fill('{"ends_with": [{"var": "email"}, "@staff.example"]}');
        await dialog.getByRole('button', { name: 'Create evaluator' }).click();
        await dialog.waitFor({ state: 'detached' });
        eq((await mustApi(open, 'GET', '/evaluators/staff')).json.rule, { ends_with: [{ var: 'email' }, '@staff.example'] }, 'stored rule');
        await openEditor(page, 'ui-ref');
        await page.getByRole('button', { name: 'Add rule' }).click();
        await page.getByLabel('Rule 1, condition 1: operator').selectOption('ref');
        await page.getByLabel('Rule 1, condition 1: evaluator').selectOption('staff');
        await page.getByLabel('Rule 1: variant to serve').selectOption('off');
        await page.getByRole('button', { name: 'Save changes' }).click();
        await waitFor('the rule to be stored', async () => (await mustApi(open, 'GET', '/flags/ui-ref')).json.version === 2);
        eq((await mustApi(open, 'GET', '/flags/ui-ref')).json.targeting, { if: [{ $ref: 'staff' }, 'off', null] }, 'stored targeting');
        await page.getByText('version 2 ·').waitFor(); // the editor has taken the save in
        await page.evaluate(() => { location.hash = '#/evaluators'; });
        await waitFor('used by the flag', async () => /Used by: ui-ref/.test(await page.locator('.eval-card', { hasText: 'staff' }).locator('.used-by').textContent()));
      } finally { await context.close(); }
    });

    await check('leaving a flag with unsaved edits asks first', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'ui-unsaved', description: 'kept' });
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        await openEditor(page, 'ui-unsaved');
        await page.getByLabel('Description').fill('half-typed');
        let asked = 0;
        page.once('dialog', (d) => { asked++; d.dismiss(); });
        await page.getByRole('link', { name: 'All flags' }).click();
        await waitFor('the question', async () => asked === 1);
        await sleep(200);
        eq(await page.getByLabel('Description').inputValue(), 'half-typed', 'still editing after Cancel');
        page.once('dialog', (d) => { asked++; d.accept(); });
        await page.getByRole('link', { name: 'All flags' }).click();
        await waitList(page);
        eq(asked, 2, 'asked again');
        eq((await mustApi(open, 'GET', '/flags/ui-unsaved')).json.description, 'kept', 'nothing saved');
      } finally { await context.close(); }
    });

    await check('delete a flag after confirming', async () => {
      await mustApi(open, 'POST', '/flags', { name: 'ui-delete' });
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        await openEditor(page, 'ui-delete');
        await page.getByRole('button', { name: 'Delete' }).click();
        const dialog = page.getByRole('dialog', { name: 'Delete ui-delete?' });
        await page.keyboard.press('Escape'); // Escape cancels
        await dialog.waitFor({ state: 'detached' });
        eq((await api(open, 'GET', '/flags/ui-delete')).status, 200, 'still there after Escape');
        assert(await page.getByRole('button', { name: 'Delete' }).evaluate((el) => el === document.activeElement), 'focus back on Delete');
        await page.getByRole('button', { name: 'Delete' }).click();
        await page.getByRole('dialog').getByRole('button', { name: 'Delete flag' }).click();
        await waitList(page);
        eq((await api(open, 'GET', '/flags/ui-delete')).status, 404, 'deleted');
      } finally { await context.close(); }
    });

    await check('accessibility (axe) and no horizontal scrolling on every main view, at 1280 px and 360 px', async () => {
      await mustApi(authed, 'POST', '/flags', { name: 'a11y-rules', is_enabled: true, targeting: ACME, description: 'Rules and a split' }, ADMIN_TOKEN);
      await mustApi(authed, 'POST', '/flags', { name: 'a11y-odd', targeting: ODD, description: 'Shown as JSON' }, ADMIN_TOKEN);
      await mustApi(authed, 'POST', '/api/v1/keys', { name: 'a11y reader', role: 'client' }, ADMIN_TOKEN);
      for (const [width, height] of [[1280, 800], [360, 740]]) {
        const { context, page } = await newPage(authed, { width, height, key: ADMIN_TOKEN });
        try {
          const views = [
            ['list', '#/flags', () => waitList(page)],
            ['flag editor (rules)', '#/flags/a11y-rules', () => page.locator('#structured-editor').waitFor()],
            ['flag editor (JSON)', '#/flags/a11y-odd', () => page.locator('#targeting-json').waitFor()],
            ['playground', '#/playground', () => page.locator('#pg-table').waitFor()],
            ['evaluators', '#/evaluators', () => page.getByRole('heading', { level: 1, name: 'Evaluators' }).waitFor()],
            ['keys', '#/keys', () => page.locator('table.keys').waitFor()],
            ['audit log', '#/audit', () => page.locator('.history-entry').first().waitFor()],
          ];
          for (const [label, hash, ready] of views) {
            await page.evaluate((h) => { location.hash = h; }, hash);
            await ready();
            if (label.startsWith('flag editor')) await page.locator('.history-entry').first().waitFor();
            await axeCheck(page, `${label} at ${width} px`);
            await noHorizontalOverflow(page, width, `${label} at ${width} px`);
          }
          // A dialog too.
          await page.evaluate(() => { location.hash = '#/flags'; });
          await waitList(page);
          await page.getByRole('button', { name: 'New flag' }).click();
          await page.getByRole('dialog', { name: 'New flag' }).waitFor();
          await axeCheck(page, `new flag dialog at ${width} px`);
          await noHorizontalOverflow(page, width, `new flag dialog at ${width} px`);
          await page.keyboard.press('Escape');
        } finally { await context.close(); }
        // The key prompt too.
        const signin = await newPage(authed, { width, height });
        try {
          await signin.page.getByLabel('API key').waitFor();
          await axeCheck(signin.page, `key prompt at ${width} px`);
          await noHorizontalOverflow(signin.page, width, `key prompt at ${width} px`);
        } finally { await signin.context.close(); }
      }
    });

    await check('keyboard only: skip link, create a flag through the dialog, visible focus', async () => {
      const { context, page } = await newPage(open);
      try {
        await waitList(page);
        await page.keyboard.press('Tab');
        eq(await page.evaluate(() => document.activeElement.textContent), 'Skip to content', 'first Tab stop');
        await page.keyboard.press('Enter');
        eq(await page.evaluate(() => document.activeElement.id), 'main', 'skip link moves focus to main');
        // Tab on to the New flag button.
        let id = '';
        for (let i = 0; i < 12 && id !== 'new-flag'; i++) {
          await page.keyboard.press('Tab');
          id = await page.evaluate(() => document.activeElement.id);
        }
        eq(id, 'new-flag', 'reached New flag by Tab');
        const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
        assert(outline !== 'none', `focused button shows an outline (got ${outline})`);
        await page.keyboard.press('Enter');
        await page.getByRole('dialog', { name: 'New flag' }).waitFor();
        eq(await page.evaluate(() => document.activeElement.id), 'new-flag-name', 'focus moves into the dialog');
        await page.keyboard.type('kbd-made');
        await page.keyboard.press('Enter');
        await page.getByRole('heading', { level: 1, name: 'kbd-made' }).waitFor();
        eq((await api(open, 'GET', '/flags/kbd-made')).status, 200, 'created');
        // Toggle it from the keyboard: Space on the focused switch.
        await page.locator('#editor-toggle').focus();
        await page.keyboard.press('Space');
        await waitFor('enabled', async () => (await mustApi(open, 'GET', '/flags/kbd-made')).json.state === 'ENABLED');
        await waitFor('focus kept on the switch', async () => (await page.evaluate(() => document.activeElement.id)) === 'editor-toggle');
      } finally { await context.close(); }
    });

    await check('screenshots for the README (1280x800 and 360 wide, and the audit log)', async () => {
      const dir = join(REPO, 'build', 'screenshots');
      mkdirSync(dir, { recursive: true });
      // A fresh instance, so the pictures show a tidy catalogue; usage is
      // flushed every second so that "evaluated ..." is filled in.
      const shots = await startServer({ ADMIN_TOKEN, USAGE_FLUSH_INTERVAL: '1' });
      try {
      for (const f of [
        { name: 'new-checkout', is_enabled: true, description: 'The redesigned checkout flow', targeting: ACME },
        { name: 'checkout-color', is_enabled: true, description: 'Colour of the pay button', variants: { red: '#c00', blue: '#00c', green: '#0a0' }, defaultVariant: 'red', targeting: { if: [{ in: [{ var: 'country' }, ['de', 'fr', 'nl']] }, 'blue', null] } },
        { name: 'max-cart-items', is_enabled: false, description: 'Items allowed in one cart', variants: { small: 10, large: 50 }, defaultVariant: 'small' },
        { name: 'search-v2', is_enabled: true, description: 'New search backend, rolled out by percentage', targeting: { fractional: [['on', 10], ['off', 90]] } },
        { name: 'dark-mode', is_enabled: true, description: 'Dark theme for the web app (app 3.2 and later)', targeting: { if: [{ sem_ver: [{ var: 'appVersion' }, '>=', '3.2.0'] }, 'on', null] }, defaultVariant: 'off' },
        { name: 'pricing-page', is_enabled: true, description: 'Pricing page layout experiment', variants: { classic: { columns: 3 }, compact: { columns: 2 } }, defaultVariant: 'classic', targeting: { fractional: [['classic', 50], ['compact', 50]] } },
        { name: 'legacy-export', is_enabled: false, description: 'Old CSV export, kept for one customer' },
      ]) await mustApi(shots, 'POST', '/flags', f, ADMIN_TOKEN);
      const key = (await mustApi(shots, 'POST', '/api/v1/keys', { name: 'Ada (product)', role: 'editor' }, ADMIN_TOKEN)).json.key;
      // Evaluate a few so "last evaluated" is filled in.
      for (const name of ['new-checkout', 'checkout-color', 'search-v2']) await mustApi(shots, 'POST', `/ofrep/v1/evaluate/flags/${name}`, { context: { targetingKey: 'u1' } }, key);
      await waitFor('usage to be flushed', async () => (await mustApi(shots, 'GET', '/flags/search-v2', undefined, key)).json.last_evaluated_at, 5000, 200);
      const d = await newPage(shots, { key });
      try {
        await waitList(d.page);
        await d.page.screenshot({ path: join(dir, 'console-desktop.png'), animations: 'disabled' });
      } finally { await d.context.close(); }
      const m = await newPage(shots, { width: 360, height: 780, key });
      try {
        await openEditor(m.page, 'new-checkout');
        await m.page.locator('#targeting-heading').scrollIntoViewIfNeeded();
        await m.page.locator('#structured-editor').waitFor();
        await m.page.evaluate(() => document.getElementById('targeting-heading').scrollIntoView({ block: 'start' }));
        await m.page.screenshot({ path: join(dir, 'console-mobile.png'), animations: 'disabled' });
      } finally { await m.context.close(); }
      // The audit log, after an editor's changes.
      await mustApi(shots, 'PUT', '/flags/search-v2', { targeting: { fractional: [['on', 25], ['off', 75]] } }, key);
      await mustApi(shots, 'PUT', '/flags/legacy-export', { is_enabled: true, description: 'Old CSV export, back for the migration week' }, key);
      const a = await newPage(shots, { key: ADMIN_TOKEN, path: '/#/audit' });
      try {
        await waitFor('the audit entries', async () => (await a.page.locator('.history-entry').count()) >= 9);
        await a.page.screenshot({ path: join(dir, 'console-audit.png'), animations: 'disabled' });
      } finally { await a.context.close(); }
      } finally { await shots.stop(); }
      for (const f of ['console-desktop.png', 'console-mobile.png', 'console-audit.png']) {
        const png = readFileSync(join(dir, f));
        assert(png.length > 10000 && png.subarray(1, 4).toString() === 'PNG', `${f} is a real picture`);
        if (process.env.UPDATE_SCREENSHOTS === '1') {
          mkdirSync(join(REPO, 'docs', 'screenshots'), { recursive: true });
          copyFileSync(join(dir, f), join(REPO, 'docs', 'screenshots', f));
        }
      }
      console.log(`     (screenshots in ${dir}${process.env.UPDATE_SCREENSHOTS === '1' ? ', copied to docs/screenshots/' : '; UPDATE_SCREENSHOTS=1 also updates docs/screenshots/'})`);
    });

    await check('no CSP violation or uncaught script error on any page', async () => {
      eq(pageProblems, [], 'problems reported by the pages');
    });
  } finally {
    await browser.close();
    await open.stop();
    await authed.stop();
  }
}

main().catch((e) => {
  runner.failed++;
  console.log(`FAIL setup: ${e && e.stack ? e.stack : e}`);
}).finally(() => {
  console.log(runner.summary('browser'));
  process.exitCode = runner.failed ? 1 : 0;
});
