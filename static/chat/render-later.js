// Work on messages that is put off until it matters: rendering a stored reply as Markdown.
// A long conversation opens at its end, so only the replies on screen are rendered at once
// (renderOnScreen); the others when they come within two screens of the view (an
// IntersectionObserver), or in idle time once the page is up (`startIdle`: it would compete
// with the page's own start), newest first, a few milliseconds at a time. Until then a reply
// shows its text as stored (its `.text`), so nothing is blank and the page's own search finds
// it.

// Rendered before they scroll into view: two screens above and below what is shown.
const NEAR = "200% 0px";
// Idle time is used as the browser offers it (at most 50 ms, less while frames are due), but
// a slice stops a little early: the page lays out what it rendered right after.
const SPARE_MS = 3;
// Without requestIdleCallback (Safari): slices of a frame's length, between other tasks.
const FALLBACK_SLICE_MS = 16;

const idle = window.requestIdleCallback
  ? (run) => window.requestIdleCallback(run)
  : (run) => {
      setTimeout(() => {
        const started = performance.now();
        run({ timeRemaining: () => Math.max(0, FALLBACK_SLICE_MS - (performance.now() - started)) });
      }, 50);
    };

/**
 * `root`: the scrolling list. `render(entry)` does the entry's work (and must call `forget`);
 * `afterBatch()` runs after each batch of them. `onDone()` whenever nothing is left waiting
 * after something was.
 */
export function createRenderLater({ root, render, afterBatch = () => {}, onDone = () => {} }) {
  const waiting = new Set(); // entries, in the order they were added (oldest message first)
  const byElement = new Map();
  let scheduled = false;
  let hadWork = false;
  let idleAllowed = false;
  const observer = new IntersectionObserver(
    (records) => {
      let count = 0;
      for (const record of records) {
        const entry = byElement.get(record.target);
        if (record.isIntersecting && entry) {
          render(entry);
          count++;
        }
      }
      finished(count);
    },
    { root, rootMargin: NEAR },
  );

  function add(entry) {
    if (waiting.has(entry)) return;
    waiting.add(entry);
    hadWork = true;
    byElement.set(entry.element, entry);
    observer.observe(entry.element);
    schedule();
  }

  function forget(entry) {
    if (!waiting.delete(entry)) return;
    byElement.delete(entry.element);
    observer.unobserve(entry.element);
  }

  function schedule() {
    if (scheduled || !idleAllowed) return;
    scheduled = true;
    idle(work);
  }

  // Newest first: they are nearest to where the page opens.
  function work(deadline) {
    scheduled = false;
    let count = 0;
    for (const entry of [...waiting].reverse()) {
      if (deadline.timeRemaining() < SPARE_MS) break;
      render(entry);
      count++;
    }
    if (waiting.size) schedule();
    finished(count);
  }

  function finished(count) {
    if (count) afterBatch();
    if (waiting.size || !hadWork) return;
    hadWork = false;
    onDone();
  }

  /**
   * Renders now what is waiting and shown in `root` or within one screen of it; true when it
   * rendered something. Reads every position first and then renders: one layout, not one per
   * message. `entries` are all the list's entries in order (the page's end is the likely view).
   */
  function renderOnScreen(entries) {
    if (!waiting.size) return false;
    const view = root.getBoundingClientRect();
    const top = view.top - view.height;
    const bottom = view.bottom + view.height;
    const due = [];
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i];
      const box = entry.element.getBoundingClientRect();
      if (box.bottom < top) break;
      if (box.top <= bottom && waiting.has(entry)) due.push(entry);
    }
    due.forEach(render);
    finished(due.length);
    return due.length > 0;
  }

  /** From now on, what waits is rendered in idle time too (not only near the view). */
  function startIdle() {
    idleAllowed = true;
    if (waiting.size) schedule();
  }

  return {
    add,
    forget,
    has: (entry) => waiting.has(entry),
    renderOnScreen,
    startIdle,
    get size() {
      return waiting.size;
    },
  };
}
