// The conversation page: one WebSocket per tab (socket.js), following the conversation's
// stream, plus the REST calls for settings, pins and summaries. Frames are documented in
// docs/websocket.md. Text is always inserted as text, never as HTML; Claude's replies are also
// shown rendered as sanitized Markdown (message-text.js, markdown.js). The messages shown:
// message-list.js; per message Edit, Regenerate, Retry, Continue and the versions "‹ 2/3 ›"
// (message-actions.js, message-editor.js) and the details line (message-details.js).
// Images: attachments.js; the settings form: settings-panel.js; summaries: summaries.js;
// totals and the context meter: context-meter.js.

import { api, csrfToken } from "./api.js";
import { createAttachmentTray } from "./attachments.js";
import { createAutoscroll } from "./autoscroll.js";
import { createContextMeter } from "./context-meter.js";
import { openEditor } from "./message-editor.js";
import { createMessageList } from "./message-list.js";
import { createSettingsPanel } from "./settings-panel.js";
import { createSocket } from "./socket.js";
import { createSummaries } from "./summaries.js";
import { autoGrow } from "./textarea-grow.js";

const main = document.querySelector("main.conversation[data-conversation-id]");

// Forms that ask before submitting (delete), without inline handlers (strict CSP).
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

if (main) startConversation(main);

function startConversation(main) {
  const conversationId = main.dataset.conversationId;
  const apiBase = `/api/conversations/${conversationId}/`;
  const form = document.getElementById("composer");
  const textarea = document.getElementById("composer-text");
  const prefillField = document.getElementById("prefill-field");
  const prefillInput = document.getElementById("prefill-text");
  const sendButton = document.getElementById("send-button");
  const stopButton = document.getElementById("stop-button");
  const errorBox = document.getElementById("composer-error");
  const connectionBox = document.getElementById("connection");
  const modelLabel = document.getElementById("conversation-model");
  const draftKey = `chatsite:draft:${conversationId}`;
  const autoscroll = createAutoscroll(document.getElementById("messages"));
  const meter = createContextMeter(document.getElementById("conversation-totals"));

  // client_id -> {text, prefill, attachments}, restored into the composer on error
  const pendingSends = new Map();
  // client_id -> {messageId, text} of an edit, reopened in its editor on error
  const pendingEdits = new Map();
  // A select/regenerate/edit went out and its answer has not come: actions wait for it.
  let awaiting = false;
  let waitingForUploads = false; // a send is held until the images finish uploading
  let lastConversation = null; // GET /api/conversations/<id>/, for the totals

  // The socket first (socket.js opened it while the page loaded): the server gathers the
  // conversation's state while this page sets up its messages; frames are handled after this
  // function has run.
  const socket = createSocket({
    conversationId,
    apiBase,
    onFrame: (frame) => {
      handleFrame(frame);
      updateComposer();
    },
    onStatus: showConnection,
    // What was typed but never sent goes back where it was written.
    onGone: (frames) => frames.forEach((frame) => restorePending(frame.client_id)),
  });

  // The conversation's settings as stored, and what is known about the models.
  const initialSettings = JSON.parse(document.getElementById("conversation-settings").textContent);
  let stored = { model: initialSettings.model, system: initialSettings.system, parameters: initialSettings.parameters };
  const models = new Map([[initialSettings.model_info.id, initialSettings.model_info]]);
  const shown = createMessageList({
    list: document.getElementById("messages"),
    on: { pin: togglePin, edit: (entry) => startEdit(entry, entry.data.text), regenerate, select, continue: continueReply },
    changed: () => summaries.place(),
    follow: () => autoscroll.follow(),
    gap: () => socket.resync(false),
    // The message left the page (another tab chose another version): the composer keeps it.
    editLost: (text) => {
      if (textarea.value) return;
      setComposerText(text);
      showError("The message you were editing is no longer shown: your text is in the message box.");
    },
    // A User Timing mark (bench/page_load.py) once every reply is rendered as Markdown.
    allRendered: markAllRendered,
  });
  const summaries = createSummaries({ apiBase, messages: shown.messages });
  shown.adopt(JSON.parse(document.getElementById("initial-messages").textContent));
  textarea.value = localStorage.getItem(draftKey) || "";
  const fitComposer = autoGrow(textarea);
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
  // The page opens at the end: the replies in view are rendered as Markdown now, the others
  // when they come near or the page is idle (render-later.js). A rendering changes heights,
  // so the end is found again until what is shown is rendered.
  for (let round = 0; round < 3 && shown.renderOnScreen(); round++) autoscroll.force();
  // User Timing marks (devtools, bench/page_load.py): the stored messages are on the page...
  performance.mark("chatsite:rendered");
  if (!shown.waiting()) markAllRendered();

  function sendFrame(frame) {
    if (socket.send(frame)) return true;
    showError("Not connected: reload the page.");
    return false;
  }

  function restorePending(clientId) {
    if (!clientId) return;
    if (pendingEdits.has(clientId)) {
      const { messageId, text } = pendingEdits.get(clientId);
      pendingEdits.delete(clientId);
      const entry = shown.get(messageId);
      if (entry && !entry.editor) startEdit(entry, text);
      else if (!textarea.value) setComposerText(text);
      return;
    }
    if (!pendingSends.has(clientId)) return;
    const { text, prefill, attachments } = pendingSends.get(clientId);
    if (!textarea.value) setComposerText(text);
    if (prefill && !prefillInput.value) prefillInput.value = prefill;
    tray.restore(attachments);
    pendingSends.delete(clientId);
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case "message.created":
        messageCreated(frame.message);
        break;
      case "message.updated": {
        const entry = shown.get(frame.message.id);
        if (!entry) {
          // A change on another branch (e.g. a reply continued from another tab) moved the
          // active path: show it anew.
          socket.resync(true);
          break;
        }
        entry.continuing = false;
        shown.upsert(frame.message, { keepLive: true });
        break;
      }
      case "message.pinned": {
        const entry = shown.get(frame.message_id);
        if (entry) {
          entry.data.is_pinned = frame.is_pinned;
          shown.renderPin(entry);
        }
        break;
      }
      case "branch.selected":
        awaiting = false;
        // Another version was chosen (here or in another tab): show its path.
        if (shown.last()?.data.id !== frame.active_leaf_id) {
          awaiting = true;
          socket.resync(true);
        }
        break;
      case "chat.delta":
        shown.applyStream(frame, "text");
        break;
      case "chat.thinking":
        shown.applyStream(frame, "thinking");
        break;
      case "chat.status": {
        const entry = shown.get(frame.message_id);
        if (entry && frame.status === "summarizing") {
          entry.summarizing = true;
          shown.renderDetails(entry);
        }
        break;
      }
      case "chat.done":
      case "chat.error": {
        const entry = shown.get(frame.message.id);
        if (entry) {
          entry.summarizing = false;
          entry.continuing = false;
        }
        shown.upsert(frame.message);
        // The reply changed the totals, and may have written a summary first.
        refreshConversation();
        summaries.load();
        break;
      }
      case "conversation.updated":
        showTitle(frame.conversation.title);
        // The sidebar (sidebar.js) follows renames, pins and archiving made in any tab.
        document.dispatchEvent(new CustomEvent("chatsite:conversation-updated", { detail: frame.conversation }));
        // Settings were saved (here or in another tab): take the stored ones.
        if ("model" in frame.conversation) refreshConversation({ settings: true });
        break;
      case "summary.updated":
        summaries.update(frame.summary);
        break;
      case "summary.created":
        // Older turns were folded (perhaps in the background after a reply): show it now.
        summaries.load();
        break;
      case "conversation.state":
        awaiting = false;
        shown.replaceAll(frame.messages);
        showTotals();
        // ...and following the live stream.
        if (!performance.getEntriesByName("chatsite:live").length) {
          performance.mark("chatsite:live");
          // The page is up: what waits to be rendered as Markdown may use its idle time.
          shown.renderRestWhenIdle();
        }
        break;
      case "error":
        awaiting = false;
        showError(frame.message);
        for (const entry of shown.messages.values()) entry.continuing = false;
        restorePending(frame.client_id);
        break;
    }
  }

  // --- messages --------------------------------------------------------------------------------
  function messageCreated(data) {
    awaiting = false;
    const last = shown.last();
    if (shown.has(data.id) || data.parent_id === (last ? last.data.id : null)) {
      shown.upsert(data);
      return;
    }
    if (data.parent_id === null || shown.has(data.parent_id)) {
      // An edit or a regeneration started a branch beside the shown one: what followed its
      // parent goes, the new message follows it at once (so its reply streams into place),
      // and the path comes again with the versions to move between.
      shown.truncateAfter(data.parent_id);
      shown.upsert(data);
    }
    socket.resync(true);
  }

  // While a reply is generating (or an answer is awaited) the server refuses new branches.
  function busy() {
    return awaiting || Boolean(shown.generating());
  }

  function updateComposer() {
    const running = shown.generating();
    stopButton.hidden = !running;
    sendButton.hidden = Boolean(running);
    shown.renderActions({ busy: busy() });
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
    setComposerText("");
    prefillInput.value = "";
    showError("");
    // The person wants to see their message and the reply to it.
    autoscroll.force();
  }

  // --- per-message actions ---------------------------------------------------------------------
  function request(frame) {
    if (!sendFrame(frame)) return false;
    awaiting = true;
    showError("");
    updateComposer();
    return true;
  }

  function startEdit(entry, text) {
    if (entry.editor) return;
    entry.editor = openEditor(entry, {
      text,
      onSave: (newText) => {
        const frame = { type: "edit", message_id: entry.data.id, text: newText, client_id: crypto.randomUUID() };
        if (!request(frame)) return false;
        pendingEdits.set(frame.client_id, { messageId: entry.data.id, text: newText });
        autoscroll.force();
        return true;
      },
      onClose: () => {
        entry.editor = null;
        shown.renderActions({ busy: busy(), force: true });
      },
    });
    shown.renderActions({ busy: busy(), force: true });
  }

  function regenerate(entry) {
    if (request({ type: "regenerate", message_id: entry.data.id })) autoscroll.force();
  }

  function select(messageId) {
    if (messageId) request({ type: "select", message_id: messageId });
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
      shown.renderPin(entry);
    } catch (error) {
      showError(`Could not ${pinned ? "pin" : "unpin"} the message: ${error.message}`);
    } finally {
      button.disabled = false;
    }
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

  function showTotals(conversation = lastConversation) {
    lastConversation = conversation;
    const replies = [...shown.messages.values()].filter((e) => e.data.role === "assistant").map((e) => e.data);
    meter.update({ conversation, replies });
  }

  // The API takes no prefill together with thinking (the server refuses that combination).
  function updatePrefillField() {
    prefillField.hidden = !models.get(stored.model)?.accepts_prefill || Boolean(stored.parameters?.thinking);
  }

  // --- small things ----------------------------------------------------------------------------
  function markAllRendered() {
    if (!performance.getEntriesByName("chatsite:all-rendered").length) performance.mark("chatsite:all-rendered");
  }

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

  function setComposerText(text) {
    textarea.value = text;
    fitComposer();
    saveDraft();
  }

  function saveDraft() {
    if (textarea.value) localStorage.setItem(draftKey, textarea.value);
    else localStorage.removeItem(draftKey);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  // Enter sends; Shift+Enter (and Enter while an input method composes) breaks the line.
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  textarea.addEventListener("input", saveDraft);
  stopButton.addEventListener("click", () => {
    const running = shown.generating();
    if (running) sendFrame({ type: "stop", message_id: running.id });
  });

  showTotals(null);
  refreshConversation();
  summaries.load();
}
