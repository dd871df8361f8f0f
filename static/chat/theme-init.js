// Runs synchronously at the end of <head> on every page, before the first paint, so the
// stored theme never flashes the other one. Classic script (no module): modules are deferred.
// The choice is "system" (follow prefers-color-scheme), "light" or "dark"; theme.css reads it
// from <html data-theme>. theme.js (the sidebar's toggle) calls window.chatsiteTheme.apply.
(function () {
  "use strict";
  var KEY = "chatsite:theme";
  var CHOICES = { system: true, light: true, dark: true };
  var DARK = "(prefers-color-scheme: dark)";
  var LIGHT = "not all and (prefers-color-scheme: dark)";

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return CHOICES[value] === true ? value : "system";
    } catch (error) {
      return "system"; // storage refused (privacy mode): follow the system
    }
  }

  // The highlight.js themes are linked with ids in <head>; their `media` decides which applies.
  function apply(choice) {
    if (CHOICES[choice] !== true) choice = "system";
    document.documentElement.setAttribute("data-theme", choice);
    var light = document.getElementById("hljs-light");
    var dark = document.getElementById("hljs-dark");
    if (light) light.media = choice === "system" ? LIGHT : choice === "light" ? "all" : "not all";
    if (dark) dark.media = choice === "system" ? DARK : choice === "dark" ? "all" : "not all";
    return choice;
  }

  function choose(choice) {
    choice = apply(choice);
    try {
      if (choice === "system") window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, choice);
    } catch (error) {
      // not stored: this page still shows it
    }
    return choice;
  }

  window.chatsiteTheme = { key: KEY, stored: stored, apply: apply, choose: choose };
  apply(stored());

  // The sidebar groups conversations by day in the person's time zone: tell the server which.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    // IANA names ("Europe/Lisbon") are valid cookie text as they are; anything else is skipped.
    if (/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone) && ("; " + document.cookie + ";").indexOf("; chatsite_tz=" + zone + ";") === -1) {
      document.cookie = "chatsite_tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (error) {
    // no Intl time zone: the server's is used
  }
})();
