// Starts ReDoc on the schema named by the container (no inline script: the CSP forbids it).
"use strict";
(() => {
  const container = document.getElementById("redoc-container");
  // Redoc is the global the standalone bundle defines.
  /* global Redoc */
  Redoc.init(container.dataset.schemaUrl, { hideDownloadButton: false }, container);
})();
