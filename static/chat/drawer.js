// Small screens (layout.css's breakpoint): the sidebar is an off-canvas drawer, opened by a
// button at the start of the conversation header. While open it is modal: the conversation
// is inert, Escape, the close button or a press outside close it, and focus moves into the
// drawer and back to the button. On wide screens none of this applies.

const SMALL = window.matchMedia("(max-width: 640px)");
const nav = document.getElementById("sidebar");
const main = document.querySelector("main");
let toggle = null;
let backdrop = null;

if (nav && main) setUp();

function setUp() {
  toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "drawer-toggle";
  toggle.id = "drawer-toggle";
  toggle.setAttribute("aria-controls", nav.id);
  toggle.setAttribute("aria-expanded", "false");
  toggle.setAttribute("aria-label", "Conversations");
  toggle.append(menuIcon());
  const header = main.querySelector(".conversation-header");
  if (header) {
    header.prepend(toggle);
  } else {
    // The home page has no header: a bar of its own.
    const bar = document.createElement("div");
    bar.className = "drawer-bar";
    bar.append(toggle);
    main.prepend(bar);
  }
  backdrop = document.createElement("div");
  backdrop.className = "drawer-backdrop";
  backdrop.hidden = true;
  nav.after(backdrop);

  toggle.addEventListener("click", () => (drawerIsOpen() ? drawerClose() : drawerOpen()));
  backdrop.addEventListener("click", () => drawerClose());
  document.getElementById("drawer-close")?.addEventListener("click", () => drawerClose());
  // Registered before shortcuts.js's listener (it imports this module): an Escape that closes
  // the drawer is taken here and stops nothing else. Fields and menus inside that use Escape
  // themselves mark it handled first.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented || !drawerIsOpen()) return;
    if (document.querySelector("dialog[open]")) return; // the dialog's own Escape
    event.preventDefault();
    drawerClose();
  });
  SMALL.addEventListener("change", () => {
    if (!SMALL.matches) drawerClose({ focus: false });
  });
}

export function drawerIsOpen() {
  return Boolean(nav?.classList.contains("open"));
}

// Returns whether the sidebar is now shown (always, on a wide screen).
export function drawerOpen({ focus = true } = {}) {
  if (!nav || !toggle) return false;
  if (!SMALL.matches) return true;
  nav.classList.add("open");
  backdrop.hidden = false;
  toggle.setAttribute("aria-expanded", "true");
  if (focus) nav.querySelector('button:not([hidden]), a[href], input:not([type="hidden"])')?.focus();
  main.inert = true;
  return true;
}

export function drawerClose({ focus = true } = {}) {
  if (!drawerIsOpen()) return;
  nav.classList.remove("open");
  backdrop.hidden = true;
  toggle.setAttribute("aria-expanded", "false");
  main.inert = false;
  if (focus) toggle.focus();
}

function menuIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  for (const [name, value] of Object.entries({
    "aria-hidden": "true",
    focusable: "false",
    width: "20",
    height: "20",
    viewBox: "0 0 24 24",
    fill: "none",
    stroke: "currentColor",
    "stroke-width": "2",
    "stroke-linecap": "round",
  })) {
    svg.setAttribute(name, value);
  }
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M4 6h16M4 12h16M4 18h16");
  svg.append(path);
  return svg;
}
