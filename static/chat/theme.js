// The sidebar's theme toggle (System / Light / Dark). theme-init.js applied the stored choice
// before the first paint and provides window.chatsiteTheme; this only wires the radios to it,
// and follows a choice made in another tab.

const toggle = document.getElementById("theme-toggle");
const theme = window.chatsiteTheme;

if (toggle && theme) {
  const show = (choice) => {
    for (const radio of toggle.querySelectorAll('input[name="theme"]')) radio.checked = radio.value === choice;
  };
  show(theme.stored());
  toggle.addEventListener("change", (event) => {
    if (event.target.name === "theme") show(theme.choose(event.target.value));
  });
  window.addEventListener("storage", (event) => {
    if (event.key === theme.key || event.key === null) show(theme.apply(theme.stored()));
  });
}
