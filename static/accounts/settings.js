// The settings page: copy a new token, confirm revocations, and keep a reload from posting the
// creation form again (which would make a second token and show it).

const newToken = document.querySelector("[data-new-token]");
if (newToken) {
  // The page answering the POST becomes a plain GET entry: reload shows the list, not the form
  // resubmission prompt, and the token is not shown again.
  history.replaceState(null, "", newToken.dataset.settingsUrl);
  const field = newToken.querySelector(".new-token-value");
  field.focus();
  field.select();
}

async function copyFrom(field) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(field.value);
      return true;
    } catch {
      // Permission refused: fall back to selecting the text.
    }
  }
  field.focus();
  field.select();
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

for (const button of document.querySelectorAll("[data-copy-target]")) {
  const field = document.getElementById(button.dataset.copyTarget);
  const status = button.parentElement.querySelector(".copy-status");
  button.addEventListener("click", async () => {
    const copied = await copyFrom(field);
    if (status) status.textContent = copied ? "Copied." : "Selected: press Ctrl+C (⌘C) to copy.";
  });
}

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
