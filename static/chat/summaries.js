// The summary that stands for the earlier part of the shown path: loaded from
// GET .../summaries/, placed right after the message it covers up to, viewed and edited in
// its block (summary-block.js). `messages`: the page's Map of message id -> entry, in the
// order shown.

import { api } from "./api.js";
import { createSummaryBlock } from "./summary-block.js";

export function createSummaries({ apiBase, messages }) {
  let summaries = [];
  let block = null;

  async function load() {
    try {
      const data = await api("GET", `${apiBase}summaries/`);
      summaries = Array.isArray(data) ? data : data?.results || [];
    } catch {
      return; // not essential: the page works without them
    }
    place();
  }

  // A rewrite (summary.updated): only the changed fields travel.
  function update(changed) {
    if (!summaries.some((s) => s.id === changed.id)) {
      load();
      return;
    }
    summaries = summaries.map((s) => (s.id === changed.id ? { ...s, ...changed } : s));
    place();
  }

  // Summaries belong to branches: the one that applies covers the latest message on the path.
  function applying() {
    const order = new Map([...messages.keys()].map((id, index) => [id, index]));
    let best = null;
    for (const summary of summaries) {
      const at = order.get(summary.covers_up_to);
      if (at !== undefined && (best === null || at >= order.get(best.covers_up_to))) best = summary;
    }
    return best;
  }

  function place() {
    const summary = applying();
    if (!summary) {
      block?.element.remove();
      return;
    }
    if (!block) {
      block = createSummaryBlock({
        apiBase,
        onSaved: (saved) => {
          summaries = summaries.map((s) => (s.id === saved.id ? saved : s));
        },
      });
    }
    if (block.summary?.id !== summary.id) block.stopEditing();
    block.summary = summary;
    if (!block.editing) block.show();
    const after = messages.get(summary.covers_up_to).element;
    if (after.nextElementSibling !== block.element) after.after(block.element);
  }

  return { load, update, place };
}
