// Copying text for the person, and saying so to screen readers.

let liveRegion = null;

// The region is on the page before anything is said in it (a region added together with its
// words may go unheard): made when the page's modules load.
function region() {
  if (!liveRegion) {
    liveRegion = document.createElement("p");
    liveRegion.className = "visually-hidden";
    liveRegion.setAttribute("role", "status");
    liveRegion.id = "copy-status";
    document.body.append(liveRegion);
    return null; // just added: say nothing in it in this same task
  }
  return liveRegion;
}
if (document.body) region();

/** Says `text` through one shared, visually hidden status region. */
export function announce(text) {
  const box = region();
  if (box && box.textContent !== text) {
    box.textContent = text;
    return;
  }
  // The same words twice in a row are only read out again if the region changes in between.
  liveRegion.textContent = "";
  requestAnimationFrame(() => {
    liveRegion.textContent = text;
  });
}

/** Puts `text` on the clipboard; true when it got there. */
export async function copyText(text) {
  // The async clipboard exists only in secure contexts (HTTPS, localhost): a site served over
  // plain HTTP on a LAN falls back to the older selection-based copy.
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // e.g. permission refused: try the fallback
    }
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "visually-hidden";
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } catch {
    copied = false;
  }
  area.remove();
  return copied;
}

// The timer that turns "Copied" back into the button's label.
const resets = new WeakMap();

/** Copies `text` and says how it went on `button` for a moment (and to screen readers). */
export async function copyFromButton(button, text, label = "Copy") {
  const copied = await copyText(text);
  button.textContent = copied ? "Copied" : "Copy failed";
  button.dataset.copied = copied ? "true" : "false";
  announce(copied ? "Copied to the clipboard" : "Could not copy to the clipboard");
  clearTimeout(resets.get(button));
  resets.set(
    button,
    setTimeout(() => {
      button.textContent = label;
      delete button.dataset.copied;
    }, 1500),
  );
}

/**
 * A small Copy button. With `getText` it copies what that returns when clicked; without, it
 * has no listener of its own (a page of many messages handles all their clicks in one place
 * and calls copyFromButton).
 */
export function createCopyButton({ getText = null, label = "Copy", className = "copy-button", title = "" }) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = label;
  if (title) button.title = title;
  if (getText) button.addEventListener("click", () => copyFromButton(button, getText(), label));
  return button;
}
