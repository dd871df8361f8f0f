// The text of a message on the conversation page.
//
// `.text` always holds the text exactly as sent or stored, inserted as text: the person's
// messages show it as typed; for Claude's replies it is the source view (and what a page
// without scripts shows). Replies are shown rendered as Markdown in `.markdown` beside it
// (markdown.js). Every message has a Copy button that copies the text as stored.

import { createCopyButton } from "./clipboard.js";
import { StreamingRenderer } from "./markdown.js";

/**
 * Adds the text's parts to a message element: Copy, and for replies the rendered view and
 * the Source toggle. `onRender()` runs after every render (to follow the stream's end).
 */
export function addTextParts(entry, { onRender }) {
  const { element, data } = entry;
  const head = element.querySelector(".message-head");
  // A title, not an aria-label: the button's name stays "Copy".
  const title = data.role === "user" ? "Copy what you wrote" : "Copy the reply as Claude wrote it (Markdown)";
  head.append(createCopyButton({ getText: () => entry.data.text, className: "link tool copy-button", title }));
  if (data.role !== "assistant") return;

  const source = element.querySelector(".text");
  const rendered = document.createElement("div");
  rendered.className = "markdown";
  source.after(rendered);
  source.hidden = true;
  const prefilled = document.createElement("span");
  prefilled.className = "prefilled";
  prefilled.textContent = "Started by you";
  prefilled.hidden = true;
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "link tool source-button";
  toggle.textContent = "Source";
  toggle.title = "Show the reply as plain text, as Claude wrote it";
  toggle.setAttribute("aria-pressed", "false");
  toggle.addEventListener("click", () => {
    const showSource = source.hidden;
    source.hidden = !showSource;
    rendered.hidden = showSource;
    toggle.setAttribute("aria-pressed", showSource ? "true" : "false");
  });
  head.append(prefilled, toggle);
  entry.renderer = new StreamingRenderer(rendered, { onRender });
}

/** Shows `entry.data.text`: as text, and for replies rendered (live while it streams). */
export function showText(entry, { running }) {
  const { data, element } = entry;
  const box = element.querySelector(".text");
  const prefilled = data.role === "assistant" ? data.prefill_length || 0 : 0;
  if (!prefilled) {
    box.textContent = data.text;
  } else {
    // The person's prefill is the start of the reply: marked in the source view.
    const chars = Array.from(data.text);
    const mark = document.createElement("span");
    mark.className = "prefill";
    mark.title = "You started the answer with this";
    mark.textContent = chars.slice(0, prefilled).join("");
    box.replaceChildren(mark, document.createTextNode(chars.slice(prefilled).join("")));
  }
  if (!entry.renderer) return;
  const note = element.querySelector(".prefilled");
  note.hidden = !prefilled;
  note.title = prefilled ? `You started the answer with: ${Array.from(data.text).slice(0, prefilled).join("")}` : "";
  if (running) entry.renderer.update(data.text);
  else entry.renderer.finish(data.text);
}

/** A streamed piece of the text: `entry.data.text` already ends with `fresh`. */
export function appendText(entry, fresh) {
  entry.element.querySelector(".text").append(document.createTextNode(fresh));
  entry.renderer?.update(entry.data.text);
}
