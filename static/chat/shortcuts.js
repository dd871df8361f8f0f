// Keyboard shortcuts for the chat page, and the "?" list of them. Keys with Ctrl/Cmd work
// everywhere; plain keys never fire while the person types in a field (the composer's Escape
// is the one exception: it has no other meaning there). Nothing fires behind a modal dialog.

import { drawerIsOpen, drawerClose, drawerOpen } from "./drawer.js";

const APPLE = /Mac|iPhone|iPad/.test(navigator.userAgentData?.platform || navigator.platform || "");
const MOD = APPLE ? "⌘" : "Ctrl";
const SHORTCUTS = [
  [[MOD, "Shift", "O"], "New chat"],
  [[MOD, "K"], "Search conversations"],
  [["Shift", "Esc"], "Focus the message box"],
  [["Esc"], "Stop the reply being written"],
  [["Enter"], "Send (in the message box)"],
  [["Shift", "Enter"], "New line (in the message box)"],
  [["?"], "Show these shortcuts"],
];

const help = createHelpDialog();
document.getElementById("shortcuts-button")?.addEventListener("click", () => openHelp());

// The skip link also works from the keyboard without scrolling surprises: straight to the field.
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  const target = document.querySelector(event.currentTarget.getAttribute("href"));
  if (!target) return;
  event.preventDefault();
  if (target.id === "composer-text") focusComposer();
  else (target.querySelector("button, a[href], input") || target).focus();
});

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.isComposing || event.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  const command = event.ctrlKey || event.metaKey;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (command && event.shiftKey && key === "o") {
    event.preventDefault();
    document.getElementById("new-chat-form")?.requestSubmit();
  } else if (command && !event.shiftKey && key === "k") {
    event.preventDefault();
    focusSearch();
  } else if (command) {
    return;
  } else if (key === "Escape" && event.shiftKey) {
    if (focusComposer()) event.preventDefault();
  } else if (key === "Escape") {
    const target = event.target;
    if (typing(target) && target.id !== "composer-text") return;
    const stop = document.getElementById("stop-button");
    if (stop && !stop.hidden && stop.offsetParent !== null) {
      event.preventDefault();
      stop.click();
    }
  } else if (key === "?" && !typing(event.target)) {
    event.preventDefault();
    openHelp();
  }
});

function typing(element) {
  if (!(element instanceof HTMLElement)) return false;
  if (element.isContentEditable) return true;
  if (element instanceof HTMLTextAreaElement || element instanceof HTMLSelectElement) return true;
  return element instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit", "reset", "file", "range", "color"].includes(element.type);
}

function focusComposer() {
  const composer = document.getElementById("composer-text");
  if (!composer) return false;
  if (drawerIsOpen()) drawerClose({ focus: false });
  composer.focus();
  return true;
}

function focusSearch() {
  const input = document.getElementById("sidebar-search-input");
  if (!input || !drawerOpen({ focus: false })) return;
  input.focus();
  input.select();
}

function openHelp() {
  help.showModal();
}

function createHelpDialog() {
  const dialog = document.createElement("dialog");
  dialog.className = "shortcuts-dialog";
  dialog.id = "shortcuts-dialog";
  dialog.setAttribute("aria-labelledby", "shortcuts-dialog-title");
  const form = document.createElement("form");
  form.method = "dialog";
  const heading = document.createElement("h2");
  heading.id = "shortcuts-dialog-title";
  heading.textContent = "Keyboard shortcuts";
  const table = document.createElement("dl");
  table.className = "shortcut-list";
  for (const [keys, what] of SHORTCUTS) {
    const term = document.createElement("dt");
    keys.forEach((name, index) => {
      if (index) term.append(" + ");
      const kbd = document.createElement("kbd");
      kbd.textContent = name;
      term.append(kbd);
    });
    const description = document.createElement("dd");
    description.textContent = what;
    table.append(term, description);
  }
  const buttons = document.createElement("div");
  buttons.className = "dialog-buttons";
  const close = document.createElement("button");
  close.value = "close";
  close.textContent = "Close";
  buttons.append(close);
  form.append(heading, table, buttons);
  dialog.append(form);
  document.body.append(dialog);
  return dialog;
}
