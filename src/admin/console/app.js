// hookgate's operator console. No framework, no build step.
//
// Safety rules of this file (a unit test in mod.rs holds it to some of them):
// - every value from the API goes into the page as text (Node.append of a string, textContent),
//   never through an HTML parser; the CSP's Trusted Types make such sinks throw anyway;
// - no links built from data (a sender's ID could be a javascript: URL): buttons with handlers;
// - the token lives in this closure only, and leaves it only in the Authorization header.
'use strict';

(() => {
  let token = null;
  let cursor = null;
  // The filter of the list on screen ({params, limit}: the last search that answered), and the
  // one asked for last (live refresh and More reload it). The bulk buttons act on `listed`, never
  // on what the form holds but was not searched.
  let listed = null;
  let asked = null;
  let current = null; // {route, id} of the event on screen
  let eventsSeq = 0; // drops answers of superseded list requests
  let liveTimer = null;
  let liveGen = 0;
  let pollTimer = null;
  let signedIn = 0; // bumped by lock(): answers to requests made before it are dropped
  const LIVE_MS = 4000;
  // The states of the `pending` class (the API's `state=pending`; what cancel takes).
  const PENDING = ['pending', 'scheduled', 'in_flight'];

  const $ = (id) => document.getElementById(id);

  // An element with text children. Strings become text nodes, whatever they hold.
  function el(tag, opts, ...children) {
    const e = document.createElement(tag);
    if (opts) {
      if (opts.cls) e.className = opts.cls;
      if (opts.click) e.addEventListener('click', opts.click);
      if (opts.data) Object.assign(e.dataset, opts.data);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function option(value, label) {
    const o = el('option', null, label);
    o.value = value;
    return o;
  }

  const dash = (v) => (v === null || v === undefined || v === '' ? '—' : v);

  function say(text, isError) {
    const m = $('message');
    m.textContent = text || '';
    m.className = isError ? 'error' : '';
  }

  class Unauthorized extends Error {}
  class Stale extends Error {}

  async function api(method, path, params) {
    const asked = signedIn;
    const url = new URL(path, location.origin);
    for (const [k, v] of params || []) url.searchParams.append(k, v);
    const headers = {};
    if (token) headers.Authorization = 'Bearer ' + token;
    const r = await fetch(url, {
      method,
      headers,
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
    });
    let body = null;
    try {
      body = await r.json();
    } catch (_) {
      body = null;
    }
    if (asked !== signedIn) throw new Stale();
    if (r.status === 401) throw new Unauthorized();
    if (!r.ok) {
      const why = body && body.error ? body.error + ': ' + (body.detail || '') : 'HTTP ' + r.status;
      throw new Error(why);
    }
    return body;
  }

  // Runs an API action; a refused token sends the page back to the login form.
  async function guarded(f) {
    try {
      return await f();
    } catch (e) {
      if (e instanceof Unauthorized) {
        lock(token ? 'The token was refused.' : '');
      } else if (!(e instanceof Stale)) {
        say(e.message, true);
      }
      return undefined;
    }
  }

  // ---- login ----------------------------------------------------------------------------------

  function lock(why) {
    signedIn += 1;
    token = null;
    stopLive();
    clearTimeout(pollTimer);
    for (const id of ['routes-body', 'events-body', 'ev-fields', 'ev-attempts', 'ev-headers']) {
      $(id).replaceChildren();
    }
    $('ev-body').textContent = '';
    $('ev-body-note').textContent = '';
    $('ev-id').textContent = '';
    $('filters').reset();
    $('f-route').replaceChildren(option('', 'all'));
    current = null;
    cursor = null;
    listed = null;
    asked = null;
    disarmAll();
    $('more').hidden = true;
    $('event').hidden = true;
    $('events').hidden = false;
    $('app').hidden = true;
    $('logout').hidden = true;
    $('live-switch').hidden = true;
    $('login').hidden = false;
    $('conn').textContent = 'locked';
    say(why, Boolean(why));
    $('token').focus();
  }

  async function open() {
    const routes = await guarded(() => api('GET', '/routes'));
    if (!routes) return;
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = !token;
    $('live-switch').hidden = false;
    $('conn').textContent = token ? 'signed in with a token' : 'no admin token configured (loopback)';
    say('');
    renderRoutes(routes);
    await loadEvents(true, readFilters());
    startLive();
  }

  // ---- routes ---------------------------------------------------------------------------------

  function age(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    if (seconds < 120) return seconds + ' s';
    if (seconds < 7200) return Math.floor(seconds / 60) + ' min';
    return Math.floor(seconds / 3600) + ' h';
  }

  function renderRoutes(data) {
    const body = $('routes-body');
    body.replaceChildren();
    const select = $('f-route');
    const chosen = select.value;
    select.replaceChildren(option('', 'all'));
    for (const r of data.routes || []) {
      const active = r.state === 'active';
      const toggle = el(
        'button',
        { cls: 'route-toggle', click: () => setRouteState(r.name, active ? 'pause' : 'resume') },
        active ? 'Pause' : 'Resume',
      );
      body.append(
        el(
          'tr',
          { data: { route: r.name } },
          el('td', null, r.name),
          el('td', { cls: 'mono' }, r.path),
          el('td', null, r.mode),
          el('td', { cls: 'route-state state-' + r.state }, r.state),
          el('td', { cls: 'pending' }, r.pending),
          el('td', { cls: 'oldest' }, age(r.oldest_age_ms == null ? null : Math.floor(r.oldest_age_ms / 1000))),
          el('td', { cls: 'dead' }, r.dead),
          el('td', null, toggle),
        ),
      );
      select.append(option(r.name, r.name));
    }
    for (const r of data.removed_routes || []) {
      body.append(
        el(
          'tr',
          { data: { route: r.name } },
          el('td', null, r.name),
          el('td', { cls: 'note' }, 'no longer configured'),
          el('td'),
          el('td', { cls: 'note' }, 'removed'),
          el('td', { cls: 'pending' }, r.pending),
          el('td'),
          el('td', { cls: 'dead' }, r.dead),
          el('td'),
        ),
      );
      select.append(option(r.name, r.name + ' (removed)'));
    }
    select.value = chosen;
  }

  async function loadRoutes() {
    const routes = await guarded(() => api('GET', '/routes'));
    if (routes) renderRoutes(routes);
  }

  async function setRouteState(name, action) {
    const r = await guarded(() => api('POST', '/routes/' + encodeURIComponent(name) + '/' + action));
    if (r) say('Route ' + r.route + ' is ' + r.state + '.');
    await loadRoutes();
  }

  // ---- event list -----------------------------------------------------------------------------

  // A datetime-local value (the browser's time zone) as RFC 3339 UTC.
  function instant(v) {
    if (!v) return null;
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? null : d.toISOString();
  }

  // The filter form as query parameters, and the page size: read when a search is run.
  function readFilters() {
    const p = [];
    const route = $('f-route').value;
    if (route) p.push(['route', route]);
    const states = [...document.querySelectorAll('input[name=state]:checked')].map((i) => i.value);
    if (states.length) p.push(['state', states.join(',')]);
    const since = instant($('f-since').value);
    if (since) p.push(['since', since]);
    const until = instant($('f-until').value);
    if (until) p.push(['until', until]);
    const status = $('f-status').value.trim();
    if (status) p.push(['status', status]);
    const q = $('f-q').value.trim();
    if (q) p.push(['q', q]);
    return { params: p, limit: $('f-limit').value || '50' };
  }

  // A filter in words, for a confirmation: "route a, state dead, event ID contains "x"".
  function describe(params) {
    const words = {
      route: (v) => 'route ' + v,
      state: (v) => 'state ' + v,
      since: (v) => 'received since ' + v,
      until: (v) => 'received until ' + v,
      status: (v) => 'last status ' + v,
      q: (v) => 'event ID contains "' + v + '"',
    };
    const parts = params.map(([k, v]) => words[k](v));
    if (!params.some(([k]) => k === 'route')) parts.unshift('every route');
    return parts.join(', ');
  }

  function eventRow(e) {
    return el(
      'tr',
      { data: { route: e.route, eventId: e.event_id, state: e.state } },
      el('td', { cls: 'mono time' }, dash(e.received_at)),
      el('td', null, e.route),
      el('td', null, el('button', { cls: 'link event-link', click: () => openEvent(e.route, e.event_id) }, e.event_id)),
      el('td', { cls: 'event-state state-' + e.state }, e.state),
      el('td', null, e.attempts),
      el('td', null, dash(e.last_status)),
      el('td', null, dash(e.last_error)),
      el('td', { cls: 'mono time' }, dash(e.next_attempt_at)),
    );
  }

  // `wanted`: a search's filter (readFilters()); none to reload the one asked for last.
  async function loadEvents(reset, wanted) {
    const seq = ++eventsSeq;
    const f = wanted || asked;
    if (!f) return;
    asked = f;
    const p = [...f.params, ['limit', f.limit]];
    if (!reset && cursor) p.push(['after', cursor]);
    const data = await guarded(() => api('GET', '/events', p));
    if (seq !== eventsSeq) return;
    if (!data) {
      // A refused search leaves the list (and its filter) as it was.
      asked = listed || f;
      return;
    }
    const body = $('events-body');
    if (reset) {
      body.replaceChildren();
      if (listed !== f) disarmAll();
      listed = f;
    }
    for (const e of data.events || []) body.append(eventRow(e));
    cursor = data.next || null;
    $('more').hidden = !cursor;
    $('events-empty').hidden = body.childElementCount > 0;
  }

  // Bulk operations and purges ask twice: the second click within 4 s runs what the first
  // armed (`armed.get(button)`), whose confirmation `text` says what it will act on.
  const armed = new Map();
  function unarm(button) {
    const a = armed.get(button);
    if (!a) return;
    clearTimeout(a.timer);
    armed.delete(button);
    button.classList.remove('armed');
    button.textContent = button.dataset.label;
  }

  function disarmAll() {
    for (const b of [...armed.keys()]) unarm(b);
  }

  function twice(button, text, run) {
    const a = armed.get(button);
    if (a) {
      unarm(button);
      a.run();
      return;
    }
    button.classList.add('armed');
    button.textContent = text;
    armed.set(button, { run, timer: setTimeout(() => unarm(button), 4000) });
  }

  // A bulk button: acts on the filter of the list on screen. `kind`: which events it touches
  // ('dead' or 'pending', as the state filter names them); `withState` whether the endpoint
  // takes the state filter (the others act on their own state only).
  function bulk(button, { method, path, kind, noun, verb, withState, report }) {
    if (!listed) return;
    const states = listed.params.find(([k]) => k === 'state');
    if (states && !states[1].split(',').includes(kind)) {
      say('The list shows no ' + noun + ' (state ' + states[1] + '): nothing to ' + verb + '.', true);
      return;
    }
    const params = listed.params.filter(([k]) => withState || k !== 'state');
    const of = kind === 'dead' ? ['dead'] : PENDING;
    const rows = [...$('events-body').children].filter((r) => of.includes(r.dataset.state)).length;
    const count = rows + ' shown' + (cursor ? ', more not loaded' : '');
    const text = 'Click again to ' + verb + ' the ' + noun + ' of: ' + describe(params) + ' (' + count + ')';
    twice(button, text, async () => {
      const r = await guarded(() => api(method, path, params));
      if (r) say(report(r));
      await refresh();
    });
  }

  // ---- one event ------------------------------------------------------------------------------

  function field(dl, name, value) {
    dl.append(el('dt', null, name), el('dd', { data: { field: name } }, dash(value)));
  }

  function attemptText(a) {
    // The error, when there is one, already names the status ("HTTP 503 …").
    const outcome = a.error || (a.status !== null && a.status !== undefined ? 'HTTP ' + a.status : '—');
    let t = a.at + ' — ' + outcome;
    if (a.duration_ms !== null && a.duration_ms !== undefined) t += ' in ' + a.duration_ms + ' ms';
    if (a.next_attempt_at) t += '; next attempt ' + a.next_attempt_at;
    return t;
  }

  function renderEvent(ev) {
    $('ev-id').textContent = ev.event_id;
    const dl = $('ev-fields');
    dl.replaceChildren();
    field(dl, 'Route', ev.route);
    field(dl, 'State', ev.state);
    dl.lastChild.className = 'state-' + ev.state;
    field(dl, 'Verification', ev.verification);
    field(dl, 'Received', ev.received_at);
    field(dl, 'Client IP', ev.client_ip);
    field(dl, 'Target', ev.target);
    field(dl, 'Attempts', ev.attempts);
    field(dl, 'Replays', ev.replays);
    field(dl, 'Last status', ev.last_status);
    field(dl, 'Last error', ev.last_error);
    field(dl, 'Next attempt', ev.next_attempt_at);
    field(dl, 'Finished', ev.finished_at);
    field(dl, 'Body bytes', ev.body_bytes);

    const attempts = $('ev-attempts');
    attempts.replaceChildren();
    for (const a of ev.attempt_history || []) attempts.append(el('li', null, attemptText(a)));
    if (!attempts.childElementCount) attempts.append(el('li', { cls: 'note' }, 'no attempt yet'));

    const headers = $('ev-headers');
    headers.replaceChildren();
    for (const [name, value] of ev.headers || []) {
      headers.append(el('tr', null, el('th', { cls: 'mono' }, name), el('td', { cls: 'mono' }, value)));
    }
    if (!headers.childElementCount) {
      headers.append(el('tr', null, el('td', { cls: 'note' }, 'no longer kept (delivered events keep no headers or body)')));
    }

    const b = ev.body;
    if (!b) {
      $('ev-body').textContent = '';
      $('ev-body-note').textContent = '(no longer kept)';
    } else {
      $('ev-body').textContent = b.data;
      let note = '(' + b.bytes + ' bytes';
      if (b.encoding === 'base64') note += ', binary: shown as base64';
      if (b.truncated) note += ', truncated';
      $('ev-body-note').textContent = note + ')';
    }
    $('ev-replay').hidden = ev.state !== 'dead';
    $('ev-purge').hidden = ev.state !== 'dead';
    // The states the cancel endpoint takes (the `pending` class).
    $('ev-cancel').hidden = !PENDING.includes(ev.state);
  }

  // A URL drops a dot segment (`%2E` too): `/events/./cancel` would be the bulk cancel.
  function eventPath(id, suffix) {
    if (id === '.' || id === '..') {
      throw new Error('An event ID of "' + id + '" cannot be named in a URL: act on it by a filter.');
    }
    return '/events/' + encodeURIComponent(id) + (suffix || '');
  }

  async function showEvent() {
    if (!current) return undefined;
    const { route, id } = current;
    const ev = await guarded(() => api('GET', eventPath(id), [['route', route]]));
    if (ev && current && current.id === id && current.route === route) renderEvent(ev);
    return ev;
  }

  async function openEvent(route, id) {
    clearTimeout(pollTimer);
    current = { route, id };
    const ev = await showEvent();
    if (!ev) return;
    $('events').hidden = true;
    $('event').hidden = false;
    say('');
  }

  function closeEvent() {
    clearTimeout(pollTimer);
    current = null;
    $('event').hidden = true;
    $('events').hidden = false;
    refresh();
  }

  // After a replay or cancel: follow the event until it is delivered or dead (through
  // `pending`, `in_flight` and `scheduled`), or a minute passes.
  function follow(deadline) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      const ev = await showEvent();
      if (ev && PENDING.includes(ev.state) && Date.now() < deadline) follow(deadline);
    }, 500);
  }

  async function eventAction(method, suffix, report) {
    if (!current) return;
    const { route, id } = current;
    const r = await guarded(() => api(method, eventPath(id, suffix), [['route', route]]));
    if (!r) return;
    say(report(r));
    if (method === 'DELETE') {
      closeEvent();
      return;
    }
    await showEvent();
    follow(Date.now() + 60000);
  }

  // ---- live refresh ---------------------------------------------------------------------------

  async function refresh() {
    if ($('app').hidden) return;
    await loadRoutes();
    if (current) await showEvent();
    else await loadEvents(true);
  }

  // One refresh at a time: the next is scheduled when the last has answered, so a slow store
  // never piles requests up. A new start or a stop ends the old chain (its generation).
  function startLive() {
    stopLive();
    if (!$('live').checked) return;
    const gen = liveGen;
    const tick = async () => {
      await refresh();
      if (gen === liveGen) liveTimer = setTimeout(tick, LIVE_MS);
    };
    liveTimer = setTimeout(tick, LIVE_MS);
  }

  function stopLive() {
    liveGen += 1;
    clearTimeout(liveTimer);
    liveTimer = null;
  }

  // ---- wiring ---------------------------------------------------------------------------------

  function start() {
    // `/#token=…`: for scripted use. A fragment never reaches the server; drop it from the
    // address bar and history at once.
    const m = /^#token=(.+)$/.exec(location.hash);
    if (m) {
      token = decodeURIComponent(m[1]);
      history.replaceState(null, '', location.pathname);
    }
    $('login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      token = $('token').value.trim() || null;
      $('token').value = '';
      open();
    });
    $('logout').addEventListener('click', () => lock(''));
    $('live').addEventListener('change', startLive);
    $('filters').addEventListener('submit', (e) => {
      e.preventDefault();
      loadEvents(true, readFilters());
    });
    $('more').addEventListener('click', () => {
      // Older pages stay on screen: live refresh would replace them with the newest.
      $('live').checked = false;
      stopLive();
      loadEvents(false, listed);
    });
    $('bulk-replay').addEventListener('click', (e) =>
      bulk(e.currentTarget, {
        method: 'POST',
        path: '/events/replay',
        kind: 'dead',
        noun: 'dead letters',
        verb: 'replay',
        withState: true,
        report: (r) => 'Replayed: ' + r.replayed + ', skipped: ' + r.skipped + '.',
      }),
    );
    $('bulk-cancel').addEventListener('click', (e) =>
      bulk(e.currentTarget, {
        method: 'POST',
        path: '/events/cancel',
        kind: 'pending',
        noun: 'pending retries',
        verb: 'cancel',
        withState: false,
        report: (r) => 'Cancelled: ' + r.cancelled + '.',
      }),
    );
    $('bulk-purge').addEventListener('click', (e) =>
      bulk(e.currentTarget, {
        method: 'DELETE',
        path: '/dlq',
        kind: 'dead',
        noun: 'dead letters',
        verb: 'purge',
        withState: false,
        report: (r) => 'Dead letters purged: ' + r.purged + '.',
      }),
    );
    $('back').addEventListener('click', closeEvent);
    $('ev-refresh').addEventListener('click', showEvent);
    $('ev-replay').addEventListener('click', () =>
      eventAction('POST', '/replay', () => 'Replayed: delivery starts again.'),
    );
    $('ev-cancel').addEventListener('click', () =>
      eventAction('POST', '/cancel', (r) => 'Cancelled: ' + r.cancelled + '.'),
    );
    $('ev-purge').addEventListener('click', (e) =>
      twice(e.currentTarget, 'Click again to confirm: purge', () =>
        eventAction('DELETE', '', (r) => 'Purged: ' + r.purged + '.'),
      ),
    );
    open();
  }

  start();
})();
