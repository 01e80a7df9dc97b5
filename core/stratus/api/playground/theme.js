// Loaded before the page paints, so a dark theme does not flash light first (no inline script: the CSP allows
// only this server's files).
(function () {
  "use strict";
  var stored = null;
  try { stored = localStorage.getItem("stratus.theme"); } catch (e) { /* storage off */ }
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = stored === "light" || stored === "dark" ? stored : dark ? "dark" : "light";
})();
