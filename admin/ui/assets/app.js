// shadowplane web view: polls the admin JSON API and renders proxies,
// policy files and experiments. Plain DOM, no framework, no dependency.
// Every string from the API goes through text nodes or setAttribute, never
// through an HTML parser; charts are SVG drawn here (docs/decisions/0006).
'use strict';
(() => {
  const POLL_MS = 1500;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const PALETTE = 6; // colours .c0 … .c5 in style.css
  const TYPES = [ // resource types in xDS order, with their short names
    ['Cluster', 'CDS'], ['ClusterLoadAssignment', 'EDS'], ['Listener', 'LDS'],
    ['RouteConfiguration', 'RDS'], ['Runtime', 'RTDS'],
  ];

  // ---- DOM builders -------------------------------------------------

  function build(node, attrs, kids) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid !== undefined && kid !== null && kid !== false) node.append(kid); // strings become text
    }
    return node;
  }
  const el = (tag, attrs, ...kids) => build(document.createElement(tag), attrs, kids);
  const svg = (tag, attrs, ...kids) => build(document.createElementNS(SVG_NS, tag), attrs, kids);
  const $ = (id) => document.getElementById(id);

  // ---- formatting ---------------------------------------------------

  const pad = (n) => String(n).padStart(2, '0');
  function parseTime(s) {
    const t = Date.parse(s || '');
    return Number.isFinite(t) && t > 0 ? t : NaN; // Go's zero time is year 1
  }
  function fmtClock(ms, withSeconds = true) {
    if (!Number.isFinite(ms)) return '—';
    const d = new Date(ms);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + (withSeconds ? ':' + pad(d.getSeconds()) : '');
  }
  function fmtNum(v) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
    if (Math.abs(v) >= 1000 || Number.isInteger(v)) return String(Math.round(v));
    return String(parseFloat(v.toPrecision(3)));
  }
  const lower = (s) => String(s || '').toLowerCase();
  // fmtValue writes v in a check's unit: rates and shares as percentages,
  // ratios to the baseline with ×, other units after the number.
  function fmtValue(v, unit) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
    if (unit === 'ratio' || unit === 'share') return fmtNum(100 * v) + ' %';
    if (unit === '×') return fmtNum(v) + '×';
    return unit ? fmtNum(v) + ' ' + unit : fmtNum(v);
  }
  const opText = (op) => (op === '>=' ? '≥' : '≤');
  const OUTCOME_MARK = { pass: '✔', fail: '✘', pending: '…' };

  // ---- polling ------------------------------------------------------

  // PAGE_LIMIT is the page size asked of the paged lists (proxies and
  // policy files): the view's own ?limit=N, else the API's default.
  const PAGE_LIMIT = (() => {
    const n = Number(new URLSearchParams(location.search).get('limit'));
    return Number.isInteger(n) && n > 0 ? n : 0;
  })();

  // A pager walks a list's cursor pages. pages is the way down from the
  // first page: each page's ?after= and the position of its first item;
  // the last is the page on view, the one each poll fetches again. seq
  // changes with every move, so that an answer for a page left meanwhile
  // is dropped. data is the page on view as last rendered (null while a
  // move is loading).
  function newPager(key, noun) {
    return { key, noun, pages: [{ after: '', offset: 0 }], seq: 0, data: null };
  }
  const proxyPager = newPager('proxies', 'proxies');
  const policyPager = newPager('files', 'policy files');

  const proxySource = { path: '../api/v1/proxies', render: renderProxies, pager: proxyPager };
  const policySource = { path: '../api/v1/policies', render: renderPolicies, pager: policyPager };
  const SOURCES = [{ path: '../api/v1/experiments', render: renderExperiments }, proxySource, policySource];
  const lastBody = new Map(); // path -> the URL and body last rendered

  async function fetchText(path) {
    const resp = await fetch(new URL(path, location.href), { cache: 'no-store', credentials: 'same-origin' });
    if (!resp.ok) throw new Error(path.replace('../', '/').replace(/\?.*/, '') + ': HTTP ' + resp.status);
    return resp.text();
  }

  // pageURL is the request for the page src's pager is on.
  function pageURL(src) {
    const q = new URLSearchParams();
    if (PAGE_LIMIT) q.set('limit', PAGE_LIMIT);
    const at = src.pager.pages[src.pager.pages.length - 1];
    if (at.after) q.set('after', at.after);
    const qs = q.toString();
    return src.path + (qs ? '?' + qs : '');
  }

  // load fetches what src shows: for a paged list, the page on view only.
  // That page comes back empty when every item past its cursor is gone:
  // the pager then steps back to the last page it walked that the total
  // says still holds items (the first at worst) and fetches that, a
  // request per step, never more than the steps it walked down. It
  // resolves to null when the pager moved meanwhile.
  async function load(src) {
    if (!src.pager) {
      const text = await fetchText(src.path);
      return { key: text, text };
    }
    const pager = src.pager;
    let seq = pager.seq;
    for (;;) {
      const url = pageURL(src);
      const text = await fetchText(url);
      if (pager.seq !== seq) return null;
      const data = JSON.parse(text);
      const pages = pager.pages;
      if (pages.length === 1 || (data[pager.key] || []).length) return { key: url + '\n' + text, data };
      let k = pages.length - 2;
      while (k > 0 && pages[k].offset >= (data.total || 0)) k--;
      pager.pages = pages.slice(0, k + 1);
      seq = ++pager.seq;
    }
  }

  // show renders what load answered, unless it is what is shown already;
  // it returns an error message, or ''.
  function show(src, res) {
    if (!res || lastBody.get(src.path) === res.key) return ''; // unchanged: leave the DOM alone
    try {
      const data = res.data || JSON.parse(res.text);
      if (src.pager) src.pager.data = data;
      src.render(data);
      lastBody.set(src.path, res.key);
      return '';
    } catch (err) {
      return src.path.replace('../', '/') + ': ' + err.message;
    }
  }

  function setStatus(errors) {
    const status = $('status');
    status.dataset.state = errors.length ? 'error' : 'live';
    status.textContent = errors.length ? '⚠ ' + errors.join('; ') : 'live · ' + fmtClock(Date.now());
  }

  async function poll() {
    const results = await Promise.allSettled(SOURCES.map(load));
    const errors = [];
    results.forEach((res, i) => {
      const err = res.status === 'rejected' ? String(res.reason && res.reason.message || res.reason) : show(SOURCES[i], res.value);
      if (err) errors.push(err);
    });
    setStatus(errors);
    setTimeout(tick, POLL_MS);
  }
  function tick() {
    if (document.hidden) { // resume when the tab is visible again
      document.addEventListener('visibilitychange', tick, { once: true });
      return;
    }
    poll();
  }

  // ---- pager --------------------------------------------------------

  // move takes src's pager to another page, kept in pages, and fetches
  // it at once rather than at the next poll, which then keeps to it.
  async function move(src, pages) {
    const pager = src.pager;
    pager.pages = pages;
    pager.seq++;
    pager.data = null;
    lastBody.delete(src.path); // render the page moved to, whatever it holds
    let err;
    try {
      err = show(src, await load(src));
    } catch (e) {
      err = String(e && e.message || e);
    }
    if (err) setStatus([err]);
  }

  // pagerBar is the First / Previous / Next bar of a paged list and the
  // range on view, "proxies 1001–2000 of 5000"; none when the list fits
  // in the first page.
  function pagerBar(src, data) {
    const pager = src.pager;
    const items = data[pager.key] || [];
    const total = data.total || 0;
    const pages = pager.pages;
    if (pages.length === 1 && !data.next) return null;
    // The offset is counted on the way down; it is exact on the first
    // page and on the last (all the rest are before it), and kept within
    // the total in between, where items come and go.
    const at = pages[pages.length - 1];
    const offset = data.next ? Math.max(0, Math.min(at.offset, total - items.length)) : Math.max(0, total - items.length);
    at.offset = offset;
    const range = items.length ? (offset + 1) + '–' + (offset + items.length) : 'none';
    const button = (name, label, enabled, to) => {
      const b = el('button', { type: 'button', 'data-testid': pager.key + '-' + name, disabled: !enabled }, label);
      b.addEventListener('click', () => {
        if (pager.data !== data) return; // a move is loading already
        b.disabled = true;
        move(src, to());
      });
      return b;
    };
    return el('nav', { class: 'pager', 'data-testid': pager.key + '-pager', 'aria-label': pager.noun + ' pages' },
      button('first', '« First', pages.length > 1, () => pages.slice(0, 1)),
      button('prev', '‹ Previous', pages.length > 1, () => pages.slice(0, -1)),
      el('span', { class: 'range', 'data-testid': pager.key + '-range' }, pager.noun + ' ' + range + ' of ' + total),
      button('next', 'Next ›', !!data.next, () => pages.concat([{ after: data.next, offset: offset + items.length }])));
  }

  // ---- proxies ------------------------------------------------------

  function ackCell(ts) {
    if (!ts || !ts.sentVersion) {
      return el('td', { class: 'ack none', 'data-state': 'none', title: 'nothing sent' }, '—');
    }
    const nack = ts.lastNack;
    const versions = 'sent ' + ts.sentVersion + ', acked ' + (ts.ackedVersion || 'nothing');
    if (nack && nack.version === ts.sentVersion && ts.ackedVersion !== ts.sentVersion) {
      return el('td', { class: 'ack nack', 'data-state': 'nack', title: nack.error + '\n' + versions },
        el('span', { class: 'mark' }, '✘ NACK'), el('div', { class: 'err' }, nack.error));
    }
    if (ts.ackedVersion === ts.sentVersion) {
      const earlier = nack ? el('div', { class: 'note', title: 'last NACK: ' + nack.error },
        ts.nacks + ' earlier NACK' + (ts.nacks === 1 ? '' : 's')) : null;
      return el('td', { class: 'ack acked', 'data-state': 'acked', title: versions }, el('span', { class: 'mark' }, '✔ acked'), earlier);
    }
    return el('td', { class: 'ack pending', 'data-state': 'pending', title: versions }, el('span', { class: 'mark' }, '… pending'));
  }

  function renderProxies(data) {
    const proxies = data.proxies || [];
    const body = $('proxies-body');
    const pager = pagerBar(proxySource, data);
    if (!proxies.length) {
      body.replaceChildren(...[pager, el('p', { class: 'empty' }, 'No proxy connected.')].filter(Boolean));
      return;
    }
    const extra = new Set();
    proxies.forEach((p) => Object.keys(p.types || {}).forEach((t) => {
      if (!TYPES.some(([name]) => name === t)) extra.add(t);
    }));
    const types = TYPES.concat([...extra].sort().map((t) => [t, t]));
    const head = el('tr', null, ['Node', 'Kind', 'Group', 'Protocol'].map((h) => el('th', null, h)),
      types.map(([name, short]) => el('th', { title: name, class: 'ack' }, short)), el('th', null, 'Connected'));
    const rows = proxies.map((p) => el('tr', { 'data-node': p.nodeId },
      el('td', { class: 'mono' }, p.nodeId || '(no node yet)'), el('td', null, p.kind), el('td', { class: 'mono' }, p.group),
      el('td', null, p.protocol), types.map(([name]) => ackCell((p.types || {})[name])),
      el('td', null, fmtClock(parseTime(p.connectedAt)))));
    // The API answers a page: on the first, say there are more than it
    // holds, and where the rest are.
    const more = proxyPager.pages.length === 1 && data.total > proxies.length ?
      el('p', { class: 'meta' }, 'Showing the first ' + proxies.length + ' of ' + data.total + ' proxies: Next (above) shows the rest.') : null;
    body.replaceChildren(...[pager, el('table', { class: 'grid', 'data-testid': 'proxies-table' }, el('thead', null, head), el('tbody', null, rows)), more]
      .filter(Boolean));
  }

  // ---- policies -----------------------------------------------------

  function problemText(p) {
    return (p.file || '') + (p.line > 0 ? ':' + p.line : '') + ': ' + p.message;
  }

  function renderPolicies(data) {
    const files = data.files || [];
    const stats = data.stats || {};
    const summary = el('p', { class: 'meta' }, (stats.reloads || 0) + ' reloads, ' + (stats.reloadErrors || 0) +
      ' rejected; last at ' + fmtClock(parseTime(stats.lastReload)));
    const dirError = stats.dirError ? el('p', { class: 'problem' }, 'directory: ' + stats.dirError) : null;
    const rows = files.map((f) => el('tr', { 'data-file': f.path, 'data-ok': f.ok ? 'true' : 'false' },
      el('td', { class: 'mono path' }, f.path),
      el('td', null, el('span', { class: 'badge ' + (f.ok ? 'ok' : 'bad') }, f.ok ? 'ok' : 'rejected'),
        f.stale ? el('div', { class: 'note' }, 'serving its last good version') : null),
      el('td', { class: 'declares' }, [...(f.apps || []).map((a) => 'app ' + a), ...(f.experiments || []).map((e) => 'experiment ' + e)]
        .map((d) => el('div', null, d)), (f.apps || []).length + (f.experiments || []).length ? null : '—'),
      el('td', null, (f.problems || []).length
        ? el('ul', { class: 'problems' }, f.problems.map((p) => el('li', { class: 'problem mono', 'data-testid': 'problem' }, problemText(p))))
        : '—')));
    const table = files.length
      ? el('table', { class: 'grid', 'data-testid': 'policies-table' },
        el('thead', null, el('tr', null, ['File', 'Status', 'Declares', 'Problems'].map((h) => el('th', null, h)))),
        el('tbody', null, rows))
      : el('p', { class: 'empty' }, 'No policy file.');
    // The API answers a page: say when there are more files than it holds.
    const more = data.total > files.length ?
      el('p', { class: 'meta', 'data-testid': 'policies-more' }, policyPager.pages.length === 1
        ? 'Showing the first ' + files.length + ' of ' + data.total + ' policy files (Next shows the rest; the count of rejected files above covers them all).'
        : 'The count of rejected files above covers all ' + data.total + ' policy files.') : null;
    $('policies-body').replaceChildren(...[summary, dirError, pagerBar(policySource, data), table, more].filter(Boolean));
  }

  // ---- experiments --------------------------------------------------

  const cards = new Map(); // experiment name -> {json, node}: unchanged cards are kept as they are

  function renderExperiments(data) {
    const states = data.experiments || [];
    const body = $('experiments-body');
    if (!states.length) {
      cards.clear();
      body.replaceChildren(el('p', { class: 'empty' }, 'No experiment.'));
      return;
    }
    const seen = new Set();
    // The wide chart is drawn at the width it gets (card and figure padding
    // off), so that its text is not scaled.
    const width = Math.max(480, Math.min(1200, body.clientWidth - 56));
    const nodes = states.map((st) => {
      const json = JSON.stringify(st);
      let card = cards.get(st.experiment);
      if (!card || card.json !== json) {
        card = { json, node: experimentCard(st, width) };
        cards.set(st.experiment, card);
      }
      seen.add(st.experiment);
      return card.node;
    });
    [...cards.keys()].filter((k) => !seen.has(k)).forEach((k) => cards.delete(k));
    body.replaceChildren(...nodes);
  }

  // versionsOf lists the experiment's versions: baseline, candidates, then
  // any other variant its route or history names. Colours follow this order.
  function versionsOf(st) {
    const out = [];
    const add = (v) => { if (v && !out.includes(v)) out.push(v); };
    const spec = st.spec || {};
    add(spec.baseline);
    (spec.candidates || []).forEach(add);
    ((st.route || {}).split || []).forEach((b) => add(b.variant));
    (st.history || []).forEach((r) => {
      Object.keys(r.weights || {}).forEach(add);
      Object.keys(r.observations || {}).forEach(add);
    });
    return out;
  }

  function weightsOf(route, versions) {
    const w = {};
    ((route || {}).split || []).forEach((b) => { w[b.variant] = b.weight || 0; });
    return versions.filter((v) => v in w).map((v) => [v, w[v]]);
  }

  function swatch(cls) { return el('span', { class: 'swatch ' + cls }); }

  // evidenceText says what the current step is judged on.
  function evidenceText(st) {
    const step = parseTime(st.windowStart);
    const spec = st.spec || {};
    if (st.stage !== 'Running') return '—';
    if (!Number.isFinite(step)) return 'none yet: the step is not in place on every proxy';
    return 'every request since ' + fmtClock(step) +
      (typeof spec.alpha === 'number' ? ' · wrong verdicts at most ' + fmtNum(100 * spec.alpha) + ' % (alpha)' : '');
  }

  function experimentCard(st, width) {
    const spec = st.spec || {};
    const versions = versionsOf(st);
    const colour = (v) => 'c' + (versions.indexOf(v) % PALETTE);
    const history = st.history || [];
    const kind = [spec.testing, spec.deployment].filter(Boolean).join(' · ');
    const weights = weightsOf(st.route, versions).map(([v, w]) =>
      el('span', { class: 'chip', 'data-variant': v }, swatch(colour(v)), v + ' ' + w + '%'));

    const header = el('div', { class: 'card-head' },
      el('h3', null, st.experiment),
      el('span', { class: 'badge stage-' + lower(st.stage), 'data-testid': 'stage' }, st.stage || 'unknown'),
      el('span', { class: 'meta' }, kind),
      el('span', { class: 'meta' }, 'app ', el('b', null, spec.app), ' / route ', el('b', null, spec.route)),
      el('span', { class: 'meta', 'data-testid': 'iteration' }, 'iteration ' + (st.iteration || 0) + ' / ' + (spec.iterations || '?')));
    const facts = el('dl', { class: 'facts' },
      el('dt', null, 'Weights'), el('dd', { 'data-testid': 'weights' }, weights.length ? weights : '—'),
      st.winner ? [el('dt', null, 'Winner'), el('dd', { 'data-testid': 'winner' }, st.winner)] : null,
      el('dt', null, 'Reason'), el('dd', { 'data-testid': 'reason' }, st.reason || '—'),
      el('dt', null, 'Step judged on'), el('dd', { 'data-testid': 'evidence' }, evidenceText(st)));
    const legend = el('div', { class: 'legend' },
      versions.map((v) => el('span', null, swatch(colour(v)), v)),
      el('span', { title: 'where the quantity is, wrongly at most alpha of the time over every look' },
        el('span', { class: 'swatch band' }), 'interval (anytime-valid)'),
      el('span', null, el('span', { class: 'swatch pass' }), 'shown within the limit'),
      el('span', null, el('span', { class: 'swatch fail' }), 'shown beyond it'),
      el('span', null, el('span', { class: 'swatch pending' }), 'not decided yet'),
      el('span', null, el('span', { class: 'swatch limit' }), 'limit'));

    const objectives = (spec.objectives || []).map((o, i) => objectiveChart(history, o, i, colour));
    return el('article', { class: 'card', 'data-experiment': st.experiment, 'data-stage': st.stage },
      header, facts, controlsBar(st), legend,
      el('div', { class: 'charts' },
        el('figure', { class: 'chart wide' }, el('figcaption', null, 'Weights per iteration'), weightsChart(history, versions, colour, width)),
        objectives),
      eventsTable(st.events || []),
      decisionsTable(history, versions));
  }

  // ---- controls -----------------------------------------------------

  // ACTIONS lists what a person may do to an experiment in each stage;
  // the API is the judge (409 otherwise), this only spares useless buttons.
  const ACTIONS = {
    Running: ['pause', 'promote', 'abort'],
    Paused: ['resume', 'promote', 'abort'],
    WaitingApproval: ['approve', 'pause', 'promote', 'abort'],
    Halted: ['retry', 'abort'],
    Completed: ['retry'], RolledBack: ['retry'], Failed: ['retry'], Aborted: ['retry'],
  };
  const ALL_ACTIONS = ['pause', 'resume', 'abort', 'promote', 'approve', 'retry'];
  const TOKEN_KEY = 'shadowplane.adminToken';

  function controlsBar(st) {
    const actions = ACTIONS[st.stage] || ALL_ACTIONS;
    return el('div', { class: 'controls', 'data-testid': 'controls' },
      actions.map((a) => {
        const b = el('button', { type: 'button', 'data-testid': 'control', 'data-action': a }, a);
        b.addEventListener('click', () => openControl(st.experiment, a));
        return b;
      }));
  }

  // The token lives in sessionStorage: this tab only, sent by fetch as a
  // header, which no page of another site can make the browser send.
  function storedToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }
  function storeToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage off: ask each time */ }
  }

  let pending = null; // {name, action} the dialog is open for

  function openControl(name, action) {
    pending = { name, action };
    $('control-title').textContent = action[0].toUpperCase() + action.slice(1) + ' ' + name + '?';
    $('control-reason').value = '';
    $('control-write').checked = false;
    $('control-write-row').hidden = action !== 'promote';
    $('control-token').value = '';
    $('control-token-row').hidden = storedToken() !== '';
    $('control-error').textContent = '';
    $('control-confirm').disabled = false;
    $('control-dialog').showModal();
    $('control-reason').focus();
  }

  async function confirmControl() {
    if (!pending) return;
    const { name, action } = pending;
    const typed = $('control-token').value.trim();
    const token = typed || storedToken();
    if (!token) {
      $('control-token-row').hidden = false;
      $('control-error').textContent = 'The admin token is needed.';
      $('control-token').focus();
      return;
    }
    $('control-confirm').disabled = true;
    let resp, body;
    try {
      resp = await fetch(new URL('../api/v1/experiments/' + encodeURIComponent(name) + '/' + encodeURIComponent(action), location.href), {
        method: 'POST', cache: 'no-store', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + token },
        body: JSON.stringify({ reason: $('control-reason').value, write: action === 'promote' && $('control-write').checked }),
      });
      body = await resp.json().catch(() => ({}));
    } catch (err) {
      $('control-error').textContent = 'Request failed: ' + err.message;
      $('control-confirm').disabled = false;
      return;
    }
    if (resp.status === 401) {
      storeToken('');
      $('control-token-row').hidden = false;
      $('control-token').value = '';
      $('control-error').textContent = 'HTTP 401: ' + (body.error || 'not authorized') + '. Enter the admin token.';
      $('control-confirm').disabled = false;
      return;
    }
    if (!resp.ok) {
      $('control-error').textContent = 'HTTP ' + resp.status + ': ' + (body.error || resp.statusText);
      $('control-confirm').disabled = false;
      return;
    }
    storeToken(token);
    pending = null;
    $('control-dialog').close();
    lastBody.delete('../api/v1/experiments'); // redraw at the next poll
  }

  function initControls() {
    $('control-confirm').addEventListener('click', confirmControl);
    $('control-cancel').addEventListener('click', () => { pending = null; $('control-dialog').close(); });
    $('control-reason').addEventListener('keydown', (e) => { if (e.key === 'Enter') confirmControl(); });
    $('control-token').addEventListener('keydown', (e) => { if (e.key === 'Enter') confirmControl(); });
  }

  // eventsTable shows the last things people and hooks did to the
  // experiment, newest first.
  function eventsTable(events) {
    const last = events.slice(-10).reverse();
    if (!last.length) return null;
    return el('div', { class: 'decisions events' },
      el('h4', null, 'Controls and events (' + events.length + (events.length > last.length ? ', last ' + last.length : '') + ')'),
      el('table', { class: 'grid', 'data-testid': 'events' },
        el('thead', null, el('tr', null, ['Time', 'Action', 'By', 'Reason', 'Result'].map((h) => el('th', null, h)))),
        el('tbody', null, last.map((e) => el('tr', { 'data-testid': 'event', 'data-action': e.action },
          el('td', null, fmtClock(parseTime(e.time))),
          el('td', null, el('span', { class: 'badge action-' + lower(e.action) }, e.action)),
          el('td', { class: 'by' }, e.by),
          el('td', { class: 'reason' }, e.reason),
          el('td', { class: 'reason' }, e.result))))));
  }

  // ---- charts -------------------------------------------------------

  // frame lays out a plot of w×h with room for the axes and returns the
  // scales from data to pixels. xs are the points' x values (times or
  // indexes); yDomain is [min, max].
  function frame(w, h, xs, yDomain) {
    const m = { l: 52, r: 14, t: 12, b: 30 };
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
    const padX = (x1 - x0) * 0.04;
    x0 -= padX; x1 += padX;
    const [y0, y1] = yDomain;
    return {
      w, h, m, x0, x1, y0, y1,
      x: (v) => m.l + (v - x0) / (x1 - x0) * (w - m.l - m.r),
      y: (v) => h - m.b - (v - y0) / (y1 - y0) * (h - m.t - m.b),
    };
  }

  // xAxis gives each record's x: its time when every record has one, else
  // its position; and the ticks to label that axis with.
  function xAxis(history) {
    const times = history.map((r) => parseTime(r.at));
    if (times.length && times.every(Number.isFinite)) {
      return { xs: times, ticks: timeTicks, label: (t) => fmtClock(t) };
    }
    return { xs: history.map((_, i) => i + 1), ticks: numberTicks, label: (i) => '#' + i };
  }

  function niceStep(span, count) {
    const raw = span / Math.max(count, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
  }
  function numberTicks(lo, hi, count) {
    const step = niceStep(hi - lo, count);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(parseFloat(v.toPrecision(12)));
    return out;
  }
  function timeTicks(lo, hi, count) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * 1000);
    const step = steps.find((s) => (hi - lo) / s <= count) || steps[steps.length - 1];
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push(t);
    return out;
  }

  // axes draws the grid, ticks and labels of a frame.
  function axes(f, ax, yTicks, yFmt, yTitle) {
    const g = svg('g', { class: 'axes' });
    const [left, right, top, bottom] = [f.m.l, f.w - f.m.r, f.m.t, f.h - f.m.b];
    for (const v of yTicks) {
      const y = f.y(v);
      g.append(svg('line', { class: 'grid', x1: left, x2: right, y1: y, y2: y }),
        svg('text', { class: 'tick', x: left - 6, y: y + 4, 'text-anchor': 'end' }, yFmt(v)));
    }
    const xt = ax.ticks(f.x0, f.x1, Math.min(8, Math.max(3, Math.floor((right - left) / 85))));
    for (const v of xt) {
      const x = f.x(v);
      g.append(svg('line', { class: 'tickmark', x1: x, x2: x, y1: bottom, y2: bottom + 4 }),
        svg('text', { class: 'tick', x, y: bottom + 17, 'text-anchor': 'middle' }, ax.label(v)));
    }
    g.append(svg('line', { class: 'axis', x1: left, x2: left, y1: top, y2: bottom }),
      svg('line', { class: 'axis', x1: left, x2: right, y1: bottom, y2: bottom }),
      svg('text', { class: 'axis-title', transform: `translate(12 ${(top + bottom) / 2}) rotate(-90)`, 'text-anchor': 'middle' }, yTitle));
    return g;
  }

  // stepPath draws a value held from one point until the next.
  function stepPath(pts) {
    return pts.map(([x, y], i) => (i === 0 ? `M${x.toFixed(1)} ${y.toFixed(1)}` : `H${x.toFixed(1)} V${y.toFixed(1)}`)).join(' ');
  }

  function weightsChart(history, versions, colour, width) {
    const ax = xAxis(history);
    const f = frame(width, 230, ax.xs.length ? ax.xs : [0], [0, 100]);
    const root = svg('svg', { viewBox: `0 0 ${f.w} ${f.h}`, 'data-testid': 'weights-chart', role: 'img', 'aria-label': 'weights per variant' },
      axes(f, ax, [0, 25, 50, 75, 100], (v) => v + '%', 'weight %'));
    for (const v of versions) {
      const pts = [];
      const marks = svg('g', { class: colour(v) });
      history.forEach((r, i) => {
        const w = r.weights || {};
        if (!Object.keys(w).length) return;
        const val = w[v] || 0; // a variant left out of a split has no traffic
        const p = [f.x(ax.xs[i]), f.y(val)];
        pts.push(p);
        marks.append(svg('circle', { class: 'pt', cx: p[0], cy: p[1], r: 3.5, 'data-variant': v },
          svg('title', null, `${v}: ${val}% after ${r.action} (iteration ${r.iteration}, ${fmtClock(parseTime(r.at))})`)));
      });
      if (!pts.length) continue;
      root.append(svg('g', { class: colour(v) },
        svg('path', { class: 'line', d: stepPath(pts), 'data-testid': 'weights-line', 'data-variant': v, 'data-points': pts.length })), marks);
    }
    return root;
  }

  function limitText(o) {
    const rel = o.relativeTo ? ' × ' + o.relativeTo : '';
    return [o.upperLimit != null ? '≤ ' + fmtNum(o.upperLimit) + rel : '', o.lowerLimit != null ? '≥ ' + fmtNum(o.lowerLimit) + rel : '']
      .filter(Boolean).join(' and ');
  }

  // verdictOf is the verdict of objective index (metric o.metric) for
  // version v at look r.
  function verdictOf(r, index, o, v) {
    return (r.verdicts || []).find((vd) => vd.version === v &&
      (typeof vd.objective === 'number' ? vd.objective === index : vd.metric === o.metric));
  }

  // objectiveChart shows, for each check of an objective (one per limit),
  // what every judged version's looks found: the quantity's anytime-valid
  // interval as a band, its estimate as a line with a point per look
  // (filled: shown within the limit, red: shown beyond it, hollow: not
  // decided yet), and the limit; under it, why the last look judged each
  // version as it did.
  function objectiveChart(history, o, index, colour) {
    const looks = history.filter((r) => (r.verdicts || []).length); // a look whose metrics were down judged nothing
    const judged = [];
    looks.forEach((r) => (r.verdicts || []).forEach((vd) => {
      if (verdictOf(r, index, o, vd.version) === vd && !judged.includes(vd.version)) judged.push(vd.version);
    }));
    let checks = 0;
    looks.forEach((r) => judged.forEach((v) => { checks = Math.max(checks, ((verdictOf(r, index, o, v) || {}).checks || []).length); }));
    const panels = [];
    for (let k = 0; k < checks; k++) panels.push(checkChart(looks, index, o, k, judged, colour));

    const last = looks[looks.length - 1];
    const latest = last ? judged.map((v) => verdictOf(last, index, o, v)).filter(Boolean) : [];
    const whys = latest.length
      ? el('ul', { class: 'whys' }, latest.map((vd) => el('li', { 'data-outcome': vd.outcome },
        el('span', { class: 'who' }, swatch(colour(vd.version)), vd.version, el('span', { class: 'mark' }, OUTCOME_MARK[vd.outcome] || '?')),
        el('span', { class: 'why', 'data-testid': 'why', 'data-variant': vd.version, 'data-outcome': vd.outcome }, whyText(vd)))))
      : null;
    const notes = [];
    latest.forEach((vd) => (vd.checks || []).forEach((ck) => { if (ck.note && !notes.includes(ck.note)) notes.push(ck.note); }));
    return el('figure', { class: 'chart', 'data-testid': 'objective-chart', 'data-metric': o.metric, 'data-objective': index },
      el('figcaption', null, o.metric + ' ', el('span', { class: 'meta' }, limitText(o))),
      panels.length ? panels : el('p', { class: 'empty' }, looks.length ? 'Nothing to bound yet.' : 'No verdict yet.'),
      whys,
      notes.map((n) => el('p', { class: 'note', 'data-testid': 'note' }, 'Note: ' + n)));
  }

  // whyText is a verdict's why, with the note it ends with (also shown
  // once under the chart) set apart.
  function whyText(vd) {
    const why = vd.why || '—';
    for (const ck of vd.checks || []) {
      const tail = ck.note ? ' (' + ck.note + ')' : '';
      if (tail && why.endsWith(tail)) return [why.slice(0, -tail.length), el('span', { class: 'why-note' }, tail)];
    }
    return why;
  }

  // checkChart draws check k of an objective over the looks.
  function checkChart(looks, index, o, k, judged, colour) {
    const ax = xAxis(looks);
    const series = judged.map((v) => ({ v, pts: [] }));
    const limits = [];
    let about = null; // the latest check: its quantity, unit and op
    looks.forEach((r, i) => {
      for (const s of series) {
        const vd = verdictOf(r, index, o, s.v);
        const ck = vd && (vd.checks || [])[k];
        if (!ck || typeof ck.estimate !== 'number') continue;
        s.pts.push({ i, r, vd, ck });
        if (!limits.length || limits[limits.length - 1].i !== i) limits.push({ i, value: ck.limit });
        about = ck;
      }
    });
    if (!about) return null;
    const unit = about.unit;
    const fmt = (v) => fmtValue(v, unit);

    // The y range holds every estimate and limit, and the intervals as far
    // again as that span; a band beyond it is clipped at the edge.
    const pts = series.flatMap((s) => s.pts);
    const core = [...pts.map((p) => p.ck.estimate), ...limits.map((l) => l.value)].filter(Number.isFinite);
    let lo = Math.min(0, ...core);
    let hi = Math.max(0, ...core);
    const span = hi - lo || 1;
    const bounds = pts.flatMap((p) => [p.ck.low, p.ck.high]).filter((b) => typeof b === 'number' && Number.isFinite(b));
    if (bounds.length) {
      hi = Math.max(hi, Math.min(hi + span, Math.max(...bounds)));
      lo = Math.min(lo, Math.max(lo - span, Math.min(...bounds)));
    }
    if (!(hi > lo)) hi = lo + 1;
    const yTicks = numberTicks(lo, hi * 1.05, 4);
    hi = Math.max(hi, yTicks[yTicks.length - 1]);
    lo = Math.min(lo, yTicks[0]);
    const f = frame(360, 200, ax.xs.length ? ax.xs : [0], [lo, hi]);
    const clampY = (v) => f.y(Math.min(hi, Math.max(lo, v)));
    const yHigh = (ck) => (typeof ck.high === 'number' ? clampY(ck.high) : f.y(hi));
    const yLow = (ck) => (typeof ck.low === 'number' ? clampY(ck.low) : f.y(lo));
    const title = about.quantity.replace(/^share of requests /, 'share ');
    const root = svg('svg', { viewBox: `0 0 ${f.w} ${f.h}`, role: 'img', 'data-testid': 'check-chart', 'data-check': k,
      'aria-label': about.quantity + ' ' + opText(about.op) + ' ' + fmt(about.limit) },
    axes(f, ax, yTicks, fmt, title));

    // Bands first, under every line: each look's interval, absent bounds
    // at the chart's edge.
    const xy = (p) => [f.x(ax.xs[p.i]), f.y(p.ck.estimate)];
    for (const s of series) {
      if (!s.pts.length) continue;
      const top = s.pts.map((p) => [f.x(ax.xs[p.i]), yHigh(p.ck)]);
      const bottom = s.pts.map((p) => [f.x(ax.xs[p.i]), yLow(p.ck)]);
      if (s.pts.length === 1) { // one look: a bar, so that it shows
        top.unshift([top[0][0] - 5, top[0][1]]); top[1][0] += 5;
        bottom.unshift([bottom[0][0] - 5, bottom[0][1]]); bottom[1][0] += 5;
      }
      const d = [...top, ...bottom.reverse()].map(([x, y], j) => (j ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1)).join(' ') + ' Z';
      const g = svg('g', { class: colour(s.v) },
        svg('path', { class: 'band', d, 'data-testid': 'band', 'data-variant': s.v, 'data-check': k, 'data-points': s.pts.length },
          svg('title', null, s.v + ': interval of ' + about.quantity)));
      s.pts.forEach((p) => { // each look's interval itself
        const x = f.x(ax.xs[p.i]);
        g.append(svg('line', { class: 'whisker', x1: x, x2: x, y1: yHigh(p.ck), y2: yLow(p.ck) }));
      });
      root.append(g);
    }

    // The limit: a horizontal line, or a step where an edit moved it.
    const ly = limits.map((l) => [f.x(ax.xs[l.i]), f.y(l.value)]);
    const flat = limits.every((l) => l.value === limits[0].value);
    const ld = flat ? `M${f.m.l} ${ly[0][1].toFixed(1)} H${f.w - f.m.r}` : stepPath(ly);
    root.append(svg('path', { class: 'limit', d: ld, 'data-testid': 'limit-line', 'data-check': k, 'data-limit': about.limit },
      svg('title', null, 'limit: ' + about.quantity + ' ' + opText(about.op) + ' ' + fmt(about.limit))),
    svg('text', { class: 'limit-label', x: f.w - f.m.r - 2, y: ly[ly.length - 1][1] - 4, 'text-anchor': 'end' }, opText(about.op) + ' ' + fmt(about.limit)));

    for (const s of series) {
      if (!s.pts.length) continue;
      const line = s.pts.map(xy);
      const g = svg('g', { class: colour(s.v) },
        svg('path', { class: 'line thin', d: line.map(([x, y], j) => (j ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1)).join(' '),
          'data-testid': 'estimate', 'data-variant': s.v, 'data-check': k }));
      s.pts.forEach((p, j) => {
        const ck = p.ck;
        const outcome = ['pass', 'fail', 'pending'].includes(ck.outcome) ? ck.outcome : 'pending';
        const interval = (typeof ck.low === 'number' ? fmt(ck.low) : '−∞') + ' to ' + (typeof ck.high === 'number' ? fmt(ck.high) : '∞');
        g.append(svg('circle', { class: 'pt ' + outcome, cx: line[j][0], cy: line[j][1], r: outcome === 'fail' ? 5 : 3.5,
          'data-variant': s.v, 'data-check': k, 'data-outcome': outcome, 'data-iteration': p.r.iteration },
        svg('title', null, `${s.v}: ${ck.quantity} ${fmt(ck.estimate)} (interval ${interval}) after ${fmtNum(p.vd.samples)} requests; ` +
          `limit ${opText(ck.op)} ${fmt(ck.limit)}: ${outcome} — look at ${fmtClock(parseTime(p.r.at))}, iteration ${p.r.iteration}`)));
      });
      root.append(g);
    }
    return el('div', { class: 'check', 'data-testid': 'check', 'data-check': k },
      el('div', { class: 'check-title' }, about.quantity + ' ' + opText(about.op) + ' ' + fmt(about.limit)), root);
  }

  // ---- decisions ----------------------------------------------------

  function decisionsTable(history, versions) {
    const rows = history.map((r, i) => el('tr', { 'data-testid': 'decision', 'data-iteration': r.iteration, 'data-action': r.action },
      el('td', { class: 'num' }, i + 1), el('td', { class: 'num' }, r.iteration), el('td', null, fmtClock(parseTime(r.at))),
      el('td', null, el('span', { class: 'badge action-' + lower(r.action) }, r.action)),
      el('td', { class: 'reason' }, r.reason),
      el('td', { class: 'mono' }, versions.filter((v) => v in (r.weights || {})).map((v) => v + ' ' + r.weights[v] + '%').join(' · ') +
        (r.mirrorOff ? ' · mirror off' : ''))));
    return el('div', { class: 'decisions' },
      el('h4', null, 'Decisions (' + history.length + ')'),
      history.length
        ? el('table', { class: 'grid', 'data-testid': 'decisions' },
          el('thead', null, el('tr', null, ['#', 'Iteration'].map((h) => el('th', { class: 'num' }, h)),
            ['Time', 'Action', 'Reason', 'Weights after'].map((h) => el('th', null, h)))),
          el('tbody', null, rows))
        : el('p', { class: 'empty' }, 'No iteration yet.'));
  }

  initControls();
  tick();
})();
