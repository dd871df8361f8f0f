// The conversation page: one WebSocket per tab, following the conversation's stream, plus the
// REST calls for settings, pins and summaries. Frames are documented in docs/websocket.md.
// Text is always inserted as text, never as HTML; Claude's replies are also shown rendered
// as sanitized Markdown (message-text.js, markdown.js). Images: attachments.js; the settings
// form: settings-panel.js; the summary block: summary-block.js.

import { api, csrfToken } from "./api.js";
import { createAttachmentTray, renderMessageAttachments } from "./attachments.js";
import { createAutoscroll } from "./autoscroll.js";
import { formatCost, formatNumber } from "./format.js";
import { addTextParts, appendText, showText } from "./message-text.js";
import { createSettingsPanel } from "./settings-panel.js";
import { createSummaryBlock } from "./summary-block.js";

const main = document.querySelector("main.conversation[data-conversation-id]");

// Forms that ask before submitting (delete), without inline handlers (strict CSP).
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// Why a reply ended, in words; end_turn (a normal end) says nothing.
const STOP_REASON_WORDS = {
  max_tokens: "Cut off at the token limit",
  refusal: "Claude declined to answer",
  pause_turn: "Paused",
  model_context_window_exceeded: "Reached the context window",
};
// What the server accepts for `continue` (services/messages.py): a reply cut short, with text.
const CONTINUABLE_STOP_REASONS = new Set(["max_tokens", "pause_turn"]);
const CONTINUABLE_STATUSES = new Set(["stopped", "interrupted", "error"]);

if (main) startConversation(main);

function startConversation(main) {
  const conversationId = main.dataset.conversationId;
  const apiBase = `/api/conversations/${conversationId}/`;
  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const textarea = document.getElementById("composer-text");
  const prefillField = document.getElementById("prefill-field");
  const prefillInput = document.getElementById("prefill-text");
  const sendButton = document.getElementById("send-button");
  const stopButton = document.getElementById("stop-button");
  const errorBox = document.getElementById("composer-error");
  const connectionBox = document.getElementById("connection");
  const totalsBox = document.getElementById("conversation-totals");
  const modelLabel = document.getElementById("conversation-model");
  const draftKey = `chatsite:draft:${conversationId}`;
  const autoscroll = createAutoscroll(list);

  // message id -> {data, element, length, thinkingLength, live, summarizing, continuing}; `live`:
  // frames have added text since the server's copy was last taken.
  const messages = new Map();
  // client_id -> {text, prefill, attachments}, restored into the composer on error
  const pendingSends = new Map();
  let waitingForUploads = false; // a send is held until the images finish uploading
  let socket = null;
  let retryDelay = 500;
  let closedForGood = false;
  let opened = false;
  let lastResync = 0;
  let continueShownOn = null; // the entry whose Continue button is visible
  // Frames given while the socket is (re)connecting: sent, in order, once it opens. Safe to
  // send late because every send carries a client_id the server deduplicates on.
  const outbox = [];

  // The conversation's settings as stored, and what is known about the models.
  const initialSettings = JSON.parse(document.getElementById("conversation-settings").textContent);
  let stored = { model: initialSettings.model, system: initialSettings.system, parameters: initialSettings.parameters };
  const models = new Map([[initialSettings.model_info.id, initialSettings.model_info]]);
  let summaries = [];
  let summaryBlock = null;

  for (const data of JSON.parse(document.getElementById("initial-messages").textContent)) {
    const element = list.querySelector(`[data-message-id="${data.id}"]`);
    const entry = newEntry(data, element);
    addParts(entry);
    render(entry);
  }
  textarea.value = localStorage.getItem(draftKey) || "";
  // The tray's uploaded images are kept beside the draft.
  const tray = createAttachmentTray({
    conversationId,
    elements: {
      form,
      textarea,
      button: document.getElementById("attach-button"),
      input: document.getElementById("attach-input"),
      box: document.getElementById("attachments"),
      list: document.getElementById("attachment-tray"),
      total: document.getElementById("attachment-total"),
      status: document.getElementById("attachment-status"),
    },
    storageKey: `${draftKey}:attachments`,
    csrfToken,
    showError,
  });
  const settingsPanel = createSettingsPanel({
    apiBase,
    models,
    getStored: () => stored,
    onSaved: (conversation) => {
      takeSettings(conversation);
      showTotals(conversation);
    },
    onModelsLoaded: updatePrefillField,
  });
  updatePrefillField();
  updateComposer();
  autoscroll.force();

  // --- the socket ------------------------------------------------------------------------------
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/conversations/${conversationId}/`);
    socket.addEventListener("open", () => {
      opened = true;
      retryDelay = 500;
      showConnection("");
      // Whatever happened while we were away is in the database: start from it.
      resync(true);
      while (outbox.length) socket.send(JSON.stringify(outbox.shift()));
    });
    socket.addEventListener("message", (event) => handleFrame(JSON.parse(event.data)));
    socket.addEventListener("close", async (event) => {
      if (closedForGood) return;
      const wasOpen = opened;
      opened = false;
      // A refused handshake reaches the browser as a bare 1006: ask the API why.
      const reason = event.code === 4401 || event.code === 4404 ? event.code : wasOpen ? null : await refusal();
      if (reason) {
        closedForGood = true;
        restoreUnsent();
        showConnection(reason === 4401 ? "Your session has ended. Reload the page to log in again." : "This conversation no longer exists.");
        return;
      }
      showConnection("Connection lost. Reconnecting…");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    });
  }

  async function refusal() {
    try {
      const response = await fetch(apiBase, { credentials: "same-origin" });
      if (response.status === 401 || response.status === 403) return 4401;
      if (response.status === 404) return 4404;
    } catch {
      // offline: keep retrying
    }
    return null;
  }

  // At most one full resync a second: a gap stays open until the next save of the reply.
  function resync(force) {
    const now = Date.now();
    if (!force && now - lastResync < 1000) return;
    lastResync = now;
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resync" }));
  }

  function sendFrame(frame) {
    if (closedForGood) {
      showError("Not connected: reload the page.");
      return false;
    }
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    else outbox.push(frame);
    return true;
  }

  // The socket will not come back: what was typed but never sent goes back into the composer.
  function restoreUnsent() {
    for (const frame of outbox.splice(0)) {
      if (frame.client_id) restorePendingSend(frame.client_id);
    }
  }

  function restorePendingSend(clientId) {
    if (!pendingSends.has(clientId)) return;
    const { text, prefill, attachments } = pendingSends.get(clientId);
    if (!textarea.value) textarea.value = text;
    if (prefill && !prefillInput.value) prefillInput.value = prefill;
    tray.restore(attachments);
    pendingSends.delete(clientId);
    saveDraft();
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case "message.created":
        if (!messages.has(frame.message.id) && !continuesShownPath(frame.message)) {
          // An edit or a regeneration started another branch: show the active path anew.
          resync(true);
          break;
        }
        upsertMessage(frame.message);
        break;
      case "message.updated": {
        const entry = messages.get(frame.message.id);
        if (!entry) {
          // A change on another branch (e.g. a reply continued from another tab) moved the
          // active path: show it anew.
          resync(true);
          break;
        }
        entry.continuing = false;
        upsertMessage(frame.message, { keepLive: true });
        break;
      }
      case "message.pinned": {
        const entry = messages.get(frame.message_id);
        if (entry) {
          entry.data.is_pinned = frame.is_pinned;
          renderPin(entry);
        }
        break;
      }
      case "chat.delta":
        applyStream(frame, "text");
        break;
      case "chat.thinking":
        applyStream(frame, "thinking");
        break;
      case "chat.status": {
        const entry = messages.get(frame.message_id);
        if (entry && frame.status === "summarizing") {
          entry.summarizing = true;
          renderDetails(entry);
        }
        break;
      }
      case "chat.done":
      case "chat.error": {
        const entry = messages.get(frame.message.id);
        if (entry) {
          entry.summarizing = false;
          entry.continuing = false;
        }
        upsertMessage(frame.message);
        // The reply changed the totals, and may have written a summary first.
        refreshConversation();
        loadSummaries();
        break;
      }
      case "conversation.updated":
        showTitle(frame.conversation.title);
        // Settings were saved (here or in another tab): take the stored ones.
        if ("model" in frame.conversation) refreshConversation({ settings: true });
        break;
      case "summary.updated":
        updateSummary(frame.summary);
        break;
      case "summary.created":
        // Older turns were folded (perhaps in the background after a reply): show it now.
        loadSummaries();
        break;
      case "conversation.state":
        replaceAll(frame.messages);
        break;
      case "error":
        showError(frame.message);
        for (const entry of messages.values()) entry.continuing = false;
        if (frame.client_id) restorePendingSend(frame.client_id);
        break;
    }
    updateComposer();
  }

  // --- messages --------------------------------------------------------------------------------
  // Offsets count Unicode code points, as the server does; JS string lengths count UTF-16 units.
  function codePoints(text) {
    let count = 0;
    for (const _ of text) count++;
    return count;
  }

  function newEntry(data, element) {
    const entry = { data, element, length: 0, thinkingLength: 0, live: false, summarizing: false, continuing: false };
    messages.set(data.id, entry);
    return entry;
  }

  function continuesShownPath(data) {
    const ids = [...messages.keys()];
    return data.parent_id === (ids.length ? ids[ids.length - 1] : null);
  }

  function lastEntry() {
    let last = null;
    for (const entry of messages.values()) last = entry;
    return last;
  }

  // The parts the page adds to every message: pin toggle, Copy; for replies the rendered
  // text, thinking and Continue.
  function addParts(entry) {
    const { element, data } = entry;
    const head = element.querySelector(".message-head");
    const pin = document.createElement("button");
    pin.type = "button";
    pin.className = "link pin-button";
    pin.textContent = "Pin";
    pin.title = "Pinned messages are kept word for word when earlier messages are summarized";
    pin.addEventListener("click", () => togglePin(entry));
    head.append(pin);
    addTextParts(entry, { onRender: () => autoscroll.follow() });
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
    const actions = document.createElement("div");
    actions.className = "actions";
    const continueButton = document.createElement("button");
    continueButton.type = "button";
    continueButton.className = "continue-button";
    continueButton.textContent = "Continue";
    continueButton.hidden = true;
    continueButton.addEventListener("click", () => continueReply(entry));
    actions.append(continueButton);
    element.append(actions);
  }

  function upsertMessage(data, { keepLive = false } = {}) {
    let entry = messages.get(data.id);
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
    placeSummary();
    autoscroll.follow();
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
  }

  // Reply text (`chat.delta`) and thinking (`chat.thinking`): each its own offsets.
  function applyStream(frame, kind) {
    const entry = messages.get(frame.message_id);
    if (!entry) return resync(false);
    const thinking = kind === "thinking";
    const have = thinking ? entry.thinkingLength : entry.length;
    const { offset, text } = frame;
    if (offset > have) {
      // Frames were lost on the way: the database has everything up to its last save.
      resync(false);
      return;
    }
    const skip = have - offset;
    const fresh = skip === 0 ? text : Array.from(text).slice(skip).join("");
    if (!fresh) return;
    const changed = entry.summarizing || entry.data.status !== "streaming";
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
    if (changed) renderDetails(entry);
    autoscroll.follow();
  }

  function replaceAll(all) {
    // The stored state decides again whether a reply can be continued.
    for (const entry of messages.values()) entry.continuing = false;
    const keep = new Set(all.map((m) => m.id));
    for (const [id, entry] of messages) {
      if (!keep.has(id)) {
        entry.element.remove();
        messages.delete(id);
      }
    }
    for (const data of all) upsertMessage(data, { keepLive: true });
    placeSummary();
  }

  function renderPin(entry) {
    const pinned = Boolean(entry.data.is_pinned);
    entry.element.classList.toggle("pinned", pinned);
    entry.element.querySelector(".pin-button").setAttribute("aria-pressed", pinned ? "true" : "false");
  }

  function isRunning(data) {
    return data.status === "pending" || data.status === "streaming";
  }

  function renderDetails(entry) {
    const { data, element } = entry;
    const details = element.querySelector(".details");
    const parts = [];
    if (data.role === "assistant") {
      if (isRunning(data)) {
        parts.push(entry.summarizing ? "Summarizing earlier messages…" : "Claude is replying…");
      }
      if (data.status === "stopped") parts.push("Stopped");
      if (data.status === "interrupted") parts.push("Interrupted");
      if (data.status === "error") parts.push(`Error: ${data.error_detail || "the reply failed"}`);
      if (data.stop_reason === "stop_sequence") parts.push(`Stopped at “${data.stop_sequence}”`);
      else if (data.stop_reason && data.stop_reason !== "end_turn") {
        parts.push(STOP_REASON_WORDS[data.stop_reason] || `Stopped (${data.stop_reason})`);
      }
      if (data.continuations) parts.push(data.continuations === 1 ? "Continued once" : `Continued ${data.continuations} times`);
      const tokens = tokenWords(data.usage || {});
      if (tokens) parts.push(tokens);
      if (data.cost_usd != null) parts.push(formatCost(data.cost_usd));
      if (data.duration_ms != null) parts.push(`${(data.duration_ms / 1000).toFixed(1)} s`);
    }
    // E.g. which older images were left out of the request.
    if (data.notice) parts.push(data.notice);
    details.textContent = parts.join(" · ");
  }

  // "1,234 in tokens (1,000 read from cache, 200 written to cache) · 56 out tokens (12 thinking)":
  // the input counts every prompt token, cached or not.
  function tokenWords(usage) {
    if (usage.output_tokens == null) return "";
    const read = usage.cache_read_input_tokens || 0;
    const written = usage.cache_creation_input_tokens || 0;
    const input = (usage.input_tokens || 0) + read + written;
    const cache = [];
    if (read) cache.push(`${formatNumber(read)} read from cache`);
    if (written) cache.push(`${formatNumber(written)} written to cache`);
    let words = `${formatNumber(input)} in tokens${cache.length ? ` (${cache.join(", ")})` : ""}`;
    words += ` · ${formatNumber(usage.output_tokens)} out tokens`;
    if (usage.thinking_tokens) words += ` (${formatNumber(usage.thinking_tokens)} thinking)`;
    return words;
  }

  function generating() {
    for (const { data } of messages.values()) {
      if (isRunning(data)) return data;
    }
    return null;
  }

  function canContinue(entry) {
    const { data } = entry;
    if (data.role !== "assistant" || entry.continuing || !data.text.trim()) return false;
    return CONTINUABLE_STOP_REASONS.has(data.stop_reason) || CONTINUABLE_STATUSES.has(data.status);
  }

  function updateComposer() {
    const running = generating();
    stopButton.hidden = !running;
    sendButton.hidden = Boolean(running);
    // Continue: only on the last reply of the shown branch, and not while anything runs.
    const last = lastEntry();
    const target = last && !running && canContinue(last) ? last : null;
    if (continueShownOn && continueShownOn !== target) {
      continueShownOn.element.querySelector(".continue-button").hidden = true;
    }
    if (target) target.element.querySelector(".continue-button").hidden = false;
    continueShownOn = target;
  }

  function send() {
    // Never without an image the person attached: wait for the uploads, then send what the
    // composer holds by then. An upload that fails meanwhile stops the send, so the person
    // sees it before anything goes out.
    if (tray.uploading()) {
      if (waitingForUploads) return;
      waitingForUploads = true;
      showError("Waiting for images to upload…");
      tray.settled().then((allUploaded) => {
        waitingForUploads = false;
        if (allUploaded) send();
        else showError("An image could not be uploaded (see above). Remove it, then send again.");
      });
      return;
    }
    const text = textarea.value;
    if (!text.trim() && !tray.ready().length) return showError("Type a message or attach an image first.");
    const frame = { type: "send", text, client_id: crypto.randomUUID() };
    const prefill = prefillField.hidden ? "" : prefillInput.value;
    if (prefill) frame.prefill = prefill;
    const attachments = tray.ready();
    if (attachments.length) frame.attachments = attachments.map((a) => a.id);
    if (!sendFrame(frame)) return;
    tray.clear();
    pendingSends.set(frame.client_id, { text, prefill, attachments });
    textarea.value = "";
    prefillInput.value = "";
    saveDraft();
    showError("");
    // The person wants to see their message and the reply to it.
    autoscroll.force();
  }

  function continueReply(entry) {
    if (!sendFrame({ type: "continue", message_id: entry.data.id })) return;
    entry.continuing = true;
    showError("");
    updateComposer();
  }

  async function togglePin(entry) {
    const pinned = !entry.data.is_pinned;
    const button = entry.element.querySelector(".pin-button");
    button.disabled = true;
    try {
      const data = await api("PATCH", `${apiBase}messages/${entry.data.id}/`, { is_pinned: pinned });
      // Only the pin: the rest of a streaming reply's stored copy may be behind this page.
      entry.data.is_pinned = typeof data?.is_pinned === "boolean" ? data.is_pinned : pinned;
      renderPin(entry);
    } catch (error) {
      showError(`Could not ${pinned ? "pin" : "unpin"} the message: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // --- summaries -------------------------------------------------------------------------------
  async function loadSummaries() {
    try {
      const data = await api("GET", `${apiBase}summaries/`);
      summaries = Array.isArray(data) ? data : data?.results || [];
    } catch {
      return; // not essential: the page works without them
    }
    placeSummary();
  }

  function updateSummary(changed) {
    if (!summaries.some((s) => s.id === changed.id)) {
      loadSummaries();
      return;
    }
    summaries = summaries.map((s) => (s.id === changed.id ? { ...s, ...changed } : s));
    placeSummary();
  }

  // The summary that applies to the shown path: the one covering the latest message on it.
  function applyingSummary() {
    const order = new Map([...messages.keys()].map((id, index) => [id, index]));
    let best = null;
    for (const summary of summaries) {
      const at = order.get(summary.covers_up_to);
      if (at !== undefined && (best === null || at >= order.get(best.covers_up_to))) best = summary;
    }
    return best;
  }

  function placeSummary() {
    const summary = applyingSummary();
    if (!summary) {
      summaryBlock?.element.remove();
      return;
    }
    if (!summaryBlock) {
      summaryBlock = createSummaryBlock({
        apiBase,
        onSaved: (saved) => {
          summaries = summaries.map((s) => (s.id === saved.id ? saved : s));
        },
      });
    }
    const block = summaryBlock;
    if (block.summary?.id !== summary.id) block.stopEditing();
    block.summary = summary;
    if (!block.editing) block.show();
    const after = messages.get(summary.covers_up_to).element;
    if (after.nextElementSibling !== block.element) after.after(block.element);
  }

  // --- the conversation's totals and settings ---------------------------------------------------
  async function refreshConversation({ settings = false } = {}) {
    let conversation;
    try {
      conversation = await api("GET", apiBase);
    } catch {
      return; // the totals stay as they were
    }
    showTotals(conversation);
    if (settings) takeSettings(conversation);
  }

  // The settings as stored; the form follows unless the person is changing it right now.
  function takeSettings(conversation) {
    stored = { model: conversation.model, system: conversation.system, parameters: conversation.parameters || {} };
    modelLabel.textContent = models.get(stored.model)?.display_name || stored.model;
    updatePrefillField();
    if (!settingsPanel.dirty) settingsPanel.fill();
  }

  function showTotals(conversation) {
    const parts = [];
    const cost = conversation?.usage?.cost_usd;
    if (cost != null) parts.push(`Total ${formatCost(cost)}`);
    const context = conversation?.context;
    if (context?.budget && context.tokens != null) {
      parts.push(`Context ${formatNumber(context.tokens)} / ${formatNumber(context.budget)} tokens`);
    } else if (context?.budget) {
      parts.push(`Context budget ${formatNumber(context.budget)} tokens`);
    }
    totalsBox.textContent = parts.join(" · ");
  }

  // The API takes no prefill together with thinking (the server refuses that combination).
  function updatePrefillField() {
    prefillField.hidden = !models.get(stored.model)?.accepts_prefill || Boolean(stored.parameters?.thinking);
  }

  // --- small things ----------------------------------------------------------------------------
  function showTitle(title) {
    const shown = title || "New conversation";
    document.getElementById("conversation-title").textContent = shown;
    const link = document.querySelector('.conversation-list li[aria-current="page"] a');
    if (link) link.textContent = shown;
    document.title = `${shown} · chatsite`;
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function showConnection(text) {
    connectionBox.textContent = text;
    connectionBox.hidden = !text;
  }

  function saveDraft() {
    if (textarea.value) localStorage.setItem(draftKey, textarea.value);
    else localStorage.removeItem(draftKey);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  textarea.addEventListener("input", saveDraft);
  stopButton.addEventListener("click", () => {
    const running = generating();
    if (running) sendFrame({ type: "stop", message_id: running.id });
  });
  window.addEventListener("beforeunload", () => {
    closedForGood = true;
  });

  refreshConversation();
  loadSummaries();
  connect();
}
