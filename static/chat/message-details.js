// The details line under a message: how a reply ended (in words), its tokens, cost and
// timings, compact; the full figures are in the line's title (a tooltip).

import { formatCompact, formatCost, formatNumber } from "./format.js";

// Why a reply ended, in words; end_turn (a normal end) says nothing in the line.
const STOP_REASON_WORDS = {
  max_tokens: "Cut off at the token limit",
  refusal: "Claude declined to answer",
  pause_turn: "Paused",
  model_context_window_exceeded: "Reached the context window",
};
const STOP_REASON_TIPS = {
  end_turn: "Claude finished its turn",
  stop_sequence: "a stop sequence",
  ...STOP_REASON_WORDS,
};

export function isRunning(data) {
  return data.status === "pending" || data.status === "streaming";
}

/** Fills `.details` of a message: `entry.summarizing` says a reply waits for a summary. */
export function renderDetails(entry) {
  const { data, element } = entry;
  const details = entry.parts?.details || element.querySelector(".details");
  const parts = [];
  const tips = [];
  if (data.role === "assistant") {
    parts.push(...endWords(data, entry.summarizing));
    const usage = data.usage || {};
    const tokens = tokenWords(usage);
    if (tokens) parts.push(tokens);
    if (data.cost_usd != null) parts.push(formatCost(data.cost_usd));
    parts.push(...timingWords(data));
    tips.push(...fullFigures(data, usage));
  }
  // E.g. which older images were left out of the request.
  if (data.notice) parts.push(data.notice);
  details.textContent = parts.join(" · ");
  if (tips.length) details.title = tips.join("\n");
  else details.removeAttribute("title");
}

function endWords(data, summarizing) {
  const words = [];
  if (isRunning(data)) words.push(summarizing ? "Summarizing earlier messages…" : "Claude is replying…");
  if (data.status === "stopped") words.push("Stopped");
  if (data.status === "interrupted") words.push("Interrupted");
  if (data.status === "error") words.push(`Error: ${data.error_detail || "the reply failed"}`);
  if (data.stop_reason === "stop_sequence") words.push(`Stopped at “${data.stop_sequence}”`);
  else if (data.stop_reason && data.stop_reason !== "end_turn") {
    words.push(STOP_REASON_WORDS[data.stop_reason] || `Stopped (${data.stop_reason})`);
  }
  if (data.continuations) words.push(data.continuations === 1 ? "Continued once" : `Continued ${data.continuations} times`);
  return words;
}

// "1.2k in (1k cached) · 56 out tokens": the input counts every prompt token, cached or not.
function tokenWords(usage) {
  if (usage.output_tokens == null) return "";
  const read = usage.cache_read_input_tokens || 0;
  const input = promptTokens(usage);
  const cached = read ? ` (${formatCompact(read)} cached)` : "";
  return `${formatCompact(input)} in${cached} · ${formatCompact(usage.output_tokens)} out tokens`;
}

function promptTokens(usage) {
  return (usage.input_tokens || 0) + (usage.cache_read_input_tokens || 0) + (usage.cache_creation_input_tokens || 0);
}

function timingWords(data) {
  const words = [];
  if (data.time_to_first_token_ms != null) words.push(`${seconds(data.time_to_first_token_ms)} to first token`);
  if (data.duration_ms != null) words.push(`${seconds(data.duration_ms)} total`);
  const speed = tokensPerSecond(data);
  if (speed != null) words.push(`${formatNumber(Math.round(speed))} tokens/s`);
  return words;
}

function seconds(ms) {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// Output speed once the text flowed (after the first token). A continued reply's usage and
// timings describe different stretches, so it has none.
function tokensPerSecond(data) {
  const output = data.usage?.output_tokens;
  const ttft = data.time_to_first_token_ms;
  if (output == null || data.duration_ms == null || ttft == null || data.continuations) return null;
  const streaming = data.duration_ms - ttft;
  return streaming > 0 ? (output / streaming) * 1000 : null;
}

function fullFigures(data, usage) {
  const lines = [];
  if (usage.output_tokens != null) {
    const read = usage.cache_read_input_tokens || 0;
    const written = usage.cache_creation_input_tokens || 0;
    const longLived = usage.cache_creation_1h_input_tokens || 0;
    const cache = [];
    if (read) cache.push(`${formatNumber(read)} read from cache`);
    if (written) cache.push(`${formatNumber(written)} written to cache${longLived ? `, ${formatNumber(longLived)} of them for 1 hour` : ""}`);
    lines.push(`Input: ${formatNumber(promptTokens(usage))} tokens${cache.length ? ` (${cache.join(", ")})` : ""}`);
    const thinking = usage.thinking_tokens ? ` (${formatNumber(usage.thinking_tokens)} thinking)` : "";
    lines.push(`Output: ${formatNumber(usage.output_tokens)} tokens${thinking}`);
  }
  if (usage.context_tokens) lines.push(`Context of the request: ${formatNumber(usage.context_tokens)} tokens`);
  if (data.cost_usd != null) lines.push(`Cost: $${data.cost_usd}`);
  if (data.stop_reason) {
    const sequence = data.stop_reason === "stop_sequence" ? ` “${data.stop_sequence}”` : "";
    lines.push(`Stop reason: ${STOP_REASON_TIPS[data.stop_reason] || data.stop_reason}${sequence} (${data.stop_reason})`);
  }
  if (data.error_type) lines.push(`Error type: ${data.error_type}`);
  if (data.time_to_first_token_ms != null) lines.push(`Time to first token: ${formatNumber(data.time_to_first_token_ms)} ms`);
  if (data.duration_ms != null) lines.push(`Total time: ${formatNumber(data.duration_ms)} ms`);
  const speed = tokensPerSecond(data);
  if (speed != null) lines.push(`Speed: ${speed.toFixed(1)} output tokens/s after the first`);
  if (data.model) lines.push(`Model: ${data.model}`);
  return lines;
}
