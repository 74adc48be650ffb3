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

  // ---- polling ------------------------------------------------------

  const SOURCES = [
    { path: '../api/v1/experiments', render: renderExperiments },
    { path: '../api/v1/proxies', render: renderProxies },
    { path: '../api/v1/policies', render: renderPolicies },
  ];
  const lastBody = new Map();

  async function fetchText(path) {
    const resp = await fetch(new URL(path, location.href), { cache: 'no-store', credentials: 'same-origin' });
    if (!resp.ok) throw new Error(path.replace('../', '/') + ': HTTP ' + resp.status);
    return resp.text();
  }

  async function poll() {
    const results = await Promise.allSettled(SOURCES.map((s) => fetchText(s.path)));
    const errors = [];
    results.forEach((res, i) => {
      const src = SOURCES[i];
      if (res.status === 'rejected') {
        errors.push(String(res.reason && res.reason.message || res.reason));
        return;
      }
      if (lastBody.get(src.path) === res.value) return; // unchanged: leave the DOM alone
      try {
        src.render(JSON.parse(res.value));
        lastBody.set(src.path, res.value);
      } catch (err) {
        errors.push(src.path.replace('../', '/') + ': ' + err.message);
      }
    });
    const status = $('status');
    status.dataset.state = errors.length ? 'error' : 'live';
    status.textContent = errors.length ? '⚠ ' + errors.join('; ') : 'live · ' + fmtClock(Date.now());
    setTimeout(tick, POLL_MS);
  }
  function tick() {
    if (document.hidden) { // resume when the tab is visible again
      document.addEventListener('visibilitychange', tick, { once: true });
      return;
    }
    poll();
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
    if (!proxies.length) {
      body.replaceChildren(el('p', { class: 'empty' }, 'No proxy connected.'));
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
    body.replaceChildren(el('table', { class: 'grid', 'data-testid': 'proxies-table' }, el('thead', null, head), el('tbody', null, rows)));
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
    $('policies-body').replaceChildren(...[summary, dirError, table].filter(Boolean));
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
      el('dt', null, 'Reason'), el('dd', { 'data-testid': 'reason' }, st.reason || '—'));
    const legend = el('div', { class: 'legend' },
      versions.map((v) => el('span', null, swatch(colour(v)), v)),
      el('span', null, el('span', { class: 'swatch fail' }), 'failing'),
      el('span', null, el('span', { class: 'swatch unjudged' }), 'observed, not judged'),
      el('span', null, el('span', { class: 'swatch limit' }), 'limit'));

    const objectives = (spec.objectives || []).map((o, i) => objectiveChart(history, spec, o, i, versions, colour));
    return el('article', { class: 'card', 'data-experiment': st.experiment, 'data-stage': st.stage },
      header, facts, legend,
      el('div', { class: 'charts' },
        el('figure', { class: 'chart wide' }, el('figcaption', null, 'Weights per iteration'), weightsChart(history, versions, colour, width)),
        objectives),
      decisionsTable(history, versions));
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

  // objectiveChart shows each version's value of the objective's metric per
  // iteration against the limit: the spec's for an absolute objective, the
  // one applied (scaled by the baseline) for a relative one.
  function objectiveChart(history, spec, o, index, versions, colour) {
    const ax = xAxis(history);
    const series = versions.map((v) => ({ v, pts: [] }));
    const limits = { upper: [], lower: [] };
    history.forEach((r, i) => {
      const verdicts = (r.verdicts || []).filter((vd) => vd.metric === o.metric);
      for (const s of series) {
        const vd = verdicts.find((x) => x.version === s.v);
        const ob = ((r.observations || {})[s.v] || {})[o.metric];
        if (vd) s.pts.push({ i, value: vd.value, pass: vd.pass });
        else if (ob && !ob.error && Number.isFinite(ob.value)) s.pts.push({ i, value: ob.value, pass: null });
      }
      for (const [bound, key, specKey] of [['upper', 'upper', 'upperLimit'], ['lower', 'lower', 'lowerLimit']]) {
        const applied = verdicts.find((vd) => vd[key] != null);
        if (applied) limits[bound].push({ i, value: applied[key] });
        else if (!o.relativeTo && o[specKey] != null) limits[bound].push({ i, value: o[specKey] });
      }
    });
    const values = [...series.flatMap((s) => s.pts), ...limits.upper, ...limits.lower].map((p) => p.value);
    if (!o.relativeTo) ['upperLimit', 'lowerLimit'].forEach((k) => { if (o[k] != null) values.push(o[k]); });
    let lo = Math.min(0, ...values);
    let hi = Math.max(...values, 0);
    if (!(hi > lo)) hi = lo + 1;
    const yTicks = numberTicks(lo, hi * 1.08, 4);
    hi = Math.max(hi, yTicks[yTicks.length - 1]);
    lo = Math.min(lo, yTicks[0]);
    const f = frame(360, 190, ax.xs.length ? ax.xs : [0], [lo, hi]);
    const root = svg('svg', { viewBox: `0 0 ${f.w} ${f.h}`, role: 'img', 'aria-label': o.metric },
      axes(f, ax, yTicks, fmtNum, o.metric));
    for (const [bound, pts] of Object.entries(limits)) {
      if (!pts.length) continue;
      const d = o.relativeTo
        ? stepPath(pts.map((p) => [f.x(ax.xs[p.i]), f.y(p.value)]))
        : `M${f.m.l} ${f.y(pts[0].value).toFixed(1)} H${f.w - f.m.r}`;
      root.append(svg('path', { class: 'limit', d, 'data-testid': 'limit-line', 'data-bound': bound },
        svg('title', null, bound + ' limit ' + limitText(o))));
    }
    for (const s of series) {
      if (!s.pts.length) continue;
      const xy = s.pts.map((p) => [f.x(ax.xs[p.i]), f.y(p.value)]);
      const g = svg('g', { class: colour(s.v) },
        svg('path', { class: 'line thin', d: xy.map(([x, y], k) => (k ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1)).join(' '), 'data-variant': s.v }));
      s.pts.forEach((p, k) => {
        const r = history[p.i];
        const state = p.pass === null ? 'unjudged' : p.pass ? 'pass' : 'fail';
        g.append(svg('circle', { class: 'pt ' + state, cx: xy[k][0], cy: xy[k][1], r: p.pass === false ? 5 : 3.5, 'data-variant': s.v, 'data-pass': p.pass === null ? null : String(p.pass) },
          svg('title', null, `${s.v} ${o.metric} = ${fmtNum(p.value)} (${state}), iteration ${r.iteration} at ${fmtClock(parseTime(r.at))}`)));
      });
      root.append(g);
    }
    return el('figure', { class: 'chart', 'data-testid': 'objective-chart', 'data-metric': o.metric, 'data-objective': index },
      el('figcaption', null, o.metric + ' ', el('span', { class: 'meta' }, limitText(o))), root);
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

  tick();
})();
