// The conversation's settings form: shows the stored settings (`getStored()`), only those the
// chosen model takes, and saves them with one PATCH; errors go next to their fields. Under the
// model picker, what the chosen model can do and costs.
// `models`: the page's Map of model id -> info, refreshed here from /api/models/.
// `onSaved(conversation)`: the saved conversation; `onModelsLoaded()`: the list arrived.

import { NUMBER_SETTINGS, api } from "./api.js";
import { formatCompact, formatPrice } from "./format.js";

const SAMPLING_SETTINGS = ["temperature", "top_p", "top_k"];

export function createSettingsPanel({ apiBase, models, getStored, onSaved, onModelsLoaded }) {
  const settingsForm = document.getElementById("settings-form");
  const generalError = document.getElementById("settings-error");
  const status = document.getElementById("settings-status");
  const control = (name) => document.getElementById(`settings-${name}`);
  const fieldOf = (name) => settingsForm.querySelector(`.field[data-field="${name}"]`);
  const modelSelect = control("model");
  const effortSelect = control("effort");
  const thinkingBox = control("thinking");
  const capabilities = document.getElementById("settings-model-capabilities");

  for (const span of settingsForm.querySelectorAll("[data-error-for]")) {
    span.id = `settings-${span.dataset.errorFor}-error`;
    control(span.dataset.errorFor).setAttribute("aria-describedby", span.id);
  }
  if (capabilities) modelSelect.setAttribute("aria-describedby", `${capabilities.id} ${modelSelect.getAttribute("aria-describedby")}`);

  function fillModels() {
    const chosen = modelSelect.value || getStored().model;
    modelSelect.replaceChildren();
    for (const info of models.values()) {
      const name = info.display_name || info.id;
      modelSelect.append(new Option(info.retires_on ? `${name} (retires ${info.retires_on})` : name, info.id));
    }
    modelSelect.value = chosen;
  }

  function fill() {
    const stored = getStored();
    const p = stored.parameters || {};
    modelSelect.value = stored.model;
    control("system").value = stored.system || "";
    for (const name of NUMBER_SETTINGS) control(name).value = p[name] ?? "";
    control("stop_sequences").value = (p.stop_sequences || []).join("\n");
    thinkingBox.checked = Boolean(p.thinking);
    control("cache_ttl").value = p.cache_ttl || "";
    adapt(p.effort || "");
  }

  // Show only what the chosen model takes; hidden settings are not sent, so saving clears them.
  function adapt(wantedEffort = effortSelect.value) {
    const info = models.get(modelSelect.value);
    for (const name of SAMPLING_SETTINGS) fieldOf(name).hidden = Boolean(info) && !(info.sampling_parameters || []).includes(name);
    fieldOf("thinking").hidden = Boolean(info) && !info.thinking;
    fieldOf("thinking_budget").hidden = fieldOf("thinking").hidden || !thinkingBox.checked;
    const levels = info?.effort_levels || [];
    effortSelect.replaceChildren(new Option("Default", ""), ...levels.map((level) => new Option(level, level)));
    effortSelect.value = levels.includes(wantedEffort) ? wantedEffort : "";
    fieldOf("effort").hidden = !levels.length;
    if (capabilities) capabilities.textContent = info ? describeModel(info) : "";
  }

  function body() {
    const parameters = {};
    const shown = (name) => !fieldOf(name).hidden;
    for (const name of NUMBER_SETTINGS) {
      const raw = control(name).value.trim();
      // Not a number: sent as typed, so the server's message names the problem.
      if (raw && shown(name)) parameters[name] = Number.isFinite(Number(raw)) ? Number(raw) : raw;
    }
    const sequences = control("stop_sequences").value.split(/\r?\n/).filter((line) => line.trim());
    if (sequences.length) parameters.stop_sequences = sequences;
    if (shown("thinking") && thinkingBox.checked) parameters.thinking = true;
    if (shown("effort") && effortSelect.value) parameters.effort = effortSelect.value;
    if (control("cache_ttl").value) parameters.cache_ttl = control("cache_ttl").value;
    return { model: modelSelect.value, system: control("system").value, parameters };
  }

  function clearErrors() {
    generalError.hidden = true;
    generalError.textContent = "";
    for (const span of settingsForm.querySelectorAll("[data-error-for]")) {
      span.textContent = "";
      control(span.dataset.errorFor).removeAttribute("aria-invalid");
    }
  }

  function showErrors(error) {
    const unplaced = [];
    for (const [name, texts] of Object.entries(error.fields)) {
      const span = name && settingsForm.querySelector(`[data-error-for="${name}"]`);
      if (span && !fieldOf(name).hidden) {
        span.textContent = texts.join(" ");
        control(name).setAttribute("aria-invalid", "true");
      } else {
        unplaced.push(...texts);
      }
    }
    const placed = Object.keys(error.fields).length > 0 && unplaced.length === 0;
    generalError.textContent = `Nothing was saved. ${placed ? "See the setting marked below." : unplaced.join(" ") || error.message}`;
    generalError.hidden = false;
  }

  modelSelect.addEventListener("change", () => adapt());
  thinkingBox.addEventListener("change", () => adapt());
  settingsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = settingsForm.querySelector('button[type="submit"]');
    button.disabled = true;
    status.textContent = "Saving…";
    clearErrors();
    try {
      const conversation = await api("PATCH", apiBase, body());
      panel.dirty = false;
      onSaved(conversation);
      status.textContent = "Saved.";
    } catch (error) {
      status.textContent = "";
      showErrors(error);
    } finally {
      button.disabled = false;
    }
  });

  async function loadModels() {
    let data;
    try {
      data = await api("GET", "/api/models/");
    } catch {
      return; // the picker keeps the current model only
    }
    const listed = Array.isArray(data) ? data : data?.results || [];
    const stored = getStored();
    const current = models.get(stored.model);
    models.clear();
    for (const info of listed) models.set(info.id, info);
    // A model no longer listed stays selectable, with what the page knew of it.
    if (!models.has(stored.model) && current) models.set(current.id, current);
    fillModels();
    adapt();
    onModelsLoaded();
  }

  const panel = { dirty: false, fill };
  settingsForm.addEventListener("input", () => {
    panel.dirty = true;
    status.textContent = "";
  });
  fillModels();
  fill();
  loadModels();
  return panel;
}

// "1M context · 64k max output · images up to 2576 px · thinking · effort low–max ·
// $5 in / $25 out per MTok, cache reads $0.50".
export function describeModel(info) {
  const parts = [];
  if (info.context_window) parts.push(`${formatCompact(info.context_window)} context`);
  if (info.max_output_tokens) parts.push(`${formatCompact(info.max_output_tokens)} max output`);
  if (info.image_long_edge) parts.push(`images up to ${info.image_long_edge} px`);
  if (info.thinking) parts.push("thinking");
  const levels = info.effort_levels || [];
  if (levels.length) parts.push(`effort ${levels[0]}–${levels[levels.length - 1]}`);
  if (info.sampling_parameters?.length) parts.push(`sampling (${info.sampling_parameters.join(", ").replaceAll("_", " ")})`);
  if (info.accepts_prefill) parts.push("prefill");
  const prices = info.prices;
  if (prices) {
    parts.push(`${formatPrice(prices.input)} in / ${formatPrice(prices.output)} out per MTok, cache reads ${formatPrice(prices.cache_read)}`);
  } else {
    parts.push("price unknown");
  }
  return parts.join(" · ");
}
