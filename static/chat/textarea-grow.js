// A textarea that grows with its text, up to a share of the window; past that it scrolls.

const MAX_SHARE = 0.4;

/** Fits `field` to its text now and on every input; returns the fitting function (call it
 * after setting the value from a script, which fires no input event). */
export function autoGrow(field) {
  function fit() {
    if (!field.isConnected) {
      window.removeEventListener("resize", fit); // an inline editor that was closed
      return;
    }
    if (!field.offsetParent) return; // not shown: nothing to measure
    const limit = Math.round(window.innerHeight * MAX_SHARE);
    field.style.height = "auto";
    // scrollHeight leaves out the borders, which border-box sizing counts.
    const wanted = field.scrollHeight + field.offsetHeight - field.clientHeight;
    field.style.height = `${Math.min(wanted, limit)}px`;
    field.style.overflowY = wanted > limit ? "auto" : "hidden";
  }
  field.addEventListener("input", fit);
  window.addEventListener("resize", fit, { passive: true });
  fit();
  return fit;
}
