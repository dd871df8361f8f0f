// The text of a message on the conversation page.
//
// `.text` always holds the text exactly as sent or stored, inserted as text: the person's
// messages show it as typed; for Claude's replies it is the source view (and what a page
// without scripts shows). Replies are shown rendered as Markdown in `.markdown` beside it
// (markdown.js). A stored reply far from the screen may wait for its rendering
// (render-later.js): until then it shows `.text`. Every message has a Copy button that
// copies the text as stored. The buttons' clicks are handled by the list (message-list.js).

import { createCopyButton } from "./clipboard.js";
import { StreamingRenderer } from "./markdown.js";
import { cloneOf } from "./prototypes.js";

/**
 * Adds the text's parts to a message element: Copy, and for replies the rendered view and
 * the Source toggle. `onRender()` runs after every render (to follow the stream's end);
 * `later`: where replies wait for their rendering (render-later.js).
 */
export function addTextParts(entry, { head, onRender, later }) {
  const { element, data } = entry;
  head.append(cloneOf(`copy-${data.role}`, () => copyButton(data.role)));
  const source = element.querySelector(".text");
  entry.view = { source, sourceText: source.textContent, later };
  if (data.role !== "assistant") return;

  const rendered = cloneOf("markdown", () => {
    const box = document.createElement("div");
    box.className = "markdown";
    box.hidden = true; // until something is rendered in it
    return box;
  });
  source.after(rendered);
  const prefilled = cloneOf("prefilled", () => {
    const note = document.createElement("span");
    note.className = "prefilled";
    note.textContent = "Started by you";
    note.hidden = true;
    return note;
  });
  const toggle = cloneOf("source", sourceButton);
  head.append(prefilled, toggle);
  Object.assign(entry.view, { rendered, prefilled, toggle, sourceShown: false });
  entry.renderer = new StreamingRenderer(rendered, { onRender });
}

function copyButton(role) {
  // A title, not an aria-label: the button's name stays "Copy".
  const title = role === "user" ? "Copy what you wrote" : "Copy the reply as Claude wrote it (Markdown)";
  const copy = createCopyButton({ className: "link tool copy-button", title });
  copy.dataset.action = "copy";
  return copy;
}

function sourceButton() {
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "link tool source-button";
  toggle.textContent = "Source";
  toggle.title = "Show the reply as plain text, as Claude wrote it";
  toggle.setAttribute("aria-pressed", "false");
  toggle.dataset.action = "source";
  return toggle;
}

// The source when the person asked for it, or while the rendering waits; else the rendering.
function showView(entry) {
  const { source, rendered, sourceShown, later } = entry.view;
  const plain = sourceShown || later.has(entry);
  source.hidden = !plain;
  rendered.hidden = plain;
}

/** The Source button: the reply as plain text, or rendered again. */
export function toggleSource(entry) {
  const view = entry.view;
  view.sourceShown = !view.sourceShown;
  view.toggle.setAttribute("aria-pressed", view.sourceShown ? "true" : "false");
  if (!view.sourceShown && view.later.has(entry)) renderWaiting(entry);
  else showView(entry);
}

/**
 * Shows `entry.data.text`: as text, and for replies rendered (live while it streams). With
 * `defer`, a finished reply whose rendering is not on screen yet waits for it (render-later.js).
 */
export function showText(entry, { running, defer = false }) {
  const { data } = entry;
  const view = entry.view;
  const prefilled = data.role === "assistant" ? data.prefill_length || 0 : 0;
  if (!prefilled) {
    // The server's page already holds it: writing it again would be work for nothing.
    if (view.sourceText !== data.text || view.source.firstElementChild) view.source.textContent = data.text;
  } else {
    // The person's prefill is the start of the reply: marked in the source view.
    const chars = Array.from(data.text);
    const mark = document.createElement("span");
    mark.className = "prefill";
    mark.title = "You started the answer with this";
    mark.textContent = chars.slice(0, prefilled).join("");
    view.source.replaceChildren(mark, document.createTextNode(chars.slice(prefilled).join("")));
  }
  view.sourceText = data.text;
  if (!entry.renderer) return;
  view.prefilled.hidden = !prefilled;
  view.prefilled.title = prefilled ? `You started the answer with: ${Array.from(data.text).slice(0, prefilled).join("")}` : "";
  if (running) {
    view.later.forget(entry);
    entry.renderer.update(data.text);
  } else if (entry.renderer.finishedText === data.text) {
    view.later.forget(entry); // already rendered
  } else if (defer && data.text) {
    view.later.add(entry);
  } else {
    view.later.forget(entry);
    entry.renderer.finish(data.text);
  }
  showView(entry);
}

/** Renders a reply that waited (render-later.js calls this when it comes near the screen);
 * without onRender: the caller follows once for all it renders. */
export function renderWaiting(entry) {
  entry.view.later.forget(entry);
  entry.renderer.finish(entry.data.text, { quiet: true });
  showView(entry);
}

/** A streamed piece of the text: `entry.data.text` already ends with `fresh`. */
export function appendText(entry, fresh) {
  const view = entry.view;
  view.source.append(document.createTextNode(fresh));
  view.sourceText = entry.data.text;
  if (!entry.renderer) return;
  view.later.forget(entry);
  entry.renderer.update(entry.data.text);
  showView(entry);
}
