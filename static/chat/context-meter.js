// The header's totals: what the conversation cost, and how full its context is — a meter of
// the tokens the last request on the shown branch sent against the context budget, and the
// share of the last reply's input that was read from the prompt cache.

import { formatCost, formatNumber } from "./format.js";

export function createContextMeter(box) {
  const cost = document.createElement("span");
  cost.className = "total-cost";
  const context = document.createElement("span");
  context.className = "context";
  const meter = document.createElement("meter");
  meter.id = "context-meter";
  meter.min = 0;
  meter.setAttribute("aria-label", "Context used");
  const words = document.createElement("span");
  words.className = "context-words";
  words.id = "context-words";
  meter.setAttribute("aria-describedby", words.id);
  context.append(meter, words);
  box.replaceChildren(cost, context);

  /**
   * `conversation`: GET /api/conversations/<id>/ (usage.cost_usd, context {tokens, budget}).
   * `replies`: the data of the shown path's replies, oldest first: the newest that has figures
   * tells the context size (as the server counts it) and the cached share.
   */
  function update({ conversation, replies }) {
    const total = conversation?.usage?.cost_usd;
    cost.textContent = total != null ? `Total ${formatCost(total)}` : "";
    cost.hidden = total == null;
    const budget = conversation?.context?.budget;
    const last = [...replies].reverse().find((data) => data.usage?.context_tokens);
    const tokens = last ? last.usage.context_tokens : conversation?.context?.tokens ?? null;
    context.hidden = !budget;
    if (!budget) return;
    meter.max = budget;
    meter.low = budget * 0.7;
    meter.high = budget * 0.9;
    meter.optimum = 0;
    meter.value = Math.min(tokens || 0, budget);
    meter.hidden = tokens == null;
    if (tokens == null) {
      words.textContent = `Context budget ${formatNumber(budget)} tokens`;
      context.title = "Nothing sent on this branch yet.";
      return;
    }
    const percent = Math.round((tokens / budget) * 100);
    let text = `Context ${formatNumber(tokens)} / ${formatNumber(budget)} tokens (${percent}%)`;
    const share = cachedShare(last?.usage);
    if (share != null) text += ` · ${Math.round(share * 100)}% cached`;
    words.textContent = text;
    context.title =
      "Tokens the last request on this branch sent, against the context budget (older turns are " +
      "summarized before a request would pass it)." +
      (share != null ? " Cached: the share of the last reply's input read from the prompt cache." : "");
  }
  return { update };
}

// cache_read / (input + cache_read + cache_write): input_tokens excludes the cache figures.
function cachedShare(usage) {
  if (!usage) return null;
  const read = usage.cache_read_input_tokens || 0;
  const whole = (usage.input_tokens || 0) + read + (usage.cache_creation_input_tokens || 0);
  return whole > 0 ? read / whole : null;
}
