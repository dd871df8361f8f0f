// Sidebar search: as the person types, /api/search/ results replace the conversation list.
// Everything from the server is put on the page as text (textContent, <mark> elements built
// here), never as HTML: titles and snippets are the person's and Claude's own words.

const DEBOUNCE_MS = 250;
const PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000";

const form = document.getElementById("sidebar-search");
if (form) setUp(form);

function setUp(form) {
  const input = form.querySelector("input[type=search]");
  const results = document.getElementById("sidebar-search-results");
  const more = document.getElementById("sidebar-search-more");
  const status = document.getElementById("sidebar-search-status");
  const list = form.closest("nav").querySelector(".conversation-list");
  const currentId = document.querySelector("main[data-conversation-id]")?.dataset.conversationId;
  let timer = null;
  let controller = null;
  let nextUrl = null;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    start();
  });
  input.addEventListener("input", () => {
    clearTimeout(timer);
    if (!input.value.trim()) clear();
    else timer = setTimeout(start, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && input.value) {
      event.preventDefault();
      clear();
    } else if (event.key === "ArrowDown" && !results.hidden) {
      event.preventDefault();
      links()[0]?.focus();
    }
  });
  results.addEventListener("keydown", (event) => {
    const all = links();
    const index = all.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      clear();
      input.focus();
    } else if (event.key === "ArrowDown" && index >= 0) {
      event.preventDefault();
      (all[index + 1] || (more.hidden ? all[index] : more)).focus();
    } else if (event.key === "ArrowUp" && index >= 0) {
      event.preventDefault();
      (index === 0 ? input : all[index - 1]).focus();
    }
  });
  more.addEventListener("click", () => {
    if (nextUrl) load(nextUrl, { append: true });
  });

  function links() {
    return [...results.querySelectorAll("a")];
  }

  function start() {
    const query = input.value.trim();
    if (!query) return clear();
    const url = new URL(form.dataset.searchUrl, window.location.href);
    url.searchParams.set("q", query);
    load(url.pathname + url.search, { append: false });
  }

  // Only the newest request counts: an older one still on its way is aborted.
  async function load(url, { append }) {
    controller?.abort();
    const mine = (controller = new AbortController());
    form.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: mine.signal,
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        const fields = body?.error?.fields?.q;
        throw new Error(fields?.[0] || body?.error?.message || `Search failed (${response.status}).`);
      }
      show(body, append);
    } catch (error) {
      if (error.name === "AbortError") return;
      showNotice(error.message || "Search failed.", "error");
    } finally {
      if (controller === mine) {
        controller = null;
        form.removeAttribute("aria-busy");
      }
    }
  }

  function show(body, append) {
    if (!append) results.replaceChildren();
    for (const hit of body.results) results.append(resultItem(hit));
    // Keep only path and query: the next page is on this origin whatever the proxy said.
    nextUrl = body.next ? sameOrigin(body.next) : null;
    more.hidden = !nextUrl;
    if (!body.count) {
      showNotice("No matches", "empty");
    } else {
      status.textContent = `${body.count} ${body.count === 1 ? "conversation" : "conversations"} found`;
    }
    activate(true);
  }

  function showNotice(text, kind) {
    const item = document.createElement("li");
    item.className = kind;
    item.textContent = text;
    results.replaceChildren(item);
    more.hidden = true;
    nextUrl = null;
    status.textContent = text;
    activate(true);
  }

  function resultItem(hit) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = form.dataset.conversationUrl.replace(PLACEHOLDER_ID, hit.conversation_id);
    if (hit.conversation_id === currentId) {
      item.classList.add("current");
      link.setAttribute("aria-current", "page");
    }
    const title = document.createElement("span");
    title.className = "search-title";
    // Each in its own direction: a Hebrew snippet under an English title reads right.
    title.dir = "auto";
    link.append(title);
    if (hit.message_id === null) {
      // Only the title matched: it is the snippet, with its marks.
      title.append(...segments(hit.snippet));
    } else {
      title.textContent = hit.title || "New conversation";
      const snippet = document.createElement("span");
      snippet.className = "search-snippet";
      snippet.dir = "auto";
      snippet.append(...segments(hit.snippet));
      link.append(snippet);
    }
    const notes = [];
    if (hit.match_count > 1) notes.push(`${hit.match_count} matching messages`);
    if (hit.is_archived) notes.push("archived");
    if (notes.length) {
      const meta = document.createElement("span");
      meta.className = "search-meta";
      meta.textContent = notes.join(" · ");
      link.append(meta);
    }
    item.append(link);
    return item;
  }

  function segments(parts) {
    return parts.map((part) => {
      if (!part.match) return document.createTextNode(part.text);
      const mark = document.createElement("mark");
      mark.textContent = part.text;
      return mark;
    });
  }

  function sameOrigin(address) {
    const url = new URL(address, window.location.href);
    return url.pathname + url.search;
  }

  function activate(active) {
    results.hidden = !active;
    if (list) list.hidden = active;
    if (!active) more.hidden = true;
  }

  function clear() {
    clearTimeout(timer);
    controller?.abort();
    controller = null;
    form.removeAttribute("aria-busy");
    input.value = "";
    results.replaceChildren();
    nextUrl = null;
    status.textContent = "";
    activate(false);
  }
}
