/*
 * Stash Sense UI: the "Identify performers" button on gallery, image and scene pages. These pages
 * have no patch point, so the button is injected into the page's last toolbar group
 * (.gallery-toolbar-group, .image-toolbar-group, .scene-toolbar-group), idempotently, and injected
 * again when React re-renders the toolbar (a MutationObserver) or the route changes (stash:location).
 * It shows the store's state for its page: idle, busy (spinner) or results ready.
 */
(function (S) {
  "use strict";
  if (!S) return;

  var PAGES = [
    { type: "gallery", re: /\/galleries\/(\d+)(?:\/|$)/, toolbar: ".gallery-toolbar .gallery-toolbar-group:last-child, .gallery-toolbar-group:last-child" },
    { type: "image", re: /\/images\/(\d+)(?:\/|$)/, toolbar: ".image-toolbar .image-toolbar-group:last-child, .image-toolbar-group:last-child" },
  ];
  if (S.SCENES) PAGES.push({ type: "scene", re: /\/scenes\/(\d+)(?:\/|$)/, toolbar: ".scene-toolbar-group:last-child" });

  var current = null; // {type, id, page}

  // {type, id, page} for a pathname under the base path, or null on other pages.
  function pageTarget(pathname) {
    var rel = S.routePath(pathname);
    for (var i = 0; i < PAGES.length; i++) {
      var m = rel.match(PAGES[i].re);
      if (m && rel.indexOf(m[0]) === 0) return { type: PAGES[i].type, id: m[1], page: PAGES[i] };
    }
    return null;
  }

  function buttonState(target) {
    var s = S.store.state;
    var busy = S.sameTarget(s.target, target) && (s.phase === "running" || s.phase === "waiting");
    var done = S.sameTarget(s.target, target) && !s.show && s.phase === "done" && s.result;
    return busy ? "busy" : done ? "done" : "idle";
  }

  function renderButton(btn, target) {
    var state = buttonState(target);
    var busy = state === "busy";
    if (btn.getAttribute("data-state") === state && btn.getAttribute("data-target-id") === String(target.id)) return;
    btn.setAttribute("data-state", state);
    btn.setAttribute("data-target-id", String(target.id));
    btn.setAttribute("aria-busy", busy ? "true" : "false");
    btn.textContent = "";
    if (busy) {
      var sp = document.createElement("span");
      sp.className = "spinner-border spinner-border-sm stash-sense-btn-spinner";
      sp.setAttribute("role", "status");
      btn.appendChild(sp);
    } else {
      var ic = S.iconElement(S.ICONS.identify);
      if (ic) btn.appendChild(ic);
    }
    var label = document.createElement("span");
    label.className = "stash-sense-btn-label";
    label.textContent = busy ? " Identifying…" : state === "done" ? " Results ready" : " Identify performers";
    btn.appendChild(label);
    btn.title = busy ? "Stash Sense is identifying performers; click to watch" : "Identify performers with Stash Sense (face recognition)";
  }

  function inject() {
    if (!current) return;
    var group = document.querySelector(current.page.toolbar);
    var btn = document.getElementById("stash-sense-identify");
    if (btn && group && btn.parentNode !== group) {
      btn.parentNode.removeChild(btn);
      btn = null;
    }
    if (!group) return;
    if (!btn) {
      btn = document.createElement("button");
      btn.id = "stash-sense-identify";
      btn.type = "button";
      btn.className = "btn btn-secondary minimal stash-sense-btn";
      btn.addEventListener("click", function () {
        if (current) S.openFor({ type: current.type, id: current.id });
      });
      group.insertBefore(btn, group.firstChild);
    }
    btn.setAttribute("data-target-type", current.type);
    renderButton(btn, current);
  }

  // the toolbar renders after its data loads, and re-renders can drop our button
  var watcher = S.domWatcher(function () {
    var btn = document.getElementById("stash-sense-identify");
    var group = current && document.querySelector(current.page.toolbar);
    if (current && (!btn || !group || btn.parentNode !== group)) inject();
  });

  S.onLocation = function (pathname) {
    var t = pageTarget(pathname || location.pathname);
    current = t;
    var old = document.getElementById("stash-sense-identify");
    if (!t) {
      if (old && old.parentNode) old.parentNode.removeChild(old);
      watcher.stop();
      return;
    }
    if (old && old.getAttribute("data-target-type") !== t.type && old.parentNode) old.parentNode.removeChild(old);
    inject();
    watcher.start();
  };

  S.store.subscribe(function () {
    var btn = document.getElementById("stash-sense-identify");
    if (btn && current) renderButton(btn, current);
  });
})(window.__stashSenseModules);
