/*
 * Stash Sense UI, part 1 of the files the manifest lists under `ui.javascript`: "Identify
 * performers" on gallery, image and scene pages, and the results modal.
 *
 * Plain JavaScript, no bundler, no bundled libraries. Stash serves /plugin/stash_sense/javascript as
 * the listed files CONCATENATED in order, so each file is one IIFE: this one checks the page and opens
 * the namespace `window.__stashSenseModules`; every later file adds its part to it (and does nothing
 * when it is null); main.js (last) starts the UI and removes the namespace again.
 *
 * Everything comes from window.PluginApi: React/ReactDOM, react-bootstrap (libraries.Bootstrap),
 * FontAwesome icon definitions (libraries.FontAwesomeSolid), the Event target (`stash:location`) and
 * StashService.getClient() (to refresh Stash's own Apollo cache after a write). Requests go to
 * `<base href>graphql` so Stash behind a reverse proxy sub-path works.
 *
 * Order: core, icons, api, explain, store, identify, seek, widgets, progress, error-view, candidate,
 * person, result-actions, keyboard, results, modal, buttons, page-review, page-unknown, page (the
 * Stash Sense page at /plugin/stash-sense), find-everywhere (the performer page's button), main.
 */
(function () {
  "use strict";

  var api = window.PluginApi;
  if (!api || !api.React || !api.ReactDOM) {
    if (window.console) console.error("[Stash Sense] window.PluginApi is missing; the UI is disabled.");
    window.__stashSenseModules = null;
    return;
  }
  if (window.__stashSenseLoaded) {
    window.__stashSenseModules = null; // loaded twice (e.g. plugin reload): keep the first copy
    return;
  }
  window.__stashSenseLoaded = true;

  var React = api.React;
  var libs = api.libraries || {};
  var S = {
    PLUGIN_ID: "stash_sense",
    DOWNLOAD_TASK: "Download/update face database",
    VERSION: "0.1.0",
    SCENES: true, // the scene page button (identify_scene)
    api: api,
    React: React,
    ReactDOM: api.ReactDOM,
    h: React.createElement,
    B: libs.Bootstrap || {},
    FA: libs.FontAwesomeSolid || {},
  };
  window.__stashSenseModules = S;

  S.baseURL = function () {
    var el = document.querySelector("base");
    var href = (el && el.getAttribute("href")) || "/";
    return href.charAt(href.length - 1) === "/" ? href : href + "/";
  };

  S.url = function (path) {
    return S.baseURL() + path.replace(/^\//, "");
  };

  // The route under the base path: "/stash/galleries/3" behind a /stash/ proxy -> "/galleries/3".
  S.routePath = function (pathname) {
    var base = "";
    try {
      base = new URL(S.baseURL(), location.href).pathname.replace(/\/$/, "");
    } catch (_) {
      /* keep "" */
    }
    return base && pathname.indexOf(base) === 0 ? pathname.slice(base.length) : pathname;
  };

  // Stash's page of a gallery, scene or image.
  S.itemURL = function (type, id) {
    var path = type === "gallery" ? "galleries/" : type === "scene" ? "scenes/" : "images/";
    return S.url(path + encodeURIComponent(id));
  };

  S.thumbURL = function (imageId) {
    return S.url("image/" + encodeURIComponent(imageId) + "/thumbnail");
  };

  // 75.4 -> "1:15", 3725 -> "1:02:05"
  S.clock = function (seconds) {
    var t = Math.max(0, Math.floor(Number(seconds) || 0));
    var hh = Math.floor(t / 3600);
    var mm = Math.floor((t % 3600) / 60);
    var ss = t % 60;
    var two = function (n) {
      return (n < 10 ? "0" : "") + n;
    };
    return hh ? hh + ":" + two(mm) + ":" + two(ss) : mm + ":" + two(ss);
  };

  S.cx = function () {
    return Array.prototype.filter.call(arguments, Boolean).join(" ");
  };

  // Stash renders a page's parts after their data loads, and its re-renders can drop what we
  // injected: `check` runs (debounced) after DOM changes until `stop`.
  S.domWatcher = function (check) {
    var observer = null;
    return {
      start: function () {
        if (observer || !window.MutationObserver) return;
        var pending = false;
        observer = new MutationObserver(function () {
          if (pending) return;
          pending = true;
          setTimeout(function () {
            pending = false;
            check();
          }, 30);
        });
        observer.observe(document.body, { childList: true, subtree: true });
      },
      stop: function () {
        if (observer) observer.disconnect();
        observer = null;
      },
    };
  };

  S.plural = function (n, one, many) {
    return n + " " + (n === 1 ? one : many || one + "s");
  };

  S.pct = function (confidence) {
    var p = Math.max(0, Math.min(1, Number(confidence) || 0)) * 100;
    if (p >= 99 && p < 100) return (Math.floor(p * 10) / 10).toFixed(1) + "%";
    return Math.round(p) + "%";
  };

  S.BAND = {
    auto: { label: "auto-apply", variant: "success", hint: "confident enough to apply automatically" },
    review: { label: "review", variant: "warning", hint: "likely, but check before adding" },
    low: { label: "low", variant: "secondary", hint: "weak match" },
  };
})();
