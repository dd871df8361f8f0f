// The messages of the shown path, in order: one entry per message
// {data, element, length, thinkingLength, live, summarizing, continuing, editor, actions};
// `live`: frames have added text since the server's copy was last taken. Builds each
// message's element and parts, applies stored copies and streamed text, and drops what left
// the path. Frames and their rules: docs/websocket.md.

import { renderMessageAttachments } from "./attachments.js";
import { addMessageActions, renderMessageActions } from "./message-actions.js";
import { isRunning, renderDetails } from "./message-details.js";
import { addTextParts, appendText, showText } from "./message-text.js";

// What a path frame says about a message's versions; other frames leave it out (kept).
const VERSION_FIELDS = ["sibling_index", "sibling_count", "previous_sibling_id", "next_sibling_id"];

// Offsets count Unicode code points, as the server does; JS string lengths count UTF-16 units.
function codePoints(text) {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/**
 * `list`: the element holding the messages. `on`: {pin(entry), edit(entry), regenerate(entry),
 * select(messageId), continue(entry)} for the buttons; `changed()` after messages were added,
 * updated or removed (to place the summary); `follow()` after content grew (autoscroll);
 * `gap()` when streamed text cannot be placed (resync); `editLost(text)` with an edit being
 * typed in a message that left the page.
 */
export function createMessageList({ list, on, changed, follow, gap, editLost }) {
  const messages = new Map();
  let actionsState = ""; // what the actions were last rendered for

  function newEntry(data, element) {
    const entry = { data, element, length: 0, thinkingLength: 0, live: false, summarizing: false, continuing: false, editor: null };
    messages.set(data.id, entry);
    return entry;
  }

  function last() {
    let found = null;
    for (const entry of messages.values()) found = entry;
    return found;
  }

  // The parts the page adds to every message: pin toggle, Copy, the actions; for replies the
  // rendered text and thinking.
  function addParts(entry) {
    const { element, data } = entry;
    const head = element.querySelector(".message-head");
    const pin = document.createElement("button");
    pin.type = "button";
    pin.className = "link tool pin-button";
    pin.textContent = "Pin";
    pin.title = "Pinned messages are kept word for word when earlier messages are summarized";
    pin.addEventListener("click", () => on.pin(entry));
    head.append(pin);
    addTextParts(entry, { onRender: follow });
    addMessageActions(entry, on);
    if (data.role !== "assistant") return;
    const thinking = document.createElement("details");
    thinking.className = "thinking";
    thinking.hidden = true;
    const summary = document.createElement("summary");
    summary.textContent = "Thinking";
    const thinkingText = document.createElement("div");
    thinkingText.className = "thinking-text";
    thinking.append(summary, thinkingText);
    element.querySelector(".text").before(thinking);
  }

  /** The messages the server put in the page (elements already there). */
  function adopt(all) {
    for (const data of all) {
      const entry = newEntry(data, list.querySelector(`[data-message-id="${data.id}"]`));
      addParts(entry);
      render(entry);
    }
  }

  /** Adds the message at the end, or replaces the stored copy held of it. */
  function upsert(data, { keepLive = false } = {}) {
    let entry = messages.get(data.id);
    if (entry && !("sibling_count" in data)) {
      data = { ...data };
      for (const field of VERSION_FIELDS) data[field] = entry.data[field];
    }
    if (entry && keepLive) data = keepLiveText(entry, data);
    else if (entry) entry.live = false;
    if (!entry) {
      const element = document.createElement("article");
      element.className = `message ${data.role}`;
      element.dataset.messageId = data.id;
      const head = document.createElement("div");
      head.className = "message-head";
      const role = document.createElement("span");
      role.className = "role";
      role.textContent = data.role === "user" ? "You" : "Claude";
      head.append(role);
      const text = document.createElement("div");
      text.className = "text";
      const details = document.createElement("div");
      details.className = "details";
      element.append(head, text, details);
      list.append(element);
      entry = newEntry(data, element);
      addParts(entry);
    }
    entry.data = data;
    render(entry);
    changed();
    follow();
  }

  // A stored `streaming` message (a resync, a pin) may be behind the text that frames brought
  // this tab since: keep that text (and thinking), so the next frames continue from it. Text
  // not brought by frames is replaced: a continued reply's stored text may have become shorter.
  function keepLiveText(entry, data) {
    let kept = false;
    if (data.status === "streaming" && entry.live) {
      data = { ...data };
      if (entry.length > codePoints(data.text)) {
        data.text = entry.data.text;
        kept = true;
      }
      if (entry.thinkingLength > codePoints(data.thinking || "")) {
        data.thinking = entry.data.thinking;
        kept = true;
      }
    }
    entry.live = kept;
    return data;
  }

  function render(entry) {
    const { data, element } = entry;
    entry.length = codePoints(data.text);
    entry.thinkingLength = codePoints(data.thinking || "");
    element.dataset.status = data.status;
    renderPin(entry);
    renderMessageAttachments(element, data.attachments);
    showText(entry, { running: isRunning(data) });
    const thinking = element.querySelector(".thinking");
    if (thinking) {
      thinking.querySelector(".thinking-text").textContent = data.thinking || "";
      thinking.hidden = !data.thinking;
    }
    renderDetails(entry);
    // Its actions (and whether it is the last) follow at the next renderActions, for all
    // messages at once.
    actionsState = "";
  }

  function renderPin(entry) {
    const pinned = Boolean(entry.data.is_pinned);
    entry.element.classList.toggle("pinned", pinned);
    entry.element.querySelector(".pin-button").setAttribute("aria-pressed", pinned ? "true" : "false");
  }

  /** Reply text (`chat.delta`) and thinking (`chat.thinking`): each its own offsets. */
  function applyStream(frame, kind) {
    const entry = messages.get(frame.message_id);
    if (!entry) return gap();
    const thinking = kind === "thinking";
    const have = thinking ? entry.thinkingLength : entry.length;
    const { offset, text } = frame;
    // Frames were lost on the way: the database has everything up to its last save.
    if (offset > have) return gap();
    const skip = have - offset;
    const fresh = skip === 0 ? text : Array.from(text).slice(skip).join("");
    if (!fresh) return;
    const statusChanged = entry.summarizing || entry.data.status !== "streaming";
    entry.summarizing = false;
    entry.live = true;
    entry.data.status = "streaming";
    entry.element.dataset.status = "streaming";
    if (thinking) {
      entry.data.thinking = (entry.data.thinking || "") + fresh;
      entry.thinkingLength += codePoints(fresh);
      const box = entry.element.querySelector(".thinking");
      box.hidden = false;
      box.querySelector(".thinking-text").append(document.createTextNode(fresh));
    } else {
      entry.data.text += fresh;
      entry.length += codePoints(fresh);
      appendText(entry, fresh);
    }
    if (statusChanged) renderDetails(entry);
    follow();
  }

  /** The stored path (`conversation.state`): what is not on it goes; the rest is updated or
   * added in order. Two paths from the root share a prefix, so the order stays right. */
  function replaceAll(all) {
    // The stored state decides again whether a reply can be continued.
    for (const entry of messages.values()) entry.continuing = false;
    const keep = new Set(all.map((m) => m.id));
    for (const [id, entry] of [...messages]) {
      if (!keep.has(id)) remove(id, entry);
    }
    for (const data of all) upsert(data, { keepLive: true });
    changed();
  }

  /** Drops every message after `parentId` (all of them for null). */
  function truncateAfter(parentId) {
    let cut = parentId === null;
    for (const [id, entry] of [...messages]) {
      if (cut) remove(id, entry);
      else if (id === parentId) cut = true;
    }
  }

  function remove(id, entry) {
    // An edit being typed in a message that leaves the page goes elsewhere, not away.
    const draft = entry.editor?.draft();
    entry.editor?.close();
    if (draft) editLost(draft);
    entry.element.remove();
    messages.delete(id);
  }

  function generating() {
    for (const { data } of messages.values()) {
      if (isRunning(data)) return data;
    }
    return null;
  }

  /** Brings every message's actions up to date, when anything they depend on changed. */
  function renderActions({ busy, force = false }) {
    const end = last();
    const state = `${busy}|${end?.data.id}|${end?.continuing}`;
    if (state === actionsState && !force) return;
    actionsState = state;
    for (const entry of messages.values()) renderMessageActions(entry, { busy, last: entry === end });
  }

  return {
    messages,
    adopt,
    upsert,
    applyStream,
    replaceAll,
    truncateAfter,
    renderPin,
    renderDetails,
    renderActions,
    generating,
    last,
    has: (id) => messages.has(id),
    get: (id) => messages.get(id),
  };
}
