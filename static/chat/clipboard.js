// Copying text for the person, and saying so to screen readers.

let liveRegion = null;

/** Says `text` through one shared, visually hidden status region. */
export function announce(text) {
  if (!liveRegion) {
    liveRegion = document.createElement("p");
    liveRegion.className = "visually-hidden";
    liveRegion.setAttribute("role", "status");
    liveRegion.id = "copy-status";
    document.body.append(liveRegion);
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

/**
 * A small Copy button: copies what `getText()` returns, then reads "Copied" for a moment
 * (and says it to screen readers).
 */
export function createCopyButton({ getText, label = "Copy", className = "copy-button", title = "" }) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = label;
  if (title) button.title = title;
  let timer = 0;
  button.addEventListener("click", async () => {
    const copied = await copyText(getText());
    button.textContent = copied ? "Copied" : "Copy failed";
    button.dataset.copied = copied ? "true" : "false";
    announce(copied ? "Copied to the clipboard" : "Could not copy to the clipboard");
    clearTimeout(timer);
    timer = setTimeout(() => {
      button.textContent = label;
      delete button.dataset.copied;
    }, 1500);
  });
  return button;
}
