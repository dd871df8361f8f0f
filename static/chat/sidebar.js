// The sidebar's conversation list. The server renders it in date groups (conversations/
// sidebar.py); every item carries its own date group, pin and last activity, so a change made
// here (rename, pin, archive, delete, through the REST API) regroups the list in place.
// Per conversation a menu button opens one shared menu (ARIA menu pattern: arrow keys, Home,
// End, Escape). Titles are put on the page as text, never as HTML.

import { api } from "./api.js";
import "./drawer.js";

const nav = document.getElementById("sidebar");
const list = document.getElementById("conversation-list");
if (nav && list) {
  setUp(nav, list);
  // The menu buttons are on the page before this module runs; tests wait for this.
  nav.dataset.ready = "true";
}

function setUp(nav, list) {
  const message = document.getElementById("sidebar-message");
  const archivedView = nav.hasAttribute("data-archived-view");
  const currentId = document.querySelector("main[data-conversation-id]")?.dataset.conversationId;
  const menu = createMenu();
  const deleteDialog = createDeleteDialog();
  let menuOwner = null; // the <li> whose menu is open

  // --- the menu --------------------------------------------------------------------------------
  list.addEventListener("click", (event) => {
    const button = event.target.closest(".item-menu-button");
    if (!button) return;
    const item = button.closest("li");
    if (menuOwner === item) closeMenu({ focus: true });
    else openMenu(item, "first");
  });
  list.addEventListener("keydown", (event) => {
    const button = event.target.closest(".item-menu-button");
    if (button && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      openMenu(button.closest("li"), event.key === "ArrowDown" ? "first" : "last");
    }
  });
  menu.addEventListener("keydown", (event) => {
    const items = [...menu.querySelectorAll("[role=menuitem]")];
    const index = items.indexOf(document.activeElement);
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: items.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      items[(moves[event.key] + items.length) % items.length].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      closeMenu({ focus: true });
    } else if (event.key === "Tab") {
      closeMenu({ focus: false });
    }
  });
  menu.addEventListener("click", (event) => {
    const action = event.target.closest("[data-action]")?.dataset.action;
    const item = menuOwner;
    if (!action || !item) return;
    closeMenu({ focus: action !== "rename" });
    ACTIONS[action](item);
  });
  // A press anywhere else closes it. It is fixed in place: it follows its button when the list
  // scrolls (which can happen just after it opened, as a click scrolls its target into view).
  document.addEventListener("pointerdown", (event) => {
    if (menuOwner && !menu.contains(event.target) && !menuOwner.contains(event.target)) closeMenu({ focus: false });
  });
  const follow = () => {
    if (menuOwner) place(menu, menuOwner.querySelector(".item-menu-button"));
  };
  list.addEventListener("scroll", follow, { passive: true });
  window.addEventListener("resize", follow);

  function openMenu(item, focusWhich) {
    closeMenu({ focus: false });
    const button = item.querySelector(".item-menu-button");
    menuOwner = item;
    menu.querySelector('[data-action="pin"]').textContent = isPinned(item) ? "Unpin" : "Pin";
    menu.querySelector('[data-action="archive"]').textContent = archivedView ? "Unarchive" : "Archive";
    menu.setAttribute("aria-label", `Options for ${titleOf(item)}`);
    item.append(menu); // right after its button: Tab order and reading order stay together
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    button.setAttribute("aria-controls", menu.id);
    place(menu, button);
    const items = menu.querySelectorAll("[role=menuitem]");
    items[focusWhich === "last" ? items.length - 1 : 0].focus();
  }

  function closeMenu({ focus }) {
    if (!menuOwner) return;
    const button = menuOwner.querySelector(".item-menu-button");
    menuOwner = null;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.removeAttribute("aria-controls");
    if (focus) button.focus();
  }

  // Fixed to the viewport so the list's scrolling box cannot clip it; above the button when
  // there is no room below. (Style properties set from script are allowed by the CSP.)
  function place(menu, button) {
    const anchor = button.getBoundingClientRect();
    const height = menu.offsetHeight;
    const width = menu.offsetWidth;
    const below = anchor.bottom + 4;
    const top = below + height > window.innerHeight - 8 ? Math.max(8, anchor.top - height - 4) : below;
    const left = Math.min(Math.max(8, anchor.right - width), window.innerWidth - width - 8);
    menu.style.top = `${top}px`;
    menu.style.left = `${left}px`;
  }

  // --- the actions -----------------------------------------------------------------------------
  const ACTIONS = {
    rename: startRename,
    pin: (item) => run(item, { is_pinned: !isPinned(item) }, (data) => `${data.is_pinned ? "Pinned" : "Unpinned"} “${shownTitle(data)}”.`),
    archive: (item) =>
      run(item, { is_archived: !archivedView }, (data) =>
        data.is_archived ? `Archived “${shownTitle(data)}”. It is under Archived conversations.` : `“${shownTitle(data)}” is back in the conversation list.`,
      ),
    delete: confirmDelete,
  };

  async function run(item, payload, describe) {
    try {
      const data = await api("PATCH", urlOf(item), payload);
      showMessage(describe(data));
      update(item, data, { focus: true });
    } catch (error) {
      showMessage(error.message, "error");
    }
  }

  function startRename(item) {
    const link = item.querySelector("a");
    const button = item.querySelector(".item-menu-button");
    const input = document.createElement("input");
    input.type = "text";
    input.className = "rename-input";
    input.value = item.dataset.title;
    input.maxLength = 200;
    input.placeholder = "New conversation";
    input.autocomplete = "off";
    input.setAttribute("aria-label", `New title for “${titleOf(item)}”`);
    input.setAttribute("aria-describedby", message.id);
    link.hidden = true;
    button.hidden = true;
    item.prepend(input);
    input.focus();
    input.select();
    let saving = false;
    let finished = false;

    const finish = ({ focus }) => {
      if (finished) return;
      finished = true;
      input.remove();
      link.hidden = false;
      button.hidden = false;
      if (focus) button.focus();
    };
    const save = async () => {
      const title = input.value.trim();
      if (!title) {
        input.setAttribute("aria-invalid", "true");
        showMessage("A title cannot be empty: type one, or press Escape to keep the old one.", "error");
        return;
      }
      if (title === item.dataset.title) return finish({ focus: true });
      saving = true;
      input.readOnly = true;
      try {
        const data = await api("PATCH", urlOf(item), { title });
        finish({ focus: false });
        showMessage(`Renamed to “${shownTitle(data)}”.`);
        update(item, data, { focus: true });
      } catch (error) {
        saving = false;
        input.readOnly = false;
        input.setAttribute("aria-invalid", "true");
        showMessage(error.fields?.title?.[0] || error.message, "error");
        input.focus();
      }
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        showMessage("");
        finish({ focus: true });
      } else if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        if (!saving) save();
      }
    });
    input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
    // Leaving the field cancels (Enter is the one way to save); a save under way finishes.
    input.addEventListener("blur", () => {
      if (!saving) finish({ focus: false });
    });
  }

  async function confirmDelete(item) {
    const title = titleOf(item);
    const confirmed = await deleteDialog.ask(title);
    if (!confirmed) {
      item.querySelector(".item-menu-button")?.focus();
      return;
    }
    try {
      await remove(urlOf(item));
    } catch (error) {
      showMessage(error.message, "error");
      return;
    }
    if (item.dataset.id === currentId) {
      // Its page is gone: go home (the list there no longer has it).
      window.location.assign(nav.dataset.homeUrl);
      return;
    }
    showMessage(`Deleted “${title}”.`);
    removeItem(item);
  }

  // Another tab (or this one's header) changed a conversation: chat.js passes the socket's
  // `conversation.updated` frame on as this event.
  document.addEventListener("chatsite:conversation-updated", (event) => {
    const data = event.detail;
    const item = data?.id && list.querySelector(`li[data-id="${CSS.escape(data.id)}"]`);
    if (item) update(item, data, { focus: false });
  });

  // --- the list --------------------------------------------------------------------------------
  function update(item, data, { focus }) {
    if (typeof data.title === "string") {
      item.dataset.title = data.title;
      item.querySelector("a").textContent = shownTitle(data);
    }
    if (typeof data.is_pinned === "boolean") item.dataset.pinned = String(data.is_pinned);
    // A rename is activity (updated_at moves to now); pinning and archiving are not.
    const updated = data.updated_at ? Date.parse(data.updated_at) / 1000 : NaN;
    if (updated > Number(item.dataset.updated)) {
      item.dataset.updated = String(updated);
      item.dataset.dateGroup = "today";
      item.dataset.dateLabel = "Today";
    }
    if (typeof data.is_archived === "boolean" && data.is_archived !== archivedView) {
      removeItem(item, { focus });
      return;
    }
    render();
    if (focus) item.querySelector(".item-menu-button")?.focus();
  }

  function removeItem(item, { focus = true } = {}) {
    if (menuOwner === item) closeMenu({ focus: false });
    const items = [...list.querySelectorAll("li.conversation-item")];
    const index = items.indexOf(item);
    const next = items[index + 1] || items[index - 1];
    item.remove();
    render();
    if (focus) (next?.querySelector("a") || document.getElementById("sidebar-search-input"))?.focus();
  }

  // Pinned first, then newest first (a stable sort keeps the server's order for ties); a
  // group heading wherever the group changes. Sorted by time, each date group is one run.
  function render() {
    const focused = document.activeElement;
    const items = [...list.querySelectorAll("li.conversation-item")];
    items.sort((a, b) => isPinned(b) - isPinned(a) || Number(b.dataset.updated) - Number(a.dataset.updated));
    const groups = new Map();
    for (const item of items) {
      const [key, label] = isPinned(item) ? ["pinned", "Pinned"] : [item.dataset.dateGroup, item.dataset.dateLabel];
      if (!groups.has(key)) groups.set(key, groupElement(key, label));
      groups.get(key).querySelector("ul").append(item);
    }
    for (const old of list.querySelectorAll(".conversation-group, .empty")) old.remove();
    list.append(...groups.values());
    if (!items.length) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = archivedView ? "No archived conversations." : "No conversations yet.";
      list.append(empty);
    }
    // Moving a focused element out of the document and back drops its focus: give it back.
    if (focused && focused !== document.activeElement && list.contains(focused)) focused.focus();
  }

  function groupElement(key, label) {
    const section = document.createElement("section");
    section.className = "conversation-group";
    section.dataset.group = key;
    section.setAttribute("aria-labelledby", `sidebar-group-${key}`);
    const heading = document.createElement("h2");
    heading.className = "group-heading";
    heading.id = `sidebar-group-${key}`;
    heading.textContent = label;
    section.append(heading, document.createElement("ul"));
    return section;
  }

  function showMessage(text, kind = "info") {
    message.textContent = text;
    message.dataset.kind = kind;
    message.hidden = !text;
  }

  function urlOf(item) {
    return `${nav.dataset.apiUrl}${item.dataset.id}/`;
  }
}

// Deleting what is already gone (another tab did it) is what was wanted.
async function remove(url) {
  try {
    await api("DELETE", url);
  } catch (error) {
    if (error.status !== 404) throw error;
  }
}

function isPinned(item) {
  return item.dataset.pinned === "true";
}

function titleOf(item) {
  return item.dataset.title || "New conversation";
}

function shownTitle(data) {
  return data.title || "New conversation";
}

function createMenu() {
  const menu = document.createElement("div");
  menu.className = "item-menu";
  menu.id = "conversation-menu";
  menu.setAttribute("role", "menu");
  menu.hidden = true;
  for (const [action, label] of [
    ["rename", "Rename"],
    ["pin", "Pin"],
    ["archive", "Archive"],
    ["delete", "Delete…"],
  ]) {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "menuitem");
    button.tabIndex = -1;
    button.dataset.action = action;
    button.textContent = label;
    menu.append(button);
  }
  return menu;
}

// A modal <dialog> (showModal traps focus, Escape cancels) that names the conversation.
function createDeleteDialog() {
  const dialog = document.createElement("dialog");
  dialog.className = "confirm-dialog";
  dialog.setAttribute("aria-labelledby", "delete-dialog-title");
  dialog.setAttribute("aria-describedby", "delete-dialog-text");
  const form = document.createElement("form");
  form.method = "dialog";
  const heading = document.createElement("h2");
  heading.id = "delete-dialog-title";
  const text = document.createElement("p");
  text.id = "delete-dialog-text";
  text.textContent = "The conversation and all its messages will be deleted. This cannot be undone.";
  const buttons = document.createElement("div");
  buttons.className = "dialog-buttons";
  const cancel = document.createElement("button");
  cancel.value = "cancel";
  cancel.className = "secondary";
  cancel.textContent = "Cancel";
  const confirm = document.createElement("button");
  confirm.value = "delete";
  confirm.className = "danger-button";
  confirm.textContent = "Delete";
  buttons.append(cancel, confirm);
  form.append(heading, text, buttons);
  dialog.append(form);
  document.body.append(dialog);
  return {
    ask(title) {
      heading.textContent = `Delete “${title}”?`;
      dialog.returnValue = "";
      dialog.showModal();
      cancel.focus(); // the safe choice is the default one
      return new Promise((resolve) => {
        dialog.addEventListener("close", () => resolve(dialog.returnValue === "delete"), { once: true });
      });
    },
  };
}
