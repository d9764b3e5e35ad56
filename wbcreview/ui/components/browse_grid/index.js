// The Browse grid in the browser (ui/browse.py `grid` and `grid_ahead`).
//
// Two mounts of this component share one store per page (globalThis.__wbcGrid), kept across
// reruns: the "grid" mount shows the current page, the "ahead" mount (at the end of the run)
// brings the pages before and after it. Python sends a thumbnail once per session (it
// remembers which it sent), so a rerun that shows tiles the browser holds carries only their
// text. The tiles of the pages ahead are built and their images decoded off screen, and a
// click on Next / Previous (or the → / ← key Streamlit binds to them) paints that page at once;
// Streamlit's button still runs, so Python writes the page into the URL and its rerun finds
// the same tiles on screen: nothing is repainted. Whatever the grid mount sends is what is
// shown (a filter change, the pager, a link): a page painted ahead is never kept against it.
//
// Nothing here is markup from Python: texts are set with textContent, links and images as
// attributes. A tile whose image the browser lacks (evicted, or a render the browser skipped)
// is asked for with the `need` trigger, and Python sends it again.

const MAX_IMAGES = 2500; // thumbnails kept (~12 MB of data URIs); Python remembers fewer
const MAX_ASKS = 3; // times one missing thumbnail is asked for (no loop if it never comes)

const G =
  globalThis.__wbcGrid ||
  (globalThis.__wbcGrid = {
    fp: null, // the catalog the thumbnails belong to
    px: 128,
    images: new Map(), // cell key -> data URI, least recently used first
    els: new Map(), // cell key -> its tile element (built once, its image decoded once)
    grid: null, // the grid mount's last data: {view, page, tiles, ...}
    ahead: null, // the ahead mount's last data: {view, base, pages: {page: tiles}}
    shown: null, // what the grid shows: {view, page, sig}
    asked: new Map(), // cell key -> times asked for
    want: new Set(), // cell keys to ask for once the run is over
    wantTimer: null,
    trigger: null,
    root: null,
    box: null, // the .wbc-grid element
    decoded: null, // resolves once the images on screen are decoded
    stats: { painted: [], ahead: 0, imageBytes: 0, images: 0, renders: 0, repaints: 0, asked: 0 },
  });
window.__wbcGridStats = G.stats; // for tests and bench/paint.py

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null && text !== '') node.textContent = String(text);
  return node;
}

function take(data) {
  if (data.fp !== G.fp) {
    G.fp = data.fp;
    G.images.clear();
    G.els.clear();
    G.asked.clear();
    G.shown = null;
    G.ahead = null;
  }
  if (data.px) G.px = data.px;
  for (const [key, uri] of Object.entries(data.images || {})) {
    G.images.delete(key);
    G.images.set(key, uri);
    G.asked.delete(key);
    G.stats.imageBytes += uri.length;
    G.stats.images += 1;
  }
}

function held() {
  const keys = new Set();
  if (G.grid) for (const t of G.grid.tiles) keys.add(t.k);
  if (G.ahead) for (const tiles of Object.values(G.ahead.pages)) for (const t of tiles) keys.add(t.k);
  return keys;
}

function touch(tiles) {
  // recently shown thumbnails are the last evicted (Python keeps the same order)
  for (const t of tiles) {
    const uri = G.images.get(t.k);
    if (uri !== undefined) {
      G.images.delete(t.k);
      G.images.set(t.k, uri);
    }
  }
}

function trim() {
  const keep = held();
  for (const key of [...G.els.keys()]) if (!keep.has(key)) G.els.delete(key);
  for (const key of G.images.keys()) {
    if (G.images.size <= MAX_IMAGES) break;
    if (!keep.has(key)) G.images.delete(key);
  }
}

function tileFor(t) {
  let node = G.els.get(t.k);
  if (!node || node.tagName !== (t.href ? 'A' : 'DIV')) {
    node = el(t.href ? 'a' : 'div', 'wbc-tile');
    const img = document.createElement('img');
    img.width = G.px;
    img.height = G.px;
    img.decoding = 'async';
    const cap = el('span', 'wbc-cap');
    const sev = el('span', 'wbc-sev');
    cap.append(el('span', 'wbc-code'), sev);
    node.append(img, cap, el('span', 'wbc-id'), el('span', 'wbc-note'));
    node.__wbc = {};
    G.els.set(t.k, node);
  }
  update(node, t);
  return node;
}

function update(node, t) {
  const was = node.__wbc;
  const img = node.firstChild;
  const uri = G.images.get(t.k);
  if (uri && img.getAttribute('src') !== uri) {
    img.src = uri;
    if (img.decode) img.decode().catch(() => null); // off screen now: painting it costs no decode
  }
  if (was.alt !== t.alt) img.alt = t.alt;
  if (was.cur !== t.cur) node.className = t.cur ? 'wbc-tile wbc-current' : 'wbc-tile';
  if (was.title !== t.title) node.title = t.title; // the review loop adds your vote to it
  if (was.id !== t.id) node.dataset.imageId = t.id;
  if (t.href && was.href !== t.href) {
    node.setAttribute('href', t.href);
    node.dataset.wbcNav = '1';
  }
  const [cap, id, note] = [node.children[1], node.children[2], node.children[3]];
  if (was.label !== t.label) cap.firstChild.textContent = t.label;
  if (was.sev !== t.sev || was.colour !== t.colour) {
    cap.lastChild.textContent = t.sev;
    cap.lastChild.style.background = t.colour;
  }
  if (was.tag !== t.tag || was.id !== t.id) id.textContent = t.tag + t.id;
  if (was.note !== t.note) {
    note.textContent = t.note || '';
    note.style.display = t.note ? '' : 'none';
  }
  node.__wbc = t;
}

function signature(view, page, tiles) {
  return `${view}\n${page}\n${tiles.map((t) => t.k).join(',')}`;
}

function show(tiles, view, page, empty) {
  const root = G.root;
  if (!root) return;
  const sig = signature(view, page, tiles);
  if (G.shown && G.shown.sig === sig && G.box && root.contains(G.box)) {
    for (const t of tiles) tileFor(t); // same tiles: texts and marks only, nothing repainted
    G.shown.view = view;
    return;
  }
  G.stats.repaints += 1;
  if (!tiles.length) {
    root.replaceChildren(el('div', 'wbc-empty', empty || 'No cells match these filters.'));
    G.box = null;
  } else {
    if (!G.box) {
      G.box = el('div', 'wbc-grid');
    }
    G.box.style.setProperty('--wbc-img', `${G.px}px`);
    G.box.style.setProperty('--wbc-tile', `${G.px + 12}px`);
    G.box.replaceChildren(...tiles.map(tileFor));
    if (root.firstChild !== G.box || root.childNodes.length !== 1) root.replaceChildren(G.box);
  }
  G.shown = { view, page, sig };
  touch(tiles);
  // the pages ahead are decoded once this one is: they never slow its paint
  const imgs = G.box ? [...G.box.querySelectorAll('img')] : [];
  G.decoded = Promise.all(imgs.map((i) => (i.decode ? i.decode().catch(() => null) : null)));
}

function prepare() {
  // the tiles of the pages ahead exist (and their images decode) before they are shown
  if (!G.ahead) return;
  for (const tiles of Object.values(G.ahead.pages)) {
    for (const t of tiles) tileFor(t);
    touch(tiles);
  }
}

function idle() {
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app && app.dataset.testScriptState;
  return !state || state === 'notRunning';
}

function ask(component, tiles) {
  // Asked once the run is over: a trigger sent while a run writes the URL (Next) would rerun
  // with the URL the browser had before it, and undo the page change.
  for (const t of tiles) if (!G.images.has(t.k)) G.want.add(t.k);
  G.trigger = component.setTriggerValue;
  if (G.wantTimer || !G.want.size) return;
  const check = () => {
    if (!idle()) {
      G.wantTimer = setTimeout(check, 100);
      return;
    }
    G.wantTimer = null;
    const keep = held();
    const want = [];
    for (const key of G.want) {
      const n = G.asked.get(key) || 0;
      if (!keep.has(key) || G.images.has(key) || n >= MAX_ASKS) continue;
      G.asked.set(key, n + 1);
      want.push(key);
    }
    G.want.clear();
    if (!want.length || !G.trigger) return;
    G.stats.asked += want.length;
    G.trigger('need', want.slice(0, 300));
  };
  G.wantTimer = setTimeout(check, 100);
}

// --- Next and Previous in the browser ---------------------------------------------------

function go(delta) {
  const grid = G.grid;
  const ahead = G.ahead;
  if (!grid || !ahead || !G.shown) return false;
  if (ahead.fp !== grid.fp || ahead.view !== grid.view || ahead.base !== grid.page) return false;
  if (G.shown.view !== grid.view || G.shown.page !== grid.page) return false; // moved already
  const page = grid.page + delta;
  const tiles = ahead.pages[String(page)];
  if (!tiles || !tiles.length || tiles.some((t) => !G.images.has(t.k))) return false;
  show(tiles, grid.view, page);
  G.stats.ahead += 1;
  return true;
}

function typing(event) {
  // Streamlit's shortcuts skip keys typed in a box: so does this
  const path = event.composedPath ? event.composedPath() : [event.target];
  return path.some(
    (n) => n && n.tagName && (['INPUT', 'TEXTAREA', 'SELECT'].includes(n.tagName) || n.isContentEditable),
  );
}

function painted(t0) {
  const imgs = G.box ? [...G.box.querySelectorAll('img')] : [];
  Promise.all(imgs.map((i) => (i.decode ? i.decode().catch(() => null) : null))).then(() =>
    requestAnimationFrame(() => {
      G.stats.painted.push(performance.now() - t0);
      if (G.stats.painted.length > 200) G.stats.painted.shift();
    }),
  );
}

function button(delta) {
  const node = document.querySelector(delta > 0 ? '.st-key-bf_next button' : '.st-key-bf_prev button');
  return node && !node.disabled ? node : null;
}

function onClick(event) {
  if (event.button !== 0 || !event.target || !event.target.closest) return;
  const hit = event.target.closest('.st-key-bf_next button, .st-key-bf_prev button');
  if (!hit || hit.disabled) return;
  if (go(hit.closest('.st-key-bf_next') ? 1 : -1)) painted(event.timeStamp);
}

function onKey(event) {
  if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
  if (event.ctrlKey || event.metaKey || event.altKey || event.shiftKey || event.defaultPrevented) return;
  if (typing(event)) return;
  const delta = event.key === 'ArrowRight' ? 1 : -1;
  if (button(delta) && go(delta)) painted(event.timeStamp);
}

function listen() {
  if (window.__wbcGridListeners) return window.__wbcGridListeners;
  document.addEventListener('click', onClick, true);
  document.addEventListener('keydown', onKey, true);
  window.__wbcGridListeners = () => {
    document.removeEventListener('click', onClick, true);
    document.removeEventListener('keydown', onKey, true);
    window.__wbcGridListeners = null;
  };
  return window.__wbcGridListeners;
}

export default function (component) {
  const { data, parentElement } = component;
  if (!data || !data.role) return undefined;
  G.stats.renders += 1;
  take(data);
  if (data.role === 'ahead') {
    G.ahead = data;
    const ahead = data;
    (G.decoded || Promise.resolve()).then(() => {
      if (G.ahead === ahead) prepare();
    });
    trim();
    ask(component, Object.values(data.pages).flat());
    return undefined;
  }
  G.grid = data;
  let root = parentElement.querySelector(':scope > .wbc-grid-root');
  if (!root) {
    root = el('div', 'wbc-grid-root');
    parentElement.append(root);
  }
  G.root = root;
  show(data.tiles, data.view, data.page, data.empty);
  trim();
  ask(component, data.tiles);
  const stop = listen();
  return () => {
    // unmounted (another page): the store stays for the way back, the keys go
    if (G.root === root) stop();
  };
}
