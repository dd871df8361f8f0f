// The conversation's WebSocket: reconnects with backoff, resyncs on every (re)connect, queues
// frames given while it is away, and tells a refusal (session ended, conversation gone) from a
// lost connection. Frames are documented in docs/websocket.md.
//
// The first connection opens as soon as this module runs: chat.html also loads it on its own
// (async, in <head>, the conversation named in a <meta>), so the handshake and the first state
// overlap the page's parsing and setup, which for a long conversation take a while.
// createSocket takes that socket over, with the frames it received meanwhile.

function socketUrl(conversationId) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/conversations/${conversationId}/`;
}

let early = openEarly();

function openEarly() {
  const meta = document.querySelector('meta[name="chatsite-conversation"]');
  if (!meta?.content) return null;
  const socket = new WebSocket(socketUrl(meta.content));
  const opened = { conversationId: meta.content, socket, frames: [], taken: false };
  // Until taken over: ask for the state at once, and keep what comes.
  socket.addEventListener("open", () => {
    if (!opened.taken) socket.send(JSON.stringify({ type: "resync" }));
  });
  socket.addEventListener("message", (event) => {
    if (!opened.taken) opened.frames.push(event.data);
  });
  return opened;
}

// The early socket for this conversation, once, if it is still connecting or open.
function takeEarly(conversationId) {
  const found = early;
  early = null;
  if (!found || found.conversationId !== conversationId) {
    found?.socket.close();
    return null;
  }
  found.taken = true;
  const state = found.socket.readyState;
  if (state === WebSocket.CONNECTING || state === WebSocket.OPEN) return found;
  return null; // closed meanwhile: a new connection finds out why
}

/**
 * `onFrame(frame)`: every frame received. `onStatus(text)`: a line for the person ("" when
 * connected). `onGone(frames)`: the socket will not come back; `frames` were never sent.
 */
export function createSocket({ conversationId, apiBase, onFrame, onStatus, onGone }) {
  let socket = null;
  let retryDelay = 500;
  let closedForGood = false;
  let opened = false;
  let lastResync = 0;
  // Frames given while the socket is (re)connecting: sent, in order, once it opens. Safe to
  // send late because every send carries a client_id the server deduplicates on.
  const outbox = [];

  function connect() {
    const taken = takeEarly(conversationId);
    socket = taken ? taken.socket : new WebSocket(socketUrl(conversationId));
    socket.addEventListener("open", () => {
      opened = true;
      retryDelay = 500;
      onStatus("");
      // Whatever happened while we were away is in the database: start from it.
      resync(true);
      while (outbox.length) socket.send(JSON.stringify(outbox.shift()));
    });
    socket.addEventListener("message", (event) => onFrame(JSON.parse(event.data)));
    if (taken && socket.readyState === WebSocket.OPEN) {
      // It opened (and asked for the state) before the page was ready for it.
      opened = true;
      lastResync = Date.now();
    }
    if (taken) {
      // After the caller has set up (frames are handled as if they came now), before any
      // frame still to come.
      queueMicrotask(() => taken.frames.splice(0).forEach((data) => onFrame(JSON.parse(data))));
    }
    socket.addEventListener("close", async (event) => {
      if (closedForGood) return;
      const wasOpen = opened;
      opened = false;
      // A refused handshake reaches the browser as a bare 1006: ask the API why.
      const reason = event.code === 4401 || event.code === 4404 ? event.code : wasOpen ? null : await refusal();
      if (reason) {
        closedForGood = true;
        onGone(outbox.splice(0));
        onStatus(reason === 4401 ? "Your session has ended. Reload the page to log in again." : "This conversation no longer exists.");
        return;
      }
      onStatus("Connection lost. Reconnecting…");
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

  // At most one full resync a second unless forced: a gap stays open until the next save of
  // the reply.
  function resync(force) {
    const now = Date.now();
    if (!force && now - lastResync < 1000) return;
    lastResync = now;
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resync" }));
  }

  /** Sends `frame` now or once connected; false when the socket will not come back. */
  function send(frame) {
    if (closedForGood) return false;
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    else outbox.push(frame);
    return true;
  }

  window.addEventListener("beforeunload", () => {
    closedForGood = true;
  });
  connect();
  return { send, resync };
}
