// The review loop's loader: the only script Streamlit sends with every render.
//
// Streamlit puts a component's JS and CSS into every render of it, so every round trip of
// the loop (one per acknowledgement) would carry the whole loop (index.js, style.css: ~37 KB).
// This loader is all that travels each time: Python sends the loop's code and CSS in `data`
// once per session (`code`, `css`, `code_id`), the loader imports it once per page and keeps
// it; when the page has no code (Python thought it sent it, the render was skipped) the
// loader asks for it with a message that carries nothing else.

export default async function (component) {
  const data = component.data || {};
  const g = globalThis;
  const have = g.__wbcLoopImpl;
  if (data.code && (!have || have.id !== data.code_id)) {
    const url = URL.createObjectURL(new Blob([data.code], { type: 'text/javascript' }));
    try {
      g.__wbcLoopImpl = { id: data.code_id, css: data.css || '', mod: await import(url) };
    } finally {
      URL.revokeObjectURL(url);
    }
  }
  const impl = g.__wbcLoopImpl;
  if (!impl || (data.code_id && impl.id !== data.code_id)) {
    g.__wbcLoopAsked = (g.__wbcLoopAsked || 0) + 1;
    component.setTriggerValue('events', { code: null, n: -g.__wbcLoopAsked });
    return undefined;
  }
  return impl.mod.default(component, impl);
}
