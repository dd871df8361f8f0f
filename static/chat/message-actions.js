// What a person can do with one message: move between its versions ("‹ 2/3 ›"), edit their
// own (a new version with a new reply), regenerate a reply, retry one that failed, continue
// one that was cut short. The buttons only ask (`on.*`); chat.js sends the frames and the
// page follows the server's answer.
//
// Edit and Regenerate sit in the message's head with Pin and Copy (shown on hover or focus on
// desktop, always on touch screens); the version switcher, Retry and Continue are always shown.

import { cloneOf } from "./prototypes.js";

// What the server accepts for `continue` (services/messages.py): a reply cut short, with text.
const CONTINUABLE_STOP_REASONS = new Set(["max_tokens", "pause_turn"]);
const CONTINUABLE_STATUSES = new Set(["stopped", "interrupted", "error"]);
// A reply that ended without finishing its turn: Retry asks again beside it.
const RETRYABLE_STATUSES = new Set(["error", "interrupted"]);

// `action`: what a click does, handled for all messages at once by message-list.js.
function button(text, className, action, { label = "", title = "" } = {}) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = text;
  element.dataset.action = action;
  if (label) element.setAttribute("aria-label", label);
  if (title) element.title = title;
  return element;
}

function versionsGroup() {
  const versions = document.createElement("span");
  versions.className = "versions";
  versions.setAttribute("role", "group");
  versions.hidden = true;
  const position = document.createElement("span");
  position.className = "version-position";
  versions.append(
    button("‹", "link version-button", "previous", { label: "Previous version" }),
    position,
    button("›", "link version-button", "next", { label: "Next version" }),
  );
  return versions;
}

function actionsBox() {
  const actions = document.createElement("div");
  actions.className = "actions";
  actions.hidden = true;
  const retry = button("Retry", "retry-button", "retry", {
    title: "Ask again: a new reply beside this one; your message stays as it is",
  });
  retry.hidden = true;
  const more = button("Continue", "continue-button", "continue");
  more.hidden = true;
  actions.append(retry, more);
  return actions;
}

/**
 * Adds the parts to `entry.element`, whose `head` already holds the role, Pin and Copy. A
 * click on one is the list's `on.*`: previous/next -> select(messageId), edit, regenerate and
 * retry -> regenerate, continue.
 */
export function addMessageActions(entry, head) {
  const { element, data } = entry;
  const parts = {};

  // "‹ 2/3 ›" right after the role: which version this is, and the way to the others.
  const versions = cloneOf("versions", versionsGroup);
  [parts.previous, parts.position, parts.next] = versions.children;
  head.querySelector(".role").after(versions);
  parts.versions = versions;

  if (data.role === "user") {
    parts.edit = cloneOf("edit", () =>
      button("Edit", "link tool edit-button", "edit", {
        title: "Change this message: a new version with a new reply (this one stays as an earlier version)",
      }),
    );
    head.append(parts.edit);
  } else {
    parts.regenerate = cloneOf("regenerate", () =>
      button("Regenerate", "link tool regenerate-button", "regenerate", {
        title: "Ask again: a new reply beside this one (this one stays as an earlier version)",
      }),
    );
    head.append(parts.regenerate);
    const actions = cloneOf("actions", actionsBox);
    [parts.retry, parts.continue] = actions.children;
    element.append(actions);
    parts.actions = actions;
  }
  entry.actions = parts;
}

export function canContinue(entry) {
  const { data } = entry;
  if (data.role !== "assistant" || entry.continuing || !data.text.trim()) return false;
  return CONTINUABLE_STOP_REASONS.has(data.stop_reason) || CONTINUABLE_STATUSES.has(data.status);
}

/**
 * Shows what applies now. `busy`: a reply is generating or a request awaits its answer (the
 * server would refuse: buttons are disabled, not hidden, so nothing jumps). `last`: the entry
 * ends the shown path (only there can a reply be continued).
 */
export function renderMessageActions(entry, { busy, last }) {
  const { data } = entry;
  const parts = entry.actions;
  const count = data.sibling_count || 1;
  set(parts.versions, "hidden", count < 2);
  if (count >= 2) {
    const index = (data.sibling_index ?? 0) + 1;
    set(parts.position, "textContent", `${index}/${count}`);
    if (parts.versions.getAttribute("aria-label") !== `Version ${index} of ${count}`) {
      parts.versions.setAttribute("aria-label", `Version ${index} of ${count}`);
    }
    set(parts.previous, "disabled", busy || !data.previous_sibling_id);
    set(parts.next, "disabled", busy || !data.next_sibling_id);
  }
  if (parts.edit) set(parts.edit, "disabled", busy || Boolean(entry.editor));
  if (parts.regenerate) {
    // A reply still being written has nothing to stand beside yet.
    set(parts.regenerate, "disabled", busy);
    set(parts.retry, "hidden", !RETRYABLE_STATUSES.has(data.status));
    set(parts.retry, "disabled", busy);
    set(parts.continue, "hidden", busy || !last || !canContinue(entry));
    set(parts.actions, "hidden", parts.retry.hidden && parts.continue.hidden);
  }
}

// Every message's actions are brought up to date at once: only what differs is written, so
// the page (and its style) is left alone where nothing changed.
function set(element, property, value) {
  if (element[property] !== value) element[property] = value;
}
