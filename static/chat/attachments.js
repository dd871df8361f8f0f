// Images on the conversation page: the composer's tray (attach by button, drop or paste; each
// file uploads at once and can be removed), and the thumbnails shown on sent messages.
// The server decides what is acceptable; its error messages are shown as they come.
// Endpoints: POST /api/conversations/<id>/attachments/ (multipart, field `file`) and
// DELETE /api/attachments/<id>/. Text is always inserted as text, never as HTML.

// What the send frame accepts per message (the server refuses more).
const MAX_PER_MESSAGE = 20;
// Messages show thumbnails within this box (CSS pixels); the served thumbnail is <= 320 px, so
// it stays sharp on 2x screens.
const MESSAGE_THUMB_BOX = 200;
// What an item needs to be shown again after a reload or a refused send.
const KEPT_FIELDS = ["id", "name", "media_type", "width", "height", "byte_size", "token_estimate", "url", "thumbnail_url"];

/**
 * The composer's tray. `elements`: {form, textarea, button, input, box, list, total, status}.
 * `storageKey`: where the uploaded items are kept across reloads. `csrfToken()`: the token
 * for writes. `showError(text)`: the composer's error line.
 */
export function createAttachmentTray({ conversationId, elements, storageKey, csrfToken, showError }) {
  const { form, textarea, button, input, box, list, total, status } = elements;
  const uploadUrl = `/api/conversations/${conversationId}/attachments/`;
  // In the order the person attached them; that is the order they are sent in.
  // item: {name, state: "uploading"|"ready"|"failed", data (the server's answer), error,
  //        progress, request (the XHR while uploading), element, preview (blob URL), thumbnail}
  let items = [];
  // Resolvers of `settled()`, called when no upload is running any more.
  let waiters = [];

  // --- attaching ---------------------------------------------------------------------------------
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addFiles([...input.files]);
    input.value = ""; // choosing the same file again still fires `change`
  });

  // Images in the clipboard are attached. Office programs put a picture of copied cells or
  // text next to the text itself: when there is plain text, the paste stays a text paste.
  textarea.addEventListener("paste", (event) => {
    const data = event.clipboardData;
    if (!data || data.getData("text/plain")) return;
    const images = [...data.files].filter((file) => file.type.startsWith("image/"));
    if (!images.length) return;
    event.preventDefault();
    addFiles(images);
  });

  // Files dropped on the composer are attached (non-images too: the server says why it takes
  // none). `depth` counts dragenter/dragleave pairs, which fire for every child element crossed.
  let depth = 0;
  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  form.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth++;
    form.classList.add("dropping");
  });
  form.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  form.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) form.classList.remove("dropping");
  });
  form.addEventListener("drop", (event) => {
    depth = 0;
    form.classList.remove("dropping");
    const files = [...(event.dataTransfer?.files || [])];
    if (!files.length) return;
    event.preventDefault();
    addFiles(files);
  });
  // A file dropped beside the composer would make the browser open it and leave the page
  // (and the draft): refuse drops everywhere else.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (!carriesFiles(event) || form.contains(event.target)) return;
      event.preventDefault();
      if (type === "dragover") event.dataTransfer.dropEffect = "none";
    });
  }

  function addFiles(files) {
    const room = MAX_PER_MESSAGE - items.filter((item) => item.state !== "failed").length;
    if (files.length > room) {
      showError(`At most ${MAX_PER_MESSAGE} images can go with one message.`);
      files = files.slice(0, Math.max(0, room));
    }
    for (const file of files) upload(file);
    render();
  }

  // XMLHttpRequest rather than fetch: it reports upload progress, which large photos need.
  function upload(file) {
    const item = { name: file.name || "image", state: "uploading", data: null, error: "", progress: 0 };
    if (file.type.startsWith("image/")) item.preview = URL.createObjectURL(file);
    items.push(item);
    const body = new FormData();
    body.append("file", file);
    const request = new XMLHttpRequest();
    item.request = request;
    request.open("POST", uploadUrl);
    request.withCredentials = true;
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      item.progress = Math.round((event.loaded / event.total) * 100);
      updateItem(item);
    });
    request.addEventListener("load", () => {
      let answer = null;
      try {
        answer = JSON.parse(request.responseText);
      } catch {
        // not JSON (e.g. a proxy's error page)
      }
      if (request.status === 201 && answer?.id) uploaded(item, answer);
      else failed(item, answer?.error?.message || statusWords(request.status));
    });
    request.addEventListener("error", () => failed(item, "Could not reach the server. Check the connection and try again."));
    request.addEventListener("abort", () => finished(item));
    request.send(body);
  }

  function uploaded(item, answer) {
    if (!items.includes(item)) {
      // Removed while its upload was finishing: the server must forget it too.
      forget(answer.id);
      return;
    }
    item.state = "ready";
    item.data = pick(answer);
    item.name = answer.name || item.name;
    announce(`${item.name} attached.`);
    showThumbnail(item);
    finished(item);
  }

  function failed(item, message) {
    item.state = "failed";
    item.error = message;
    announce(`Could not attach ${item.name}: ${message}`);
    finished(item);
  }

  function finished(item) {
    item.request = null;
    save();
    updateItem(item);
    renderTotal();
    if (!uploading()) for (const resolve of waiters.splice(0)) resolve();
  }

  // The served thumbnail replaces the local preview once it has loaded (no blank flash).
  function showThumbnail(item) {
    if (!item.data.thumbnail_url) return;
    const probe = new Image();
    probe.addEventListener("load", () => {
      item.thumbnail = item.data.thumbnail_url;
      if (item.preview) URL.revokeObjectURL(item.preview);
      item.preview = null;
      updateItem(item);
    });
    probe.src = item.data.thumbnail_url;
  }

  // Items kept from before a reload may have been deleted on the server meanwhile: those go.
  // The browser caches thumbnails for good, so ask the server itself; an item stays when the
  // server cannot be reached (it may still be there).
  async function checkStillThere(item) {
    try {
      // HEAD: a PDF has no thumbnail, and its whole body is not needed to know it is there.
      const response = await fetch(item.data.thumbnail_url || item.data.url, { method: "HEAD", credentials: "same-origin", cache: "no-store" });
      if (response.status === 404 || response.status === 410) return drop(item);
    } catch {
      // offline: keep it
    }
    showThumbnail(item);
  }

  // --- removing ----------------------------------------------------------------------------------
  function remove(item) {
    const index = items.indexOf(item);
    drop(item);
    if (item.request) item.request.abort();
    else if (item.state === "ready") forget(item.data.id);
    announce(`${item.name} removed.`);
    // Keyboard users stay in the tray: focus the next item's button, else the previous one's,
    // else the attach button.
    const next = items[index] || items[index - 1];
    (next ? next.element.querySelector(".attachment-remove") : button).focus();
  }

  // Out of the tray; the server keeps it (or is told separately).
  function drop(item) {
    if (!items.includes(item)) return;
    items = items.filter((other) => other !== item);
    if (item.preview) URL.revokeObjectURL(item.preview);
    save();
    render();
    if (!uploading()) for (const resolve of waiters.splice(0)) resolve();
  }

  // Unsent images that the server cannot delete now are its own to clean up: nothing to tell.
  function forget(id) {
    fetch(`/api/attachments/${id}/`, {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
    }).catch(() => {});
  }

  // --- showing -----------------------------------------------------------------------------------
  // Elements already in place stay put, so a focused Remove button keeps its focus.
  function render() {
    const wanted = items.map((item) => item.element || buildItem(item));
    for (const child of [...list.children]) if (!wanted.includes(child)) child.remove();
    wanted.forEach((element, index) => {
      if (list.children[index] !== element) list.insertBefore(element, list.children[index] || null);
    });
    for (const item of items) updateItem(item);
    box.hidden = !items.length;
    renderTotal();
  }

  function buildItem(item) {
    const element = document.createElement("li");
    element.className = "attachment";
    const thumb = document.createElement("img");
    thumb.className = "attachment-thumb";
    thumb.alt = ""; // the name is written beside it
    const info = document.createElement("div");
    info.className = "attachment-info";
    const name = document.createElement("span");
    name.className = "attachment-name";
    const meta = document.createElement("span");
    meta.className = "attachment-meta";
    info.append(name, meta);
    const removeButton = document.createElement("button");
    removeButton.type = "button";
    removeButton.className = "attachment-remove";
    removeButton.textContent = "×";
    removeButton.addEventListener("click", () => remove(item));
    element.append(thumb, info, removeButton);
    item.element = element;
    return element;
  }

  function updateItem(item) {
    const element = item.element;
    if (!element) return;
    element.dataset.state = item.state;
    if (item.data) element.dataset.attachmentId = item.data.id;
    const thumb = element.querySelector(".attachment-thumb");
    const source = item.thumbnail || item.preview || "";
    if (source && thumb.getAttribute("src") !== source) thumb.src = source;
    thumb.hidden = !source;
    const name = element.querySelector(".attachment-name");
    name.textContent = item.name;
    name.title = item.name;
    const meta = element.querySelector(".attachment-meta");
    if (item.state === "uploading") meta.textContent = uploadWords(item.progress);
    else if (item.state === "failed") meta.textContent = item.error;
    else meta.textContent = `≈ ${formatNumber(item.data.token_estimate)} tokens`;
    const removeButton = element.querySelector(".attachment-remove");
    removeButton.setAttribute("aria-label", `Remove ${item.name}`);
    removeButton.title = item.state === "failed" ? "Dismiss" : "Remove";
  }

  function renderTotal() {
    const ready = items.filter((item) => item.state === "ready");
    const tokens = ready.reduce((sum, item) => sum + (item.data.token_estimate || 0), 0);
    total.textContent = ready.length ? `≈ ${formatNumber(tokens)} tokens for attachments` : "";
  }

  // Screen readers hear what happened in the tray (the list itself is not a live region).
  function announce(text) {
    status.textContent = text;
  }

  // --- keeping across reloads ----------------------------------------------------------------------
  function save() {
    const kept = items.filter((item) => item.state === "ready").map((item) => item.data);
    if (kept.length) localStorage.setItem(storageKey, JSON.stringify(kept));
    else localStorage.removeItem(storageKey);
  }

  // Items uploaded before (a reload, a refused send): back into the tray, before what was
  // attached since, unless already there.
  function restore(kept, { check = false } = {}) {
    const present = new Set(items.filter((item) => item.data).map((item) => item.data.id));
    const back = (Array.isArray(kept) ? kept : [])
      .filter((data) => data?.id && !present.has(data.id))
      .map((data) => ({ name: data.name || "image", state: "ready", data: pick(data), error: "", progress: 0 }));
    if (!back.length) return;
    items = [...back, ...items];
    for (const item of back) {
      // Thumbnails of images just sent are known to exist; stored ones are checked.
      if (check) checkStillThere(item);
      else item.thumbnail = item.data.thumbnail_url || "";
    }
    save();
    render();
  }

  let stored = [];
  try {
    stored = JSON.parse(localStorage.getItem(storageKey) || "[]");
  } catch {
    // a damaged entry: start empty
  }
  restore(stored, { check: true });

  // --- for the composer ----------------------------------------------------------------------------
  function uploading() {
    return items.some((item) => item.state === "uploading");
  }

  return {
    uploading,
    // Resolves once no upload is running; true when none of those that ran failed.
    settled() {
      const watched = items.filter((item) => item.state === "uploading");
      return new Promise((resolve) => {
        const check = () => resolve(!watched.some((item) => item.state === "failed" && items.includes(item)));
        if (!uploading()) check();
        else waiters.push(check);
      });
    },
    // The uploaded items, in order: what a send takes.
    ready() {
      return items.filter((item) => item.state === "ready").map((item) => item.data);
    },
    // After a send: the tray empties (failed items were shown, and go too).
    clear() {
      for (const item of items) {
        if (item.request) item.request.abort();
        if (item.preview) URL.revokeObjectURL(item.preview);
      }
      items = [];
      save();
      render();
    },
    restore: (kept) => restore(kept),
  };
}

// The images of a sent message, as links to the full size, before its text. Called on every
// render: rebuilt only when the set of images changed.
export function renderMessageAttachments(element, attachments) {
  const list = attachments || [];
  let box = element.querySelector(".message-attachments");
  const key = list.map((a) => a.id).join(" ");
  if (!list.length) {
    box?.remove();
    return;
  }
  if (box?.dataset.ids === key) return;
  if (!box) {
    box = document.createElement("div");
    box.className = "message-attachments";
    element.querySelector(".text").before(box);
  }
  box.dataset.ids = key;
  box.replaceChildren(
    ...list.map((attachment) => {
      const link = document.createElement("a");
      link.href = attachment.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.title = `${attachment.name} (opens full size in a new tab)`;
      // An image given by URL (through the API) has no thumbnail here, and the page may not
      // load other sites' images (CSP); other kinds of file show no picture: the name links.
      if (!attachment.thumbnail_url || !attachment.media_type?.startsWith("image/")) {
        link.className = "message-attachment-link";
        link.textContent = attachment.name || attachment.url;
        return link;
      }
      const image = document.createElement("img");
      image.src = attachment.thumbnail_url;
      image.alt = attachment.name;
      // The size it will have, known before it loads: the text below does not jump.
      const [width, height] = fitIn(attachment.width, attachment.height, MESSAGE_THUMB_BOX);
      image.width = width;
      image.height = height;
      image.decoding = "async";
      link.append(image);
      return link;
    }),
  );
}

function fitIn(width, height, side) {
  if (!(width > 0 && height > 0)) return [side, side];
  const scale = Math.min(1, side / width, side / height);
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

function pick(data) {
  const kept = {};
  for (const field of KEPT_FIELDS) if (field in data) kept[field] = data[field];
  return kept;
}

function uploadWords(progress) {
  // All bytes sent: the server is still checking and resizing the image.
  if (progress >= 100) return "Processing…";
  return progress ? `Uploading… ${progress}%` : "Uploading…";
}

function statusWords(status) {
  if (status === 413) return "This file is too large to upload.";
  if (status === 429) return "Too many uploads right now. Wait a moment and try again.";
  if (status === 0) return "Could not reach the server. Check the connection and try again.";
  return `The upload failed (the server answered ${status}).`;
}

function formatNumber(value) {
  return Number(value).toLocaleString("en-US");
}
