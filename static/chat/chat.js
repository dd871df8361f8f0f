// The conversation page: one WebSocket per tab, following the conversation's stream.
// Frames are documented in docs/websocket.md. Text is always inserted as text, never as HTML.

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
  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const textarea = document.getElementById("composer-text");
  const sendButton = document.getElementById("send-button");
  const stopButton = document.getElementById("stop-button");
  const errorBox = document.getElementById("composer-error");
  const connectionBox = document.getElementById("connection");
  const draftKey = `chatsite:draft:${conversationId}`;

  // message id -> {data, element}
  const messages = new Map();
  const pendingSends = new Map(); // client_id -> text, restored into the composer on error
  let socket = null;
  let retryDelay = 500;
  let closedForGood = false;
  let opened = false;
  let lastResync = 0;

  for (const data of JSON.parse(document.getElementById("initial-messages").textContent)) {
    const element = list.querySelector(`[data-message-id="${data.id}"]`);
    const entry = { data, element, length: codePoints(data.text) };
    messages.set(data.id, entry);
    renderDetails(entry);
  }
  textarea.value = localStorage.getItem(draftKey) || "";
  updateComposer();
  scrollToBottom(true);

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/conversations/${conversationId}/`);
    socket.addEventListener("open", () => {
      opened = true;
      retryDelay = 500;
      showConnection("");
      // Whatever happened while we were away is in the database: start from it.
      resync(true);
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
      const response = await fetch(`/api/conversations/${conversationId}/`, { credentials: "same-origin" });
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

  // Offsets count Unicode code points, as the server does; JS string lengths count UTF-16 units.
  function codePoints(text) {
    let count = 0;
    for (const _ of text) count++;
    return count;
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
      case "chat.delta":
        applyDelta(frame);
        break;
      case "chat.done":
      case "chat.error":
        upsertMessage(frame.message);
        break;
      case "conversation.updated":
        showTitle(frame.conversation.title);
        break;
      case "conversation.state":
        replaceAll(frame.messages);
        break;
      case "error":
        showError(frame.message);
        if (frame.client_id && pendingSends.has(frame.client_id)) {
          if (!textarea.value) textarea.value = pendingSends.get(frame.client_id);
          pendingSends.delete(frame.client_id);
          saveDraft();
        }
        break;
    }
    updateComposer();
  }

  function continuesShownPath(data) {
    const ids = [...messages.keys()];
    return data.parent_id === (ids.length ? ids[ids.length - 1] : null);
  }

  function upsertMessage(data) {
    let entry = messages.get(data.id);
    if (!entry) {
      const element = document.createElement("article");
      element.className = `message ${data.role}`;
      element.dataset.messageId = data.id;
      const role = document.createElement("div");
      role.className = "role";
      role.textContent = data.role === "user" ? "You" : "Claude";
      const text = document.createElement("div");
      text.className = "text";
      const details = document.createElement("div");
      details.className = "details";
      element.append(role, text, details);
      list.append(element);
      entry = { data, element, length: 0 };
      messages.set(data.id, entry);
    }
    entry.data = data;
    entry.length = codePoints(data.text);
    entry.element.dataset.status = data.status;
    entry.element.querySelector(".text").textContent = data.text;
    renderDetails(entry);
    scrollToBottom(false);
  }

  function applyDelta(frame) {
    const entry = messages.get(frame.message_id);
    if (!entry) return resync(false);
    const have = entry.length;
    if (frame.offset > have) {
      // Frames were lost on the way: the database has everything up to its last save.
      resync(false);
      return;
    }
    const skip = have - frame.offset;
    const fresh = skip === 0 ? frame.text : Array.from(frame.text).slice(skip).join("");
    if (!fresh) return;
    entry.data.text += fresh;
    entry.length += codePoints(fresh);
    entry.data.status = "streaming";
    entry.element.dataset.status = "streaming";
    entry.element.querySelector(".text").append(document.createTextNode(fresh));
    scrollToBottom(false);
  }

  function replaceAll(all) {
    const keep = new Set(all.map((m) => m.id));
    for (const [id, entry] of messages) {
      if (!keep.has(id)) {
        entry.element.remove();
        messages.delete(id);
      }
    }
    for (const data of all) {
      const entry = messages.get(data.id);
      // Keep live text that is ahead of the last save; the next frames continue from it.
      if (entry && data.status === "streaming" && entry.length > codePoints(data.text)) continue;
      upsertMessage(data);
    }
  }

  function renderDetails(entry) {
    const { data, element } = entry;
    const details = element.querySelector(".details");
    const parts = [];
    if (data.role === "assistant") {
      if (data.status === "pending" || data.status === "streaming") parts.push("Claude is replying…");
      if (data.status === "stopped") parts.push("Stopped");
      if (data.status === "interrupted") parts.push("Interrupted");
      if (data.status === "error") parts.push(`Error: ${data.error_detail || "the reply failed"}`);
      if (data.stop_reason && data.stop_reason !== "end_turn") {
        parts.push(data.stop_reason === "stop_sequence" ? `Stopped at ${JSON.stringify(data.stop_sequence)}` : `Stop reason: ${data.stop_reason}`);
      }
      const usage = data.usage || {};
      if (usage.output_tokens != null) parts.push(`${usage.input_tokens} in / ${usage.output_tokens} out tokens`);
      if (data.duration_ms != null) parts.push(`${(data.duration_ms / 1000).toFixed(1)} s`);
    }
    details.textContent = parts.join(" · ");
  }

  function generating() {
    for (const { data } of messages.values()) {
      if (data.status === "pending" || data.status === "streaming") return data;
    }
    return null;
  }

  function updateComposer() {
    const running = generating();
    stopButton.hidden = !running;
    sendButton.hidden = Boolean(running);
  }

  function send() {
    const text = textarea.value;
    if (!text.trim()) return showError("Type a message first.");
    if (!socket || socket.readyState !== WebSocket.OPEN) return showError("Not connected yet. Try again in a moment.");
    const clientId = crypto.randomUUID();
    pendingSends.set(clientId, text);
    socket.send(JSON.stringify({ type: "send", text, client_id: clientId }));
    textarea.value = "";
    saveDraft();
    showError("");
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

  function saveDraft() {
    if (textarea.value) localStorage.setItem(draftKey, textarea.value);
    else localStorage.removeItem(draftKey);
  }

  function scrollToBottom(force) {
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    if (force || nearBottom) list.scrollTop = list.scrollHeight;
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
    if (running && socket?.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "stop", message_id: running.id }));
    }
  });
  window.addEventListener("beforeunload", () => {
    closedForGood = true;
  });

  connect();
}
