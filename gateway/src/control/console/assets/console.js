// The edge-gateway ops console: plain JavaScript over the admin API, served by the gateway
// itself. No framework, no build step, no request to anything but this gateway's admin API.
//
// The token lives in sessionStorage (this tab only) and travels only as an Authorization
// header. Every second the page polls regions, origins, the traffic history (only new
// samples), the audit trail (only new entries) and the config status, and updates the page
// in place, so focus and typed values survive the refresh. All text from the gateway is set
// with textContent, never parsed as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'edge-console-token';
  const POLL_MS = 1000;
  const HISTORY_WINDOW_MS = 15 * 60 * 1000;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const state = {
    token: null,
    who: null,
    timer: null,
    polling: false,
    again: false,
    origins: [],
    regions: [],
    config: null,
    history: { series: [], samples: [], lastSeq: 0, lastMinute: [], capacity: 900 },
    audit: { entries: [], lastSeq: 0 },
    structure: '',
    rows: new Map(),
    charts: new Map(),
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  // ---- time -------------------------------------------------------------------------------

  function utc(ms) {
    return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }

  function age(ms) {
    const s = Math.round((Date.now() - ms) / 1000);
    const future = s < 0;
    const a = Math.abs(s);
    let t;
    if (a < 60) t = `${a} s`;
    else if (a < 3600) t = `${Math.floor(a / 60)} min`;
    else if (a < 86400) t = `${Math.floor(a / 3600)} h ${Math.floor((a % 3600) / 60)} min`;
    else t = `${Math.floor(a / 86400)} d`;
    return future ? `in ${t}` : `${t} ago`;
  }

  function when(ms) {
    return `${utc(ms)} (${age(ms)})`;
  }

  function fmtNum(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return '—';
    return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }

  function pct(share) {
    return share === null || share === undefined ? '—' : `${Math.round(share * 100)} %`;
  }

  // ---- API --------------------------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${state.token}` };
    const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    let data = null;
    try {
      data = await r.json();
    } catch (_) {
      data = null;
    }
    return { status: r.status, ok: r.ok, data };
  }

  function problemText(r) {
    const d = r.data || {};
    return `${r.status} ${d.title || d.error || ''}${d.detail ? `: ${d.detail}` : ''}`;
  }

  // ---- sign in / out ----------------------------------------------------------------------

  function showLoginError(text) {
    const e = $('login-error');
    e.textContent = text;
    e.hidden = false;
  }

  async function signIn(token) {
    state.token = token;
    let r;
    try {
      r = await api('GET', '/api/v1/whoami');
    } catch (e) {
      state.token = null;
      showLoginError(`Cannot reach the gateway's admin API (${e.message}).`);
      return;
    }
    if (r.status === 401) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      showLoginError('That token was refused (401 Unauthorized). Check it and paste it again: nothing is shown without a valid token.');
      $('token').focus();
      return;
    }
    if (!r.ok || !r.data) {
      state.token = null;
      showLoginError(`The gateway answered ${problemText(r)}.`);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    state.who = r.data;
    $('login-error').hidden = true;
    $('token').value = '';
    $('login').hidden = true;
    $('app').hidden = false;
    $('sign-out').hidden = false;
    const who = $('whoami');
    who.textContent = `${r.data.name} (${r.data.role}${r.data.can_change ? '' : ': read only'})`;
    who.hidden = false;
    document.body.dataset.role = r.data.role;
    buildConfigActions();
    poll();
  }

  function signOut(message) {
    clearTimeout(state.timer);
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.who = null;
    state.origins = [];
    state.regions = [];
    state.config = null;
    state.history = { series: [], samples: [], lastSeq: 0, lastMinute: [], capacity: 900 };
    state.audit = { entries: [], lastSeq: 0 };
    state.structure = '';
    state.rows.clear();
    state.charts.clear();
    $('geographies').replaceChildren();
    $('audit-list').replaceChildren();
    $('tenant-result').replaceChildren();
    $('config-actions').replaceChildren();
    $('app').hidden = true;
    $('sign-out').hidden = true;
    $('whoami').hidden = true;
    $('login').hidden = false;
    delete document.body.dataset.role;
    setStatus('');
    if (message) showLoginError(message);
    $('token').focus();
  }

  function canChange() {
    return Boolean(state.who && state.who.can_change);
  }

  // ---- polling ----------------------------------------------------------------------------

  function setStatus(text, isError) {
    const s = $('status');
    s.textContent = text;
    s.classList.toggle('error', Boolean(isError));
  }

  async function poll() {
    if (!state.token) return;
    if (state.polling) {
      state.again = true;
      return;
    }
    clearTimeout(state.timer);
    state.polling = true;
    try {
      const rs = await Promise.all([
        api('GET', '/api/v1/origins'),
        api('GET', '/api/v1/regions'),
        api('GET', `/api/v1/history?since=${state.history.lastSeq}`),
        api('GET', `/api/v1/audit?since=${state.audit.lastSeq}`),
        api('GET', '/api/v1/config/status'),
      ]);
      if (!state.token) return;
      if (rs.some((r) => r.status === 401)) {
        signOut('The gateway no longer accepts this token (401 Unauthorized).');
        return;
      }
      const bad = rs.find((r) => !r.ok);
      if (bad) throw new Error(problemText(bad));
      const [o, rg, h, a, c] = rs.map((r) => r.data);
      state.origins = o.origins;
      state.regions = rg.regions;
      state.config = c;
      mergeHistory(h);
      mergeAudit(a);
      render();
      setStatus(`Live: updated ${utc(Date.now())}`);
    } catch (e) {
      setStatus(`Cannot reach the gateway (${e.message}); retrying every second. The figures below are from ${utc(Date.now())} or earlier.`, true);
    } finally {
      state.polling = false;
      if (state.token) {
        if (state.again) {
          state.again = false;
          state.timer = setTimeout(poll, 0);
        } else {
          state.timer = setTimeout(poll, POLL_MS);
        }
      }
    }
  }

  function mergeHistory(h) {
    const hist = state.history;
    if (h.last_seq < hist.lastSeq) {
      // The gateway restarted: its history starts again.
      hist.samples = [];
    }
    hist.series = h.series;
    hist.capacity = h.capacity;
    for (const s of h.samples) if (s.seq > hist.lastSeq || h.last_seq < hist.lastSeq) hist.samples.push(s);
    if (hist.samples.length > hist.capacity) hist.samples.splice(0, hist.samples.length - hist.capacity);
    hist.lastSeq = h.last_seq;
    hist.lastMinute = h.last_minute;
  }

  function mergeAudit(a) {
    const au = state.audit;
    if (a.last_seq < au.lastSeq) au.entries = [];
    au.entries = a.entries.concat(au.entries).slice(0, a.capacity);
    au.lastSeq = a.last_seq;
  }

  // ---- the model the page shows -----------------------------------------------------------

  function geographies() {
    const geos = new Map();
    for (const r of state.regions) {
      if (!geos.has(r.geography)) geos.set(r.geography, []);
      geos.get(r.geography).push({
        ...r,
        members: state.origins.filter((o) => o.region === r.name),
      });
    }
    return geos;
  }

  function originInRotation(region, o) {
    return !region.drained && region.weight.effective > 0 && !o.drained && o.weight.effective > 0;
  }

  // As the gateway's guard sees it: a fail-open geography serves from any origin in rotation.
  function originUsable(region, o) {
    return o.usable || Boolean(region.fail_open);
  }

  function usableOrigins(region) {
    return region.members.filter((o) => originInRotation(region, o) && originUsable(region, o));
  }

  function share(geo, region) {
    const e = state.history.lastMinute.find((m) => m.geography === geo && m.region === region);
    return e ? { share: e.share, requests: e.requests } : { share: null, requests: 0 };
  }

  function originHealth(o) {
    if (o.ejected_for_ms > 0) return { key: 'ejected', icon: '⊘', text: 'ejected' };
    if (o.status === 'healthy') return { key: 'healthy', icon: '✓', text: 'healthy' };
    if (o.status === 'unhealthy') return { key: 'unhealthy', icon: '✕', text: 'unhealthy' };
    return { key: 'unknown', icon: '?', text: o.status };
  }

  function regionHealth(region) {
    const n = region.members.length;
    const ok = region.members.filter((o) => o.usable).length;
    if (n > 0 && ok === n) return { key: 'healthy', icon: '✓', text: `${ok}/${n} origins usable` };
    if (ok === 0) return { key: 'unhealthy', icon: '✕', text: `${ok}/${n} origins usable` };
    return { key: 'degraded', icon: '◐', text: `${ok}/${n} origins usable` };
  }

  // ---- rendering --------------------------------------------------------------------------

  function render() {
    renderConfig();
    const geos = geographies();
    const structure = JSON.stringify([
      canChange(),
      [...geos].map(([g, rs]) => [g, rs.map((r) => [r.name, r.members.map((o) => o.address)])]),
    ]);
    if (structure !== state.structure) {
      state.structure = structure;
      buildGeographies(geos);
    }
    updateGeographies(geos);
    renderAudit();
  }

  function renderConfig() {
    const c = state.config;
    $('cfg-generation').textContent = String(c.generation);
    $('cfg-hash').textContent = c.hash;
    $('cfg-loaded').textContent = when(c.loaded_at_ms);
    $('cfg-path').textContent = c.path;
    $('cfg-restart').textContent = c.restart_required.length ? c.restart_required.join(', ') : 'nothing';
    const err = $('cfg-error');
    if (c.last_error) {
      $('cfg-refused').textContent = c.last_error_at_ms ? when(c.last_error_at_ms) : 'yes';
      err.textContent = c.last_error;
      err.hidden = false;
    } else {
      $('cfg-refused').textContent = 'none since the active configuration was loaded';
      err.hidden = true;
    }
  }

  function buildConfigActions() {
    const box = $('config-actions');
    box.replaceChildren();
    if (!canChange()) return;
    box.append(
      el('button', { type: 'button', 'data-action': 'reload', text: 'Reload configuration', onclick: () => confirmReload() }),
      el('button', { type: 'button', 'data-action': 'clear-overrides', text: 'Clear all overrides', onclick: () => confirmClear() }),
    );
  }

  function cell(label, cls) {
    return el('td', { 'data-label': label, class: cls });
  }

  function buildGeographies(geos) {
    state.rows.clear();
    state.charts.clear();
    const root = $('geographies');
    root.replaceChildren();
    const op = canChange();
    for (const [geo, regions] of geos) {
      const id = `geo-${geo}`;
      const card = el('section', { class: 'geo', 'aria-labelledby': id, 'data-geography': geo });
      card.append(el('h3', { id, text: `Geography ${geo}` }));
      const summary = el('p', { class: 'geo-summary' });
      state.rows.set(`geo:${geo}`, { summary });
      card.append(summary);
      const table = el('table', { class: 'topology' });
      table.append(el('caption', { class: 'sr-only', text: `Regions and origins of ${geo}` }));
      const head = el('tr', {},
        el('th', { scope: 'col', text: 'Region / origin' }),
        el('th', { scope: 'col', text: 'Health' }),
        el('th', { scope: 'col', text: 'Probe latency' }),
        el('th', { scope: 'col', text: 'Weight (configured → effective)' }),
        el('th', { scope: 'col', text: 'State' }),
        el('th', { scope: 'col', text: 'Share, last minute' }));
      if (op) head.append(el('th', { scope: 'col', text: 'Change' }));
      table.append(el('thead', {}, head));
      const body = el('tbody');
      for (const r of regions) {
        const tr = el('tr', { class: 'region-row', 'data-region': r.name });
        const name = el('th', { scope: 'row' }, el('span', { text: r.name }), el('span', { class: 'sub', text: ` priority ${r.priority}` }));
        const row = {
          tr,
          health: cell('Health', 'health'),
          latency: cell('Probe latency'),
          weight: cell('Weight'),
          state: cell('State'),
          share: cell('Share, last minute'),
        };
        tr.append(name, row.health, row.latency, row.weight, row.state, row.share);
        if (op) {
          row.actions = cell('Change', 'actions-cell');
          const wc = weightControl(`region-${r.name}`, `Weight of region ${r.name}`, () => ({ kind: 'region', region: r.name }));
          row.weightInput = wc.querySelector('input');
          row.actions.append(wc);
          row.drain = el('button', { type: 'button', 'data-region': r.name, onclick: () => confirmDrain({ kind: 'region', region: r.name }) });
          row.actions.append(row.drain);
          tr.append(row.actions);
        }
        state.rows.set(`region:${r.name}`, row);
        body.append(tr);
        for (const o of r.members) {
          const otr = el('tr', { class: 'origin-row', 'data-region': r.name, 'data-origin': o.address });
          const oname = el('th', { scope: 'row' }, el('span', { class: 'indent', 'aria-hidden': 'true', text: '↳ ' }), el('span', { class: 'mono', text: o.address }));
          const orow = {
            tr: otr,
            health: cell('Health', 'health'),
            latency: cell('Probe latency'),
            weight: cell('Weight'),
            state: cell('State'),
            share: cell('Share, last minute', 'no-share'),
          };
          otr.append(oname, orow.health, orow.latency, orow.weight, orow.state, orow.share);
          if (op) {
            orow.actions = cell('Change', 'actions-cell');
            const owc = weightControl(`origin-${r.name}-${o.address}`, `Weight of origin ${o.address} in ${r.name}`, () => ({ kind: 'origin', region: r.name, address: o.address }));
            orow.weightInput = owc.querySelector('input');
            orow.actions.append(owc);
            orow.drain = el('button', { type: 'button', 'data-region': r.name, 'data-origin': o.address, onclick: () => confirmDrain({ kind: 'origin', region: r.name, address: o.address }) });
            orow.actions.append(orow.drain);
            otr.append(orow.actions);
          }
          state.rows.set(`origin:${r.name}/${o.address}`, orow);
          body.append(otr);
        }
      }
      table.append(body);
      card.append(el('div', { class: 'scroll' }, table));
      const charts = el('div', { class: 'charts' });
      const title = el('h4', { text: `Traffic in ${geo}` });
      card.append(title, charts);
      state.rows.set(`charts:${geo}`, { charts, title });
      root.append(card);
    }
  }

  function weightControl(id, label, target) {
    const inputId = `w-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const input = el('input', { id: inputId, type: 'number', min: 0, max: 1000, step: 1, inputmode: 'numeric', class: 'weight-input', 'data-weight-for': id });
    const button = el('button', {
      type: 'button',
      'data-action': 'set-weight',
      text: 'Set weight',
      onclick: () => {
        const v = Number(input.value);
        if (input.value === '' || !Number.isInteger(v) || v < 0 || v > 1000) {
          showBanner(`A weight is a whole number from 0 to 1000 (got "${input.value}").`, true);
          input.focus();
          return;
        }
        confirmWeight(target(), v);
      },
    });
    return el('span', { class: 'weight-control' }, el('label', { for: inputId, class: 'sr-only', text: label }), input, button);
  }

  function setHealth(td, h) {
    td.dataset.health = h.key;
    td.replaceChildren(el('span', { class: 'icon', 'aria-hidden': 'true', text: `${h.icon} ` }), el('span', { class: 'health-text', text: h.text }));
  }

  function updateGeographies(geos) {
    for (const [geo, regions] of geos) {
      const usableRegions = regions.filter((r) => usableOrigins(r).length > 0);
      const g = state.rows.get(`geo:${geo}`);
      if (g) {
        g.summary.textContent = usableRegions.length
          ? `Serving from ${usableRegions.map((r) => r.name).join(', ')}.`
          : `⚠ No usable origin: every request of ${geo} is answered 503.`;
        g.summary.classList.toggle('error', usableRegions.length === 0);
      }
      for (const r of regions) {
        const row = state.rows.get(`region:${r.name}`);
        if (!row) continue;
        setHealth(row.health, regionHealth(r));
        row.latency.textContent = r.latency_ms === null ? '—' : `${fmtNum(r.latency_ms, 1)} ms`;
        row.weight.textContent = `${r.weight.configured} → ${r.weight.effective}`;
        row.state.textContent = r.drained ? 'drained' : r.weight.effective === 0 ? 'weight 0 (out of rotation)' : 'in rotation';
        row.tr.classList.toggle('drained', r.drained);
        const sh = share(geo, r.name);
        row.share.replaceChildren(
          el('meter', { min: 0, max: 1, value: sh.share || 0, 'aria-hidden': 'true' }),
          el('span', { text: ` ${pct(sh.share)} (${sh.requests} req)` }),
        );
        if (row.weightInput) row.weightInput.placeholder = String(r.weight.effective);
        if (row.drain) {
          row.drain.dataset.action = r.drained ? 'undrain' : 'drain';
          row.drain.textContent = r.drained ? `Undrain ${r.name}` : `Drain ${r.name}`;
        }
        for (const o of r.members) {
          const orow = state.rows.get(`origin:${r.name}/${o.address}`);
          if (!orow) continue;
          setHealth(orow.health, originHealth(o));
          orow.latency.textContent = o.latency_ms === null ? '—' : `${fmtNum(o.latency_ms, 1)} ms`;
          orow.weight.textContent = `${o.weight.configured} → ${o.weight.effective}`;
          let st = o.drained ? 'drained' : o.weight.effective === 0 ? 'weight 0' : 'in rotation';
          if (o.ejected_for_ms > 0) st += `; ejected until ${utc(Date.now() + o.ejected_for_ms)} (${age(Date.now() + o.ejected_for_ms)})`;
          if (o.ejections > 0) st += `; ${o.ejections} ejection(s) so far`;
          orow.state.textContent = st;
          orow.tr.classList.toggle('drained', o.drained);
          orow.share.textContent = '';
          if (orow.weightInput) orow.weightInput.placeholder = String(o.weight.effective);
          if (orow.drain) {
            orow.drain.dataset.action = o.drained ? 'undrain' : 'drain';
            orow.drain.textContent = o.drained ? 'Undrain' : 'Drain';
            orow.drain.setAttribute('aria-label', `${o.drained ? 'Undrain' : 'Drain'} origin ${o.address} of ${r.name}`);
          }
        }
      }
      updateCharts(geo, regions);
    }
  }

  // ---- charts -----------------------------------------------------------------------------

  const CHART_W = 300;
  const CHART_H = 64;

  function chart(title, lines) {
    const fig = el('figure', { class: 'chart' });
    const cap = el('figcaption', {}, el('span', { class: 'chart-title', text: title }), el('span', { class: 'chart-now' }));
    const svgRoot = svgEl('svg', { viewBox: `0 0 ${CHART_W} ${CHART_H}`, preserveAspectRatio: 'none', role: 'img', class: 'spark' });
    const label = svgEl('title', {});
    svgRoot.append(label);
    svgRoot.append(svgEl('line', { x1: 0, y1: CHART_H - 1, x2: CHART_W, y2: CHART_H - 1, class: 'axis' }));
    const polys = lines.map((l) => {
      const p = svgEl('polyline', { class: `line ${l.cls}`, fill: 'none', points: '', 'vector-effect': 'non-scaling-stroke' });
      svgRoot.append(p);
      return p;
    });
    const legend = el('p', { class: 'legend' }, ...lines.map((l) => el('span', { class: `key ${l.cls}`, text: l.name })));
    const max = el('span', { class: 'chart-max' });
    fig.append(cap, svgRoot, el('div', { class: 'chart-foot' }, legend, max));
    return { fig, polys, now: cap.lastChild, label, max, svg: svgRoot };
  }

  // The charts' time axis: the last 15 minutes, or since the gateway's oldest sample when it
  // has less (a gateway that just started), so a fresh history is not squeezed into a corner.
  function timeWindow() {
    const now = Date.now();
    const first = state.history.samples[0];
    const start = first ? Math.max(now - HISTORY_WINDOW_MS, first.at_ms - first.dt_ms) : now - HISTORY_WINDOW_MS;
    return { t0: start, span: Math.max(1000, now - start) };
  }

  function spanText(ms) {
    const s = Math.round(ms / 1000);
    return s >= 120 ? `${Math.round(s / 60)} minutes` : `${s} seconds`;
  }

  function updateCharts(geo, regions) {
    const box = state.rows.get(`charts:${geo}`);
    if (!box) return;
    const win = timeWindow();
    box.title.textContent = `Traffic in ${geo}, last ${spanText(win.span)}${win.span < HISTORY_WINDOW_MS - 2000 ? ' (all this gateway has so far; it keeps 15 minutes)' : ''}`;
    const series = state.history.series;
    const names = regions.map((r) => r.name);
    const wanted = [];
    series.forEach((s, i) => {
      if (s.geography !== geo) return;
      if (s.region === '-') {
        // Requests no origin answered: shown once they happened in the window.
        if (state.history.samples.some((x) => x.points[i] && (x.points[i][0] > 0 || x.points[i][3] > 0))) wanted.push([i, s.region]);
      } else if (names.includes(s.region)) {
        wanted.push([i, s.region]);
      }
    });
    for (const [i, region] of wanted) {
      const key = `${geo}/${region}`;
      let c = state.charts.get(key);
      if (!c) {
        const title = region === '-' ? `${geo}: no origin answered` : region;
        const group = el('div', { class: 'chart-group', 'data-series': key }, el('h5', { text: title }));
        c = {
          rate: chart('Requests/s', [{ name: 'requests', cls: 'l-req' }]),
          errors: chart('Errors/s', [
            { name: '4xx', cls: 'l-4xx' },
            { name: '5xx', cls: 'l-5xx' },
            { name: '503 no origin', cls: 'l-503' },
          ]),
          p99: chart('p99 latency (ms)', [{ name: 'p99', cls: 'l-p99' }]),
        };
        group.append(c.rate.fig, c.errors.fig, c.p99.fig);
        box.charts.append(group);
        state.charts.set(key, c);
      }
      drawSeries(c, i, region === '-' ? geo : region, win);
    }
  }

  function drawSeries(c, i, name, win) {
    const samples = state.history.samples;
    const x = (ms) => ((ms - win.t0) / win.span) * CHART_W;
    const per = (s, field) => {
      const p = s.points[i];
      if (!p) return 0;
      return (p[field] * 1000) / Math.max(1, s.dt_ms);
    };
    const rate = samples.map((s) => [s.at_ms, per(s, 0)]);
    const e4 = samples.map((s) => [s.at_ms, per(s, 1)]);
    const e5 = samples.map((s) => [s.at_ms, per(s, 2)]);
    const e503 = samples.map((s) => [s.at_ms, per(s, 3)]);
    const p99 = samples.filter((s) => s.points[i] && s.points[i][4] !== null).map((s) => [s.at_ms, s.points[i][4]]);
    const last = samples.length ? samples[samples.length - 1] : null;
    draw(c.rate, [rate], x, '/s', last ? `${fmtNum(per(last, 0), 1)}/s now` : 'no data yet', `${name}: requests per second over the last ${spanText(win.span)}`);
    const lastErr = last ? `4xx ${fmtNum(per(last, 1), 1)}, 5xx ${fmtNum(per(last, 2), 1)}, 503 ${fmtNum(per(last, 3), 1)} /s now` : 'no data yet';
    draw(c.errors, [e4, e5, e503], x, '/s', lastErr, `${name}: errors per second over the last ${spanText(win.span)}`);
    const lastP99 = p99.length ? p99[p99.length - 1] : null;
    draw(c.p99, [p99], x, ' ms', lastP99 && last && lastP99[0] === last.at_ms ? `${fmtNum(lastP99[1], 1)} ms now` : 'no requests now', `${name}: p99 latency over the last ${spanText(win.span)}`);
  }

  function draw(ch, lines, x, unit, nowText, description) {
    let max = 0;
    for (const l of lines) for (const [, v] of l) if (v > max) max = v;
    const top = max > 0 ? max * 1.1 : 1;
    const y = (v) => CHART_H - 2 - (v / top) * (CHART_H - 6);
    lines.forEach((l, k) => {
      ch.polys[k].setAttribute('points', l.filter(([t]) => x(t) >= 0).map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '));
    });
    ch.now.textContent = ` ${nowText}`;
    ch.max.textContent = `max ${fmtNum(max, 1)}${unit}`;
    ch.label.textContent = `${description}; ${nowText}; max ${fmtNum(max, 1)}${unit}`;
    ch.svg.setAttribute('aria-label', ch.label.textContent);
  }

  // ---- audit ------------------------------------------------------------------------------

  function renderAudit() {
    const rows = state.audit.entries.map((e) =>
      el('tr', { 'data-outcome': e.outcome },
        el('td', { 'data-label': 'When', text: when(e.at_ms) }),
        el('td', { 'data-label': 'Who', text: e.who }),
        el('td', { 'data-label': 'What', text: e.what }),
        el('td', { 'data-label': 'Outcome', text: e.outcome }),
        el('td', { 'data-label': 'Detail', text: e.detail })));
    if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 5, text: 'No change since this gateway started.' })));
    $('audit-list').replaceChildren(...rows);
  }

  // ---- changes: confirmations that state the impact ---------------------------------------

  function regionOf(name) {
    for (const [geo, regions] of geographies()) {
      const r = regions.find((x) => x.name === name);
      if (r) return { geo, region: r, regions };
    }
    return null;
  }

  function list(names) {
    if (names.length <= 1) return names.join('');
    return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  }

  // Where the geography's traffic goes once `excluded` (regions, or one origin) is out of
  // rotation: the best priority among the regions left with a usable origin.
  function successors(regions, isOut) {
    const left = regions
      .map((r) => ({ r, usable: r.members.filter((o) => originInRotation(r, o) && originUsable(r, o) && !isOut(r, o)) }))
      .filter((x) => x.usable.length > 0);
    if (!left.length) return { left, best: [] };
    const top = Math.min(...left.map((x) => x.r.priority));
    return { left, best: left.filter((x) => x.r.priority === top).map((x) => x.r.name) };
  }

  function impactOfRemoval(target, verb) {
    const found = regionOf(target.region);
    if (!found) return { text: `No region ${target.region} any more.`, blocked: true };
    const { geo, region, regions } = found;
    const sh = share(geo, region.name);
    const shareText = sh.share === null
      ? `${region.name} served no ${geo} traffic in the last minute`
      : `${region.name} now serves ${pct(sh.share)} of ${geo} traffic (${sh.requests} requests in the last minute)`;
    const isOut = target.kind === 'region'
      ? (r) => r.name === region.name
      : (r, o) => r.name === region.name && o.address === target.address;
    const { best } = successors(regions, isOut);
    if (!best.length) {
      return {
        blocked: true,
        text: `${verb} would leave ${geo} without a usable origin: every request of ${geo} would be answered 503 (no-origin-available). The console does not do this; the API refuses it too unless forced (edge-gateway ctl drain --force).`,
      };
    }
    if (target.kind === 'origin') {
      const stillUsable = usableOrigins(region).filter((o) => o.address !== target.address);
      const where = stillUsable.length
        ? `${region.name} keeps ${stillUsable.length} usable origin(s) and takes the origin's traffic on them`
        : `${region.name} has no other usable origin, so its traffic goes to ${list(best)}`;
      return { blocked: false, text: `${shareText}. ${verb} takes ${target.address} out of rotation: ${where}.` };
    }
    const others = regions.filter((r) => r.name !== region.name && usableOrigins(r).length > 0).map((r) => r.name);
    const only = others.length === 1 ? `, the only other healthy region of ${geo}` : '';
    return { blocked: false, text: `${shareText}. ${verb} sends it to ${list(best)}${only}.` };
  }

  function confirmDrain(target) {
    const found = regionOf(target.region);
    if (!found) return;
    const subject = target.kind === 'region' ? target.region : `origin ${target.address} of ${target.region}`;
    const drained = target.kind === 'region'
      ? found.region.drained
      : (found.region.members.find((o) => o.address === target.address) || {}).drained;
    const base = target.kind === 'region'
      ? `/api/v1/regions/${encodeURIComponent(target.region)}`
      : `/api/v1/origins/${encodeURIComponent(target.region)}/${encodeURIComponent(target.address)}`;
    if (drained) {
      const r = found.region;
      const text = target.kind === 'region'
        ? `${r.name} (priority ${r.priority}, weight ${r.weight.configured}) comes back into rotation; ${usableOrigins({ ...r, drained: false }).length ? `with ${r.members.filter((o) => o.usable).length} usable origin(s) it takes ${found.geo} traffic again as its priority and weight say` : `but none of its origins is usable now, so it takes no traffic until one is healthy`}.`
        : `${target.address} comes back into rotation in ${r.name}.`;
      openConfirm(`Undrain ${subject}?`, text, '', `Undrain ${subject}`, () => change('POST', `${base}/undrain`, undefined, `Undrained ${subject}`));
      return;
    }
    const impact = impactOfRemoval(target, `Draining ${subject}`);
    if (impact.blocked) {
      openConfirm(`Drain ${subject}: blocked`, impact.text, '', null, null);
      return;
    }
    openConfirm(`Drain ${subject}?`, impact.text, 'The drain applies to new requests at once, is audited with your token\'s name, and survives reloads.', `Drain ${subject}`, () => change('POST', `${base}/drain`, undefined, `Drained ${subject}`));
  }

  function confirmWeight(target, weight) {
    const found = regionOf(target.region);
    if (!found) return;
    const subject = target.kind === 'region' ? `region ${target.region}` : `origin ${target.address} of ${target.region}`;
    const current = target.kind === 'region'
      ? found.region.weight
      : (found.region.members.find((o) => o.address === target.address) || {}).weight;
    const path = target.kind === 'region'
      ? `/api/v1/regions/${encodeURIComponent(target.region)}/weight`
      : `/api/v1/origins/${encodeURIComponent(target.region)}/${encodeURIComponent(target.address)}/weight`;
    let text;
    if (weight === 0) {
      const impact = impactOfRemoval(target, `Weight 0 for ${subject}`);
      if (impact.blocked) {
        openConfirm(`Weight 0 for ${subject}: blocked`, impact.text, '', null, null);
        return;
      }
      text = `${subject}: weight ${current.effective} → 0 (configured ${current.configured}). ${impact.text}`;
    } else {
      const sh = share(found.geo, found.region.name);
      const peers = found.regions.filter((r) => r.priority === found.region.priority).map((r) => r.name);
      text = `${subject}: weight ${current.effective} → ${weight} (configured ${current.configured}). ${found.region.name} now serves ${pct(sh.share)} of ${found.geo} traffic; weights split traffic among the usable origins of the same priority (${list(peers)}).`;
    }
    openConfirm(`Set the weight of ${subject} to ${weight}?`, text, 'Applies to new requests at once; audited; survives reloads.', `Set weight ${weight}`, () => change('PUT', path, { weight }, `Weight of ${subject} set to ${weight}`));
  }

  async function confirmClear() {
    let count = '';
    try {
      const r = await api('GET', '/api/v1/overrides');
      if (r.ok && r.data) {
        const n = Object.keys(r.data.regions || {}).length + Object.keys(r.data.origins || {}).length;
        count = n === 0 ? 'There is no override now.' : `${n} region or origin override(s) are in place now.`;
      }
    } catch (_) {
      count = '';
    }
    const drained = state.regions.filter((r) => r.drained).map((r) => r.name);
    const text = `${count} Every weight and drain returns to the configuration file${drained.length ? `: ${list(drained)} come(s) back into rotation` : ''}.`;
    openConfirm('Clear all overrides?', text, 'Audited; nothing else changes.', 'Clear all overrides', () => change('DELETE', '/api/v1/overrides', undefined, 'Cleared all overrides'));
  }

  function confirmReload() {
    const c = state.config;
    openConfirm('Reload the configuration?', `Re-reads ${c.path} (now generation ${c.generation}, hash ${c.hash}). A valid file is swapped in for new requests; an invalid one is refused and the current configuration keeps serving. Overrides stay.`, '', 'Reload', () => change('POST', '/api/v1/config/reload', undefined, 'Reloaded'));
  }

  let pending = null;

  function openConfirm(title, text, note, okText, action) {
    const d = $('confirm');
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-note').textContent = note || '';
    const ok = $('confirm-ok');
    pending = action;
    ok.hidden = !action;
    ok.textContent = okText || '';
    $('confirm-cancel').textContent = action ? 'Cancel' : 'Close';
    d.dataset.blocked = action ? 'false' : 'true';
    d.showModal();
    $('confirm-cancel').focus();
  }

  function closeConfirm() {
    pending = null;
    $('confirm').close();
  }

  async function change(method, path, body, done) {
    closeConfirm();
    let r;
    try {
      r = await api(method, path, body);
    } catch (e) {
      showBanner(`The change was not sent: ${e.message}.`, true);
      return;
    }
    if (r.status === 401) {
      signOut('The gateway no longer accepts this token (401 Unauthorized).');
      return;
    }
    if (r.ok) {
      const gen = r.data && r.data.generation !== undefined ? ` (generation ${r.data.generation})` : '';
      showBanner(`${done}${gen}.`, false);
    } else {
      showBanner(`Refused: ${problemText(r)}`, true);
    }
    poll();
  }

  function showBanner(text, isError) {
    const b = $('banner');
    b.textContent = text;
    b.classList.toggle('error', Boolean(isError));
    b.hidden = false;
  }

  // ---- tenant search ----------------------------------------------------------------------

  async function explainTenant(id) {
    const out = $('tenant-result');
    out.replaceChildren(el('p', { text: 'Looking up…' }));
    let r;
    try {
      r = await api('GET', `/api/v1/tenants/${encodeURIComponent(id)}/route`);
    } catch (e) {
      out.replaceChildren(el('p', { class: 'error', text: `Cannot reach the gateway (${e.message}).` }));
      return;
    }
    if (r.status === 401) {
      signOut('The gateway no longer accepts this token (401 Unauthorized).');
      return;
    }
    const d = r.data || {};
    if (!r.ok) {
      out.replaceChildren(el('p', { class: 'error', text: `${r.status}: ${d.error || d.title || 'refused'}${d.detail ? ` — ${d.detail}` : ''}` }));
      return;
    }
    const order = (d.candidates || []).map((c) => `${c.region} (${c.address})`);
    const rows = (d.origins || []).map((o) =>
      el('tr', {},
        el('td', { 'data-label': 'Region', text: o.region }),
        el('td', { 'data-label': 'Origin', class: 'mono', text: o.address }),
        el('td', { 'data-label': 'Priority', text: String(o.priority) }),
        el('td', { 'data-label': 'Effective weight', text: String(o.effective_weight) }),
        el('td', { 'data-label': 'Health', text: o.status }),
        el('td', { 'data-label': 'Decision', text: o.decision })));
    out.replaceChildren(
      el('p', {}, el('strong', { text: `Tenant ${d.tenant}` }), ` → geography ${d.geography}.`),
      el('p', { text: order.length ? `Candidates in order: ${order.join(' → ')}.` : 'No candidate.' }),
      el('div', { class: 'scroll' }, el('table', {},
        el('thead', {}, el('tr', {}, ...['Region', 'Origin', 'Priority', 'Effective weight', 'Health', 'Decision'].map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, ...rows))),
      el('p', { class: 'hint', text: d.note || '' }));
  }

  // ---- start ------------------------------------------------------------------------------

  function tick() {
    $('clock').textContent = utc(Date.now());
  }

  function start() {
    tick();
    setInterval(tick, 1000);
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = $('token').value.trim();
      if (!t) {
        showLoginError('Paste a token first.');
        return;
      }
      signIn(t);
    });
    $('sign-out').addEventListener('click', () => signOut(''));
    $('confirm-cancel').addEventListener('click', closeConfirm);
    $('confirm-ok').addEventListener('click', () => {
      if (pending) pending();
    });
    $('confirm').addEventListener('close', () => {
      pending = null;
    });
    $('tenant-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const id = $('tenant-id').value.trim();
      if (id) explainTenant(id);
    });
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved);
    else $('token').focus();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
