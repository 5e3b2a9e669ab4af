/* Stash Sense UI: any error -> {kind, title, text, detail} in words a user understands (the kind
   picks the modal's error view: nodb offers the download task, starting retries by itself). */
(function (S) {
  "use strict";
  if (!S) return;

  function view(kind, title, text, detail) {
    return { kind: kind, title: title, text: text, detail: detail };
  }

  // Messages of the plugin itself (they name what it is doing), or null.
  function fromPlugin(raw) {
    if (/^no face database/i.test(raw)) {
      return view(
        "nodb",
        "No face database yet",
        "Stash Sense recognises performers by comparing faces with its face database, which has not " +
          "been downloaded yet. Download it once (it runs as a task in the background); identification " +
          "works as soon as it has finished.",
        raw
      );
    }
    if (/\b(engine|models?|worker)\b[^.]*\b(starting|loading|warming up|not ready)\b|\bstarting up\b/i.test(raw)) {
      return view(
        "starting",
        "The face engine is starting",
        "Stash Sense is loading its face models. This takes a moment the first time; retrying automatically.",
        raw
      );
    }
    return null;
  }

  // What Stash or the connection reported (login, network, plugin not loaded or killed), or null.
  function fromStash(raw, kind, detail) {
    if (kind === "network") {
      return view(
        "network",
        "Stash could not be reached",
        "The request to Stash failed. Check that Stash is running and reachable, then try again.",
        detail
      );
    }
    if (kind === "auth") {
      return view("auth", "Not logged in", "Stash refused the request. Reload the page and log in again.", detail);
    }
    if (/plugin .*not found|nil pointer/i.test(raw)) {
      return view(
        "plugin",
        "Stash Sense is not enabled",
        "Stash does not know the Stash Sense plugin. Enable it under Settings → Plugins and reload the plugins.",
        raw
      );
    }
    if (/ModuleNotFoundError|No module named|ImportError/.test(raw)) {
      return view(
        "plugin",
        "Python packages are missing",
        "The Python side of Stash Sense could not start because a package is missing. Install the plugin's " +
          "requirements into the Python that Stash uses (see the plugin's README).",
        raw
      );
    }
    if (/^exit status|signal: killed|operation cancelled/i.test(raw)) {
      return view(
        "plugin",
        "The identification stopped",
        "The Stash Sense plugin stopped before it finished (" + raw + "). The Stash log (Settings → Logs) has the details.",
        raw
      );
    }
    return null;
  }

  S.explain = function (err) {
    var raw = String((err && err.message) || err || "Unknown error");
    var detail = (err && err.detail) || raw;
    var kind = (err && err.kind) || "plugin";
    return (
      fromPlugin(raw) ||
      fromStash(raw, kind, detail) ||
      view("plugin", "Stash Sense reported a problem", raw.length > 300 ? raw.slice(0, 300) + "…" : raw, raw)
    );
  };
})(window.__stashSenseModules);
