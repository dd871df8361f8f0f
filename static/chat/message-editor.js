// The inline editor of one of the person's messages: the text in a textarea, "Save & send"
// (Ctrl/Cmd+Enter) makes a new version of it with a new reply, Cancel (Escape) puts the
// message back as it was.

import { autoGrow } from "./textarea-grow.js";

let editors = 0;

/**
 * Opens the editor in place of the message's text, prefilled with `text`.
 * `onSave(text)` returns true when the edit went out (the editor then closes); `onClose()`
 * runs whenever it closes. Returns {close, draft, element}.
 */
export function openEditor(entry, { text, onSave, onClose }) {
  const { element } = entry;
  const shown = element.querySelector(".text");
  const id = `message-edit-${++editors}`;
  const form = document.createElement("form");
  form.className = "message-editor";
  const label = document.createElement("label");
  label.className = "visually-hidden";
  label.htmlFor = id;
  label.textContent = "Edit your message";
  const field = document.createElement("textarea");
  field.id = id;
  field.rows = 2;
  field.value = text;
  const hint = document.createElement("span");
  hint.className = "message-editor-hint";
  hint.id = `${id}-hint`;
  hint.textContent = "Ctrl+Enter sends, Escape cancels. Your original message stays as an earlier version.";
  field.setAttribute("aria-describedby", hint.id);
  const save = document.createElement("button");
  save.type = "submit";
  save.textContent = "Save & send";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "link";
  cancel.textContent = "Cancel";
  const buttons = document.createElement("div");
  buttons.className = "message-editor-buttons";
  buttons.append(save, cancel, hint);
  form.append(label, field, buttons);
  shown.hidden = true;
  shown.after(form);
  element.classList.add("editing");

  let open = true;
  function close() {
    if (!open) return;
    open = false;
    form.remove();
    shown.hidden = false;
    element.classList.remove("editing");
    onClose();
  }
  function submit() {
    if (!field.value.trim() && !entry.data.attachments?.length) {
      field.setAttribute("aria-invalid", "true");
      hint.textContent = "Type the new version first (or Cancel).";
      return;
    }
    if (onSave(field.value)) close();
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  cancel.addEventListener("click", close);
  field.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      // Only the editor closes (not a dialog or a shortcut of the page).
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  autoGrow(field);
  field.focus();
  field.setSelectionRange(field.value.length, field.value.length);
  // What the person typed, when it differs from what they started from.
  const draft = () => (field.value !== text ? field.value : "");
  return { close, draft, element: form };
}
