// Claude's replies as Markdown, safe by construction and cheap to follow while they stream.
//
// Model output is untrusted: markdown-it parses it with raw HTML off and only http:, https:,
// mailto: and #fragment links; images never load (a link to the address stands in); code
// fences are highlighted only for languages highlight.js knows; DOMPurify sanitizes last with
// a strict allow-list, and its hook gives every link rel/target. What cannot be rendered
// safely or in time (too deep, too long, too slow, or a parser error) is shown as plain text.
//
// A text is rendered as a row of blocks, cut at blank lines where no Markdown construct can
// continue (see BlockScanner). A streaming reply renders each finished block once and only
// re-renders the open tail, at most once per animation frame; when the reply is done it is
// rendered once more from scratch, so what stays on screen is exactly a fresh render.

import markdownit from "../vendor/markdown-it/markdown-it.esm.min.js";
import createDOMPurify from "../vendor/dompurify/purify.es.js";
import hljs from "../vendor/highlightjs/highlight.min.js";
import { copyFromButton, createCopyButton } from "./clipboard.js";

// Low, so hostile nesting costs little; markdown-it drops what lies deeper, so a block that
// gets near it is shown as plain text instead (nothing is lost).
const MAX_NESTING = 20;
// A block whose render takes longer is shown as plain text (and is not tried again).
const BLOCK_BUDGET_MS = 50;
// Longer blocks are shown as plain text without trying.
const MAX_BLOCK_CHARS = 100_000;
const MAX_HIGHLIGHT_CHARS = 20_000;
const MAX_LANGUAGE_LABEL = 24;
const ALLOWED_SCHEMES = new Set(["http", "https", "mailto"]);

// highlight.js's own names and aliases -> its name: only these ever reach a class attribute.
const LANGUAGES = new Map();
for (const name of hljs.listLanguages()) {
  LANGUAGES.set(name, name);
  for (const alias of hljs.getLanguage(name)?.aliases || []) LANGUAGES.set(alias.toLowerCase(), name);
}

/** Links and image addresses that may appear: http(s), mailto and in-page #fragments. */
export function isAllowedUrl(url) {
  // Browsers ignore leading spaces and control characters before a scheme.
  const value = String(url).replace(/^[\u0000-\u0020]+/, "");
  if (value.startsWith("#")) return true;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value);
  return Boolean(scheme) && ALLOWED_SCHEMES.has(scheme[1].toLowerCase());
}

const md = markdownit({ html: false, linkify: true, typographer: false, maxNesting: MAX_NESTING });
// markdown-it calls this on every link, autolink, linkified URL, image and reference after
// decoding entities and escapes: a refused address leaves the Markdown as text.
md.validateLink = isAllowedUrl;
const escapeHtml = md.utils.escapeHtml;

md.renderer.rules.fence = (tokens, idx) => {
  const token = tokens[idx];
  const info = token.info ? md.utils.unescapeAll(token.info).trim() : "";
  return codeBlock(token.content, info.split(/\s+/, 1)[0]);
};
md.renderer.rules.code_block = (tokens, idx) => codeBlock(tokens[idx].content, "");

// The info string is model output: it is only ever shown as escaped text; the class comes
// from highlight.js's own list of names.
function codeBlock(code, requested) {
  const language = LANGUAGES.get(requested.toLowerCase());
  let body = null;
  if (language && code.length <= MAX_HIGHLIGHT_CHARS) {
    try {
      body = hljs.highlight(code, { language, ignoreIllegals: true }).value;
    } catch {
      body = null;
    }
  }
  const label = requested.length > MAX_LANGUAGE_LABEL ? `${requested.slice(0, MAX_LANGUAGE_LABEL)}…` : requested;
  return (
    `<div class="md-code"><div class="md-code-head"><span class="md-code-lang">${escapeHtml(label || "text")}</span></div>` +
    `<pre><code class="hljs${language ? ` language-${language}` : ""}">${body ?? escapeHtml(code)}</code></pre></div>\n`
  );
}

// Images are never loaded: a link showing the address opens it in a new tab when clicked.
md.renderer.rules.image = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  const src = token.attrGet("src") || "";
  const alt = self.renderInlineAsText(token.children || [], options, env);
  const label = `Image${alt ? `: ${alt}` : ""}`;
  const address = src ? md.normalizeLinkText(src) : "";
  if (!/^https?:/i.test(src) || insideLink(tokens, idx)) {
    const shown = address ? `${label} (${address})` : label;
    return `<span class="md-image md-image-inert">${escapeHtml(shown)}</span>`;
  }
  return (
    `<a class="md-image" href="${escapeHtml(src)}" title="Open the image in a new tab">` +
    `<span class="md-image-label">${escapeHtml(label)}</span> <span class="md-image-url">${escapeHtml(address)}</span></a>`
  );
};

function insideLink(tokens, idx) {
  let depth = 0;
  for (let i = 0; i < idx; i++) {
    if (tokens[i].type === "link_open") depth++;
    else if (tokens[i].type === "link_close") depth--;
  }
  return depth > 0;
}

// Table alignment arrives as a style attribute, which the CSP and the sanitizer refuse: a class.
md.core.ruler.push("chatsite_align", (state) => {
  for (const token of state.tokens) {
    if (token.type !== "th_open" && token.type !== "td_open") continue;
    const align = /text-align:(left|center|right)/.exec(token.attrGet("style") || "");
    token.attrs = null;
    if (align) token.attrSet("class", `md-align-${align[1]}`);
  }
});

const purifier = createDOMPurify(window);
const SANITIZE = {
  ALLOWED_TAGS: [
    "a", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
  ],
  ALLOWED_ATTR: ["href", "title", "class", "start"],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|#)/i,
  RETURN_DOM_FRAGMENT: true,
};
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName !== "A") return;
  const href = node.getAttribute("href");
  if (href !== null && !isAllowedUrl(href)) node.removeAttribute("href");
  node.setAttribute("target", "_blank");
  node.setAttribute("rel", "noopener noreferrer nofollow");
});

// Sources that were too slow once: shown as plain text from then on.
const slowSources = new Set();

function rememberSlow(source) {
  if (slowSources.size > 200) slowSources.clear();
  slowSources.add(source);
}

/** The sanitized, decorated rendering of one block, or null when it must stay plain text. */
function renderHtml(source, env) {
  if (source.length > MAX_BLOCK_CHARS || slowSources.has(source)) return null;
  const started = performance.now();
  let fragment;
  try {
    const tokens = md.parse(source, env);
    if (tokens.some((token) => token.nesting === 1 && token.level >= MAX_NESTING - 1)) return null;
    fragment = purifier.sanitize(md.renderer.render(tokens, md.options, env), SANITIZE);
  } catch {
    return null;
  }
  if (performance.now() - started > BLOCK_BUDGET_MS) {
    rememberSlow(source);
    return null;
  }
  for (const head of fragment.querySelectorAll(".md-code-head")) {
    head.append(createCopyButton({ className: "md-code-copy", title: "Copy the code" }));
  }
  return fragment;
}

// Every code block's Copy, in one listener: a long conversation has hundreds of them.
document.addEventListener("click", (event) => {
  const button = event.target.closest?.(".md-code-copy");
  const code = button?.closest(".md-code")?.querySelector("pre code");
  if (code) copyFromButton(button, code.textContent);
});

/** Fills `element` with the rendering of `source`; false when it fell back to plain text. */
function fillBlock(element, source, env) {
  const fragment = renderHtml(source, env);
  element.classList.toggle("md-plain", !fragment);
  if (fragment) element.replaceChildren(fragment);
  else element.textContent = source;
  return Boolean(fragment);
}

function newBlock(className = "md-block") {
  const element = document.createElement("div");
  element.className = className;
  return element;
}

/** The reference definitions of the whole text (`[label]: address`), for every block. */
function referencesOf(text) {
  if (!/^ {0,3}\[[^\]\n]+\]:/m.test(text)) return { references: {} };
  const env = {};
  try {
    // The block pass alone collects them, as markdown-it's core would after normalizing.
    md.block.parse(text.replace(/\r\n?/g, "\n").replace(/\0/g, "\uFFFD"), md, env, []);
  } catch {
    return { references: {} };
  }
  return { references: env.references || {} };
}

/** A fresh rendering of the whole `text` as a fragment of block elements. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const env = referencesOf(text);
  for (const source of splitBlocks(text)) {
    const block = newBlock();
    fillBlock(block, source, env);
    fragment.append(block);
  }
  return fragment;
}

/** The blocks of a finished text, in order; joined they are the text. */
export function splitBlocks(text) {
  const scanner = new BlockScanner();
  scanner.scan(text, true);
  const blocks = [];
  let start = 0;
  for (const cut of scanner.cuts) {
    blocks.push(text.slice(start, cut));
    start = cut;
  }
  if (start < text.length || !blocks.length) blocks.push(text.slice(start));
  return blocks;
}

/**
 * Finds where a text can be cut into blocks that render alone exactly as they do together:
 * after one or more blank lines outside a fenced code block, before a line that starts at
 * column 0 and cannot be a list item (which could continue a list above). An indented line
 * may belong to a list item above, so it never starts a block. Reading is incremental: a
 * growing text is only scanned from where the last call stopped.
 */
class BlockScanner {
  constructor() {
    this.pos = 0; // the start of the first line not read yet
    this.fence = null; // the open fence: {char, length}
    this.blank = false; // the last line read was blank
    this.content = false; // the current block has a non-blank line
    this.cuts = []; // offsets where a block starts (after the first)
  }

  scan(text, final) {
    while (this.pos < text.length) {
      const newline = text.indexOf("\n", this.pos);
      if (newline === -1 && !final) {
        this.peek(text.slice(this.pos));
        return;
      }
      const end = newline === -1 ? text.length : newline;
      this.read(text.slice(this.pos, end).replace(/\r$/, ""), this.pos, true);
      this.pos = newline === -1 ? text.length : newline + 1;
    }
  }

  read(line, at, complete) {
    if (this.fence) {
      const close = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(line);
      if (close && close[1][0] === this.fence.char && close[1].length >= this.fence.length) this.fence = null;
      return;
    }
    if (/^[ \t]*$/.test(line)) {
      this.blank = true;
      return;
    }
    if (this.blank && this.content && startsBlock(line, complete) === "yes") this.cuts.push(at);
    this.blank = false;
    this.content = true;
    const open = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    // A backtick fence's info string has no backticks (else it is inline code).
    if (open && !(open[1][0] === "`" && open[2].includes("`"))) {
      this.fence = { char: open[1][0], length: open[1].length };
    }
  }

  // The line being written: a block may already start there, once its start is certain.
  peek(partial) {
    if (this.fence || !this.blank || !this.content || !partial) return;
    if (startsBlock(partial, false) !== "yes") return;
    this.cuts.push(this.pos);
    this.blank = false; // the cut is made; the full line is read later
  }
}

// "yes", "no", or "unknown" (a partial line that may still become a list marker).
function startsBlock(line, complete) {
  const first = line[0];
  if (first === " " || first === "\t") return "no";
  if (first === "-" || first === "+" || first === "*") {
    if (line.length < 2) return complete ? "no" : "unknown";
    return line[1] === " " || line[1] === "\t" ? "no" : "yes";
  }
  const digits = /^\d{1,9}/.exec(line);
  if (!digits) return "yes";
  const after = line[digits[0].length];
  if (after === undefined) return complete ? "yes" : "unknown";
  if (after !== "." && after !== ")") return "yes";
  const next = line[digits[0].length + 1];
  if (next === undefined) return complete ? "no" : "unknown";
  return next === " " || next === "\t" ? "no" : "yes";
}

/**
 * Renders one message's growing text into `element`: finished blocks once each, the open
 * tail at most once per animation frame. `finish(text)` renders the final text from scratch.
 * Counters on the element (data-block-renders, data-tail-renders, data-full-renders) let
 * tests see how much work was done.
 */
export class StreamingRenderer {
  constructor(element, { onRender = null } = {}) {
    this.element = element;
    this.onRender = onRender;
    this.pending = null;
    this.frame = 0;
    this.text = "";
    this.finishedText = null;
    this.tail = null; // no blocks of a stream on screen (nothing yet, or a finished render)
    this.counts = { block: 0, tail: 0, full: 0 };
  }

  /** The text so far (it normally grows; anything else starts the blocks over). */
  update(text) {
    this.finishedText = null;
    this.pending = text;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  /** The final text: rendered once, from scratch, now. `quiet`: without calling onRender
   * (a reply rendered away from the stream's end, whose caller follows once for many). */
  finish(text, { quiet = false } = {}) {
    this.cancel();
    if (this.finishedText === text) return;
    this.finishedText = text;
    this.text = text;
    this.tail = null;
    this.element.replaceChildren(renderMarkdown(text));
    this.counts.full++;
    this.report({ quiet });
  }

  cancel() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.pending = null;
  }

  flush() {
    this.frame = 0;
    const text = this.pending;
    this.pending = null;
    if (text === null) return;
    if (!this.tail || !text.startsWith(this.text)) this.startOver();
    this.text = text;
    this.scanner.scan(text, false);
    const cuts = this.scanner.cuts;
    for (; this.done < cuts.length; this.done++) {
      const start = this.done ? cuts[this.done - 1] : 0;
      const block = newBlock();
      fillBlock(block, text.slice(start, cuts[this.done]), this.env);
      this.tail.before(block);
      this.counts.block++;
      this.tailPlain = false; // a new tail gets a new chance
    }
    const tailSource = text.slice(cuts.length ? cuts[cuts.length - 1] : 0);
    if (tailSource !== this.tailSource) {
      this.tailSource = tailSource;
      if (this.tailPlain) {
        this.tail.classList.add("md-plain");
        this.tail.textContent = tailSource;
      } else {
        // A copy: a half-written definition in the tail must not fix a reference for good.
        const env = { references: { ...this.env.references } };
        const started = performance.now();
        const rendered = fillBlock(this.tail, tailSource, env);
        this.tailPlain = !rendered || performance.now() - started > BLOCK_BUDGET_MS;
      }
      this.counts.tail++;
    }
    this.report();
  }

  // Blocks from the start of the text (a new stream, a continued reply, a resync that replaced
  // the text): rendered in this same frame, so nothing flickers.
  startOver() {
    this.scanner = new BlockScanner();
    this.done = 0; // finished blocks on screen
    this.env = { references: {} };
    this.tail = newBlock("md-block md-tail");
    this.tailSource = null;
    this.tailPlain = false;
    this.element.replaceChildren(this.tail);
  }

  report({ quiet = false } = {}) {
    this.element.dataset.blockRenders = String(this.counts.block);
    this.element.dataset.tailRenders = String(this.counts.tail);
    this.element.dataset.fullRenders = String(this.counts.full);
    if (!quiet) this.onRender?.();
  }
}
