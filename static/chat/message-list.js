// The messages of the shown path, in order: one entry per message
// {data, element, parts, length, thinkingLength, live, summarizing, continuing, editor,
// actions, view}; `live`: frames have added text since the server's copy was last taken.
// Builds each message's element and parts, applies stored copies and streamed text, and drops
// what left the path. Frames and their rules: docs/websocket.md.
//
// A long conversation must open fast: a stored copy identical to the one shown changes
// nothing, replies far from the screen are rendered later (render-later.js), and the buttons
// of all messages share one click listener.

import { renderMessageAttachments } from "./attachments.js";
import { copyFromButton } from "./clipboard.js";
import { addMessageActions, renderMessageActions } from "./message-actions.js";
import { isRunning, renderDetails } from "./message-details.js";
import { addTextParts, appendText, renderWaiting, showText, toggleSource } from "./message-text.js";
import { cloneOf } from "./prototypes.js";
import { createRenderLater } from "./render-later.js";

// What a path frame says about a message's versions; other frames leave it out (kept).
const VERSION_FIELDS = ["sibling_index", "sibling_count", "previous_sibling_id", "next_sibling_id"];

// Offsets count Unicode code points, as the server does; JS string lengths count UTF-16 units.
function codePoints(text) {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

function pinButton() {
  const pin = document.createElement("button");
  pin.type = "button";
  pin.className = "link tool pin-button";
  pin.textContent = "Pin";
  pin.title = "Pinned messages are kept word for word when earlier messages are summarized";
  pin.dataset.action = "pin";
  return pin;
}

function thinkingBox() {
  const thinking = document.createElement("details");
  thinking.className = "thinking";
  thinking.hidden = true;
  const summary = document.createElement("summary");
  summary.textContent = "Thinking";
  const thinkingText = document.createElement("div");
  thinkingText.className = "thinking-text";
  thinking.append(summary, thinkingText);
  return thinking;
}

// Two copies of a message (parsed JSON) say the same: nothing to show again.
function sameData(a, b) {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!(key in b)) return false;
    const x = a[key];
    const y = b[key];
    if (x === y) continue;
    if (x === null || y === null || typeof x !== "object" || typeof y !== "object") return false;
    if (JSON.stringify(x) !== JSON.stringify(y)) return false;
  }
  return true;
}

/**
 * `list`: the element holding the messages. `on`: {pin(entry), edit(entry), regenerate(entry),
 * select(messageId), continue(entry)} for the buttons; `changed()` after messages were added,
 * updated or removed (to place the summary); `follow()` after content grew (autoscroll);
 * `gap()` when streamed text cannot be placed (resync); `editLost(text)` with an edit being
 * typed in a message that left the page. `allRendered()`: every reply that waited for its
 * rendering has it now.
 */
export function createMessageList({ list, on, changed, follow, gap, editLost, allRendered = () => {} }) {
  const messages = new Map();
  let actionsState = ""; // what the actions were last rendered for
  // A reply rendered where it waited changes heights, above the view as a rule (the browser's
  // scroll anchoring keeps what is shown in place): following the end once, in the next
  // frame's layout, is enough for all of them and adds no layout of its own.
  let followFrame = 0;
  const later = createRenderLater({
    root: list,
    render: renderWaiting,
    afterBatch: () => {
      if (!followFrame) {
        followFrame = requestAnimationFrame(() => {
          followFrame = 0;
          follow();
        });
      }
    },
    onDone: allRendered,
  });

  // The buttons of every message (message-text.js, message-actions.js): `data-action`.
  const clicks = {
    pin: (entry) => on.pin(entry),
    copy: (entry, button) => copyFromButton(button, entry.data.text),
    source: (entry) => toggleSource(entry),
    previous: (entry) => on.select(entry.data.previous_sibling_id),
    next: (entry) => on.select(entry.data.next_sibling_id),
    edit: (entry) => on.edit(entry),
    regenerate: (entry) => on.regenerate(entry),
    retry: (entry) => on.regenerate(entry),
    continue: (entry) => on.continue(entry),
  };
  list.addEventListener("click", (event) => {
    const button = event.target.closest?.("button[data-action]");
    const element = button?.closest(".message");
    const entry = element && messages.get(element.dataset.messageId);
    if (!entry || entry.element !== element || !Object.hasOwn(clicks, button.dataset.action)) return;
    clicks[button.dataset.action](entry, button);
  });

  function newEntry(data, element) {
    const entry = { data, element, parts: null, length: 0, thinkingLength: 0, live: false, summarizing: false, continuing: false, editor: null };
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
    const pin = cloneOf("pin", pinButton);
    head.append(pin);
    entry.parts = { pin, details: element.querySelector(".details"), thinking: null, thinkingText: null };
    addTextParts(entry, { head, onRender: follow, later });
    addMessageActions(entry, head);
    if (data.role !== "assistant") return;
    const thinking = cloneOf("thinking", thinkingBox);
    entry.view.source.before(thinking);
    Object.assign(entry.parts, { thinking, thinkingText: thinking.lastElementChild });
  }

  /** The messages the server put in the page (elements already there). Replies are rendered
   * as Markdown later: call renderOnScreen once the list is scrolled where it opens. */
  function adopt(all) {
    const elements = new Map();
    for (const element of list.children) {
      if (element.dataset.messageId) elements.set(element.dataset.messageId, element);
    }
    for (const data of all) {
      const entry = newEntry(data, elements.get(String(data.id)));
      addParts(entry);
      render(entry, { defer: true });
    }
  }

  /** Renders now the replies waiting for it that are on screen (or near it); true if any. */
  function renderOnScreen() {
    return later.renderOnScreen([...messages.values()]);
  }

  // After a batch that left replies waiting: once the list has scrolled (follow), those in
  // view are rendered before the next paint; a rendering changes heights, so a few rounds.
  function settle(rounds = 3) {
    if (!later.size) return;
    queueMicrotask(() => {
      if (renderOnScreen() && rounds > 1) {
        follow();
        settle(rounds - 1);
      }
    });
  }

  /** Adds the message at the end, or replaces the stored copy held of it. */
  function upsert(data, { keepLive = false } = {}) {
    put(data, { keepLive, defer: false });
    changed();
    follow();
  }

  // Adds or updates one message; false when the copy says nothing new (nothing was touched).
  function put(data, { keepLive, defer }) {
    let entry = messages.get(data.id);
    if (entry && !("sibling_count" in data)) {
      data = { ...data };
      for (const field of VERSION_FIELDS) data[field] = entry.data[field];
    }
    if (entry && keepLive) data = keepLiveText(entry, data);
    else if (entry) entry.live = false;
    if (entry && sameData(entry.data, data)) return false;
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
      entry = newEntry(data, element);
      addParts(entry);
      list.append(element);
    }
    entry.data = data;
    render(entry, { defer });
    return true;
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

  function render(entry, { defer = false } = {}) {
    const { data, element, parts } = entry;
    entry.length = codePoints(data.text);
    entry.thinkingLength = codePoints(data.thinking || "");
    element.dataset.status = data.status;
    renderPin(entry);
    renderMessageAttachments(element, data.attachments);
    showText(entry, { running: isRunning(data), defer });
    if (parts.thinking) {
      parts.thinkingText.textContent = data.thinking || "";
      parts.thinking.hidden = !data.thinking;
    }
    renderDetails(entry);
    // Its actions (and whether it is the last) follow at the next renderActions, for all
    // messages at once.
    actionsState = "";
  }

  function renderPin(entry) {
    const pinned = Boolean(entry.data.is_pinned);
    entry.element.classList.toggle("pinned", pinned);
    entry.parts.pin.setAttribute("aria-pressed", pinned ? "true" : "false");
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
      entry.parts.thinking.hidden = false;
      entry.parts.thinkingText.append(document.createTextNode(fresh));
    } else {
      entry.data.text += fresh;
      entry.length += codePoints(fresh);
      appendText(entry, fresh);
    }
    if (statusChanged) renderDetails(entry);
    follow();
  }

  /** The stored path (`conversation.state`): what is not on it goes; the rest is updated or
   * added in order. Two paths from the root share a prefix, so the order stays right. A copy
   * identical to the one shown leaves its message as it is (a resync of a long conversation
   * touches nothing); replies that changed or came are rendered when on screen. */
  function replaceAll(all) {
    // The stored state decides again whether a reply can be continued.
    for (const entry of messages.values()) entry.continuing = false;
    const keep = new Set(all.map((m) => m.id));
    for (const [id, entry] of [...messages]) {
      if (!keep.has(id)) remove(id, entry);
    }
    for (const data of all) put(data, { keepLive: true, defer: true });
    changed();
    follow();
    settle();
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
    later.forget(entry);
    entry.renderer?.cancel();
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
    renderOnScreen,
    waiting: () => later.size,
    renderRestWhenIdle: () => later.startIdle(),
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
