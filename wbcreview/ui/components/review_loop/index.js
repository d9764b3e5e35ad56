// The review loop: the Review (one cell) and Gallery review (48 tiles) screens in the browser.
//
// Every key and click is handled here at once: cursor, selection, badges, undo, pages. Each
// decision becomes an event {id (UUID), seq, kind, cells, ...} kept in sessionStorage until
// Python acknowledges it, so a rerun, a reconnect or a reload loses none. The unacknowledged
// events are sent in order with one trigger per round trip (never two in flight); Python
// stores each once (the event id is the store uid) and answers with `acked`. A tile or cell is
// marked saved only then; an event the store refused is shown with its message.
//
// Python's data never contains markup: every text is set with textContent, every image is a
// data: URI set as a property.
//
// Python answers with what this page lacks only: it says which pages it holds (`have`), the
// images it misses (`need`) and which code it runs (`code`); an answer carries the
// acknowledgements, the stored votes of the cells it read (the current page, the cells just
// stored) and any page or image not held yet. loader.js loads this module (Python sends it
// once per session) and calls the default export with the CSS.

const LOOPS = new Map(); // storage key -> loop state (survives every re-render)
const RESEND_MS = 10000; // a round trip without an answer after this is sent again
// (a resend interrupts the server's run of the last one: too eager, and on a busy server no
// run would ever finish)

function uuid4() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function stats() {
  // For bench/throughput.py: key -> painted, key -> saved shown (ms), round trips, and the
  // bytes of images and of the loop's code received (the rest of a reply is protocol).
  if (!window.__wbcLoopStats) {
    window.__wbcLoopStats = { paint: [], saved: [], rtt: [], sent: 0, errors: [], imageBytes: 0, codeBytes: 0, replies: 0 };
  }
  return window.__wbcLoopStats;
}

function afterPaint(fn) {
  requestAnimationFrame(() => setTimeout(fn, 0));
}

function afterImages(root, fn) {
  // the next frame once every image on screen is decoded: "painted" means the cell is seen
  const waiting = root ? [...root.querySelectorAll('img')].filter((i) => !i.complete || !i.naturalWidth) : [];
  if (!waiting.length) return afterPaint(fn);
  Promise.all(waiting.map((i) => (i.decode ? i.decode().catch(() => null) : null))).then(() => afterPaint(fn));
  return undefined;
}

function decodeSoon(img) {
  // decode a prefetched image off screen, so showing it later costs no decode
  if (img.decode) img.decode().catch(() => null);
}

const KEEP_PAGES_BEHIND = 2; // pages held around the current one (Python sends 1 behind)
const KEEP_PAGES_AHEAD = 4; // (and up to 3 ahead)

function loadQueue(key) {
  try {
    const raw = JSON.parse(sessionStorage.getItem(key) || 'null');
    if (raw && Array.isArray(raw.events)) return raw;
  } catch (e) {
    /* a damaged entry is dropped: nothing in it can be trusted */
  }
  return { seq: 0, events: [] };
}

function newLoop(key) {
  const saved = loadQueue(key);
  return {
    key,
    seq: saved.seq || 0,
    events: saved.events, // unacknowledged, in seq order
    overlay: {}, // cell -> {vote: [action, label, reason] | null, ev: event id}
    history: [], // [{ev, prev: {cell: overlay entry or undefined}, cursor, page}]
    refused: [], // [{text}] events the store refused
    images: {},
    pages: {}, // page -> {cells: [[cell, label or null]]}, the pages held
    server: {}, // cell -> [action, label, reason] as stored
    sig: null, // the queue's cells and order the pages belong to
    static: null, // names, keys, the Cell page link: sent with the code
    original: {}, // cell -> original challenge label (single mode)
    page: null,
    cursor: null,
    sel: new Set(),
    anchor: null,
    confirm: false,
    removing: false,
    inflight: null,
    nonce: 0,
    answered: -1, // the highest message number Python has answered
    started: {}, // event id -> performance.now() of its key
    data: null,
    pendingPage: null, // a page asked for and not yet sent by Python: keys wait for it
    buffer: [], // keys pressed while waiting, replayed in order when the page arrives
    timer: null,
    tiles: new Map(), // cell -> its tile elements (gallery)
    figs: new Map(), // cell -> its figures (single)
    bar: null,
  };
}

function persist(S) {
  try {
    // nothing waiting: no entry (a Cell page per cell visited would otherwise leave one each;
    // the sequence only orders the events of one message, so it may start again)
    if (!S.events.length) sessionStorage.removeItem(S.key);
    else sessionStorage.setItem(S.key, JSON.stringify({ seq: S.seq, events: S.events }));
  } catch (e) {
    stats().errors.push(String(e));
  }
}

// --- what Python sent -------------------------------------------------------------------

function absorb(S, data) {
  const st = stats();
  st.replies += 1;
  if (data.static) S.static = data.static;
  if (data.code) st.codeBytes += data.code.length + (data.css || '').length;
  S.data = Object.assign({}, data, S.static || {});
  if (data.sig !== S.sig) {
    S.sig = data.sig;
    S.pages = {};
    S.images = {};
    S.server = {};
    S.page = null;
    S.tiles = new Map();
    S.figs = new Map();
  }
  for (const [cell, im] of Object.entries(data.images || {})) {
    S.images[cell] = im;
    if (im.t) st.imageBytes += im.t.length;
    for (const d of im.d || []) st.imageBytes += d[0].length;
  }
  if (data.large) for (const d of data.large.images || []) st.imageBytes += d[0].length;
  for (const [p, desc] of Object.entries(data.pages || {})) S.pages[Number(p)] = { cells: desc.cells };
  if (data.tiles) S.tileKeys = data.tiles; // browse: a tile's cell key -> its cell
  for (const [cell, v] of Object.entries(data.votes || {})) {
    if (v) S.server[cell] = v;
    else delete S.server[cell];
  }
  if (data.labels) {
    for (const desc of Object.values(S.pages)) {
      for (const c of desc.cells) if (c[0] in data.labels) c[1] = data.labels[c[0]];
    }
  }
  Object.assign(S.original, data.original || {});
  S.data.original = S.original;
  if (S.page === null || !(S.page in S.pages)) {
    S.page = data.page;
    S.cursor = data.mode === 'browse' ? null : data.cursor || null; // browse: the tile pointed at
    S.sel = new Set();
  }
  // hold the pages around the current one; drop the images of cells on no held page
  for (const p of Object.keys(S.pages).map(Number)) {
    if (p < S.page - KEEP_PAGES_BEHIND || p > S.page + KEEP_PAGES_AHEAD) delete S.pages[p];
  }
  const keep = new Set();
  for (const desc of Object.values(S.pages)) for (const c of desc.cells) keep.add(c[0]);
  for (const cell of Object.keys(S.images)) if (!keep.has(cell)) delete S.images[cell];
  const acked = data.acked || {};
  const done = new Set(Object.keys(acked));
  if (done.size) {
    for (const id of done) {
      if (acked[id]) S.refused.push({ text: acked[id] });
      if (S.started[id] !== undefined) {
        const t0 = S.started[id];
        delete S.started[id];
        afterPaint(() => st.saved.push(performance.now() - t0));
      }
    }
    S.events = S.events.filter((e) => !done.has(e.id));
    const pendingIds = new Set(S.events.map((e) => e.id));
    for (const [cell, entry] of Object.entries(S.overlay)) {
      if (pendingIds.has(entry.ev)) continue;
      // stored as shown (the answer's own read of the cell, when it has one, came first)
      if (done.has(entry.ev) && !acked[entry.ev] && !(data.votes && cell in data.votes)) {
        if (entry.vote) S.server[cell] = entry.vote;
        else delete S.server[cell];
      }
      delete S.overlay[cell];
    }
    persist(S);
  }
  // Any answer to a message not answered before ends the round trip: its acknowledgements
  // are in this data, and what is still unacknowledged is sent again at once.
  if (data.reply !== undefined && data.reply !== null && data.reply > S.answered) {
    S.answered = data.reply;
    if (S.inflight) {
      st.rtt.push(performance.now() - S.inflight.t);
      S.inflight = null;
    }
  }
  if (S.pendingPage !== null && S.pendingPage in S.pages) {
    const p = S.pendingPage;
    S.pendingPage = null;
    goPage(S, p);
    const keys = S.buffer;
    S.buffer = [];
    for (const [name, shift, ctrl] of keys) handleKey(S, name, shift, ctrl);
  }
}

// --- decisions --------------------------------------------------------------------------

function current(S) {
  return S.pages[S.page] || { cells: [], votes: {} };
}

function order(S) {
  const desc = current(S);
  if (S.data.mode !== 'gallery' || S.data.hidden) return desc.cells.map((c) => c[0]);
  return groups(S).flatMap((g) => g.cells);
}

function labelOf(S, cell) {
  for (const desc of Object.values(S.pages)) {
    for (const c of desc.cells) if (c[0] === cell) return c[1];
  }
  return null;
}

function vote(S, cell) {
  if (cell in S.overlay) return S.overlay[cell].vote;
  return S.server[cell] || null;
}

function pending(S, cell) {
  return cell in S.overlay;
}

function queueEvent(S, ev, cells, votes) {
  ev.id = uuid4();
  ev.seq = ++S.seq;
  const prev = {};
  for (const cell of cells) {
    prev[cell] = S.overlay[cell];
    if (!(cell in S.overlay)) prev[cell] = { vote: S.server[cell] || null, ev: null, base: true };
  }
  S.history.push({ ev: ev.id, prev, page: S.page, cursor: S.cursor });
  if (S.history.length > 200) S.history.shift();
  cells.forEach((cell, i) => {
    S.overlay[cell] = { vote: votes[i], ev: ev.id };
  });
  S.events.push(ev);
  S.started[ev.id] = performance.now();
  persist(S);
  return ev;
}

function decide(S, cells, kind) {
  // kind: {code} | {action, reason}
  if (!cells.length) return false;
  const data = S.data;
  const votes = cells.map((cell) => {
    if (kind.code) {
      const label = data.hidden ? null : labelOf(S, cell);
      return label === kind.code ? ['retain', null, null] : ['correct', kind.code, null];
    }
    return [kind.action, null, kind.reason || null];
  });
  const ev = { kind: 'vote', cells };
  if (kind.code) ev.code = kind.code;
  else ev.action = kind.action;
  if (kind.reason) ev.reason = kind.reason;
  if (data.mode !== 'gallery') {
    const box = S.root && S.root.querySelector('.rl-comment');
    if (box && box.value.trim()) {
      ev.comment = box.value.trim();
      box.value = '';
    }
  }
  queueEvent(S, ev, cells, votes);
  return true;
}

function undo(S) {
  const last = S.history.pop();
  // on Browse the undo is of your last vote on the tile pointed at (votes outside a queue
  // are undone cell by cell)
  const cells = S.data.mode === 'browse' && S.cursor ? [S.cursor] : [];
  const ev = { id: uuid4(), seq: ++S.seq, kind: 'undo', cells };
  if (last) {
    for (const [cell, entry] of Object.entries(last.prev)) {
      S.overlay[cell] = { vote: entry ? entry.vote : null, ev: ev.id };
    }
    if (last.page in S.pages) S.page = last.page;
    S.cursor = Object.keys(last.prev)[0] || last.cursor;
    S.sel = new Set();
  }
  S.events.push(ev);
  S.started[ev.id] = performance.now();
  persist(S);
}

function signOff(S) {
  const cells = current(S).cells.map((c) => c[0]);
  const open = cells.filter((c) => !vote(S, c));
  queueEvent(S, { kind: 'sign_off', cells }, open, open.map(() => ['retain', null, null]));
  S.confirm = false;
  const next = nextOpenPage(S);
  if (next !== null) goPage(S, next);
  else if (S.page + 1 < (S.data.pages_total || 1) && !(S.page + 1 in S.pages)) goPage(S, S.page + 1);
}

function nextOpenPage(S) {
  for (let p = S.page + 1; p in S.pages; p++) {
    if (S.pages[p].cells.some((c) => !vote(S, c[0]))) return p;
  }
  return null;
}

function goPage(S, p) {
  if (p === S.page || p < 0 || p >= (S.data.pages_total || 1)) return false;
  if (!(p in S.pages)) {
    S.pendingPage = p; // not here yet: keys wait in S.buffer, never land on another cell
    S.cursor = null;
    S.sel = new Set();
    return false;
  }
  S.page = p;
  const cells = order(S);
  S.cursor = cells.find((c) => !vote(S, c)) || cells[0] || null;
  if (S.data.mode !== 'gallery' && p < S.prevPage) S.cursor = cells[cells.length - 1] || null;
  S.sel = new Set();
  S.anchor = S.cursor;
  S.confirm = false;
  S.dirtyPage = true;
  return true;
}

function advance(S) {
  // single mode: the next cell without a vote on this or the next page, else the next cell
  const cells = order(S);
  const here = cells.indexOf(S.cursor);
  for (let i = here + 1; i < cells.length; i++) {
    if (!vote(S, cells[i])) {
      S.cursor = cells[i];
      return;
    }
  }
  if (S.page + 1 < (S.data.pages_total || 1)) {
    S.prevPage = S.page;
    goPage(S, S.page + 1);
    return;
  }
  if (here + 1 < cells.length) S.cursor = cells[here + 1];
}

function step(S, delta) {
  const cells = order(S);
  const here = cells.indexOf(S.cursor);
  const to = here + delta;
  if (to >= 0 && to < cells.length) {
    S.cursor = cells[to];
    return;
  }
  const p = S.page + (delta > 0 ? 1 : -1);
  S.prevPage = S.page;
  if (goPage(S, p)) {
    const now = order(S);
    S.cursor = delta > 0 ? now[0] : now[now.length - 1];
  }
}

function afterGalleryVote(S) {
  const cells = order(S);
  const here = cells.indexOf(S.cursor);
  S.sel = new Set();
  for (let k = 1; k <= cells.length; k++) {
    const cell = cells[(Math.max(here, -1) + k) % cells.length];
    if (!vote(S, cell)) {
      S.cursor = cell;
      S.anchor = cell;
      return;
    }
  }
}

function targets(S) {
  if (S.sel.size) return order(S).filter((c) => S.sel.has(c));
  return S.cursor ? [S.cursor] : [];
}

function columns(S) {
  const cur = S.root && S.root.querySelector('.rl-tile.rl-cur');
  const grid = cur ? cur.closest('.rl-grid') : S.root && S.root.querySelector('.rl-grid');
  if (!grid) return 1;
  return getComputedStyle(grid).gridTemplateColumns.split(' ').filter(Boolean).length || 1;
}

function moveCursor(S, delta, extend) {
  const cells = order(S);
  if (!cells.length) return;
  const here = cells.indexOf(S.cursor);
  const target = here < 0 ? cells[0] : cells[Math.min(Math.max(here + delta, 0), cells.length - 1)];
  if (extend) {
    const anchor = cells.includes(S.anchor) ? S.anchor : S.cursor || target;
    const [a, b] = [cells.indexOf(anchor), cells.indexOf(target)].sort((x, y) => x - y);
    S.sel = new Set(cells.slice(a, b + 1));
    S.anchor = anchor;
  } else {
    S.anchor = target;
  }
  S.cursor = target;
}

// --- keys -------------------------------------------------------------------------------

function handleKey(S, name, shift, ctrl) {
  const data = S.data;
  const keys = data.keys;
  const single = data.mode !== 'gallery';
  if (S.pendingPage !== null) {
    S.buffer.push([name, shift, ctrl]);
    return true;
  }
  if (S.large) {
    if (name === 'ESCAPE' || name === 'I' || name === 'ENTER') {
      S.large = null;
      return true;
    }
    return false;
  }
  if (S.removing) {
    const reason = keys.remove.find((r) => r[0] === name);
    S.removing = false;
    if (reason) return doVote(S, { action: 'remove', reason: reason[1] });
    return true; // any other key cancels the reason prompt
  }
  if (S.confirm) {
    if (name === 'ENTER') {
      signOff(S);
      return true;
    }
    S.confirm = false;
    if (name === 'ESCAPE') return true;
  }
  // on a cell's own page the arrows, Enter and the page keys stay the page's (previous/next cell)
  if ((data.mode === 'cell' || data.mode === 'browse') && ['ARROWLEFT', 'ARROWRIGHT', 'ARROWUP', 'ARROWDOWN', 'ENTER', 'N', 'PAGEUP', 'PAGEDOWN', ' ', 'G', 'I'].includes(name)) return false;
  const cls = keys.classes.find((c) => c[1] === name);
  if (cls && !ctrl) return doVote(S, { code: cls[0] });
  const reason = keys.remove.find((r) => r[0] === name);
  if (reason) return doVote(S, { action: 'remove', reason: reason[1] });
  switch (name) {
    case 'K':
      if (data.hidden && (single ? !vote(S, S.cursor) : targets(S).some((c) => !vote(S, c)))) {
        S.flash = 'Blind first read: press the key of the class you see.';
        return true;
      }
      return doVote(S, { action: 'retain' });
    case 'U':
      return doVote(S, { action: 'unsure' });
    case 'X':
      S.removing = true;
      return true;
    case 'Z':
      undo(S);
      return true;
    case 'ARROWLEFT':
      if (single) step(S, -1);
      else moveCursor(S, -1, shift);
      return true;
    case 'ARROWRIGHT':
      if (single) step(S, 1);
      else moveCursor(S, 1, shift);
      return true;
    case 'ARROWUP':
      if (single) return false;
      moveCursor(S, -columns(S), shift);
      return true;
    case 'ARROWDOWN':
      if (single) return false;
      moveCursor(S, columns(S), shift);
      return true;
    case ' ':
      if (single || !S.cursor) return false;
      if (S.sel.has(S.cursor)) S.sel.delete(S.cursor);
      else S.sel.add(S.cursor);
      S.anchor = S.cursor;
      return true;
    case 'G':
      if (single) return false;
      for (const g of groups(S)) {
        if (!S.cursor || g.cells.includes(S.cursor)) {
          S.sel = new Set(g.cells);
          S.anchor = g.cells[0];
          if (!S.cursor) S.cursor = g.cells[0];
          break;
        }
      }
      return true;
    case 'ESCAPE':
      S.sel = new Set();
      S.refused = [];
      return true;
    case 'ENTER':
    case 'KEEPREST':
      if (single) return false;
      if (data.hidden && current(S).cells.some((c) => !vote(S, c[0]))) {
        S.flash = 'Blind first read: vote on every tile before signing off (there is no label to keep).';
        return true;
      }
      // Shift+Enter: keep the rest of the page and go on, without the question (Z undoes)
      if (shift || name === 'KEEPREST') signOff(S);
      else S.confirm = true;
      return true;
    case 'I':
      if (S.cursor) enlarge(S, S.cursor);
      return true;
    case 'N':
    case 'PAGEDOWN':
      S.prevPage = S.page;
      goPage(S, S.page + 1);
      return true;
    case 'PAGEUP':
      S.prevPage = S.page;
      goPage(S, S.page - 1);
      return true;
    default:
      return false;
  }
}

function doVote(S, kind) {
  const single = S.data.mode !== 'gallery';
  const cells = single ? (S.cursor ? [S.cursor] : []) : targets(S);
  if (!cells.length) {
    if (S.data.mode === 'browse') S.flash = 'Point at a tile first, then press the key.';
    else S.flash = single ? 'No cell here.' : 'Select a tile first: click it, or move with the arrow keys.';
    return true;
  }
  decide(S, cells, kind);
  if (single && S.data.mode === 'single') advance(S);
  else afterGalleryVote(S);
  return true;
}

function enlarge(S, cell) {
  S.large = { cell };
  S.wantLarge = cell;
}

// --- drawing ----------------------------------------------------------------------------

function groups(S) {
  const desc = current(S);
  const data = S.data;
  if (data.hidden) {
    const open = desc.cells.filter((c) => !S.server[c[0]] && !(c[0] in S.overlay)).map((c) => c[0]);
    const done = desc.cells.filter((c) => !open.includes(c[0])).map((c) => c[0]);
    const out = [];
    if (open.length) out.push({ label: '?', name: 'label hidden: blind first read', cells: open });
    if (done.length) out.push({ label: '✓', name: 'voted', cells: done });
    return out;
  }
  const by = new Map();
  for (const c of desc.cells) {
    const label = c[1] || 'unknown';
    if (!by.has(label)) by.set(label, []);
    by.get(label).push(c[0]);
  }
  const rank = new Map(data.keys.classes.map((c, i) => [c[0], i]));
  return [...by.keys()]
    .sort((a, b) => (rank.get(a) ?? 99) - (rank.get(b) ?? 99) || a.localeCompare(b))
    .map((label) => ({ label, name: (data.names || {})[label] || '', cells: by.get(label) }));
}

function badgeText(v) {
  if (!v) return '';
  if (v[0] === 'correct') return `→ ${v[1]}`;
  if (v[0] === 'remove') return `✗ ${v[2] || 'remove'}`;
  if (v[0] === 'retain') return '✓ kept';
  if (v[0] === 'unsure') return '? unsure';
  return v[0];
}

function describe(S, v) {
  if (!v) return '';
  const names = S.data.names || {};
  if (v[0] === 'correct') return `Correct → ${v[1]} (${names[v[1]] || ''})`;
  if (v[0] === 'remove') {
    const r = S.data.keys.remove.find((x) => x[1] === v[2]);
    return `Remove (${r ? r[2] : v[2]})`;
  }
  if (v[0] === 'retain') return 'Keep label';
  if (v[0] === 'unsure') return 'Unsure: refer to the expert';
  return v[0];
}

function drawStatus(S, box) {
  const data = S.data;
  const waiting = S.events.length;
  const line = el('div', 'rl-status');
  const pages = data.pages_total || 1;
  const desc = current(S);
  const voted = desc.cells.filter((c) => vote(S, c[0])).length;
  if (data.mode === 'cell') {
    line.append(el('b', null, 'Press a class key to vote'));
  } else if (data.mode === 'browse') {
    line.append(el('b', null, S.cursor ? `Tile ${S.cursor}: press a class key to vote` : 'Point at a tile, then press a class key'));
  } else if (data.mode !== 'gallery') {
    const cells = order(S);
    const at = (S.page || 0) * data.page_size + cells.indexOf(S.cursor) + 1;
    line.append(el('b', null, `Cell ${at.toLocaleString()} of ${data.total.toLocaleString()}`));
  } else {
    line.append(el('b', null, `Page ${S.page + 1} of ${pages}`));
    line.append(el('span', null, ` · ${voted}/${desc.cells.length} voted on this page`));
    line.append(el('span', null, ` · ${targets(S).length} selected`));
  }
  const save = el('span', 'rl-save');
  if (data.unsaved) {
    save.classList.add('rl-bad');
    save.textContent = ` · ${waiting} NOT saved yet: ${data.unsaved} (kept here and sent again)`;
  } else if (waiting) {
    save.classList.add('rl-wait');
    save.textContent = ` · saving ${waiting}…`;
  } else {
    save.classList.add('rl-ok');
    save.textContent = ' · ✓ all saved';
  }
  line.append(save);
  box.append(line);
  for (const r of S.refused.slice(-3)) box.append(el('div', 'rl-refused', `Not stored: ${r.text} (Esc hides)`));
  if (S.flash) {
    box.append(el('div', 'rl-flash', S.flash));
    S.flash = null;
  }
  if (S.removing) {
    const p = el('div', 'rl-prompt');
    p.append(el('b', null, 'Remove because: '));
    for (const r of data.keys.remove) p.append(button(S, r[0], `${r[0]} ${r[2]}`));
    p.append(el('span', null, ' (any other key cancels)'));
    box.append(p);
  }
  if (S.confirm) {
    const open = desc.cells.filter((c) => !vote(S, c[0])).length;
    const p = el('div', 'rl-prompt rl-confirm');
    p.append(
      el('b', null, `Sign off page ${S.page + 1}? `),
      el('span', null, `${open} tiles without a vote will be recorded as 'keep label'; ${desc.cells.length - open} already voted stay as they are. `),
      button(S, 'ENTER', `Confirm: keep ${open}`),
      button(S, 'ESCAPE', 'Cancel'),
    );
    box.append(p);
  }
}

function button(S, key, text, title) {
  const b = el('button', 'rl-key', text);
  b.type = 'button';
  b.dataset.key = key;
  if (title) b.title = title;
  return b;
}

function keyBar(S, single) {
  const data = S.data;
  const bar = el('div', 'rl-keys');
  for (const [code, key, name] of data.keys.classes) {
    const b = button(S, key, '', name);
    b.append(el('kbd', null, key), document.createTextNode(code));
    bar.append(b);
  }
  bar.append(el('span', 'rl-sep'));
  const actions = [['K', 'keep'], ['X', 'remove…'], ['U', 'unsure'], ['Z', 'undo']];
  if (!single) {
    actions.push(['G', 'gallery'], ['ENTER', 'sign off'], ['KEEPREST', 'keep the rest, next page'], ['I', 'enlarge'], ['N', 'next page']);
  }
  else if (S.data.mode === 'single') actions.push(['ARROWLEFT', 'previous'], ['ARROWRIGHT', 'next']);
  for (const [key, text] of actions) {
    const b = button(S, key, '');
    const label = { ENTER: '⏎', KEEPREST: '⇧⏎', ARROWLEFT: '←', ARROWRIGHT: '→' }[key] || key;
    b.append(el('kbd', null, label), document.createTextNode(text));
    bar.append(b);
  }
  if (!single) {
    for (const [digit, , text] of data.keys.remove) {
      const b = button(S, digit, '', `Remove: ${text}`);
      b.append(el('kbd', null, digit), document.createTextNode(`✗ ${text.toLowerCase()}`));
      bar.append(b);
    }
  }
  return bar;
}

function tileFor(S, cell) {
  // Tiles are kept per cell and only their classes and badge change: an action never
  // rebuilds (or re-decodes) the page's images.
  let t = S.tiles.get(cell);
  if (!t) {
    const tile = el('div', 'rl-tile');
    tile.dataset.cell = cell;
    tile.title = cell;
    const img = document.createElement('img');
    img.draggable = false;
    img.alt = cell;
    const zoom = el('button', 'rl-zoom', '⤢');
    zoom.type = 'button';
    zoom.title = 'Enlarge: degraded and pristine (I)';
    zoom.dataset.enlarge = cell;
    const badge = el('span', 'rl-badge');
    tile.append(img, zoom, badge);
    t = { tile, img, badge, src: null, text: null };
    S.tiles.set(cell, t);
  }
  const im = S.images[cell];
  if (im && im.t && t.src !== im.t) {
    t.img.src = im.t;
    t.src = im.t;
    decodeSoon(t.img);
  }
  t.tile.classList.toggle('rl-sel', S.sel.has(cell));
  t.tile.classList.toggle('rl-cur', cell === S.cursor);
  const v = vote(S, cell);
  t.tile.classList.toggle('rl-done', !!v);
  const cls = v ? `rl-badge rl-${v[0]} ${pending(S, cell) ? 'rl-pending' : 'rl-saved'}` : 'rl-badge rl-none';
  if (t.badge.className !== cls) t.badge.className = cls;
  const text = badgeText(v);
  if (t.text !== text) {
    t.badge.textContent = text;
    t.badge.title = describe(S, v);
    t.text = text;
  }
  return t.tile;
}

function drawGallery(S, root) {
  // the next page's tiles are made (and their thumbnails decoded) ahead: N paints at once
  const next = (S.pages[S.page + 1] || { cells: [] }).cells.map((c) => c[0]);
  const onPage = new Set([...current(S).cells.map((c) => c[0]), ...next]);
  for (const cell of [...S.tiles.keys()]) if (!onPage.has(cell)) S.tiles.delete(cell);
  for (const cell of next) tileFor(S, cell);
  const wrap = el('div', 'rl-wrap');
  for (const g of groups(S)) {
    const sec = el('section', 'rl-gal');
    sec.style.setProperty('--rl-cols', String(Math.min(g.cells.length, 8)));
    const head = el('div', 'rl-head');
    const done = g.cells.filter((c) => vote(S, c)).length;
    head.append(el('span', null, g.label), el('span', 'rl-name', g.name), el('span', 'rl-n', `${done}/${g.cells.length} voted`));
    const grid = el('div', 'rl-grid');
    for (const cell of g.cells) grid.append(tileFor(S, cell));
    sec.append(head, grid);
    wrap.append(sec);
  }
  if (!wrap.childElementCount) wrap.append(el('div', 'rl-empty', 'No cells on this page.'));
  root.append(wrap);
}

function drawSingle(S, root) {
  const data = S.data;
  const cell = S.cursor;
  if (data.mode === 'browse') {
    markTiles(S);
    if (cell) root.append(sidePanel(S, cell));
    return;
  }
  if (data.mode === 'cell') {
    // the cell's own page shows its images: only the label, your vote and the comment here
    const side = sidePanel(S, cell);
    side.classList.add('rl-cellvote');
    root.append(side);
    return;
  }
  const wrap = el('div', 'rl-single');
  const left = el('div', 'rl-images');
  const head = el('div', 'rl-cellhead');
  head.append(el('b', null, `Cell ${cell || '-'}`));
  if (cell && data.cell_link) {
    const a = el('a', 'rl-link', 'open the Cell page ↗');
    a.href = `${data.cell_link}${encodeURIComponent(cell)}`;
    a.target = '_self';
    head.append(a);
  }
  left.append(head);
  const im = S.images[cell];
  let figs = S.figs.get(cell);
  if (!figs && im && im.d) {
    figs = el('div', 'rl-figs');
    for (const [uri, caption] of im.d) {
      const f = el('figure', 'rl-fig');
      const img = document.createElement('img');
      img.src = uri;
      img.alt = caption;
      f.append(img, el('figcaption', null, caption));
      figs.append(f);
    }
    S.figs.set(cell, figs);
    for (const other of [...S.figs.keys()]) if (!(other in S.images)) S.figs.delete(other);
  }
  left.append(figs || el('div', 'rl-figs rl-loading', cell ? 'loading images…' : 'loading the next cells…'));
  // decode the next cells' images now, so moving on paints at once
  const cells = order(S);
  const after = (S.pages[S.page + 1] || { cells: [] }).cells.map((c) => c[0]);
  for (const next of [...cells.slice(cells.indexOf(cell) + 1), ...after].slice(0, 3)) {
    const nim = S.images[next];
    if (nim && nim.d && !S.figs.has(next)) {
      const pre = el('div', 'rl-figs');
      for (const [uri, caption] of nim.d) {
        const f = el('figure', 'rl-fig');
        const img = document.createElement('img');
        img.src = uri;
        img.alt = caption;
        decodeSoon(img);
        f.append(img, el('figcaption', null, caption));
        pre.append(f);
      }
      S.figs.set(next, pre);
    }
  }
  wrap.append(left, sidePanel(S, cell));
  root.append(wrap);
}

function sidePanel(S, cell) {
  // the label, your vote on `cell` (saving / saved) and the comment box
  const data = S.data;
  const right = el('div', 'rl-side');
  const label = labelOf(S, cell);
  const v = vote(S, cell);
  if (data.hidden && !v) {
    right.append(el('div', 'rl-label', 'Current label hidden'));
    right.append(el('div', 'rl-caption', 'Blind first read: pick the class you see. The label shows after your vote.'));
  } else {
    const names = data.names || {};
    right.append(el('div', 'rl-label', `Current label: ${label || '?'} · ${names[label] || ''}`));
    const orig = (data.original || {})[cell];
    if (orig && orig !== label) right.append(el('div', 'rl-caption', `Original challenge label: ${orig} (${names[orig] || '?'})`));
  }
  const mine = el('div', v ? 'rl-vote' : 'rl-novote');
  if (v) {
    mine.append(el('span', null, `Your vote: ${describe(S, v)} `));
    mine.append(el('span', pending(S, cell) ? 'rl-pending-text' : 'rl-saved-text', pending(S, cell) ? '… saving' : '✓ saved'));
  } else mine.textContent = 'You have not voted on this cell.';
  right.append(mine);
  const comment = el('input', 'rl-comment');
  comment.type = 'text';
  comment.maxLength = 2000;
  comment.placeholder = 'Comment (optional, saved with your next vote; Enter leaves the box)';
  if (S.commentDraft) comment.value = S.commentDraft;
  right.append(comment);
  return right;
}

function tileCell(S, a) {
  // the cell of a Browse tile (a link to the Cell page with cell=<config>:<image_id>)
  try {
    const key = new URL(a.getAttribute('href'), window.location.href).searchParams.get('cell');
    return (S.tileKeys || {})[key] || null;
  } catch (e) {
    return null;
  }
}

function markTiles(S) {
  // Browse's tiles are the page's markup: only an outline and a title change (inline, so the
  // grid's own CSS is untouched): dashed on the tile pointed at, green once your vote is saved
  // (orange while saving; double on the tile pointed at)
  for (const a of document.querySelectorAll('a.wbc-tile[href*="cell="]')) {
    const cell = tileCell(S, a);
    if (!cell) continue;
    const v = vote(S, cell);
    let outline = cell === S.cursor ? '3px dashed #f0a000' : '';
    if (v) outline = `3px ${cell === S.cursor ? 'double' : 'solid'} ${pending(S, cell) ? '#b26a00' : '#2e7d32'}`;
    if (a.style.outline !== outline) a.style.outline = outline;
    const text = v ? `Your vote: ${describe(S, v)}${pending(S, cell) ? ' (saving)' : ' (saved)'}` : '';
    if ((a.dataset.wbcVote || '') !== text) {
      a.dataset.wbcVote = text;
      if (text) a.title = `${a.title.split(' · Your vote')[0]} · ${text}`;
    }
  }
}

function onPoint(S, event) {
  const a = event.target && event.target.closest && event.target.closest('a.wbc-tile[href*="cell="]');
  if (!a) return;
  const cell = tileCell(S, a);
  if (!cell || cell === S.cursor) return;
  S.cursor = cell;
  draw(S);
}

function drawLarge(S, root) {
  if (!S.large) return;
  const big = S.data.large && S.data.large.cell === S.large.cell ? S.data.large : null;
  const over = el('div', 'rl-overlay');
  over.dataset.close = '1';
  const card = el('div', 'rl-card');
  const head = el('div', 'rl-cellhead');
  head.append(el('b', null, `Cell ${S.large.cell}`));
  if (S.data.cell_link) {
    const a = el('a', 'rl-link', 'open the Cell page ↗');
    a.href = `${S.data.cell_link}${encodeURIComponent(S.large.cell)}`;
    a.target = '_self';
    head.append(a);
  }
  const close = button(S, 'ESCAPE', 'Close · Esc');
  head.append(close);
  card.append(head);
  const figs = el('div', 'rl-figs');
  if (big) {
    for (const [uri, caption] of big.images) {
      const f = el('figure', 'rl-fig');
      const img = document.createElement('img');
      img.src = uri;
      img.alt = caption;
      f.append(img, el('figcaption', null, caption));
      figs.append(f);
    }
  } else figs.append(el('div', 'rl-loading', 'loading the degraded and pristine images…'));
  card.append(figs);
  over.append(card);
  root.append(over);
}

function draw(S) {
  const root = S.root;
  if (!root || !S.static) return;
  const box = root.querySelector('.rl-comment');
  if (box) S.commentDraft = box.value;
  root.replaceChildren();
  const single = S.data.mode !== 'gallery';
  const top = el('div', 'rl-top');
  drawStatus(S, top);
  root.append(top);
  if (!S.bar || S.bar.dataset.mode !== S.data.mode) {
    S.bar = keyBar(S, single);
    S.bar.dataset.mode = S.data.mode;
  }
  root.append(S.bar);
  if (single) drawSingle(S, root);
  else drawGallery(S, root);
  drawLarge(S, root);
  root.dataset.page = String(S.page);
  root.dataset.waiting = String(S.events.length);
}

// --- the round trip ---------------------------------------------------------------------

function flush(S, force) {
  const send = S.sendTrigger;
  if (!send) return;
  const now = performance.now();
  if (S.inflight && !force && now - S.inflight.t < RESEND_MS) return;
  const need = [];
  for (const desc of Object.values(S.pages)) {
    for (const c of desc.cells) {
      const im = S.images[c[0]];
      if (S.data.mode !== 'cell' && (!im || !(S.data.mode !== 'gallery' ? im.d : im.t))) need.push(c[0]);
    }
  }
  const page = S.pendingPage !== null ? S.pendingPage : S.page;
  const wantPage = page !== S.data.page;
  const wantLarge = S.wantLarge && !(S.data.large && S.data.large.cell === S.wantLarge);
  if (!S.events.length && !wantPage && !wantLarge && !need.length && S.static) return;
  const n = ++S.nonce;
  S.inflight = { n, t: now };
  stats().sent += 1;
  send('events', {
    events: S.events.slice(0, 500),
    page,
    have: Object.keys(S.pages).map(Number),
    sig: S.sig,
    code: S.static ? S.codeId : null,
    need: need.slice(0, 100),
    large: S.wantLarge || null,
    n,
  });
}

function onKey(S, event) {
  const path = event.composedPath ? event.composedPath() : [event.target];
  const t = path[0] || event.target;
  // a box that takes text keeps its keys; a toggle or a checkbox with the focus does not
  const box = t && t.tagName === 'INPUT' && !['checkbox', 'radio', 'button', 'submit', 'range'].includes(t.type);
  if (t && (box || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) {
    if (t.classList && t.classList.contains('rl-comment') && (event.key === 'Enter' || event.key === 'Escape')) {
      t.blur();
      event.preventDefault();
    }
    return;
  }
  if (event.altKey || event.metaKey) return;
  if (event.ctrlKey && event.key.toLowerCase() !== 'a') return;
  let name = event.key === ' ' ? ' ' : event.key.toUpperCase();
  if (event.ctrlKey) name = 'G';
  if (!S.data || !S.static) return;
  const handled = handleKey(S, name, event.shiftKey, event.ctrlKey);
  if (!handled) return;
  event.preventDefault();
  event.stopPropagation();
  const t0 = event.timeStamp;
  const t1 = performance.now();
  draw(S);
  const t2 = performance.now();
  flush(S);
  const st = stats();
  st.work = st.work || [];
  st.work.push([t1 - t0, t2 - t1, performance.now() - t2]);
  afterImages(S.root, () => st.paint.push(performance.now() - t0));
}

function onClick(S, event) {
  const path = event.composedPath ? event.composedPath() : [event.target];
  const inside = path.includes(S.root);
  if (!inside) {
    // Browse with tile votes: opening a tile loads its Cell page in full. Left to Streamlit,
    // the page switch happens in this page while the loop's fragment is mounted, and with
    // the top-bar navigation it ended on an empty /Cell without the cell (Streamlit 1.67).
    const link = S.data && S.data.mode === 'browse' && event.button === 0 &&
      !(event.ctrlKey || event.metaKey || event.shiftKey) &&
      event.target.closest && event.target.closest('a.wbc-tile[href]');
    if (link) {
      event.preventDefault();
      event.stopPropagation();
      window.location.assign(link.href);
    }
    return;
  }
  const target = path[0];
  const keyBtn = target.closest && target.closest('[data-key]');
  if (keyBtn) {
    event.preventDefault();
    handleKey(S, keyBtn.dataset.key, false, false);
    draw(S);
    flush(S);
    return;
  }
  const zoom = target.closest && target.closest('[data-enlarge]');
  if (zoom) {
    event.preventDefault();
    enlarge(S, zoom.dataset.enlarge);
    draw(S);
    flush(S);
    return;
  }
  if (target.dataset && target.dataset.close) {
    S.large = null;
    draw(S);
    return;
  }
  const tile = target.closest && target.closest('[data-cell]');
  if (!tile || event.button !== 0) return;
  event.preventDefault();
  const cell = tile.dataset.cell;
  const cells = order(S);
  if (event.shiftKey && cells.includes(S.anchor)) {
    const [a, b] = [cells.indexOf(S.anchor), cells.indexOf(cell)].sort((x, y) => x - y);
    S.sel = new Set(cells.slice(a, b + 1));
  } else if (event.ctrlKey || event.metaKey) {
    if (S.sel.has(cell)) S.sel.delete(cell);
    else S.sel.add(cell);
    S.anchor = cell;
  } else {
    S.sel = new Set([cell]);
    S.anchor = cell;
  }
  S.cursor = cell;
  const t0 = event.timeStamp;
  draw(S);
  afterPaint(() => stats().paint.push(performance.now() - t0));
}

export default function (component, impl) {
  const { data, parentElement, setTriggerValue } = component;
  if (!data || !data.storage) return undefined;
  // one loop per queue and screen; the unacknowledged events are the queue's (sessionStorage)
  const id = `${data.storage}:${data.mode}`;
  let S = LOOPS.get(id);
  if (!S) {
    S = newLoop(data.storage);
    LOOPS.set(id, S);
  } else if (window.__wbcLoop !== S) {
    const saved = loadQueue(S.key); // the other screen of this queue may have sent some
    S.events = saved.events;
    S.seq = Math.max(S.seq, saved.seq || 0);
    S.overlay = {};
    S.history = [];
  }
  S.sendTrigger = setTriggerValue;
  S.codeId = impl ? impl.id : null;
  if (impl && impl.css) {
    let style = parentElement.querySelector('style.rl-style');
    if (!style) {
      style = el('style', 'rl-style');
      parentElement.prepend(style);
    }
    if (style.textContent !== impl.css) style.textContent = impl.css;
  }
  let root = parentElement.querySelector('.rl-root');
  if (!root) {
    root = el('div', 'rl-root');
    root.tabIndex = -1;
    parentElement.append(root);
  }
  S.root = root;
  window.__wbcLoop = S; // for tests and benchmarks: the loop on this page
  absorb(S, data);
  draw(S);
  const key = (e) => onKey(S, e);
  const click = (e) => onClick(S, e);
  const point = (e) => onPoint(S, e);
  if (window.__wbcLoopListeners) {
    const [k, c, m] = window.__wbcLoopListeners;
    document.removeEventListener('keydown', k, true);
    document.removeEventListener('click', c, true);
    document.removeEventListener('mouseover', m, true);
  }
  window.__wbcLoopListeners = [key, click, point];
  document.addEventListener('keydown', key, true);
  document.addEventListener('click', click, true);
  if (data.mode === 'browse') document.addEventListener('mouseover', point, true);
  if (S.timer) clearInterval(S.timer);
  const timer = setInterval(() => flush(S), 1000);
  S.timer = timer;
  flush(S);
  return () => {
    clearInterval(timer);
    if (S.timer === timer) S.timer = null;
    document.removeEventListener('keydown', key, true);
    document.removeEventListener('click', click, true);
    document.removeEventListener('mouseover', point, true);
    if (window.__wbcLoopListeners && window.__wbcLoopListeners[0] === key) window.__wbcLoopListeners = null;
  };
}
