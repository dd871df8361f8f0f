// What a person can do with one message: move between its versions ("‹ 2/3 ›"), edit their
// own (a new version with a new reply), regenerate a reply, retry one that failed, continue
// one that was cut short. The buttons only ask (`on.*`); chat.js sends the frames and the
// page follows the server's answer.
//
// Edit and Regenerate sit in the message's head with Pin and Copy (shown on hover or focus on
// desktop, always on touch screens); the version switcher, Retry and Continue are always shown.

// What the server accepts for `continue` (services/messages.py): a reply cut short, with text.
const CONTINUABLE_STOP_REASONS = new Set(["max_tokens", "pause_turn"]);
const CONTINUABLE_STATUSES = new Set(["stopped", "interrupted", "error"]);
// A reply that ended without finishing its turn: Retry asks again beside it.
const RETRYABLE_STATUSES = new Set(["error", "interrupted"]);

function button(text, className, onClick, { label = "", title = "" } = {}) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = text;
  if (label) element.setAttribute("aria-label", label);
  if (title) element.title = title;
  element.addEventListener("click", onClick);
  return element;
}

/**
 * Adds the parts to `entry.element` (whose head already holds the role, Pin and Copy).
 * `on`: {edit(entry), regenerate(entry), select(messageId), continue(entry)}.
 */
export function addMessageActions(entry, on) {
  const { element, data } = entry;
  const head = element.querySelector(".message-head");
  const parts = {};

  // "‹ 2/3 ›" right after the role: which version this is, and the way to the others.
  const versions = document.createElement("span");
  versions.className = "versions";
  versions.setAttribute("role", "group");
  versions.hidden = true;
  parts.previous = button("‹", "link version-button", () => on.select(entry.data.previous_sibling_id), { label: "Previous version" });
  parts.position = document.createElement("span");
  parts.position.className = "version-position";
  parts.next = button("›", "link version-button", () => on.select(entry.data.next_sibling_id), { label: "Next version" });
  versions.append(parts.previous, parts.position, parts.next);
  head.querySelector(".role").after(versions);
  parts.versions = versions;

  if (data.role === "user") {
    parts.edit = button("Edit", "link tool edit-button", () => on.edit(entry), {
      title: "Change this message: a new version with a new reply (this one stays as an earlier version)",
    });
    head.append(parts.edit);
  } else {
    parts.regenerate = button("Regenerate", "link tool regenerate-button", () => on.regenerate(entry), {
      title: "Ask again: a new reply beside this one (this one stays as an earlier version)",
    });
    head.append(parts.regenerate);
    const actions = document.createElement("div");
    actions.className = "actions";
    parts.retry = button("Retry", "retry-button", () => on.regenerate(entry), {
      title: "Ask again: a new reply beside this one; your message stays as it is",
    });
    parts.retry.hidden = true;
    parts.continue = button("Continue", "continue-button", () => on.continue(entry));
    parts.continue.hidden = true;
    actions.append(parts.retry, parts.continue);
    element.append(actions);
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
  parts.versions.hidden = count < 2;
  if (count >= 2) {
    const index = (data.sibling_index ?? 0) + 1;
    parts.position.textContent = `${index}/${count}`;
    parts.versions.setAttribute("aria-label", `Version ${index} of ${count}`);
    parts.previous.disabled = busy || !data.previous_sibling_id;
    parts.next.disabled = busy || !data.next_sibling_id;
  }
  if (parts.edit) parts.edit.disabled = busy || Boolean(entry.editor);
  if (parts.regenerate) {
    // A reply still being written has nothing to stand beside yet.
    parts.regenerate.disabled = busy;
    parts.retry.hidden = !RETRYABLE_STATUSES.has(data.status);
    parts.retry.disabled = busy;
    parts.continue.hidden = busy || !last || !canContinue(entry);
  }
}
