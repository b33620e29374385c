// ToggleMaster web console: one script, no framework, no build step.
//
// It only calls the public API with the key the user gives it (kept in
// sessionStorage, never localStorage or cookies). The API checks every
// role; the console only hides or disables what the role cannot do, and
// shows the API's own `error` text when it refuses something.
//
// The Content-Security-Policy allows no inline script or style: nothing
// here uses eval, inline handlers or style attributes (el.style.x from
// script is fine).
'use strict';

(() => {
  const KEY_STORE = 'togglemaster.apiKey';
  const FLAG_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;
  const SEM_OPS = ['=', '!=', '<', '<=', '>', '>=', '^', '~'];
  const NUM_OPS = ['==', '!=', '<', '<=', '>', '>='];
  const COND_OPS = [
    ['eq', 'equals'],
    ['in', 'is one of'],
    ['starts_with', 'starts with'],
    ['ends_with', 'ends with'],
    ['semver', 'version (semver)'],
    ['num', 'number'],
    ['ref', 'matches evaluator'],
  ];
  const COMMON_ATTRS = ['targetingKey', 'email', 'country', 'plan', 'version', 'userId', 'role', 'age'];

  const state = {
    key: '',
    who: null, // {auth, role, key_id, name}
    flags: new Map(), // name -> whole flag document
    flagsLoaded: false,
    evaluators: [],
    keys: null,
    view: null, // current view object {name, ...}
    live: { status: 'off', ctrl: null, lastId: null, retry: 2000, running: false, generation: 0 },
  };

  // ---------------------------------------------------------------- helpers

  const $ = (sel, root = document) => root.querySelector(sel);

  /** Builds an element: h('button', {class: 'btn', onclick: fn}, 'Save'). */
  function h(tag, attrs, ...children) {
    const el = tag === 'svg' || tag === 'path' || tag === 'circle' || tag === 'rect'
      ? document.createElementNS('http://www.w3.org/2000/svg', tag)
      : document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'class') el.setAttribute('class', v);
        else if (k === 'text') el.textContent = v;
        else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'readOnly' || k === 'selected' || k === 'hidden') el[k] = v;
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(el, c);
      else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }
  let uid = 0;
  const nextId = (p) => `${p}-${++uid}`;

  function icon(name) {
    const paths = {
      plus: 'M12 5v14M5 12h14',
      trash: 'M4 7h16M10 11v6M14 11v6M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12M9 7V4h6v3',
      search: 'M11 4a7 7 0 1 0 0 14a7 7 0 0 0 0-14zM21 21l-4.35-4.35',
      up: 'M12 19V5M5 12l7-7 7 7',
      down: 'M12 5v14M19 12l-7 7-7-7',
      x: 'M6 6l12 12M18 6L6 18',
      copy: 'M9 9h10v10H9zM5 15V5h10',
      back: 'M19 12H5M12 19l-7-7 7-7',
    };
    const svg = h('svg', { class: 'icon', viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false' });
    svg.append(h('path', { d: paths[name] || '', fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }));
    return svg;
  }

  const isObj = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
  function deepEqual(a, b) {
    if (a === b) return true;
    if (typeof a !== typeof b || a === null || b === null) return false;
    if (Array.isArray(a)) {
      if (!Array.isArray(b) || a.length !== b.length) return false;
      return a.every((x, i) => deepEqual(x, b[i]));
    }
    if (typeof a === 'object') {
      if (Array.isArray(b)) return false;
      const ka = Object.keys(a);
      const kb = Object.keys(b);
      if (ka.length !== kb.length) return false;
      return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
    }
    return false;
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function timeAgo(iso) {
    if (!iso) return 'never';
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return iso;
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 45) return 'just now';
    const m = Math.round(s / 60);
    if (m < 60) return `${m} min ago`;
    const hr = Math.round(m / 60);
    if (hr < 24) return `${hr} h ago`;
    const d = Math.round(hr / 24);
    if (d < 60) return `${d} d ago`;
    return new Date(t).toLocaleDateString();
  }
  const fullTime = (iso) => (iso ? new Date(iso).toLocaleString() : '');
  const pretty = (v) => JSON.stringify(v, null, 2);
  const flagPath = (name) => `/flags/${encodeURIComponent(name)}`;

  // ---------------------------------------------------------------- status messages

  // Messages that show as a toast are read out by the toasts' live region;
  // announce() is for the ones that only a screen reader needs.
  function announce(text) {
    const sr = $('#sr-status');
    sr.textContent = '';
    setTimeout(() => { sr.textContent = text; }, 30);
  }
  function toast(text, kind = 'ok') {
    const box = $('#toasts');
    const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null }, text);
    box.append(t);
    setTimeout(() => t.remove(), kind === 'error' ? 9000 : 4500);
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, body, opts = {}) {
    const headers = { Accept: 'application/json', ...(opts.headers || {}) };
    if (state.key) headers.Authorization = `Bearer ${state.key}`;
    let payload;
    if (opts.rawBody !== undefined) payload = opts.rawBody;
    else if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, { method, headers, body: payload, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new ApiError(0, 'The server cannot be reached. Check that ToggleMaster is running.', null);
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (res.status === 401 && !opts.noAuthRedirect) {
      signedOut('Your key was not accepted (it may have been revoked). Enter a key to continue.');
    }
    if (!res.ok) {
      const msg = (data && (data.error || data.errorDetails)) || `The server answered ${res.status} ${res.statusText}`;
      throw new ApiError(res.status, msg, data);
    }
    return { status: res.status, data, headers: res.headers };
  }

  // ---------------------------------------------------------------- roles

  const role = () => (state.who ? state.who.role : 'client');
  const canWrite = () => role() === 'editor' || role() === 'admin';
  const isAdmin = () => role() === 'admin';

  function applyRoleUi() {
    const who = $('#whoami');
    const note = $('#role-note');
    const signout = $('#signout');
    $('#nav-keys').hidden = !isAdmin();
    $('#nav-audit').hidden = !isAdmin();
    // Signed out, there is nothing to navigate to or stay live with.
    $('.mainnav').hidden = !state.who;
    $('#live').hidden = !state.who;
    if (!state.who) {
      who.hidden = true;
      note.hidden = true;
      signout.hidden = true;
      return;
    }
    who.hidden = false;
    who.textContent = '';
    if (state.who.auth) {
      who.append(h('span', { class: 'whoami-name' }, state.who.name || state.who.key_id || 'key'), ' ',
        h('span', { class: `badge badge-role badge-${role()}` }, role()));
    } else {
      who.append(h('span', { class: 'badge badge-muted', title: 'Authentication is off on this server: everyone is admin' }, 'auth off'));
    }
    signout.hidden = !state.who.auth;
    if (!canWrite()) {
      note.hidden = false;
      note.textContent = `Your key's role (${role()}) can read flags but not change them. Ask an admin for an editor key to create, toggle or edit flags.`;
    } else {
      note.hidden = true;
      note.textContent = '';
    }
  }

  // ---------------------------------------------------------------- sign in

  async function whoami() {
    try {
      const r = await api('GET', '/api/v1/whoami', undefined, { noAuthRedirect: true });
      return { ok: true, who: r.data };
    } catch (e) {
      return { ok: false, error: e };
    }
  }

  function signedOut(message) {
    if (!state.who && !state.key) return renderSignIn(message);
    state.key = '';
    state.who = null;
    sessionStorage.removeItem(KEY_STORE);
    stopLive();
    applyRoleUi();
    renderSignIn(message);
  }

  function renderSignIn(message) {
    applyRoleUi();
    const main = $('#main');
    main.textContent = '';
    const errId = nextId('err');
    const input = h('input', { id: 'signin-key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': `signin-hint ${errId}` });
    const err = h('p', { id: errId, class: 'field-error', role: 'alert' }, message || '');
    const form = h('form', { class: 'card signin', novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      const key = input.value.trim();
      if (!key) { err.textContent = 'Enter an API key.'; input.focus(); return; }
      err.textContent = '';
      state.key = key;
      const r = await whoami();
      if (!r.ok) {
        state.key = '';
        err.textContent = r.error.status === 401 ? 'That key was not accepted. Check it and try again.' : r.error.message;
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      sessionStorage.setItem(KEY_STORE, key);
      state.who = r.who;
      start(true);
    } },
    h('h1', null, 'Sign in'),
    h('p', { class: 'muted' }, 'This ToggleMaster asks for an API key. What you can do depends on the key\'s role: client keys read, editor keys change flags, admin keys also manage keys.'),
    h('div', { class: 'field' },
      h('label', { for: 'signin-key' }, 'API key'),
      input,
      h('p', { id: 'signin-hint', class: 'hint' }, 'Kept only in this browser tab (sessionStorage) and forgotten when you close it.'),
      err),
    h('button', { class: 'btn btn-primary', type: 'submit' }, 'Continue'));
    main.append(h('div', { class: 'signin-wrap' }, form));
    document.title = 'Sign in · ToggleMaster';
    setLive('off');
    input.focus();
  }

  // ---------------------------------------------------------------- data

  async function fetchFlag(name) {
    try {
      const r = await api('GET', flagPath(name));
      state.flags.set(name, r.data);
      return r.data;
    } catch (e) {
      if (e.status === 404) {
        state.flags.delete(name);
        return null;
      }
      throw e;
    }
  }

  // The whole catalogue as documents, a page of LIST_PAGE flags per request
  // (GET /flags?view=full), in the API's order.
  const LIST_PAGE = 1000;
  async function loadFlags() {
    const next = new Map();
    let after = null;
    for (;;) {
      const query = `/flags?view=full&limit=${LIST_PAGE}` + (after === null ? '' : `&after=${encodeURIComponent(after)}`);
      const page = (await api('GET', query)).data;
      for (const f of page) next.set(f.name, f);
      if (page.length < LIST_PAGE) break;
      after = page[page.length - 1].name;
    }
    state.flags = next;
    state.flagsLoaded = true;
  }

  async function loadEvaluators() {
    const r = await api('GET', '/evaluators');
    state.evaluators = r.data.evaluators || [];
  }

  async function loadKeys() {
    const r = await api('GET', '/api/v1/keys');
    state.keys = r.data;
  }

  const sortedFlags = () => [...state.flags.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // ---------------------------------------------------------------- routing

  function route() {
    const hash = location.hash || '#/flags';
    const parts = hash.replace(/^#\/?/, '').split('/');
    const top = parts[0] || 'flags';
    if (top === 'flags' && parts.length > 1 && parts[1]) return { name: 'flag', flag: decodeURIComponent(parts.slice(1).join('/')) };
    if (['flags', 'evaluators', 'playground', 'keys', 'audit'].includes(top)) return { name: top };
    return { name: 'flags' };
  }

  function setNav(name) {
    for (const a of document.querySelectorAll('[data-nav]')) {
      const cur = a.dataset.nav === name || (name === 'flag' && a.dataset.nav === 'flags');
      if (cur) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  function render(focusMain = false) {
    if (!state.who) return;
    const r = route();
    setNav(r.name);
    const main = $('#main');
    if (state.view && state.view.dispose) state.view.dispose();
    main.textContent = '';
    if (r.name === 'flags') state.view = viewFlags(main);
    else if (r.name === 'flag') state.view = viewFlag(main, r.flag);
    else if (r.name === 'evaluators') state.view = viewEvaluators(main);
    else if (r.name === 'playground') state.view = viewPlayground(main);
    else if (r.name === 'keys') state.view = viewKeys(main);
    else if (r.name === 'audit') state.view = viewAudit(main);
    const h1text = $('h1', main) ? $('h1', main).textContent : '';
    document.title = h1text ? `${h1text} · ToggleMaster` : 'ToggleMaster';
    if (focusMain) {
      const h1 = $('h1', main);
      if (h1) { h1.setAttribute('tabindex', '-1'); h1.focus(); }
    }
  }

  /** Re-renders part of the page, keeping keyboard focus on the same control. */
  function keepFocus(fn) {
    const active = document.activeElement;
    const id = active && active.id;
    const sel = active && typeof active.selectionStart === 'number' ? [active.selectionStart, active.selectionEnd] : null;
    fn();
    if (id && document.activeElement !== active) {
      const el = document.getElementById(id);
      if (el) {
        el.focus();
        if (sel && typeof el.setSelectionRange === 'function') { try { el.setSelectionRange(sel[0], sel[1]); } catch { /* not a text field */ } }
      }
    }
  }

  // ---------------------------------------------------------------- dialogs

  /**
   * A modal <dialog>: focus moves into it, Escape closes it, focus returns
   * to the control that opened it.
   */
  function openDialog(title, build, { wide = false } = {}) {
    const opener = document.activeElement;
    const titleId = nextId('dlg-title');
    const dlg = h('dialog', { class: `dialog${wide ? ' dialog-wide' : ''}`, 'aria-labelledby': titleId });
    const close = () => { if (dlg.open) dlg.close(); };
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
    });
    const head = h('div', { class: 'dialog-head' },
      h('h2', { id: titleId }, title),
      h('button', { class: 'btn btn-icon btn-ghost', type: 'button', 'aria-label': 'Close', onclick: close }, icon('x')));
    const body = h('div', { class: 'dialog-body' });
    dlg.append(head, body);
    build(body, close);
    document.body.append(dlg);
    dlg.showModal();
    const first = body.querySelector('[autofocus], input:not([type=hidden]):not([disabled]), select, textarea, button.btn-primary, button');
    if (first) first.focus();
    return { dlg, close };
  }

  function confirmDialog(title, message, confirmLabel, action) {
    openDialog(title, (body, close) => {
      const err = h('p', { class: 'field-error', role: 'alert' });
      const ok = h('button', { class: 'btn btn-danger', type: 'button', onclick: async () => {
        ok.disabled = true;
        err.textContent = '';
        try {
          await action();
          close();
        } catch (e) {
          err.textContent = e.message;
          ok.disabled = false;
        }
      } }, confirmLabel);
      body.append(h('p', null, message), err,
        h('div', { class: 'actions' },
          h('button', { class: 'btn', type: 'button', onclick: close, autofocus: true }, 'Cancel'), ok));
    });
  }

  // ---------------------------------------------------------------- flags list

  function stateSwitch(flag, { id, onStart, onDone } = {}) {
    const on = flag.state === 'ENABLED';
    // Busy, not disabled, while the write is on its way: a disabled button
    // would drop keyboard focus.
    let busy = false;
    const btn = h('button', {
      id, type: 'button', role: 'switch', class: 'switch', 'aria-checked': on ? 'true' : 'false',
      'aria-label': `${flag.name} enabled`, disabled: !canWrite(),
      title: canWrite() ? (on ? 'Enabled: click to disable' : 'Disabled: click to enable') : `Your key's role (${role()}) cannot change flags`,
      onclick: async () => {
        if (busy) return;
        busy = true;
        btn.setAttribute('aria-busy', 'true');
        if (onStart) onStart();
        try {
          await api('PUT', flagPath(flag.name), { is_enabled: !on });
          await fetchFlag(flag.name);
          const msg = `Flag ${flag.name} ${on ? 'disabled' : 'enabled'}`;
          announce(msg);
          if (onDone) onDone();
          else refreshView();
        } catch (e) {
          toast(e.message, 'error');
          if (onDone) onDone(e);
        } finally {
          busy = false;
          btn.removeAttribute('aria-busy');
        }
      },
    }, h('span', { class: 'switch-knob', 'aria-hidden': 'true' }));
    return btn;
  }

  /** A few words on what a flag's targeting does, for the list. */
  function targetingSummary(f) {
    const names = Object.keys(f.variants || {});
    const def = f.defaultVariant === null || f.defaultVariant === undefined ? 'code default' : f.defaultVariant;
    const m = parseTargeting(f.targeting, names);
    if (!m) return 'Custom rule';
    const parts = [];
    if (m.rules.length) parts.push(`${m.rules.length} rule${m.rules.length === 1 ? '' : 's'}`);
    if (m.fallback.kind === 'split') parts.push(`split ${m.fallback.split.map(([n, w]) => `${n} ${w}%`).join(' / ')}`);
    else if (m.fallback.kind === 'variant') parts.push(`else ${m.fallback.variant}`);
    else parts.push(m.rules.length ? `else ${def}` : `serves ${def}`);
    return parts.join(', ');
  }

  function viewFlags(main) {
    const v = { name: 'flags', query: '', filter: 'all' };
    const list = h('div', { class: 'flag-list-wrap' });
    const count = h('p', { class: 'muted count', 'aria-live': 'polite' });
    const search = h('input', { id: 'flag-search', type: 'search', placeholder: 'Search by name or description', autocomplete: 'off',
      oninput: () => { v.query = search.value.trim().toLowerCase(); draw(); } });
    const filter = h('select', { id: 'flag-filter', onchange: () => { v.filter = filter.value; draw(); } },
      h('option', { value: 'all' }, 'All states'), h('option', { value: 'ENABLED' }, 'Enabled'), h('option', { value: 'DISABLED' }, 'Disabled'));
    main.append(
      h('div', { class: 'page-head' },
        h('div', null, h('h1', null, 'Flags'), h('p', { class: 'muted' }, 'Switch features on and off, and decide who gets which variant.')),
        h('button', { id: 'new-flag', class: 'btn btn-primary', type: 'button', disabled: !canWrite(),
          title: canWrite() ? null : `Your key's role (${role()}) cannot create flags`, onclick: createFlagDialog }, icon('plus'), 'New flag')),
      h('div', { class: 'toolbar', role: 'search' },
        h('div', { class: 'field field-inline grow' }, h('label', { for: 'flag-search', class: 'visually-hidden' }, 'Search flags'),
          h('span', { class: 'input-icon' }, icon('search'), search)),
        h('div', { class: 'field field-inline' }, h('label', { for: 'flag-filter', class: 'visually-hidden' }, 'Filter by state'), filter)),
      count, list);

    function draw() {
      keepFocus(() => {
        list.textContent = '';
        if (!state.flagsLoaded) { list.append(h('p', { class: 'muted' }, 'Loading flags…')); return; }
        const all = sortedFlags();
        const shown = all.filter((f) => (v.filter === 'all' || f.state === v.filter)
          && (!v.query || f.name.toLowerCase().includes(v.query) || (f.description || '').toLowerCase().includes(v.query)));
        count.textContent = all.length === shown.length ? `${all.length} flag${all.length === 1 ? '' : 's'}` : `${shown.length} of ${all.length} flags`;
        if (!all.length) {
          list.append(h('div', { class: 'empty card' }, h('h2', null, 'No flags yet'),
            h('p', { class: 'muted' }, canWrite() ? 'Create your first flag to start switching features without a deploy.' : 'Nobody has created a flag yet.')));
          return;
        }
        if (!shown.length) { list.append(h('p', { class: 'empty-inline muted' }, 'No flag matches this search.')); return; }
        const ul = h('ul', { class: 'flag-list', 'aria-label': 'Flags' });
        for (const f of shown) {
          ul.append(h('li', { class: 'flag-row', dataset: { flag: f.name } },
            stateSwitch(f, { id: `toggle-${f.name}` }),
            h('div', { class: 'flag-main' },
              h('a', { class: 'flag-name', href: `#/flags/${encodeURIComponent(f.name)}` }, f.name),
              h('p', { class: 'flag-desc' }, f.description || h('span', { class: 'muted' }, 'No description'))),
            h('div', { class: 'flag-meta' },
              h('span', { class: 'muted small summary' }, targetingSummary(f)),
              h('span', { class: `badge badge-type-${f.type}` }, f.type),
              h('span', { class: `state-label ${f.state === 'ENABLED' ? 'on' : 'off'}` }, f.state === 'ENABLED' ? 'Enabled' : 'Disabled'),
              h('span', { class: 'muted small', title: f.last_evaluated_at ? `Last evaluated ${fullTime(f.last_evaluated_at)}` : 'Never evaluated' },
                f.last_evaluated_at ? `Evaluated ${timeAgo(f.last_evaluated_at)}` : 'Never evaluated'))));
        }
        list.append(ul);
      });
    }
    v.refresh = draw;
    draw();
    return v;
  }

  const STARTER_VARIANTS = {
    boolean: [{ on: true, off: false }, 'on'],
    string: [{ control: 'control', treatment: 'treatment' }, 'control'],
    number: [{ low: 0, high: 1 }, 'low'],
    object: [{ standard: {}, alternative: {} }, 'standard'],
  };

  function createFlagDialog() {
    openDialog('New flag', (body, close) => {
      const nameErr = h('p', { id: 'new-flag-name-err', class: 'field-error' });
      const formErr = h('p', { class: 'field-error', role: 'alert' });
      const name = h('input', { id: 'new-flag-name', name: 'name', required: true, autocomplete: 'off', spellcheck: 'false',
        'aria-describedby': 'new-flag-name-hint new-flag-name-err' });
      const type = h('select', { id: 'new-flag-type', name: 'type' },
        h('option', { value: 'boolean' }, 'Boolean (on / off)'), h('option', { value: 'string' }, 'String'),
        h('option', { value: 'number' }, 'Number'), h('option', { value: 'object' }, 'Object (JSON)'));
      const desc = h('textarea', { id: 'new-flag-desc', name: 'description', rows: '2' });
      const enable = h('input', { id: 'new-flag-enabled', type: 'checkbox' });
      const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Create flag');
      const form = h('form', { novalidate: true, onsubmit: async (ev) => {
        ev.preventDefault();
        nameErr.textContent = '';
        formErr.textContent = '';
        name.removeAttribute('aria-invalid');
        const n = name.value.trim();
        if (!FLAG_NAME_RE.test(n)) {
          nameErr.textContent = 'Use 1 to 100 letters, digits, . _ : or -, starting with a letter or digit.';
          name.setAttribute('aria-invalid', 'true');
          name.focus();
          return;
        }
        const [variants, def] = STARTER_VARIANTS[type.value];
        const doc = { name: n, state: enable.checked ? 'ENABLED' : 'DISABLED', variants, defaultVariant: def };
        if (desc.value.trim()) doc.description = desc.value.trim();
        submit.disabled = true;
        try {
          await api('POST', '/flags', doc);
          await fetchFlag(n);
          close();
          toast(`Flag ${n} created`);
          location.hash = `#/flags/${encodeURIComponent(n)}`;
        } catch (e) {
          submit.disabled = false;
          if (e.status === 409 || /name/i.test(e.message)) {
            nameErr.textContent = e.message;
            name.setAttribute('aria-invalid', 'true');
            name.focus();
          } else formErr.textContent = e.message;
        }
      } },
      h('div', { class: 'field' }, h('label', { for: 'new-flag-name' }, 'Name'), name,
        h('p', { id: 'new-flag-name-hint', class: 'hint' }, 'What your code asks for, e.g. new-checkout. It cannot be changed later.'), nameErr),
      h('div', { class: 'field' }, h('label', { for: 'new-flag-type' }, 'Type'), type,
        h('p', { class: 'hint' }, 'Starts with two variants you can rename and change in the editor.')),
      h('div', { class: 'field' }, h('label', { for: 'new-flag-desc' }, 'Description (optional)'), desc),
      h('div', { class: 'field field-check' }, enable, h('label', { for: 'new-flag-enabled' }, 'Enable it now')),
      formErr,
      h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', onclick: close }, 'Cancel'), submit));
      body.append(form);
    });
  }

  // ---------------------------------------------------------------- targeting model
  //
  // The structured editor shows only rules it would itself generate:
  //   {"if": [cond, "variant", cond, "variant", ..., ELSE]}  (ELSE: null, "variant" or a split)
  //   {"fractional": [["a", 25], ["b", 75]]}                 (split only; weights sum to 100)
  // cond: one condition, or {"and": [two or more]}. A stored rule is shown in
  // it only when generating from what was read gives back exactly the stored
  // rule; anything else opens in the JSON editor, untouched.

  function genCond(c) {
    const v = { var: c.attr };
    switch (c.op) {
      case 'eq': return { '==': [v, c.value] };
      case 'in': return { in: [v, c.value.split(',').map((s) => s.trim()).filter((s) => s !== '')] };
      case 'starts_with': return { starts_with: [v, c.value] };
      case 'ends_with': return { ends_with: [v, c.value] };
      case 'semver': return { sem_ver: [v, c.cmp, c.value] };
      case 'num': return { [c.cmp]: [v, Number(c.value)] };
      case 'ref': return { $ref: c.value };
      default: throw new Error(`unknown condition ${c.op}`);
    }
  }

  function genTargeting(m) {
    const split = () => ({ fractional: m.fallback.split.map(([n, w]) => [n, w]) });
    if (!m.rules.length) return m.fallback.kind === 'split' ? split() : null;
    const args = [];
    for (const r of m.rules) {
      args.push(r.conds.length === 1 ? genCond(r.conds[0]) : { and: r.conds.map(genCond) });
      args.push(r.variant);
    }
    args.push(m.fallback.kind === 'split' ? split() : m.fallback.kind === 'variant' ? m.fallback.variant : null);
    return { if: args };
  }

  function varName(x) {
    return isObj(x) && Object.keys(x).length === 1 && typeof x.var === 'string' && x.var !== '' ? x.var : null;
  }

  function parseCond(c) {
    if (!isObj(c) || Object.keys(c).length !== 1) return null;
    const op = Object.keys(c)[0];
    const a = c[op];
    if (op === '$ref') return typeof a === 'string' ? { op: 'ref', attr: '', cmp: '', value: a } : null;
    if (!Array.isArray(a)) return null;
    const attr = varName(a[0]);
    if (attr === null) return null;
    if (op === '==' && a.length === 2 && typeof a[1] === 'string') return { op: 'eq', attr, cmp: '', value: a[1] };
    if (NUM_OPS.includes(op) && a.length === 2 && typeof a[1] === 'number') return { op: 'num', attr, cmp: op, value: String(a[1]) };
    if (op === 'in' && a.length === 2 && Array.isArray(a[1]) && a[1].length && a[1].every((s) => typeof s === 'string')) {
      return { op: 'in', attr, cmp: '', value: a[1].join(', ') };
    }
    if ((op === 'starts_with' || op === 'ends_with') && a.length === 2 && typeof a[1] === 'string') return { op, attr, cmp: '', value: a[1] };
    if (op === 'sem_ver' && a.length === 3 && SEM_OPS.includes(a[1]) && typeof a[2] === 'string') return { op: 'semver', attr, cmp: a[1], value: a[2] };
    return null;
  }

  function parseSplit(x, variants) {
    if (!isObj(x) || Object.keys(x).length !== 1 || !Array.isArray(x.fractional) || !x.fractional.length) return null;
    const out = [];
    for (const e of x.fractional) {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || !variants.includes(e[0])) return null;
      if (!Number.isInteger(e[1]) || e[1] < 0) return null;
      if (out.some(([n]) => n === e[0])) return null;
      out.push([e[0], e[1]]);
    }
    if (out.reduce((s, [, w]) => s + w, 0) !== 100) return null;
    return out;
  }

  /** The structured model of a stored rule, or null when the editor cannot show it exactly. */
  function parseTargeting(t, variants) {
    let m = null;
    if (t === undefined || t === null || (isObj(t) && !Object.keys(t).length)) {
      return { rules: [], fallback: { kind: 'default', variant: '', split: [] } };
    }
    if (!isObj(t) || Object.keys(t).length !== 1) return null;
    if ('fractional' in t) {
      const split = parseSplit(t, variants);
      if (split) m = { rules: [], fallback: { kind: 'split', variant: '', split } };
    } else if ('if' in t) {
      const a = t.if;
      if (!Array.isArray(a) || a.length < 3 || a.length % 2 === 0) return null;
      const rules = [];
      for (let i = 0; i + 1 < a.length; i += 2) {
        const c = a[i];
        let conds;
        if (isObj(c) && Object.keys(c).length === 1 && Array.isArray(c.and)) {
          if (c.and.length < 2) return null;
          conds = c.and.map(parseCond);
        } else conds = [parseCond(c)];
        if (conds.some((x) => x === null)) return null;
        if (typeof a[i + 1] !== 'string' || !variants.includes(a[i + 1])) return null;
        rules.push({ conds, variant: a[i + 1] });
      }
      const last = a[a.length - 1];
      let fallback;
      if (last === null) fallback = { kind: 'default', variant: '', split: [] };
      else if (typeof last === 'string' && variants.includes(last)) fallback = { kind: 'variant', variant: last, split: [] };
      else {
        const split = parseSplit(last, variants);
        if (!split) return null;
        fallback = { kind: 'split', variant: '', split };
      }
      m = { rules, fallback };
    }
    if (!m) return null;
    // Exactly what the editor would write back, or not for the editor.
    try {
      if (!deepEqual(genTargeting(m), t)) return null;
    } catch {
      return null;
    }
    return m;
  }

  /** Sets one weight of a split and spreads the rest over the others so that the total stays 100. */
  function setWeight(split, i, value) {
    const v = Math.max(0, Math.min(100, Math.round(Number(value) || 0)));
    const others = split.map((_, j) => j).filter((j) => j !== i);
    if (!others.length) { split[i][1] = 100; return; }
    const rest = 100 - v;
    const cur = others.reduce((s, j) => s + split[j][1], 0);
    const shares = others.map((j) => (cur > 0 ? (split[j][1] * rest) / cur : rest / others.length));
    const floors = shares.map(Math.floor);
    let left = rest - floors.reduce((s, x) => s + x, 0);
    const order = shares.map((s, k) => [s - floors[k], k]).sort((a, b) => b[0] - a[0]);
    for (const [, k] of order) {
      if (left <= 0) break;
      floors[k] += 1;
      left -= 1;
    }
    split[i][1] = v;
    others.forEach((j, k) => { split[j][1] = floors[k]; });
  }

  function evenSplit(names) {
    const n = names.length;
    const base = Math.floor(100 / n);
    let extra = 100 - base * n;
    return names.map((name) => [name, base + (extra-- > 0 ? 1 : 0)]);
  }

  function checkModel(m) {
    for (const [i, r] of m.rules.entries()) {
      for (const [j, c] of r.conds.entries()) {
        const where = `Rule ${i + 1}, condition ${j + 1}`;
        if (c.op !== 'ref' && !c.attr.trim()) return `${where}: name the context attribute.`;
        if (c.op === 'ref' && !c.value) return `${where}: choose an evaluator.`;
        if (c.op === 'num' && (c.value.trim() === '' || !Number.isFinite(Number(c.value)))) return `${where}: enter a number.`;
        if (c.op === 'in' && !c.value.split(',').some((s) => s.trim())) return `${where}: list at least one value, separated by commas.`;
      }
      if (!r.variant) return `Rule ${i + 1}: choose the variant to serve.`;
    }
    if (m.fallback.kind === 'variant' && !m.fallback.variant) return 'Everyone else: choose a variant.';
    if (m.fallback.kind === 'split' && m.fallback.split.reduce((s, [, w]) => s + w, 0) !== 100) return 'The split must add up to 100%.';
    return null;
  }

  // ---------------------------------------------------------------- flag editor

  function variantRows(flag) {
    return Object.entries(flag.variants || {}).map(([name, value]) => ({
      name,
      text: flag.type === 'object' ? pretty(value) : String(value),
    }));
  }

  function viewFlag(main, name) {
    // busy: writes of this page in flight; their own change events are not "someone else".
    const v = { name: 'flag', flagName: name, dirty: false, busy: 0 };
    const flag0 = state.flags.get(name);
    if (!flag0) {
      if (!state.flagsLoaded) {
        main.append(h('p', { class: 'muted' }, 'Loading…'));
        return v;
      }
      // Perhaps made elsewhere a moment ago: ask the server before saying no.
      fetchFlag(name).then((f) => { if (f && state.view === v) render(); }).catch(() => {});
      main.append(h('div', { class: 'page-head' }, h('h1', null, 'Flag not found')),
        h('div', { class: 'card' }, h('p', null, `There is no flag named ${name}. It may have been deleted.`),
          h('a', { class: 'btn', href: '#/flags' }, icon('back'), 'All flags')));
      return v;
    }
    let flag = flag0;
    let ed; // the editable state, rebuilt from `flag`

    const reset = () => {
      const names = Object.keys(flag.variants || {});
      const model = parseTargeting(flag.targeting, names);
      ed = {
        description: flag.description || '',
        variants: variantRows(flag),
        defaultVariant: flag.defaultVariant === null || flag.defaultVariant === undefined ? null : flag.defaultVariant,
        targetingDirty: false,
        mode: model ? 'rules' : 'json',
        model: model || { rules: [], fallback: { kind: 'default', variant: '', split: [] } },
        jsonText: flag.targeting === undefined || flag.targeting === null ? '' : pretty(flag.targeting),
        representable: !!model,
      };
      v.dirty = false;
    };
    reset();

    const banner = h('div', { class: 'banner', role: 'status', hidden: true });
    const formErr = h('p', { id: 'flag-form-error', class: 'form-error', role: 'alert' });
    const descErr = h('p', { id: 'desc-error', class: 'field-error' });
    const varErr = h('p', { id: 'variants-error', class: 'field-error' });
    const tgtErr = h('p', { id: 'targeting-error', class: 'field-error', role: 'alert' });
    const head = h('div');
    const variantsBox = h('div');
    const targetingBox = h('div');
    const historyBox = h('div', { class: 'history' });
    const usageBox = h('div', { class: 'usage' });
    const saveBtn = h('button', { id: 'save-flag', class: 'btn btn-primary', type: 'submit', disabled: !canWrite() }, 'Save changes');
    const discardBtn = h('button', { id: 'discard-flag', class: 'btn', type: 'button', disabled: !canWrite(), onclick: () => {
      // Discarding also loads the latest version this console has seen.
      flag = state.flags.get(name) || flag;
      reset();
      drawAll();
      announce('Changes discarded');
    } }, 'Discard');
    const ro = !canWrite();

    const markDirty = () => { v.dirty = true; };

    function drawHead() {
      keepFocus(() => drawHeadNow());
    }
    function drawHeadNow() {
      head.textContent = '';
      head.append(
        h('p', { class: 'crumbs' }, h('a', { href: '#/flags' }, icon('back'), 'All flags')),
        h('div', { class: 'page-head' },
          h('div', { class: 'title-with-switch' },
            stateSwitch(flag, { id: 'editor-toggle', onStart: () => { v.busy++; },
              onDone: () => { v.busy--; flag = state.flags.get(name) || flag; drawHead(); loadHistory(); } }),
            h('div', null,
              h('h1', { class: 'mono-title' }, flag.name),
              h('p', { class: 'muted small' },
                h('span', { class: `badge badge-type-${flag.type}` }, flag.type), ' ',
                h('span', { class: `state-label ${flag.state === 'ENABLED' ? 'on' : 'off'}` }, flag.state === 'ENABLED' ? 'Enabled' : 'Disabled'),
                ` · version ${flag.version} · updated ${timeAgo(flag.updated_at)} · `,
                flag.last_evaluated_at ? `evaluated ${timeAgo(flag.last_evaluated_at)}` : 'never evaluated'))),
          h('button', { id: 'delete-flag', class: 'btn btn-danger-ghost', type: 'button', disabled: ro,
            title: ro ? `Your key's role (${role()}) cannot delete flags` : null,
            onclick: () => confirmDialog(`Delete ${flag.name}?`,
              `Clients asking for ${flag.name} will get the default value in their code. Its history stays in the audit trail.`,
              'Delete flag', async () => {
                await api('DELETE', flagPath(flag.name));
                state.flags.delete(flag.name);
                v.dirty = false;
                toast(`Flag ${flag.name} deleted`);
                location.hash = '#/flags';
              }) }, icon('trash'), 'Delete')));
    }

    function variantInput(row, i) {
      const id = `variant-value-${i}`;
      const label = `Value of variant ${i + 1}`;
      const set = (val) => { row.text = val; markDirty(); };
      if (flag.type === 'boolean') {
        return h('select', { id, 'aria-label': label, disabled: ro, onchange: (e) => set(e.target.value) },
          h('option', { value: 'true', selected: row.text === 'true' }, 'true'),
          h('option', { value: 'false', selected: row.text === 'false' }, 'false'));
      }
      if (flag.type === 'object') {
        return h('textarea', { id, 'aria-label': label, class: 'code', rows: '3', spellcheck: 'false', readOnly: ro, value: row.text, oninput: (e) => set(e.target.value) });
      }
      return h('input', { id, 'aria-label': label, class: flag.type === 'number' ? 'num' : '', inputmode: flag.type === 'number' ? 'decimal' : null,
        readOnly: ro, value: row.text, autocomplete: 'off', spellcheck: 'false', oninput: (e) => set(e.target.value) });
    }

    function drawVariants() {
      keepFocus(() => {
        variantsBox.textContent = '';
        const rows = h('div', { class: 'variant-rows' });
        ed.variants.forEach((row, i) => {
          const nameInput = h('input', { id: `variant-name-${i}`, 'aria-label': `Name of variant ${i + 1}`, value: row.name, readOnly: ro,
            autocomplete: 'off', spellcheck: 'false',
            oninput: (e) => {
              const old = row.name;
              row.name = e.target.value;
              if (ed.defaultVariant === old) ed.defaultVariant = row.name;
              if (ed.mode === 'rules') renameInModel(old, row.name);
              markDirty();
              drawDefault();
              if (ed.mode === 'rules') drawTargeting();
            } });
          rows.append(h('div', { class: 'variant-row' },
            h('div', { class: 'variant-name' }, nameInput),
            h('div', { class: 'variant-value' }, variantInput(row, i)),
            h('button', { class: 'btn btn-icon btn-ghost', type: 'button', 'aria-label': `Remove variant ${row.name || i + 1}`, disabled: ro || ed.variants.length <= 1,
              onclick: () => {
                const old = row.name;
                ed.variants.splice(i, 1);
                if (ed.defaultVariant === old) ed.defaultVariant = null;
                if (ed.mode === 'rules') removeFromModel(old);
                markDirty();
                drawVariants();
                drawTargeting();
                const next = document.getElementById(`variant-name-${Math.max(0, i - 1)}`);
                if (next) next.focus();
              } }, icon('trash'))));
        });
        const addBtn = h('button', { class: 'btn btn-small', type: 'button', disabled: ro, onclick: () => {
          let n = ed.variants.length + 1;
          const taken = new Set(ed.variants.map((r) => r.name));
          while (taken.has(`variant-${n}`)) n++;
          const text = flag.type === 'boolean' ? 'true' : flag.type === 'number' ? '0' : flag.type === 'object' ? '{}' : `variant-${n}`;
          ed.variants.push({ name: `variant-${n}`, text });
          if (ed.mode === 'rules' && ed.model.fallback.kind === 'split') ed.model.fallback.split.push([`variant-${n}`, 0]);
          markDirty();
          drawVariants();
          drawTargeting();
          const el = document.getElementById(`variant-name-${ed.variants.length - 1}`);
          if (el) { el.focus(); el.select(); }
        } }, icon('plus'), 'Add variant');
        variantsBox.append(
          h('div', { class: 'variant-row variant-head', 'aria-hidden': 'true' }, h('span', null, 'Name'), h('span', null, `Value (${flag.type})`), h('span')),
          rows, addBtn, h('div', { class: 'field default-field' }, defaultSelectWrap), varErr);
        drawDefault();
      });
    }

    const defaultSelectWrap = h('div');
    function drawDefault() {
      keepFocus(() => {
        defaultSelectWrap.textContent = '';
        const sel = h('select', { id: 'default-variant', disabled: ro, 'aria-describedby': 'default-variant-hint',
          onchange: (e) => { ed.defaultVariant = e.target.value === '' ? null : e.target.value; markDirty(); drawTargeting(); } },
        h('option', { value: '', selected: ed.defaultVariant === null }, 'None: the code default applies'),
        ed.variants.map((r) => h('option', { value: r.name, selected: r.name === ed.defaultVariant }, r.name)));
        defaultSelectWrap.append(h('label', { for: 'default-variant' }, 'Default variant'), sel,
          h('p', { id: 'default-variant-hint', class: 'hint' }, 'Served when the flag is on and no targeting rule decides.'));
      });
    }

    function renameInModel(oldName, newName) {
      const m = ed.model;
      let touched = false;
      for (const r of m.rules) if (r.variant === oldName) { r.variant = newName; touched = true; }
      if (m.fallback.variant === oldName) { m.fallback.variant = newName; touched = true; }
      for (const e of m.fallback.split) if (e[0] === oldName) { e[0] = newName; touched = true; }
      if (touched) ed.targetingDirty = true;
    }
    function removeFromModel(name) {
      const m = ed.model;
      let touched = false;
      for (const r of m.rules) if (r.variant === name) { r.variant = ''; touched = true; }
      if (m.fallback.variant === name) { m.fallback.variant = ''; touched = true; }
      const i = m.fallback.split.findIndex(([n]) => n === name);
      if (i >= 0) {
        setWeight(m.fallback.split, i, 0);
        m.fallback.split.splice(i, 1);
        touched = true;
      }
      if (touched) ed.targetingDirty = true;
    }

    const variantNames = () => ed.variants.map((r) => r.name).filter((n) => n !== '');

    function variantSelect(id, label, value, onchange) {
      return h('select', { id, 'aria-label': label, disabled: ro, onchange: (e) => onchange(e.target.value) },
        h('option', { value: '', selected: !value }, 'Choose a variant'),
        variantNames().map((n) => h('option', { value: n, selected: n === value }, n)));
    }

    const touchTargeting = () => { ed.targetingDirty = true; markDirty(); tgtErr.textContent = ''; };

    function condRow(rule, ri, c, ci) {
      const p = `r${ri}c${ci}`;
      const where = `Rule ${ri + 1}, condition ${ci + 1}`;
      const opSel = h('select', { id: `${p}-op`, 'aria-label': `${where}: operator`, disabled: ro, onchange: (e) => {
        c.op = e.target.value;
        if (c.op === 'semver') c.cmp = SEM_OPS.includes(c.cmp) ? c.cmp : '>=';
        else if (c.op === 'num') c.cmp = NUM_OPS.includes(c.cmp) ? c.cmp : '>=';
        else c.cmp = '';
        if (c.op === 'ref') c.value = state.evaluators[0] ? state.evaluators[0].name : '';
        touchTargeting();
        drawTargeting();
      } }, COND_OPS.map(([val, text]) => h('option', { value: val, selected: val === c.op }, text)));
      const parts = [];
      if (c.op !== 'ref') {
        parts.push(h('input', { id: `${p}-attr`, class: 'attr', 'aria-label': `${where}: context attribute`, value: c.attr, readOnly: ro,
          list: 'attr-suggestions', placeholder: 'attribute', autocomplete: 'off', spellcheck: 'false',
          oninput: (e) => { c.attr = e.target.value.trim(); touchTargeting(); drawPreview(); } }));
      }
      parts.push(opSel);
      if (c.op === 'semver' || c.op === 'num') {
        const ops = c.op === 'semver' ? SEM_OPS : NUM_OPS;
        parts.push(h('select', { id: `${p}-cmp`, class: 'cmp', 'aria-label': `${where}: comparison`, disabled: ro, onchange: (e) => { c.cmp = e.target.value; touchTargeting(); drawPreview(); } },
          ops.map((o) => h('option', { value: o, selected: o === c.cmp }, o === '^' ? '^ same major' : o === '~' ? '~ same minor' : o))));
      }
      if (c.op === 'ref') {
        parts.push(h('select', { id: `${p}-value`, class: 'grow', 'aria-label': `${where}: evaluator`, disabled: ro, onchange: (e) => { c.value = e.target.value; touchTargeting(); drawPreview(); } },
          h('option', { value: '', selected: !c.value }, state.evaluators.length ? 'Choose an evaluator' : 'No evaluators yet'),
          state.evaluators.map((x) => h('option', { value: x.name, selected: x.name === c.value }, x.name))));
      } else {
        const ph = { eq: 'value', in: 'a, b, c', starts_with: 'prefix', ends_with: '@example.com', semver: '1.2.0', num: '18' }[c.op];
        parts.push(h('input', { id: `${p}-value`, class: 'grow', 'aria-label': `${where}: value`, value: c.value, readOnly: ro, placeholder: ph,
          inputmode: c.op === 'num' ? 'decimal' : null, autocomplete: 'off', spellcheck: 'false',
          oninput: (e) => { c.value = e.target.value; touchTargeting(); drawPreview(); } }));
      }
      const remove = h('button', { class: 'btn btn-icon btn-ghost cond-remove', type: 'button', 'aria-label': `Remove ${where.toLowerCase()}`, disabled: ro,
        onclick: () => {
          rule.conds.splice(ci, 1);
          if (!rule.conds.length) ed.model.rules.splice(ri, 1);
          touchTargeting();
          drawTargeting();
          const f = document.getElementById('add-rule');
          if (f) f.focus();
        } }, icon('x'));
      return h('li', { class: 'cond' }, h('span', { class: 'and' }, ci > 0 ? 'and' : 'if'), h('div', { class: 'cond-fields' }, parts), remove);
    }

    const preview = h('pre', { class: 'code preview', id: 'targeting-preview', tabindex: '0', 'aria-label': 'Generated JsonLogic' });
    function drawPreview() {
      let t;
      try { t = genTargeting(ed.model); } catch { t = null; }
      preview.textContent = t === null ? '(no targeting: every evaluation gets the default variant)' : pretty(t);
    }

    function drawRules(box) {
      const m = ed.model;
      const list = h('ol', { class: 'rules' });
      m.rules.forEach((r, ri) => {
        list.append(h('li', { class: 'rule card-sub' },
          h('div', { class: 'rule-head' },
            h('h4', null, `Rule ${ri + 1}`),
            h('div', { class: 'rule-tools' },
              h('button', { class: 'btn btn-icon btn-ghost', type: 'button', 'aria-label': `Move rule ${ri + 1} up`, disabled: ro || ri === 0,
                onclick: () => { m.rules.splice(ri - 1, 0, m.rules.splice(ri, 1)[0]); touchTargeting(); drawTargeting(); } }, icon('up')),
              h('button', { class: 'btn btn-icon btn-ghost', type: 'button', 'aria-label': `Move rule ${ri + 1} down`, disabled: ro || ri === m.rules.length - 1,
                onclick: () => { m.rules.splice(ri + 1, 0, m.rules.splice(ri, 1)[0]); touchTargeting(); drawTargeting(); } }, icon('down')),
              h('button', { class: 'btn btn-icon btn-ghost', type: 'button', 'aria-label': `Remove rule ${ri + 1}`, disabled: ro,
                onclick: () => { m.rules.splice(ri, 1); touchTargeting(); drawTargeting(); const f = document.getElementById('add-rule'); if (f) f.focus(); } }, icon('trash')))),
          h('ul', { class: 'conds' }, r.conds.map((c, ci) => condRow(r, ri, c, ci))),
          h('div', { class: 'rule-foot' },
            h('button', { id: `r${ri}-add-cond`, class: 'btn btn-small btn-ghost', type: 'button', disabled: ro,
              onclick: () => { r.conds.push({ op: 'eq', attr: '', cmp: '', value: '' }); touchTargeting(); drawTargeting(); const el = document.getElementById(`r${ri}c${r.conds.length - 1}-attr`); if (el) el.focus(); } },
            icon('plus'), 'And condition'),
            h('span', { class: 'serve' }, h('label', { for: `r${ri}-variant` }, 'then serve'),
              variantSelect(`r${ri}-variant`, `Rule ${ri + 1}: variant to serve`, r.variant, (val) => { r.variant = val; touchTargeting(); drawPreview(); })))));
      });
      box.append(list,
        h('button', { id: 'add-rule', class: 'btn btn-small', type: 'button', disabled: ro, onclick: () => {
          m.rules.push({ conds: [{ op: 'eq', attr: '', cmp: '', value: '' }], variant: variantNames()[0] || '' });
          touchTargeting();
          drawTargeting();
          const el = document.getElementById(`r${m.rules.length - 1}c0-attr`);
          if (el) el.focus();
        } }, icon('plus'), 'Add rule'));

      // Everyone else
      const fb = m.fallback;
      const defName = ed.defaultVariant === null ? 'none: the code default' : ed.defaultVariant;
      const kindSel = h('select', { id: 'fallback-kind', disabled: ro, onchange: (e) => {
        fb.kind = e.target.value;
        if (fb.kind === 'split' && !fb.split.length) fb.split = evenSplit(variantNames());
        if (fb.kind === 'variant' && !fb.variant) fb.variant = variantNames()[0] || '';
        touchTargeting();
        drawTargeting();
      } },
      h('option', { value: 'default', selected: fb.kind === 'default' }, `Default variant (${defName})`),
      m.rules.length ? h('option', { value: 'variant', selected: fb.kind === 'variant' }, 'A specific variant') : null,
      h('option', { value: 'split', selected: fb.kind === 'split' }, 'Percentage split'));
      const fbBox = h('fieldset', { class: 'fallback card-sub' },
        h('legend', null, m.rules.length ? 'Everyone else' : 'Everyone'),
        h('div', { class: 'field' }, h('label', { for: 'fallback-kind' }, m.rules.length ? 'Serve everyone no rule matched' : 'Serve'), kindSel));
      if (fb.kind === 'variant') {
        fbBox.append(h('div', { class: 'field' }, h('label', { for: 'fallback-variant' }, 'Variant'),
          variantSelect('fallback-variant', null, fb.variant, (val) => { fb.variant = val; touchTargeting(); drawPreview(); })));
      }
      if (fb.kind === 'split') fbBox.append(splitEditor(fb));
      box.append(fbBox, h('details', { class: 'preview-wrap' }, h('summary', null, 'Show the JsonLogic this writes'), preview));
      drawPreview();
    }

    function splitEditor(fb) {
      const wrap = h('div', { class: 'split' });
      const total = h('p', { class: 'split-total muted small', 'aria-live': 'polite' });
      const bar = h('div', { class: 'split-bar', 'aria-hidden': 'true' });
      const rows = [];
      const sync = () => {
        fb.split.forEach(([, w], i) => {
          rows[i].range.value = String(w);
          if (document.activeElement !== rows[i].num) rows[i].num.value = String(w);
          rows[i].seg.style.width = `${w}%`;
          rows[i].range.setAttribute('aria-valuetext', `${w}%`);
        });
        const sum = fb.split.reduce((s, [, w]) => s + w, 0);
        total.textContent = `Total ${sum}% · bucketed by flag name and targeting key, so each user keeps their variant`;
        drawPreview();
      };
      const canRemove = !ro && fb.split.length > 2;
      fb.split.forEach(([vname], i) => {
        const rid = `split-range-${i}`;
        const nid = `split-num-${i}`;
        const onChange = (val) => { setWeight(fb.split, i, val); touchTargeting(); sync(); };
        const range = h('input', { id: rid, type: 'range', min: '0', max: '100', step: '1', disabled: ro || fb.split.length < 2,
          'aria-label': `${vname} share in percent`, oninput: (e) => onChange(e.target.value) });
        const num = h('input', { id: nid, class: 'num pct', type: 'number', min: '0', max: '100', step: '1', inputmode: 'numeric', readOnly: ro || fb.split.length < 2,
          'aria-label': `${vname} percent`, oninput: (e) => { if (e.target.value !== '') onChange(e.target.value); },
          onblur: (e) => { e.target.value = String(fb.split[i][1]); } });
        const seg = h('span', { class: `seg seg-${i % 6}`, title: vname });
        bar.append(seg);
        rows.push({ range, num, seg });
        wrap.append(h('div', { class: 'split-row' },
          h('span', { class: `swatch seg-${i % 6}`, 'aria-hidden': 'true' }),
          h('label', { for: rid, class: 'split-name' }, vname), range,
          h('span', { class: 'pct-wrap' }, num, h('span', { 'aria-hidden': 'true' }, '%'),
            canRemove ? h('button', { class: 'btn btn-icon btn-ghost', type: 'button', 'aria-label': `Leave ${vname} out of the split`,
              onclick: () => {
                setWeight(fb.split, i, 0);
                fb.split.splice(i, 1);
                touchTargeting();
                drawTargeting();
                focusId('fallback-kind');
              } }, icon('x')) : null)));
      });
      wrap.prepend(bar);
      const missing = variantNames().filter((n) => !fb.split.some(([x]) => x === n));
      if (missing.length && !ro) {
        const addSel = h('select', { id: 'split-add-variant', 'aria-label': 'Variant to add to the split' }, missing.map((n) => h('option', { value: n }, n)));
        wrap.append(h('div', { class: 'split-add' }, addSel,
          h('button', { class: 'btn btn-small', type: 'button', onclick: () => {
            fb.split.push([addSel.value, 0]);
            touchTargeting();
            drawTargeting();
            focusId(`split-num-${fb.split.length - 1}`);
          } }, icon('plus'), 'Add to split')));
      }
      wrap.append(total);
      sync();
      return wrap;
    }

    function drawTargeting() {
      keepFocus(() => {
        targetingBox.textContent = '';
        const tabs = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Targeting editor' },
          h('button', { id: 'mode-rules', type: 'button', class: 'seg-btn', 'aria-pressed': ed.mode === 'rules' ? 'true' : 'false', onclick: () => switchMode('rules') }, 'Rules'),
          h('button', { id: 'mode-json', type: 'button', class: 'seg-btn', 'aria-pressed': ed.mode === 'json' ? 'true' : 'false', onclick: () => switchMode('json') }, 'JSON'));
        targetingBox.append(h('div', { class: 'section-head' },
          h('h2', { id: 'targeting-heading' }, 'Targeting'), tabs));
        if (ed.mode === 'rules') {
          const box = h('div', { class: 'structured', id: 'structured-editor' });
          targetingBox.append(h('p', { class: 'muted small' }, 'Rules are checked in order; the first that matches decides. Attributes come from the evaluation context your code sends.'));
          drawRules(box);
          targetingBox.append(box);
        } else {
          if (!ed.representable && !ed.targetingDirty) {
            targetingBox.append(h('p', { class: 'notice', id: 'json-notice' },
              'This rule uses shapes the rules editor does not write, so it is shown here exactly as stored. It is sent back only if you change it.'));
          }
          const ta = h('textarea', { id: 'targeting-json', class: 'code', rows: '12', spellcheck: 'false', readOnly: ro,
            'aria-describedby': 'targeting-json-hint targeting-error', value: ed.jsonText,
            oninput: (e) => { ed.jsonText = e.target.value; touchTargeting(); ta.removeAttribute('aria-invalid'); } });
          targetingBox.append(h('div', { class: 'field' },
            h('label', { for: 'targeting-json' }, 'Targeting rule (JsonLogic)'),
            h('div', { class: 'json-field' }, ta),
            h('p', { id: 'targeting-json-hint', class: 'hint' }, 'flagd JsonLogic: if, fractional, sem_ver, starts_with, ends_with, $ref and the standard operators. Leave it empty for no targeting. The server checks it when you save.')));
        }
        targetingBox.append(tgtErr);
        if (!targetingBox.querySelector('datalist')) {
          targetingBox.append(h('datalist', { id: 'attr-suggestions' }, COMMON_ATTRS.map((a) => h('option', { value: a }))));
        }
      });
    }

    function switchMode(mode) {
      if (mode === ed.mode) return;
      tgtErr.textContent = '';
      if (mode === 'json') {
        if (ed.targetingDirty) {
          const problem = checkModel(ed.model);
          if (!problem) {
            const t = genTargeting(ed.model);
            ed.jsonText = t === null ? '' : pretty(t);
          }
        }
        ed.mode = 'json';
      } else {
        let t;
        const text = ed.jsonText.trim();
        if (text === '') t = null;
        else {
          try { t = JSON.parse(text); } catch (e) {
            tgtErr.textContent = `This is not valid JSON, so the rules editor cannot show it: ${e.message}`;
            return;
          }
        }
        const m = parseTargeting(t, variantNames());
        if (!m) {
          tgtErr.textContent = 'The rules editor cannot show this rule exactly, so it stays in the JSON editor.';
          return;
        }
        ed.model = m;
        ed.mode = 'rules';
      }
      drawTargeting();
      const b = document.getElementById(mode === 'json' ? 'mode-json' : 'mode-rules');
      if (b) b.focus();
    }

    // History: who changed what, before and after.
    async function loadHistory() {
      historyBox.textContent = '';
      historyBox.append(h('h2', { id: 'history-heading' }, 'History'));
      if (!canWrite()) {
        historyBox.append(h('p', { class: 'muted' }, `The history needs the editor role; your key's role (${role()}) cannot read it.`));
        return;
      }
      await pagedEntries(historyBox, {
        headingId: 'history-heading', moreId: 'history-more', empty: 'No recorded changes.',
        fetchPage: async (before) => (await api('GET', `${flagPath(name)}/history?limit=20${before ? `&before=${before}` : ''}`)).data,
        entry: (e) => historyEntry(e),
      });
    }

    // Usage: how often, and with what, the flag was evaluated lately.
    async function loadUsage() {
      usageBox.textContent = '';
      if (!canWrite()) return;
      let u;
      try {
        u = (await api('GET', `${flagPath(name)}/usage?window=24h`)).data;
      } catch (e) {
        usageBox.append(h('p', { class: 'muted small' }, `Usage: ${e.message}`));
        return;
      }
      const total = u.evaluations + (u.pending_on_this_instance || 0);
      const dl = h('dl', { class: 'stats' },
        h('div', null, h('dt', null, 'Evaluations, last 24 h'), h('dd', null, total.toLocaleString())),
        h('div', null, h('dt', null, 'Last evaluated'), h('dd', { title: fullTime(u.last_evaluated_at) }, timeAgo(u.last_evaluated_at))),
        h('div', null, h('dt', null, 'All time'), h('dd', null, (u.evaluations_all_time || 0).toLocaleString())));
      usageBox.append(dl);
      if (u.variants && u.variants.length) {
        usageBox.append(h('ul', { class: 'usage-variants', 'aria-label': 'Variants served in the last 24 hours' },
          u.variants.map((x, i) => {
            const pct = Math.round(x.share * 1000) / 10;
            const bar = h('span', { class: `usage-fill seg-${i % 6}` });
            bar.style.width = `${pct}%`;
            return h('li', null, h('span', { class: 'usage-name' }, x.variant === null ? '(no variant)' : x.variant),
              h('span', { class: 'usage-bar', 'aria-hidden': 'true' }, bar),
              h('span', { class: 'usage-pct' }, `${pct}% (${x.evaluations.toLocaleString()})`));
          })));
      }
    }

    const form = h('form', { id: 'flag-form', class: 'editor', novalidate: true, onsubmit: (e) => { e.preventDefault(); save(); } });

    async function save() {
      formErr.textContent = '';
      descErr.textContent = '';
      varErr.textContent = '';
      tgtErr.textContent = '';
      const members = {};
      // Description
      const desc = ed.description.trim();
      if (desc !== (flag.description || '')) members.description = desc === '' ? null : desc;
      // Variants
      const variants = {};
      const seen = new Set();
      for (const [i, r] of ed.variants.entries()) {
        const n = r.name.trim();
        if (!n) { varErr.textContent = `Variant ${i + 1} needs a name.`; return focusId(`variant-name-${i}`); }
        if (seen.has(n)) { varErr.textContent = `Two variants are named ${n}.`; return focusId(`variant-name-${i}`); }
        seen.add(n);
        let val;
        if (flag.type === 'boolean') val = r.text === 'true';
        else if (flag.type === 'number') {
          val = Number(r.text);
          if (r.text.trim() === '' || !Number.isFinite(val)) { varErr.textContent = `The value of ${n} must be a number.`; return focusId(`variant-value-${i}`); }
        } else if (flag.type === 'object') {
          try { val = JSON.parse(r.text); } catch (e) { varErr.textContent = `The value of ${n} is not valid JSON: ${e.message}`; return focusId(`variant-value-${i}`); }
          if (!isObj(val)) { varErr.textContent = `The value of ${n} must be a JSON object.`; return focusId(`variant-value-${i}`); }
        } else val = r.text;
        variants[n] = val;
      }
      if (!deepEqual(variants, flag.variants)) members.variants = variants;
      const def = ed.defaultVariant === null ? null : ed.defaultVariant.trim();
      if (def !== (flag.defaultVariant === undefined ? null : flag.defaultVariant) || members.variants) members.defaultVariant = def;
      // Targeting: only when the user changed it.
      let rawTargeting = null;
      if (ed.targetingDirty) {
        if (ed.mode === 'rules') {
          const problem = checkModel(ed.model);
          if (problem) { tgtErr.textContent = problem; return focusId('targeting-heading'); }
          members.targeting = genTargeting(ed.model);
        } else {
          const text = ed.jsonText.trim();
          if (text === '') members.targeting = null;
          else {
            try { members.targeting = JSON.parse(text); } catch {
              // Not JSON: let the server say what is wrong with it, in its words.
              rawTargeting = ed.jsonText;
            }
          }
        }
      }
      if (!Object.keys(members).length && rawTargeting === null) {
        toast('Nothing changed, nothing to save.');
        return;
      }
      let rawBody;
      if (rawTargeting !== null) {
        const rest = JSON.stringify(members);
        rawBody = `${rest.slice(0, -1)}${rest.length > 2 ? ',' : ''}"targeting":${rawTargeting}}`;
      }
      saveBtn.disabled = true;
      v.busy++;
      try {
        await api('PUT', flagPath(name), rawBody === undefined ? members : undefined, { headers: { 'If-Match': `"${flag.version}"` }, rawBody });
        flag = (await fetchFlag(name)) || flag;
        reset();
        drawAll();
        toast(`Flag ${name} saved`);
      } catch (e) {
        if (e.status === 412) {
          formErr.textContent = 'Someone changed this flag after you opened it, so nothing was saved. Discard your edits to load their version, then make your change again.';
        } else if (e.status === 400 && (rawTargeting !== null || /^targeting/.test(e.message))) {
          tgtErr.textContent = e.message;
          const ta = document.getElementById('targeting-json');
          if (ta) { ta.setAttribute('aria-invalid', 'true'); }
        } else if (e.status === 400 && /^(variants|defaultVariant)/.test(e.message)) {
          varErr.textContent = e.message;
        } else if (e.status === 400 && /description/.test(e.message)) {
          descErr.textContent = e.message;
        } else {
          formErr.textContent = e.message;
        }
      } finally {
        v.busy--;
        saveBtn.disabled = !canWrite();
      }
    }

    function focusId(id) {
      const el = document.getElementById(id);
      if (el) { if (!el.matches('input,select,textarea,button')) el.setAttribute('tabindex', '-1'); el.focus(); }
    }

    const descInput = h('textarea', { id: 'flag-description', rows: '2', readOnly: ro, 'aria-describedby': 'desc-error',
      oninput: (e) => { ed.description = e.target.value; markDirty(); } });

    function drawAll() {
      drawHead();
      descInput.value = ed.description;
      drawVariants();
      drawTargeting();
      banner.hidden = true;
      loadHistory();
      loadUsage();
    }

    form.append(
      h('section', { class: 'card', 'aria-labelledby': 'about-heading' },
        h('h2', { id: 'about-heading' }, 'About'),
        h('div', { class: 'field' }, h('label', { for: 'flag-description' }, 'Description'), descInput, descErr),
        usageBox),
      h('section', { class: 'card', 'aria-labelledby': 'variants-heading' },
        h('h2', { id: 'variants-heading' }, 'Variants'),
        h('p', { class: 'muted small' }, `The values this ${flag.type} flag can give. The type stays ${flag.type}: clients ask for it typed.`),
        variantsBox),
      h('section', { class: 'card', 'aria-labelledby': 'targeting-heading' }, targetingBox),
      formErr,
      h('div', { class: 'savebar' }, discardBtn, saveBtn));

    main.append(head, banner, form, h('section', { class: 'card', 'aria-labelledby': 'history-heading' }, historyBox));
    drawAll();

    v.onFlagChanged = async (changedName) => {
      if (changedName !== name || v.busy > 0) return;
      const latest = state.flags.get(name);
      if (!latest) {
        banner.hidden = false;
        banner.textContent = 'This flag was deleted by someone else.';
        return;
      }
      if (latest.version === flag.version) return;
      if (!v.dirty && !ed.targetingDirty) {
        flag = latest;
        keepFocus(() => { reset(); drawAll(); });
        announce(`Flag ${name} was changed elsewhere and has been refreshed`);
      } else {
        banner.hidden = false;
        banner.textContent = `Someone changed this flag (now version ${latest.version}) while you were editing. Saving will be refused; discard your edits to see their version.`;
        loadHistory();
      }
    };
    return v;
  }

  // ---------------------------------------------------------------- history entries

  const NOISE = new Set(['version', 'updated_at', 'created_at', 'last_evaluated_at']);
  function flatten(x, prefix, out) {
    if (isObj(x) && (prefix === '' || !prefix.startsWith('targeting'))) {
      for (const [k, v] of Object.entries(x)) {
        const p = prefix ? `${prefix}.${k}` : k;
        if (!prefix && NOISE.has(k)) continue;
        flatten(v, p, out);
      }
      if (prefix && !Object.keys(x).length) out.set(prefix, x);
    } else if (prefix) out.set(prefix, x);
    return out;
  }
  const show = (v) => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v, null, v && typeof v === 'object' && JSON.stringify(v).length > 60 ? 2 : 0));

  const OBJECT_KINDS = { flag: 'flag', evaluator: 'evaluator', metadata: 'flag-set metadata', key: 'API key' };

  /** What an audit entry changed, linked to its page; a key by its name and id. */
  function auditObject(e) {
    const o = e.object;
    const kind = OBJECT_KINDS[o.type] || o.type;
    const keyName = o.type === 'key' ? [e.after, e.before].map((x) => isObj(x) && x.name).find(Boolean) : null;
    const parts = [h('span', { class: 'muted' }, kind)];
    if (o.type === 'flag') parts.push(h('a', { href: `#/flags/${encodeURIComponent(o.name)}` }, o.name));
    else if (o.type === 'evaluator') parts.push(h('a', { href: '#/evaluators' }, o.name));
    else if (o.type === 'key') parts.push(h('a', { href: '#/keys' }, keyName || o.name), keyName ? h('code', { class: 'small' }, o.name) : null);
    else if (o.type !== 'metadata') parts.push(h('code', null, o.name));
    // Spaces in the text itself, so that it reads as words (screen readers, copying).
    return h('span', { class: 'audit-object' }, parts.filter(Boolean).flatMap((p, i) => (i ? [' ', p] : [p])));
  }

  /**
   * Audit entries in pages: the first page now, then a button that adds the
   * next one and moves focus to its first entry. fetchPage(before) gives
   * { entries, next_before }; before is null for the first page. A failed
   * first page goes to showError (by default, into the box); onPaged is
   * told when older entries were added.
   */
  async function pagedEntries(box, { headingId, moreId, empty, fetchPage, entry, onPaged = () => {},
    showError = (message) => box.append(h('p', { class: 'form-error' }, message)) }) {
    let page;
    try {
      page = await fetchPage(null);
    } catch (e) {
      showError(e.message);
      return null;
    }
    if (!page.entries.length) { box.append(h('p', { class: 'muted' }, empty)); return page; }
    const ol = h('ol', { class: 'history-list', 'aria-labelledby': headingId });
    for (const e of page.entries) ol.append(entry(e));
    box.append(ol);
    let next = page.next_before;
    if (next === null || next === undefined) return page;
    const more = h('button', { id: moreId, class: 'btn btn-small', type: 'button', onclick: async () => {
      more.disabled = true;
      try {
        const older = await fetchPage(next);
        const added = older.entries.map((e) => entry(e));
        ol.append(...added);
        next = older.next_before;
        if (next === null || next === undefined) more.remove();
        if (added.length) { added[0].setAttribute('tabindex', '-1'); added[0].focus(); }
        onPaged();
      } catch (e) {
        toast(e.message, 'error');
      } finally { more.disabled = false; }
    } }, 'Show older changes');
    box.append(h('div', { class: 'actions actions-left' }, more));
    return page;
  }

  function historyEntry(e, { withObject = false } = {}) {
    const before = isObj(e.before) ? flatten(e.before, '', new Map()) : new Map();
    const after = isObj(e.after) ? flatten(e.after, '', new Map()) : new Map();
    const keys = [...new Set([...before.keys(), ...after.keys()])].filter((k) => !deepEqual(before.get(k), after.get(k)));
    const verb = { create: 'created', update: 'updated', delete: 'deleted', revoke: 'revoked' }[e.action] || e.action;
    const table = h('table', { class: 'diff' },
      h('caption', { class: 'visually-hidden' }, `Changes in entry ${e.id}`),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Before'), h('th', { scope: 'col' }, 'After'))),
      h('tbody', null, keys.map((k) => h('tr', null,
        h('th', { scope: 'row' }, k),
        h('td', { class: 'before' }, before.has(k) ? h('del', null, h('pre', null, show(before.get(k)))) : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'after' }, after.has(k) ? h('ins', null, h('pre', null, show(after.get(k)))) : h('span', { class: 'muted' }, '—'))))));
    return h('li', { class: 'history-entry', dataset: { entry: String(e.id) } },
      h('div', { class: 'history-head' },
        h('span', { class: `badge badge-action-${e.action}` }, verb),
        withObject && isObj(e.object) ? auditObject(e) : null,
        h('span', null, 'by ', h('strong', null, (e.actor && (e.actor.name || e.actor.id)) || 'unknown')),
        h('time', { datetime: e.at, class: 'muted small', title: fullTime(e.at) }, timeAgo(e.at))),
      keys.length ? h('div', { class: 'table-scroll' }, table) : h('p', { class: 'muted small' }, 'No field changed.'));
  }

  // ---------------------------------------------------------------- evaluators

  function viewEvaluators(main) {
    const v = { name: 'evaluators' };
    const list = h('div');
    main.append(h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Evaluators'),
        h('p', { class: 'muted' }, 'Shared rule fragments. A targeting rule includes one with {"$ref": "name"}; every flag using it follows its changes.')),
      h('button', { id: 'new-evaluator', class: 'btn btn-primary', type: 'button', disabled: !canWrite(),
        title: canWrite() ? null : `Your key's role (${role()}) cannot change evaluators`, onclick: () => evaluatorDialog(null) }, icon('plus'), 'New evaluator')),
    list);
    const draw = () => keepFocus(() => {
      list.textContent = '';
      if (!state.evaluators.length) {
        list.append(h('div', { class: 'empty card' }, h('h2', null, 'No evaluators yet'),
          h('p', { class: 'muted' }, 'Define a fragment once (for example "internal users": email ends with @example.com) and use it in many flags.')));
        return;
      }
      const ul = h('ul', { class: 'eval-list' });
      for (const x of state.evaluators) {
        ul.append(h('li', { class: 'card eval-card' },
          h('div', { class: 'eval-head' },
            h('h2', { class: 'mono-title' }, x.name),
            h('span', { class: 'muted small' }, `version ${x.version} · updated ${timeAgo(x.updated_at)}`),
            h('div', { class: 'eval-tools' },
              h('button', { id: `edit-eval-${x.name}`, class: 'btn btn-small', type: 'button', disabled: !canWrite(), onclick: () => evaluatorDialog(x) }, 'Edit'),
              h('button', { id: `delete-eval-${x.name}`, class: 'btn btn-small btn-danger-ghost', type: 'button', disabled: !canWrite(),
                onclick: () => confirmDialog(`Delete evaluator ${x.name}?`, 'It can be deleted only while no flag or evaluator refers to it.', 'Delete evaluator', async () => {
                  await api('DELETE', `/evaluators/${encodeURIComponent(x.name)}`);
                  await loadEvaluators();
                  draw();
                  toast(`Evaluator ${x.name} deleted`);
                }) }, 'Delete'))),
          h('pre', { class: 'code', tabindex: '0', 'aria-label': `Rule of ${x.name}` }, pretty(x.rule)),
          usedBy(x.name)));
      }
      list.append(ul);
    });
    // Who refers to each evaluator (flags and other evaluators), read one by one.
    function usedBy(evName) {
      const p = h('p', { class: 'muted small used-by' }, 'Used by: …');
      api('GET', `/evaluators/${encodeURIComponent(evName)}`).then((r) => {
        const names = r.data.used_by || [];
        p.textContent = '';
        if (!names.length) { p.append('Not used by any flag or evaluator yet.'); return; }
        p.append('Used by: ');
        names.forEach((n, i) => {
          if (i) p.append(', ');
          p.append(state.flags.has(n) ? h('a', { href: `#/flags/${encodeURIComponent(n)}` }, n) : h('code', null, n));
        });
      }).catch(() => { p.textContent = ''; });
      return p;
    }
    v.refresh = draw;
    draw();
    return v;
  }

  function evaluatorDialog(existing) {
    openDialog(existing ? `Edit evaluator ${existing.name}` : 'New evaluator', (body, close) => {
      const err = h('p', { id: 'eval-rule-error', class: 'field-error', role: 'alert' });
      const nameErr = h('p', { id: 'eval-name-error', class: 'field-error' });
      const name = h('input', { id: 'eval-name', value: existing ? existing.name : '', readOnly: !!existing, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'eval-name-error' });
      const rule = h('textarea', { id: 'eval-rule', class: 'code', rows: '10', spellcheck: 'false', 'aria-describedby': 'eval-rule-hint eval-rule-error',
        value: existing ? pretty(existing.rule) : '{\n  "ends_with": [{ "var": "email" }, "@example.com"]\n}' });
      const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, existing ? 'Save evaluator' : 'Create evaluator');
      body.append(h('form', { novalidate: true, onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = '';
        nameErr.textContent = '';
        const n = name.value.trim();
        if (!FLAG_NAME_RE.test(n)) { nameErr.textContent = 'Use 1 to 100 letters, digits, . _ : or -, starting with a letter or digit.'; name.focus(); return; }
        submit.disabled = true;
        try {
          await api('PUT', `/evaluators/${encodeURIComponent(n)}`, undefined, { rawBody: `{"rule":${rule.value.trim() || 'null'}}` });
          await loadEvaluators();
          close();
          if (state.view && state.view.refresh) state.view.refresh();
          toast(`Evaluator ${n} saved`);
        } catch (e) {
          err.textContent = e.message;
          rule.setAttribute('aria-invalid', 'true');
          rule.focus();
        } finally { submit.disabled = false; }
      } },
      h('div', { class: 'field' }, h('label', { for: 'eval-name' }, 'Name'), name, nameErr),
      h('div', { class: 'field' }, h('label', { for: 'eval-rule' }, 'Rule (JsonLogic)'), rule,
        h('p', { id: 'eval-rule-hint', class: 'hint' }, 'The server checks it when you save; its message appears here.'), err),
      h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', onclick: close }, 'Cancel'), submit)));
    }, { wide: true });
  }

  // ---------------------------------------------------------------- playground

  const playgroundState = { targetingKey: 'user-1', attrs: [{ name: 'email', type: 'string', value: 'ann@example.com' }] };

  function viewPlayground(main) {
    const v = { name: 'playground' };
    const ps = playgroundState;
    const results = h('div', { class: 'pg-results', id: 'pg-results' });
    const status = h('p', { class: 'muted small', 'aria-live': 'polite', id: 'pg-status' });
    const attrsBox = h('div');
    let timer = null;
    let seq = 0;
    const schedule = () => { clearTimeout(timer); timer = setTimeout(run, 250); };

    function context() {
      const ctx = {};
      for (const a of ps.attrs) {
        const n = a.name.trim();
        if (!n) continue;
        if (a.type === 'number') {
          const x = Number(a.value);
          if (a.value.trim() === '' || !Number.isFinite(x)) return { error: `${n} must be a number.` };
          ctx[n] = x;
        } else if (a.type === 'boolean') ctx[n] = a.value === 'true';
        else ctx[n] = a.value;
      }
      if (ps.targetingKey.trim()) ctx.targetingKey = ps.targetingKey.trim();
      return { ctx };
    }

    async function run() {
      const mine = ++seq;
      const { ctx, error } = context();
      if (error) { status.textContent = error; return; }
      status.textContent = 'Evaluating…';
      let data;
      try {
        data = (await api('POST', '/ofrep/v1/evaluate/flags', { context: ctx })).data;
      } catch (e) {
        if (mine !== seq) return;
        status.textContent = '';
        results.textContent = '';
        results.append(h('p', { class: 'form-error', role: 'alert' }, e.message));
        return;
      }
      if (mine !== seq) return;
      results.textContent = '';
      const items = data.flags || [];
      const disabled = sortedFlags().filter((f) => f.state !== 'ENABLED').length;
      status.textContent = `${items.length} enabled flag${items.length === 1 ? '' : 's'} evaluated at ${new Date().toLocaleTimeString()}${disabled ? `; ${disabled} disabled flag${disabled === 1 ? ' is' : 's are'} left out (clients get their code default)` : ''}.`;
      if (!items.length) { results.append(h('p', { class: 'muted' }, 'No enabled flags to evaluate.')); return; }
      const table = h('table', { class: 'results', id: 'pg-table' },
        h('caption', { class: 'visually-hidden' }, 'Every enabled flag evaluated for this context'),
        h('thead', null, h('tr', null, ['Flag', 'Variant', 'Value', 'Reason'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', null, items.map((it) => h('tr', { dataset: { flag: it.key } },
          h('th', { scope: 'row' }, h('a', { href: `#/flags/${encodeURIComponent(it.key)}` }, it.key)),
          h('td', { class: 'pg-variant' }, it.variant !== undefined ? it.variant : h('span', { class: 'muted' }, '—')),
          h('td', { class: 'pg-value' }, it.errorCode ? h('span', { class: 'form-error' }, it.errorDetails || it.errorCode)
            : it.value !== undefined ? h('code', null, JSON.stringify(it.value)) : h('span', { class: 'muted' }, 'code default')),
          h('td', { class: 'pg-reason' }, h('span', { class: `badge badge-reason-${(it.reason || it.errorCode || '').toLowerCase()}` }, it.reason || it.errorCode || ''))))));
      results.append(h('div', { class: 'table-scroll' }, table));
    }

    function drawAttrs() {
      keepFocus(() => {
        attrsBox.textContent = '';
        const ul = h('ul', { class: 'attr-rows' });
        ps.attrs.forEach((a, i) => {
          const valueInput = a.type === 'boolean'
            ? h('select', { id: `pg-attr-value-${i}`, 'aria-label': `Attribute ${i + 1} value`, onchange: (e) => { a.value = e.target.value; schedule(); } },
              h('option', { value: 'true', selected: a.value === 'true' }, 'true'), h('option', { value: 'false', selected: a.value !== 'true' }, 'false'))
            : h('input', { id: `pg-attr-value-${i}`, 'aria-label': `Attribute ${i + 1} value`, value: a.value, autocomplete: 'off', spellcheck: 'false',
              inputmode: a.type === 'number' ? 'decimal' : null, oninput: (e) => { a.value = e.target.value; schedule(); } });
          ul.append(h('li', { class: 'attr-row' },
            h('input', { id: `pg-attr-name-${i}`, 'aria-label': `Attribute ${i + 1} name`, value: a.name, placeholder: 'name', list: 'pg-attr-list',
              autocomplete: 'off', spellcheck: 'false', oninput: (e) => { a.name = e.target.value; schedule(); } }),
            h('select', { id: `pg-attr-type-${i}`, 'aria-label': `Attribute ${i + 1} type`, onchange: (e) => {
              a.type = e.target.value;
              if (a.type === 'boolean' && a.value !== 'true') a.value = 'false';
              drawAttrs();
              schedule();
            } }, ['string', 'number', 'boolean'].map((t) => h('option', { value: t, selected: t === a.type }, t))),
            valueInput,
            h('button', { class: 'btn btn-icon btn-ghost', type: 'button', 'aria-label': `Remove attribute ${a.name || i + 1}`, onclick: () => {
              ps.attrs.splice(i, 1);
              drawAttrs();
              schedule();
              const el = document.getElementById('pg-add-attr');
              if (el) el.focus();
            } }, icon('x'))));
        });
        attrsBox.append(ul, h('datalist', { id: 'pg-attr-list' }, COMMON_ATTRS.filter((x) => x !== 'targetingKey').map((x) => h('option', { value: x }))));
      });
    }

    const tk = h('input', { id: 'pg-targeting-key', value: ps.targetingKey, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'pg-tk-hint',
      oninput: (e) => { ps.targetingKey = e.target.value; schedule(); } });
    main.append(
      h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Playground'),
        h('p', { class: 'muted' }, 'See what every enabled flag gives one user, the way an OpenFeature SDK would get it. Updates live as flags change.'))),
      h('div', { class: 'pg-grid' },
        h('section', { class: 'card', 'aria-labelledby': 'pg-context-heading' },
          h('h2', { id: 'pg-context-heading' }, 'Evaluation context'),
          h('form', { novalidate: true, onsubmit: (e) => { e.preventDefault(); run(); } },
            h('div', { class: 'field' }, h('label', { for: 'pg-targeting-key' }, 'Targeting key'), tk,
              h('p', { id: 'pg-tk-hint', class: 'hint' }, 'Usually the user id. Percentage splits bucket by it.')),
            h('h3', null, 'Attributes'),
            attrsBox,
            h('div', { class: 'actions actions-left' },
              h('button', { id: 'pg-add-attr', class: 'btn btn-small', type: 'button', onclick: () => {
                ps.attrs.push({ name: '', type: 'string', value: '' });
                drawAttrs();
                const el = document.getElementById(`pg-attr-name-${ps.attrs.length - 1}`);
                if (el) el.focus();
              } }, icon('plus'), 'Add attribute'),
              h('button', { id: 'pg-run', class: 'btn btn-primary btn-small', type: 'submit' }, 'Evaluate')))),
        h('section', { class: 'card', 'aria-labelledby': 'pg-results-heading' },
          h('h2', { id: 'pg-results-heading' }, 'Results'), status, results)));
    drawAttrs();
    run();
    v.refresh = () => run();
    v.onAnyChange = () => run();
    v.dispose = () => clearTimeout(timer);
    return v;
  }

  // ---------------------------------------------------------------- API keys

  function viewKeys(main) {
    const v = { name: 'keys' };
    main.append(h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'API keys'),
      h('p', { class: 'muted' }, 'Keys for applications and people. A key is shown once, when it is made; only its hash is stored.'))));
    if (!isAdmin()) {
      main.append(h('div', { class: 'card' }, h('p', null, `Managing keys needs the admin role. Your key's role (${role()}) cannot list, create or revoke keys.`)));
      return v;
    }
    const list = h('div');
    const err = h('p', { class: 'field-error', role: 'alert', id: 'key-form-error' });
    const name = h('input', { id: 'key-name', autocomplete: 'off', maxlength: '100', placeholder: 'checkout web app', 'aria-describedby': 'key-form-error' });
    const roleSel = h('select', { id: 'key-role' },
      h('option', { value: 'client' }, 'client: read and evaluate flags'),
      h('option', { value: 'editor' }, 'editor: also change flags and evaluators'),
      h('option', { value: 'admin' }, 'admin: also keys and the audit trail'));
    const submit = h('button', { class: 'btn btn-primary', type: 'submit', id: 'create-key' }, 'Create key');
    main.append(h('section', { class: 'card', 'aria-labelledby': 'new-key-heading' },
      h('h2', { id: 'new-key-heading' }, 'New key'),
      h('form', { class: 'inline-form', novalidate: true, onsubmit: async (e) => {
        e.preventDefault();
        err.textContent = '';
        if (!name.value.trim()) { err.textContent = 'Name the key after who will hold it.'; name.focus(); return; }
        submit.disabled = true;
        try {
          const r = await api('POST', '/api/v1/keys', { name: name.value.trim(), role: roleSel.value });
          name.value = '';
          await loadKeys();
          draw();
          showSecret(r.data);
        } catch (ex) {
          err.textContent = ex.message;
        } finally { submit.disabled = false; }
      } },
      h('div', { class: 'field grow' }, h('label', { for: 'key-name' }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: 'key-role' }, 'Role'), roleSel),
      h('div', { class: 'field field-end' }, submit)), err),
    h('section', { class: 'card', 'aria-labelledby': 'keys-heading' }, h('h2', { id: 'keys-heading' }, 'Keys'), list));

    function showSecret(k) {
      openDialog('Copy your new key now', (body, close) => {
        const out = h('input', { id: 'new-key-secret', class: 'code', readOnly: true, value: k.key, 'aria-describedby': 'new-key-warning' });
        const copied = h('span', { class: 'muted small', 'aria-live': 'polite' });
        body.append(
          h('p', { id: 'new-key-warning', class: 'notice' }, `This is the only time the key for ${k.name} (${k.role}) is shown. Store it somewhere safe; if it is lost, revoke it and make another.`),
          h('div', { class: 'field' }, h('label', { for: 'new-key-secret' }, 'Key'), out),
          h('div', { class: 'actions' }, copied,
            h('button', { class: 'btn', type: 'button', onclick: async () => {
              out.select();
              try { await navigator.clipboard.writeText(k.key); copied.textContent = 'Copied'; } catch { copied.textContent = 'Select the key and copy it'; }
            } }, icon('copy'), 'Copy'),
            h('button', { class: 'btn btn-primary', type: 'button', onclick: close }, 'Done')));
      });
    }

    const draw = () => keepFocus(() => {
      list.textContent = '';
      if (!state.keys) { list.append(h('p', { class: 'muted' }, 'Loading keys…')); return; }
      if (!state.keys.length) { list.append(h('p', { class: 'muted' }, 'No stored keys yet.')); return; }
      const table = h('table', { class: 'keys' },
        h('caption', { class: 'visually-hidden' }, 'API keys'),
        h('thead', null, h('tr', null, ['Name', 'Id', 'Role', 'Created', 'Status', ''].map((c, i) => h('th', { scope: 'col' }, c || h('span', { class: 'visually-hidden' }, i === 5 ? 'Actions' : ''))))),
        h('tbody', null, state.keys.map((k) => h('tr', { dataset: { key: k.id }, class: k.revoked_at ? 'revoked' : '' },
          h('th', { scope: 'row' }, k.name),
          h('td', null, h('code', null, k.id)),
          h('td', null, h('span', { class: `badge badge-role badge-${k.role}` }, k.role)),
          h('td', { title: fullTime(k.created_at) }, timeAgo(k.created_at)),
          h('td', null, k.revoked_at ? h('span', { class: 'muted', title: fullTime(k.revoked_at) }, `Revoked ${timeAgo(k.revoked_at)}`) : h('span', { class: 'state-label on' }, 'Active')),
          h('td', null, k.revoked_at ? null : h('button', { id: `revoke-${k.id}`, class: 'btn btn-small btn-danger-ghost', type: 'button',
            onclick: () => confirmDialog(`Revoke ${k.name}?`, 'Every request with this key is refused from now on. This cannot be undone.', 'Revoke key', async () => {
              await api('DELETE', `/api/v1/keys/${k.id}`);
              await loadKeys();
              draw();
              toast(`Key ${k.name} revoked`);
            }) }, 'Revoke'))))));
      list.append(h('div', { class: 'table-scroll' }, table));
    });
    v.refresh = draw;
    v.onKeys = async () => { try { await loadKeys(); draw(); } catch { /* shown on next action */ } };
    draw();
    loadKeys().then(draw).catch((e) => { list.textContent = ''; list.append(h('p', { class: 'form-error' }, e.message)); });
    return v;
  }

  // ---------------------------------------------------------------- audit log

  function viewAudit(main) {
    const v = { name: 'audit' };
    main.append(h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Audit log'),
      h('p', { class: 'muted' }, 'Every recorded change to flags, evaluators, flag-set metadata and API keys, newest first: who made it and what it changed. Nothing can edit or delete an entry.'))));
    if (!isAdmin()) {
      main.append(h('div', { class: 'card' }, h('p', null, `The audit log needs the admin role. Your key's role (${role()}) cannot read it; a flag's own history is on its page.`)));
      return v;
    }
    const err = h('p', { class: 'field-error', role: 'alert', id: 'audit-filter-error' });
    const kind = h('select', { id: 'audit-type' },
      h('option', { value: '' }, 'Everything'),
      Object.entries(OBJECT_KINDS).map(([value, label]) => h('option', { value }, label[0].toUpperCase() + label.slice(1))));
    const name = h('input', { id: 'audit-name', autocomplete: 'off', maxlength: '200', placeholder: 'all of them', disabled: true, 'aria-describedby': 'audit-filter-error' });
    const list = h('div');
    const fresh = h('div', { class: 'notice', hidden: true },
      h('span', null, 'There are newer changes. '),
      h('button', { class: 'btn btn-small', type: 'button', onclick: () => load() }, 'Show them'));
    let filter = '';
    let paged = false;
    let loading = null;

    kind.addEventListener('change', () => {
      name.disabled = !kind.value || kind.value === 'metadata';
      if (name.disabled) name.value = '';
    });
    main.append(h('section', { class: 'card', 'aria-labelledby': 'audit-filter-heading' },
      h('h2', { id: 'audit-filter-heading' }, 'Filter'),
      h('form', { class: 'inline-form', novalidate: true, onsubmit: (e) => {
        e.preventDefault();
        filter = kind.value ? (name.value.trim() ? `${kind.value}:${name.value.trim()}` : kind.value) : '';
        load();
      } },
      h('div', { class: 'field' }, h('label', { for: 'audit-type' }, 'Kind'), kind),
      h('div', { class: 'field grow' }, h('label', { for: 'audit-name' }, 'Name'), name),
      h('div', { class: 'field field-end' }, h('button', { class: 'btn btn-primary', type: 'submit', id: 'audit-apply' }, 'Show'))), err),
    h('section', { class: 'card', 'aria-labelledby': 'audit-heading' }, h('h2', { id: 'audit-heading' }, 'Changes'), fresh, list));

    async function load() {
      const mine = {};
      loading = mine;
      fresh.hidden = true;
      paged = false;
      err.textContent = '';
      const box = h('div');
      await pagedEntries(box, {
        headingId: 'audit-heading', moreId: 'audit-more',
        empty: filter ? 'No recorded change matches.' : 'No recorded changes yet.',
        fetchPage: async (before) => {
          const q = new URLSearchParams({ limit: '50' });
          if (filter) q.set('object', filter);
          if (before) q.set('before', String(before));
          return (await api('GET', `/api/v1/audit?${q}`)).data;
        },
        entry: (e) => historyEntry(e, { withObject: true }),
        onPaged: () => { paged = true; },
        // The API's refusal (a malformed filter, say) goes beside the form.
        showError: (message) => { if (loading === mine) err.textContent = message; },
      });
      if (loading !== mine) return;   // a newer load is on its way
      keepFocus(() => { list.textContent = ''; list.append(box); });
    }

    // A change anywhere: reload the newest entries, unless older ones are
    // being read (then say there is more, and let the reader choose).
    let timer = null;
    const changed = () => {
      clearTimeout(timer);
      timer = setTimeout(() => { if (paged) fresh.hidden = false; else load(); }, 250);
    };
    v.onAnyChange = changed;
    v.onKeys = async () => changed();
    v.refresh = changed;
    v.dispose = () => clearTimeout(timer);
    list.append(h('p', { class: 'muted' }, 'Loading changes…'));
    load();
    return v;
  }

  // ---------------------------------------------------------------- live updates (SSE over fetch)

  function setLive(status) {
    state.live.status = status;
    const el = $('#live');
    if (!el) return;
    el.className = `live live-${status}`;
    const text = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', off: 'Offline', unavailable: 'Live updates off' }[status] || status;
    $('.live-text', el).textContent = text;
    el.title = status === 'live' ? 'Changes made anywhere appear here without reloading' : status === 'unavailable' ? 'This server does not offer the event stream; reload to see changes' : 'Waiting for the event stream';
  }

  function stopLive() {
    state.live.generation++;
    if (state.live.ctrl) state.live.ctrl.abort();
    state.live.ctrl = null;
    state.live.running = false;
  }

  async function liveLoop() {
    const gen = ++state.live.generation;
    state.live.running = true;
    let attempt = 0;
    while (gen === state.live.generation) {
      if (state.live.status !== 'unavailable') setLive(attempt === 0 ? 'connecting' : 'reconnecting');
      attempt++;
      let wait = state.live.retry;
      const ctrl = new AbortController();
      state.live.ctrl = ctrl;
      let watchdog = null;
      try {
        const headers = { Accept: 'text/event-stream' };
        if (state.key) headers.Authorization = `Bearer ${state.key}`;
        if (state.live.lastId !== null) headers['Last-Event-ID'] = state.live.lastId;
        const res = await fetch('/api/v1/events', { headers, signal: ctrl.signal, cache: 'no-store', credentials: 'omit' });
        if (res.status === 401) { signedOut('Your key was not accepted (it may have been revoked). Enter a key to continue.'); return; }
        if (!res.ok || !res.body) {
          if (res.status === 404) { setLive('unavailable'); wait = 30000; }
          const after = Number(res.headers.get('Retry-After'));
          if (res.status === 503 && after > 0) wait = after * 1000;
          throw new Error(`events: ${res.status}`);
        }
        // With Last-Event-ID the server replays what we missed, or sends
        // "reset" when it cannot; without one we may have missed anything.
        if (attempt > 1 && state.live.lastId === null) refetchAll();
        setLive('live');
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        let ev = { id: null, type: '', data: [] };
        let lastSeen = Date.now();
        watchdog = setInterval(() => { if (Date.now() - lastSeen > 45000) ctrl.abort(); }, 5000);
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          lastSeen = Date.now();
          buf += decoder.decode(value, { stream: true });
          let m;
          while ((m = /\r\n|\r|\n/.exec(buf)) !== null) {
            // A lone \r at the very end may be half of \r\n: wait for more.
            if (m[0] === '\r' && m.index === buf.length - 1) break;
            const line = buf.slice(0, m.index);
            buf = buf.slice(m.index + m[0].length);
            if (line === '') {
              if (ev.id !== null) state.live.lastId = ev.id;
              if (ev.data.length) handleEvent(ev.type || 'message', ev.data.join('\n'));
              ev = { id: null, type: '', data: [] };
              continue;
            }
            if (line.startsWith(':')) continue; // keep-alive comment
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            let val = colon < 0 ? '' : line.slice(colon + 1);
            if (val.startsWith(' ')) val = val.slice(1);
            if (field === 'data') ev.data.push(val);
            else if (field === 'event') ev.type = val;
            else if (field === 'id') { if (!val.includes('\0')) ev.id = val; }
            else if (field === 'retry') { if (/^\d+$/.test(val)) state.live.retry = Number(val); }
          }
        }
      } catch (e) {
        if (gen !== state.live.generation) return;
      } finally {
        if (watchdog) clearInterval(watchdog);
      }
      if (gen !== state.live.generation) return;
      if (state.live.status !== 'unavailable') setLive('reconnecting');
      await sleep(wait);
    }
  }

  let refetchTimer = null;
  function refetchAll() {
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(async () => {
      try {
        await Promise.all([loadFlags(), loadEvaluators().catch(() => {})]);
        if (isAdmin() && state.view && state.view.onKeys) await state.view.onKeys();
        afterFlagsChanged(null);
      } catch (e) {
        toast(e.message, 'error');
      }
    }, 50);
  }

  async function handleEvent(type, data) {
    if (type === 'reset') { refetchAll(); return; }
    if (type !== 'change' && type !== 'message') return;
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    try {
      if (msg.type === 'flag' && typeof msg.name === 'string') {
        if (msg.action === 'deleted') state.flags.delete(msg.name);
        else await fetchFlag(msg.name);
        afterFlagsChanged(msg.name);
      } else if (msg.type === 'evaluators') {
        await loadEvaluators();
        if (state.view && state.view.name === 'evaluators') state.view.refresh();
        if (state.view && state.view.onAnyChange) state.view.onAnyChange();
      } else if (msg.type === 'keys') {
        if (isAdmin() && state.view && state.view.onKeys) await state.view.onKeys();
      } else if (msg.type === 'reload') {
        refetchAll();
      }
    } catch (e) {
      if (e.status !== 401) toast(e.message, 'error');
    }
  }

  function afterFlagsChanged(name) {
    const v = state.view;
    if (!v) return;
    if (v.name === 'flags') v.refresh();
    else if (v.name === 'flag') {
      if (name === null || name === v.flagName) {
        if (v.onFlagChanged) v.onFlagChanged(v.flagName);
        else render();
      }
    } else if (v.onAnyChange) v.onAnyChange();
  }

  function refreshView() {
    if (state.view && state.view.refresh) state.view.refresh();
  }

  // ---------------------------------------------------------------- start

  async function start(focusMain = false) {
    applyRoleUi();
    const main = $('#main');
    main.textContent = '';
    main.append(h('p', { class: 'muted loading' }, 'Loading flags…'));
    try {
      await Promise.all([loadFlags(), loadEvaluators().catch(() => { state.evaluators = []; })]);
    } catch (e) {
      if (!state.who) return;
      main.textContent = '';
      main.append(h('div', { class: 'card' }, h('h1', null, 'Cannot load flags'), h('p', { class: 'form-error' }, e.message)));
      return;
    }
    render(focusMain);
    if (!state.live.running) liveLoop();
  }

  async function boot() {
    state.key = sessionStorage.getItem(KEY_STORE) || '';
    $('#signout').addEventListener('click', () => {
      state.key = '';
      state.who = null;
      sessionStorage.removeItem(KEY_STORE);
      stopLive();
      applyRoleUi();
      renderSignIn('Signed out. The key was removed from this tab.');
    });
    // The skip link must not become a route (#main): it only moves focus.
    $('.skip-link').addEventListener('click', (e) => {
      e.preventDefault();
      $('#main').focus();
    });
    // Leaving a flag with unsaved edits asks first (the browser's own dialog).
    let shownHash = location.hash;
    window.addEventListener('hashchange', () => {
      if (location.hash === shownHash) return;
      const v = state.view;
      if (v && v.name === 'flag' && v.dirty && !window.confirm('Leave this flag without saving your changes?')) {
        location.hash = shownHash;
        return;
      }
      shownHash = location.hash;
      render(true);
    });
    const r = await whoami();
    if (r.ok) {
      state.who = r.who;
      start();
      return;
    }
    if (r.error.status === 401) {
      if (state.key) sessionStorage.removeItem(KEY_STORE);
      state.key = '';
      renderSignIn(state.key ? 'Your saved key was not accepted.' : '');
      return;
    }
    const main = $('#main');
    main.textContent = '';
    main.append(h('div', { class: 'card' }, h('h1', null, 'ToggleMaster is not answering'), h('p', { class: 'form-error' }, r.error.message),
      h('button', { class: 'btn', type: 'button', onclick: () => location.reload() }, 'Try again')));
  }

  boot();
})();
