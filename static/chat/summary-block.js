// The block that stands for the summarized earlier messages: shows the summary, and edits it
// (PATCH .../summaries/<id>/). `onSaved(summary)` gets the saved version.

import { api } from "./api.js";
import { formatCost, formatNumber } from "./format.js";

export function createSummaryBlock({ apiBase, onSaved }) {
  const element = document.createElement("details");
  element.className = "summary-block";
  const title = document.createElement("summary");
  title.textContent = "Earlier messages summarized";
  const text = document.createElement("div");
  text.className = "summary-text";
  const meta = document.createElement("p");
  meta.className = "summary-meta";
  const edit = document.createElement("button");
  edit.type = "button";
  edit.className = "link";
  edit.textContent = "Edit summary";
  const editor = document.createElement("form");
  editor.className = "summary-editor";
  editor.hidden = true;
  const label = document.createElement("label");
  label.htmlFor = "summary-edit-text";
  label.textContent = "Summary sent to Claude in place of the earlier messages";
  const field = document.createElement("textarea");
  field.id = "summary-edit-text";
  field.rows = 8;
  const error = document.createElement("p");
  error.className = "form-errors";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const save = document.createElement("button");
  save.type = "submit";
  save.textContent = "Save summary";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "link";
  cancel.textContent = "Cancel";
  const buttons = document.createElement("p");
  buttons.className = "summary-buttons";
  buttons.append(save, " ", cancel);
  editor.append(label, field, error, buttons);
  element.append(title, text, meta, edit, editor);

  const block = {
    element,
    summary: null,
    editing: false,
    show() {
      const s = block.summary;
      text.textContent = s.text;
      const facts = [];
      if (s.token_count) facts.push(`${formatNumber(s.token_count)} tokens`);
      if (s.is_edited) facts.push("edited");
      if (s.cost_usd != null) facts.push(`cost ${formatCost(s.cost_usd)}`);
      meta.textContent = facts.join(" · ");
      meta.hidden = !facts.length;
    },
    stopEditing() {
      block.editing = false;
      editor.hidden = true;
      text.hidden = edit.hidden = false;
      error.hidden = true;
    },
  };
  edit.addEventListener("click", () => {
    block.editing = true;
    field.value = block.summary.text;
    editor.hidden = false;
    text.hidden = edit.hidden = true;
    field.focus();
  });
  cancel.addEventListener("click", () => {
    block.stopEditing();
    block.show();
  });
  editor.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    error.hidden = true;
    const id = block.summary.id;
    try {
      const data = await api("PATCH", `${apiBase}summaries/${id}/`, { text: field.value });
      const updated = { ...block.summary, text: field.value, is_edited: true, ...(data || {}) };
      onSaved(updated);
      block.summary = updated;
      block.stopEditing();
      block.show();
    } catch (failure) {
      error.textContent = [...Object.values(failure.fields).flat()].join(" ") || failure.message;
      error.hidden = false;
    } finally {
      save.disabled = false;
    }
  });
  return block;
}
