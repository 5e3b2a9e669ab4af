/* Stash Sense UI, last of the files listed in the manifest: mounts the modal, follows Stash's route
   (stash:location) for the page buttons, publishes window.StashSense and closes the namespace. */
(function (S) {
  "use strict";
  if (!S) return;

  var mounted = false;
  function mount() {
    if (mounted) return;
    mounted = true;
    var el = document.createElement("div");
    el.id = "stash-sense-root";
    document.body.appendChild(el);
    if (S.ReactDOM.createRoot) S.ReactDOM.createRoot(el).render(S.h(S.IdentifyModal));
    else S.ReactDOM.render(S.h(S.IdentifyModal), el);
  }

  // the page buttons: "Identify performers" (buttons.js), "Find everywhere" (find-everywhere.js)
  function onLocation(pathname) {
    S.onLocation(pathname);
    S.onPerformerLocation(pathname);
  }

  function start() {
    mount();
    if (S.api.Event && S.api.Event.addEventListener) {
      S.api.Event.addEventListener("stash:location", function (e) {
        var loc = e && e.detail && e.detail.data && e.detail.data.location;
        onLocation(loc && loc.pathname);
      });
    }
    onLocation(location.pathname);
  }

  // for tests and other plugins: open the modal for a target without a button
  window.StashSense = { identify: S.openFor, close: S.closeModal, version: S.VERSION };
  delete window.__stashSenseModules; // every part has what it needs; nothing else should reach in

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})(window.__stashSenseModules);
