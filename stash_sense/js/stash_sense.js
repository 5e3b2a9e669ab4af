/*
 * Stash Sense UI: "Identify performers" on gallery and image pages, and the results modal.
 *
 * Plain JavaScript loaded by Stash through the manifest's `ui.javascript`; no bundler, no bundled
 * libraries. Everything comes from window.PluginApi: React/ReactDOM, react-bootstrap
 * (libraries.Bootstrap), FontAwesome icon definitions (libraries.FontAwesomeSolid), the Event target
 * (`stash:location`) and StashService.getClient() (used to refresh Stash's own Apollo cache after a
 * write). Requests go to `<base href>graphql` so Stash behind a reverse proxy sub-path works.
 *
 * Buttons: the gallery page has no patch point, so the button is injected into the last
 * `.gallery-toolbar-group` (idempotently, re-injected when React re-renders the toolbar); the image
 * page uses `.image-toolbar-group`, the scene page `.scene-toolbar-group` (DOM injection, like the
 * gallery: one code path for the three pages). On a scene, each person lists the time ranges they are
 * on screen; clicking one seeks the page's player (the scene page's <video> element, which is what
 * Stash's video.js player renders into).
 *
 * Plugin operations (runPluginOperation, plugin "stash_sense"): identify_gallery, identify_image,
 * identify_scene, apply, reject; errors starting with "No face database" offer the download task.
 */
(function () {
  "use strict";

  var api = window.PluginApi;
  if (!api || !api.React || !api.ReactDOM) {
    if (window.console) console.error("[Stash Sense] window.PluginApi is missing; the UI is disabled.");
    return;
  }
  if (window.__stashSenseLoaded) return; // loaded twice (e.g. plugin reload): keep the first copy
  window.__stashSenseLoaded = true;

  var PLUGIN_ID = "stash_sense";
  var DOWNLOAD_TASK = "Download/update face database";
  var SCENES = true; // the scene page button (identify_scene)
  var React = api.React;
  var ReactDOM = api.ReactDOM;
  var h = React.createElement;
  var libs = api.libraries || {};
  var B = libs.Bootstrap || {};
  var FA = libs.FontAwesomeSolid || {};
  var useState = React.useState;
  var useEffect = React.useEffect;
  var useRef = React.useRef;

  // --- helpers ----------------------------------------------------------------------------------

  function baseURL() {
    var el = document.querySelector("base");
    var href = (el && el.getAttribute("href")) || "/";
    return href.charAt(href.length - 1) === "/" ? href : href + "/";
  }

  function url(path) {
    return baseURL() + path.replace(/^\//, "");
  }

  function thumbURL(imageId) {
    return url("image/" + encodeURIComponent(imageId) + "/thumbnail");
  }

  // 75.4 -> "1:15", 3725 -> "1:02:05"
  function clock(seconds) {
    var t = Math.max(0, Math.floor(Number(seconds) || 0));
    var hh = Math.floor(t / 3600);
    var mm = Math.floor((t % 3600) / 60);
    var ss = t % 60;
    var two = function (n) {
      return (n < 10 ? "0" : "") + n;
    };
    return hh ? hh + ":" + two(mm) + ":" + two(ss) : mm + ":" + two(ss);
  }

  // Seek the scene page's player: Stash renders its video.js player into a <video> element.
  function seekTo(seconds) {
    var video = document.querySelector("video");
    if (!video) return false;
    try {
      video.currentTime = Number(seconds) || 0;
    } catch (e) {
      return false;
    }
    return true;
  }

  function cx() {
    return Array.prototype.filter.call(arguments, Boolean).join(" ");
  }

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many || one + "s");
  }

  function pct(confidence) {
    var p = Math.max(0, Math.min(1, Number(confidence) || 0)) * 100;
    if (p >= 99 && p < 100) return (Math.floor(p * 10) / 10).toFixed(1) + "%";
    return Math.round(p) + "%";
  }

  var BAND = {
    auto: { label: "auto-apply", variant: "success", hint: "confident enough to apply automatically" },
    review: { label: "review", variant: "warning", hint: "likely, but check before adding" },
    low: { label: "low", variant: "secondary", hint: "weak match" },
  };

  function iconDef(names) {
    for (var i = 0; i < names.length; i++) if (FA[names[i]]) return FA[names[i]];
    return null;
  }

  // An <svg> from a FontAwesome icon definition: {icon: [width, height, ligatures, unicode, path]}.
  function svgParts(def) {
    if (!def || !def.icon) return null;
    var d = def.icon[4];
    return { w: def.icon[0], h: def.icon[1], paths: Array.isArray(d) ? d : [d] };
  }

  function Icon(props) {
    var p = svgParts(iconDef(props.names));
    if (!p) return null;
    return h(
      "svg",
      {
        className: cx("svg-inline--fa stash-sense-icon", props.className),
        viewBox: "0 0 " + p.w + " " + p.h,
        "aria-hidden": "true",
        focusable: "false",
      },
      p.paths.map(function (d, i) {
        return h("path", { key: i, fill: "currentColor", d: d });
      })
    );
  }

  function iconElement(names) {
    var p = svgParts(iconDef(names));
    if (!p) return null;
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "svg-inline--fa stash-sense-icon");
    svg.setAttribute("viewBox", "0 0 " + p.w + " " + p.h);
    svg.setAttribute("aria-hidden", "true");
    p.paths.forEach(function (d) {
      var path = document.createElementNS(ns, "path");
      path.setAttribute("fill", "currentColor");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }

  var ICONS = {
    identify: ["faUserTag", "faUsers", "faUser"],
    check: ["faCheck"],
    plus: ["faPlus"],
    ban: ["faBan"],
    user: ["faUser"],
    warn: ["faTriangleExclamation", "faExclamationTriangle"],
    download: ["faDownload"],
    images: ["faImages", "faImage"],
    question: ["faCircleQuestion", "faQuestionCircle", "faQuestion"],
    redo: ["faRotateRight", "faRedo"],
    bolt: ["faBolt"],
  };

  // --- GraphQL ----------------------------------------------------------------------------------

  function StashError(message, kind, detail) {
    var e = new Error(message);
    e.kind = kind || "plugin";
    e.detail = detail || message;
    return e;
  }

  function gql(query, variables) {
    return fetch(url("graphql"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ query: query, variables: variables || {} }),
    }).then(
      function (r) {
        return r.text().then(function (text) {
          var body = null;
          try {
            body = JSON.parse(text);
          } catch (_) {
            /* not JSON: a proxy error page, a 502 ... */
          }
          if (body && body.errors && body.errors.length) {
            var msg = body.errors
              .map(function (e) {
                return e.message;
              })
              .join("; ");
            throw StashError(msg, r.status === 401 ? "auth" : "plugin");
          }
          if (!r.ok || !body) {
            var kind = r.status === 401 ? "auth" : r.status >= 502 && r.status <= 504 ? "network" : "http";
            throw StashError("HTTP " + r.status + " " + (r.statusText || ""), kind, text.slice(0, 500));
          }
          return body.data;
        });
      },
      function (err) {
        throw StashError(String((err && err.message) || err), "network");
      }
    );
  }

  function runOperation(args) {
    return gql("mutation StashSenseOp($id: ID!, $args: Map) { runPluginOperation(plugin_id: $id, args: $args) }", {
      id: PLUGIN_ID,
      args: args,
    }).then(function (data) {
      var out = data ? data.runPluginOperation : null;
      if (typeof out === "string") {
        try {
          out = JSON.parse(out);
        } catch (_) {
          throw StashError("The plugin answered with something that is not JSON.", "plugin", out.slice(0, 500));
        }
      }
      if (out && typeof out === "object" && out.error) throw StashError(String(out.error), "plugin");
      if (out === null || out === undefined) throw StashError("The plugin returned nothing.", "plugin");
      return out;
    });
  }

  function startDownloadTask() {
    return gql(
      "mutation StashSenseTask($id: ID!, $task: String, $desc: String) {" +
        " runPluginTask(plugin_id: $id, task_name: $task, description: $desc) }",
      { id: PLUGIN_ID, task: DOWNLOAD_TASK, desc: "Stash Sense: download the face database" }
    ).then(function (data) {
      return data.runPluginTask;
    });
  }

  function findJob(jobId) {
    return gql("query StashSenseJob($id: ID!) { findJob(input: { id: $id }) { id status progress error } }", {
      id: jobId,
    }).then(function (data) {
      return data.findJob;
    });
  }

  function targetInfo(target) {
    var q =
      target.type === "gallery"
        ? "query StashSenseTarget($id: ID!) { findGallery(id: $id) { id title image_count } }"
        : target.type === "scene"
        ? "query StashSenseTarget($id: ID!) { findScene(id: $id) { id title } }"
        : "query StashSenseTarget($id: ID!) { findImage(id: $id) { id title } }";
    return gql(q, { id: target.id })
      .then(function (d) {
        return (d && (d.findGallery || d.findScene || d.findImage)) || null;
      })
      .catch(function () {
        return null;
      });
  }

  // Let Stash's own pages (Apollo cache) show what we changed.
  function refreshStash() {
    try {
      var svc = api.utils && api.utils.StashService;
      var client = svc && svc.getClient && svc.getClient();
      if (client && client.refetchQueries) client.refetchQueries({ include: "active" });
    } catch (e) {
      if (window.console) console.warn("[Stash Sense] could not refresh the page data", e);
    }
  }

  // Turn any error into words a user understands (kind drives the modal's error view).
  function explain(err) {
    var raw = String((err && err.message) || err || "Unknown error");
    var detail = (err && err.detail) || raw;
    var kind = (err && err.kind) || "plugin";
    if (/^no face database/i.test(raw)) {
      return {
        kind: "nodb",
        title: "No face database yet",
        text:
          "Stash Sense recognises performers by comparing faces with its face database, which has not " +
          "been downloaded yet. Download it once (it runs as a task in the background); identification " +
          "works as soon as it has finished.",
        detail: raw,
      };
    }
    if (/\b(engine|models?|worker)\b[^.]*\b(starting|loading|warming up|not ready)\b|\bstarting up\b/i.test(raw)) {
      return {
        kind: "starting",
        title: "The face engine is starting",
        text: "Stash Sense is loading its face models. This takes a moment the first time; retrying automatically.",
        detail: raw,
      };
    }
    if (kind === "network") {
      return {
        kind: "network",
        title: "Stash could not be reached",
        text: "The request to Stash failed. Check that Stash is running and reachable, then try again.",
        detail: detail,
      };
    }
    if (kind === "auth") {
      return {
        kind: "auth",
        title: "Not logged in",
        text: "Stash refused the request. Reload the page and log in again.",
        detail: detail,
      };
    }
    if (/plugin .*not found|nil pointer/i.test(raw)) {
      return {
        kind: "plugin",
        title: "Stash Sense is not enabled",
        text: "Stash does not know the Stash Sense plugin. Enable it under Settings → Plugins and reload the plugins.",
        detail: raw,
      };
    }
    if (/ModuleNotFoundError|No module named|ImportError/.test(raw)) {
      return {
        kind: "plugin",
        title: "Python packages are missing",
        text:
          "The Python side of Stash Sense could not start because a package is missing. Install the plugin's " +
          "requirements into the Python that Stash uses (see the plugin's README).",
        detail: raw,
      };
    }
    if (/^exit status|signal: killed|operation cancelled/i.test(raw)) {
      return {
        kind: "plugin",
        title: "The identification stopped",
        text:
          "The Stash Sense plugin stopped before it finished (" +
          raw +
          "). The Stash log (Settings → Logs) has the details.",
        detail: raw,
      };
    }
    return {
      kind: "plugin",
      title: "Stash Sense reported a problem",
      text: raw.length > 300 ? raw.slice(0, 300) + "…" : raw,
      detail: raw,
    };
  }

  // --- state shared by the injected buttons and the modal ----------------------------------------

  var store = {
    state: { show: false, target: null, phase: "idle" },
    listeners: [],
    set: function (patch) {
      this.state = Object.assign({}, this.state, patch);
      this.listeners.forEach(function (fn) {
        fn(store.state);
      });
    },
    subscribe: function (fn) {
      this.listeners.push(fn);
      return function () {
        store.listeners = store.listeners.filter(function (l) {
          return l !== fn;
        });
      };
    },
  };

  var runSeq = 0;
  var retryTimer = null;

  function sameTarget(a, b) {
    return !!a && !!b && a.type === b.type && String(a.id) === String(b.id);
  }

  function identify(target, attempt) {
    attempt = attempt || 0;
    clearTimeout(retryTimer);
    var seq = ++runSeq;
    store.set({
      show: true,
      target: target,
      phase: "running",
      startedAt: attempt ? store.state.startedAt : Date.now(),
      attempt: attempt,
      result: null,
      error: null,
    });
    if (!attempt) {
      store.set({ info: null });
      targetInfo(target).then(function (info) {
        if (seq === runSeq || sameTarget(store.state.target, target)) store.set({ info: info });
      });
    }
    var args = { mode: "identify_" + target.type };
    args[target.type + "_id"] = String(target.id);
    return runOperation(args).then(
      function (result) {
        if (seq !== runSeq) return;
        store.set({ phase: "done", result: normalise(result) });
      },
      function (err) {
        if (seq !== runSeq) return;
        var e = explain(err);
        if (e.kind === "starting" && attempt < 8 && store.state.show) {
          store.set({ phase: "waiting", error: e, attempt: attempt + 1 });
          retryTimer = setTimeout(function () {
            if (seq === runSeq && store.state.show) identify(target, attempt + 1);
          }, Math.min(3000 + attempt * 1000, 10000));
          return;
        }
        store.set({ phase: "error", error: e });
      }
    );
  }

  function openFor(target) {
    var s = store.state;
    if (sameTarget(s.target, target) && (s.phase === "running" || s.phase === "waiting" || s.phase === "done")) {
      store.set({ show: true }); // running, or results not looked at yet: show them ("Scan again" rescans)
      return;
    }
    showStoredOrIdentify(target);
  }

  // What a bulk run (or an earlier click) left for review is shown at once, without recomputing;
  // "Scan again" identifies afresh. Nothing stored (or the lookup failing) -> identify now.
  function showStoredOrIdentify(target) {
    var seq = ++runSeq;
    store.set({ show: true, target: target, phase: "running", startedAt: Date.now(), attempt: 0,
                result: null, error: null, info: null });
    targetInfo(target).then(function (info) {
      if (sameTarget(store.state.target, target)) store.set({ info: info });
    });
    var args = { mode: "suggestions", target_type: target.type, target_id: String(target.id) };
    return runOperation(args).then(
      function (stored) {
        if (seq !== runSeq) return;
        if (stored && stored.persons && stored.persons.length) {
          store.set({ phase: "done", result: normalise(Object.assign({ stored: true }, stored)) });
        } else {
          identify(target, 0);
        }
      },
      function () {
        if (seq === runSeq) identify(target, 0);
      }
    );
  }

  function closeModal() {
    clearTimeout(retryTimer);
    if (store.state.phase === "waiting") {
      runSeq++;
      store.set({ show: false, phase: "idle" });
      return;
    }
    store.set({ show: false }); // a running identification keeps going; the button shows it
  }

  // Sort candidates (best first, rejected last) and add UI-only fields.
  function normalise(result) {
    var persons = (result.persons || []).map(function (p, i) {
      var cands = (p.candidates || []).slice().sort(function (a, b) {
        if (!!a.rejected !== !!b.rejected) return a.rejected ? 1 : -1;
        return (b.confidence || 0) - (a.confidence || 0);
      });
      return Object.assign({}, p, {
        key: p.index != null ? p.index : i,
        image_ids: (p.image_ids || []).map(String),
        candidates: cands.map(function (c) {
          return Object.assign({}, c, { busy: false, message: null, failed: null, imagesAdded: false });
        }),
      });
    });
    return Object.assign({}, result, {
      persons: persons,
      thresholds: result.thresholds || {},
      errors: result.errors || [],
    });
  }

  function firstOpenCandidate(person) {
    for (var i = 0; i < person.candidates.length; i++) if (!person.candidates[i].rejected) return i;
    return 0;
  }

  // --- the modal ---------------------------------------------------------------------------------

  function Btn(props) {
    var Button = B.Button;
    var p = Object.assign({}, props);
    delete p.children;
    if (Button) return h(Button, p, props.children);
    var cls = cx("btn", "btn-" + (p.variant || "primary"), p.size === "sm" && "btn-sm", p.className);
    delete p.variant;
    delete p.size;
    return h("button", Object.assign({ type: "button" }, p, { className: cls }), props.children);
  }

  function Spin(props) {
    if (B.Spinner) return h(B.Spinner, { animation: "border", size: props.size || "sm", role: "status" });
    return h("span", { className: "spinner-border spinner-border-sm", role: "status" });
  }

  function Badge(props) {
    var cls = cx("badge", "badge-" + (props.variant || "secondary"), props.className);
    return h("span", { className: cls, title: props.title }, props.children);
  }

  function Elapsed(props) {
    var st = useState(Date.now());
    useEffect(function () {
      var t = setInterval(function () {
        st[1](Date.now());
      }, 1000);
      return function () {
        clearInterval(t);
      };
    }, []);
    var s = Math.max(0, Math.round((st[0] - props.since) / 1000));
    return h("span", { className: "stash-sense-elapsed" }, s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s");
  }

  function Running(props) {
    var s = props.state;
    var info = s.info;
    var what =
      s.target.type === "gallery"
        ? info && info.image_count != null
          ? "Looking for faces in the " + plural(info.image_count, "image") + " of this gallery…"
          : "Looking for faces in this gallery…"
        : s.target.type === "scene"
        ? "Looking for faces in frames of this scene…"
        : "Looking for faces in this image…";
    return h(
      "div",
      { className: "stash-sense-progress", role: "status", "aria-live": "polite" },
      h("div", { className: "stash-sense-progress-line" }, h(Spin), " ", h("span", null, what)),
      h(
        "div",
        { className: "progress stash-sense-bar" },
        h("div", {
          className: "progress-bar progress-bar-striped progress-bar-animated",
          style: { width: "100%" },
        })
      ),
      h(
        "div",
        { className: "text-muted small" },
        "Elapsed ",
        h(Elapsed, { since: s.startedAt }),
        ". Large galleries take a while; you can close this window, the button shows when it is done."
      )
    );
  }

  function ErrorView(props) {
    var e = props.error;
    var dl = useState({ phase: "idle" }); // idle | starting | running | done | failed
    var d = dl[0];
    var setD = dl[1];
    var target = props.target;

    useEffect(
      function () {
        if (d.phase !== "running") return undefined;
        var alive = true;
        var t = setTimeout(function poll() {
          findJob(d.jobId).then(
            function (job) {
              if (!alive) return;
              if (!job || job.status === "FINISHED") {
                setD({ phase: "done" });
                identify(target, 0); // the database is there now: identify straight away
              } else if (job.status === "FAILED" || job.status === "CANCELLED") {
                setD({
                  phase: "failed",
                  message:
                    job.status === "CANCELLED"
                      ? "The download was cancelled."
                      : "The download failed: " + (job.error || "see Settings → Logs."),
                });
              } else {
                setD({ phase: "running", jobId: d.jobId, progress: job.progress, status: job.status });
              }
            },
            function () {
              if (alive) setD(Object.assign({}, d));
            }
          );
        }, 1500);
        return function () {
          alive = false;
          clearTimeout(t);
        };
      },
      [d]
    );

    function download() {
      setD({ phase: "starting" });
      startDownloadTask().then(
        function (jobId) {
          setD({ phase: "running", jobId: jobId, progress: null, status: "READY" });
        },
        function (err) {
          setD({ phase: "failed", message: explain(err).text });
        }
      );
    }

    var extra = null;
    if (e.kind === "nodb") {
      if (d.phase === "idle" || d.phase === "failed") {
        extra = h(
          "div",
          { className: "stash-sense-actions" },
          d.message ? h("div", { className: "text-warning mb-2 stash-sense-download-error" }, d.message) : null,
          h(
            Btn,
            { variant: "primary", onClick: download, className: "stash-sense-download" },
            h(Icon, { names: ICONS.download }),
            " ",
            d.phase === "failed" ? "Try the download again" : "Download face database"
          )
        );
      } else {
        var p = d.progress;
        extra = h(
          "div",
          { className: "stash-sense-download-status", role: "status", "aria-live": "polite" },
          h(
            "div",
            null,
            h(Spin),
            " ",
            d.phase === "starting"
              ? "Starting the download…"
              : d.phase === "done"
              ? "Face database installed. Identifying…"
              : d.status === "READY"
              ? "Download queued (Settings → Tasks shows it)…"
              : "Downloading the face database" + (p != null ? " — " + Math.round(p * 100) + "%" : "…")
          ),
          h(
            "div",
            { className: "progress stash-sense-bar" },
            h("div", {
              className: cx("progress-bar", p == null && "progress-bar-striped progress-bar-animated"),
              style: { width: (p == null ? 100 : Math.round(p * 100)) + "%" },
            })
          )
        );
      }
    } else if (e.kind === "starting") {
      extra = h(
        "div",
        { className: "stash-sense-progress-line", role: "status" },
        h(Spin),
        " Waiting for the engine",
        props.attempt ? " (attempt " + props.attempt + ")" : "",
        "…"
      );
    } else {
      extra = h(
        "div",
        { className: "stash-sense-actions" },
        h(
          Btn,
          { variant: "secondary", onClick: props.onRetry, className: "stash-sense-retry" },
          h(Icon, { names: ICONS.redo }),
          " Try again"
        )
      );
    }

    return h(
      "div",
      { className: cx("stash-sense-error", "stash-sense-error-" + e.kind), role: "alert" },
      h(
        "h5",
        null,
        h(Icon, { names: e.kind === "starting" ? ICONS.bolt : e.kind === "nodb" ? ICONS.download : ICONS.warn }),
        " ",
        e.title
      ),
      h("p", null, e.text),
      extra,
      e.detail && e.detail !== e.text
        ? h(
            "details",
            { className: "stash-sense-detail" },
            h("summary", null, "Technical details"),
            h("pre", null, e.detail)
          )
        : null
    );
  }

  function Thumbs(props) {
    var ids = props.ids;
    var max = props.max || 6;
    var shown = ids.slice(0, max);
    return h(
      "div",
      { className: "stash-sense-thumbs" },
      shown.map(function (id) {
        return h(
          "a",
          {
            key: id,
            href: url("images/" + id),
            target: "_blank",
            rel: "noopener noreferrer",
            title: "Open image " + id,
            tabIndex: -1,
          },
          h("img", { src: thumbURL(id), alt: "image " + id, loading: "lazy", className: "stash-sense-thumb" })
        );
      }),
      ids.length > max ? h("span", { className: "stash-sense-more" }, "+" + (ids.length - max)) : null
    );
  }

  function TimeRanges(props) {
    if (!props.ranges.length) return h("div", { className: "text-muted small" }, "Seen in the screenshot only.");
    return h(
      "div",
      { className: "stash-sense-times" },
      h("span", { className: "text-muted small" }, "On screen: "),
      props.ranges.map(function (r, i) {
        return h(
          "button",
          {
            key: i,
            type: "button",
            className: "btn btn-link btn-sm stash-sense-time",
            "data-start": r[0],
            title: "Play from " + clock(r[0]),
            onClick: function (ev) {
              ev.stopPropagation();
              seekTo(r[0]);
            },
          },
          clock(r[0]) + "–" + clock(r[1])
        );
      })
    );
  }

  function Candidate(props) {
    var c = props.cand;
    var t = props.targetType;
    var band = BAND[c.band] || BAND.low;
    var already = c.on_target;
    var addLabel = "Add to " + t;
    var wantImages = props.withImages && t === "gallery" && props.imageCount > 0;
    var action;
    if (c.rejected) {
      action = h(Badge, { variant: "dark", className: "stash-sense-rejected-badge" }, "Rejected");
    } else if (already && !(wantImages && !c.imagesAdded)) {
      action = h(
        "span",
        { className: "stash-sense-done text-success" },
        h(Icon, { names: ICONS.check }),
        " ",
        c.imagesAdded ? "On gallery and its images" : "On this " + t
      );
    } else {
      action = [
        h(
          Btn,
          {
            key: "add",
            variant: "primary",
            size: "sm",
            disabled: c.busy || props.locked,
            onClick: props.onAdd,
            className: "stash-sense-add",
          },
          c.busy ? h(Spin) : h(Icon, { names: ICONS.plus }),
          " ",
          already ? "Add to " + plural(props.imageCount, "image") : wantImages ? addLabel + " + images" : addLabel
        ),
      ];
    }
    var reject = c.rejected || already
      ? null
      : h(
          Btn,
          {
            key: "reject",
            variant: "outline-secondary",
            size: "sm",
            disabled: c.busy || props.locked,
            onClick: props.onReject,
            className: "stash-sense-reject",
            title: "Not this performer: Stash Sense will not propose it for this " + t + " again",
          },
          h(Icon, { names: ICONS.ban }),
          " Reject"
        );
    var countryCode = c.country ? String(c.country).toLowerCase() : "";
    return h(
      "li",
      {
        className: cx(
          "stash-sense-candidate",
          props.focused && "stash-sense-focused",
          c.rejected && "stash-sense-rejected",
          already && "stash-sense-on-target"
        ),
        "data-universal-id": c.universal_id,
        "aria-selected": props.focused ? "true" : "false",
        onMouseEnter: props.onHover,
      },
      c.image_url
        ? h("img", {
            className: "stash-sense-performer-img",
            src: c.image_url,
            alt: c.name || "",
            loading: "lazy",
            referrerPolicy: "no-referrer",
          })
        : h("div", { className: "stash-sense-performer-img stash-sense-noimg" }, h(Icon, { names: ICONS.user })),
      h(
        "div",
        { className: "stash-sense-cand-main" },
        h(
          "div",
          { className: "stash-sense-cand-name" },
          c.local_performer_id
            ? h(
                "a",
                {
                  href: url("performers/" + c.local_performer_id),
                  target: "_blank",
                  rel: "noopener noreferrer",
                  tabIndex: -1,
                },
                c.name || c.universal_id
              )
            : h("span", null, c.name || c.universal_id),
          c.disambiguation ? h("span", { className: "stash-sense-disambiguation" }, " (" + c.disambiguation + ")") : null,
          countryCode
            ? h(
                "span",
                { className: "stash-sense-country", title: c.country },
                " ",
                h("span", { className: "fi fi-" + countryCode }),
                " ",
                String(c.country).toUpperCase()
              )
            : null
        ),
        h(
          "div",
          { className: "stash-sense-cand-meta" },
          h(
            "span",
            { className: "stash-sense-confidence", title: "Calibrated confidence: " + band.hint },
            pct(c.confidence)
          ),
          " ",
          h(Badge, { variant: band.variant, className: "stash-sense-band stash-sense-band-" + c.band }, band.label),
          " ",
          already
            ? h(Badge, { variant: "info", className: "stash-sense-tag-on" }, "on " + t)
            : null,
          " ",
          c.local_performer_id
            ? h(Badge, { variant: "primary", className: "stash-sense-tag-local" }, "in your Stash")
            : h(
                Badge,
                {
                  variant: "light",
                  className: "stash-sense-tag-new",
                  title: "Adding creates this performer in your Stash",
                },
                "new performer"
              )
        ),
        c.message ? h("div", { className: "stash-sense-cand-msg text-success small" }, c.message) : null,
        c.failed ? h("div", { className: "stash-sense-cand-msg text-danger small" }, c.failed) : null
      ),
      h("div", { className: "stash-sense-cand-actions" }, action, reject)
    );
  }

  function Person(props) {
    var p = props.person;
    var t = props.targetType;
    var more = useState(false);
    // the best candidate, and other likely ones; weak guesses wait behind "Show more"
    var visible = p.candidates.filter(function (c, i) {
      return more[0] || i === 0 || (c.band !== "low" && !c.rejected) || c.on_target || i === props.focusedCand;
    });
    var hidden = p.candidates.length - visible.length;
    var n = p.image_ids.length;
    var ref = useRef(null);
    useEffect(
      function () {
        if (props.focused && ref.current && props.grabFocus) {
          ref.current.focus({ preventScroll: true });
          if (ref.current.scrollIntoView) ref.current.scrollIntoView({ block: "nearest" });
        }
      },
      [props.focused, props.grabFocus]
    );
    var label = p.unknown ? "Unknown person" : "Person " + (props.position + 1);
    return h(
      "section",
      {
        ref: ref,
        tabIndex: 0,
        className: cx("stash-sense-person", props.focused && "stash-sense-person-focused", p.unknown && "stash-sense-unknown"),
        "data-person-index": p.key,
        "aria-label": label,
        onFocus: props.onFocus,
        onClick: props.onFocus,
      },
      h(
        "div",
        { className: "stash-sense-person-side" },
        p.crop
          ? h("img", { className: "stash-sense-crop", src: p.crop, alt: "face of " + label.toLowerCase() })
          : h("div", { className: "stash-sense-crop stash-sense-noimg" }, h(Icon, { names: ICONS.user })),
        h(
          "div",
          { className: "stash-sense-person-facts" },
          h("strong", null, label),
          h(
            "div",
            { className: "text-muted small stash-sense-image-count" },
            t === "scene"
              ? "in " + plural((p.frame_times || []).length, "frame")
              : "in " + plural(n, "image") + (p.faces && p.faces !== n ? " · " + plural(p.faces, "face") : "")
          )
        )
      ),
      h(
        "div",
        { className: "stash-sense-person-main" },
        t === "scene" ? h(TimeRanges, { ranges: p.time_ranges || [] }) : h(Thumbs, { ids: p.image_ids }),
        p.unknown
          ? h(
              "div",
              { className: "stash-sense-unknown-note text-muted" },
              h(Icon, { names: ICONS.question }),
              " Not in the face database: no performer matches this face well enough.",
              p.candidates.length ? " Closest guesses:" : ""
            )
          : null,
        p.incidental && !p.unknown
          ? h(
              "div",
              { className: "stash-sense-incidental-note text-muted small" },
              "Seen in one image only, beside the main people here: never added automatically."
            )
          : null,
        t === "gallery" && n > 0 && !p.unknown
          ? h(
              "label",
              { className: "stash-sense-also-images" },
              h("input", {
                type: "checkbox",
                checked: !!props.withImages,
                onChange: function (ev) {
                  props.onToggleImages(ev.target.checked);
                },
              }),
              " Also add to the " + plural(n, "image") + " with this person"
            )
          : null,
        p.candidates.length
          ? h(
              "ul",
              { className: "stash-sense-candidates", role: "listbox", "aria-label": "Candidates for " + label },
              visible.map(function (c) {
                var idx = p.candidates.indexOf(c);
                return h(Candidate, {
                  key: c.universal_id,
                  cand: c,
                  targetType: t,
                  focused: props.focused && idx === props.focusedCand,
                  withImages: props.withImages,
                  imageCount: n,
                  locked: props.locked,
                  onAdd: function () {
                    props.onAdd(idx);
                  },
                  onReject: function () {
                    props.onReject(idx);
                  },
                  onHover: function () {
                    props.onHoverCand(idx);
                  },
                });
              })
            )
          : p.unknown
          ? null
          : h("div", { className: "text-muted" }, "No candidates."),
        hidden > 0
          ? h(
              "button",
              {
                type: "button",
                className: "btn btn-link btn-sm stash-sense-show-more",
                onClick: function () {
                  more[1](true);
                },
              },
              "Show " + plural(hidden, "more candidate")
            )
          : null
      )
    );
  }

  function Results(props) {
    var s = props.state;
    var r = s.result;
    var t = s.target.type;
    var persons = r.persons;
    var sel = useState({ person: 0, cand: persons.length ? firstOpenCandidate(persons[0]) : 0, grab: true });
    var focus = sel[0];
    var setFocus = sel[1];
    var imgOpt = useState({});
    var withImages = imgOpt[0];
    var bulk = useState(null);

    function update(pi, ci, patch) {
      var next = persons.map(function (p, i) {
        if (i !== pi) return p;
        return Object.assign({}, p, {
          candidates: p.candidates.map(function (c, j) {
            return j === ci ? Object.assign({}, c, patch) : c;
          }),
        });
      });
      r = Object.assign({}, r, { persons: next });
      persons = next;
      store.set({ result: r });
    }

    // apply -> the performer is on the target (and on the person's images if asked)
    function add(pi, ci) {
      var p = store.state.result.persons[pi];
      var c = p && p.candidates[ci];
      if (!c || c.busy || c.rejected) return Promise.resolve(false);
      persons = store.state.result.persons;
      r = store.state.result;
      var images = t === "gallery" && withImages[pi] && p.image_ids.length ? p.image_ids : null;
      if (c.on_target && !images) return Promise.resolve(false);
      update(pi, ci, { busy: true, failed: null, message: null });
      var args = { mode: "apply", target_type: t, target_id: String(s.target.id), universal_id: c.universal_id };
      if (images) args.image_ids = images;
      return runOperation(args).then(
        function (out) {
          persons = store.state.result.persons;
          r = store.state.result;
          var pid = out && out.performer_id != null ? String(out.performer_id) : c.local_performer_id;
          var msg = out && out.created ? "Created the performer in your Stash and added it." : "Added.";
          if (images) msg = msg.replace(/\.$/, "") + " Also on " + plural(images.length, "image") + ".";
          // the same performer may be proposed for other persons: it exists locally now
          var next = persons.map(function (pp) {
            return Object.assign({}, pp, {
              candidates: pp.candidates.map(function (cc) {
                return cc.universal_id === c.universal_id ? Object.assign({}, cc, { local_performer_id: pid, on_target: true }) : cc;
              }),
            });
          });
          r = Object.assign({}, r, { persons: next });
          persons = next;
          store.set({ result: r });
          update(pi, ci, { busy: false, on_target: true, local_performer_id: pid, message: msg, imagesAdded: !!images || c.imagesAdded });
          refreshStash();
          return true;
        },
        function (err) {
          persons = store.state.result.persons;
          r = store.state.result;
          update(pi, ci, { busy: false, failed: "Could not add: " + explain(err).text });
          return false;
        }
      );
    }

    function reject(pi, ci) {
      persons = store.state.result.persons;
      r = store.state.result;
      var c = persons[pi].candidates[ci];
      if (!c || c.busy || c.rejected) return;
      update(pi, ci, { busy: true, failed: null });
      runOperation({ mode: "reject", target_type: t, target_id: String(s.target.id), universal_id: c.universal_id }).then(
        function () {
          persons = store.state.result.persons;
          r = store.state.result;
          update(pi, ci, { busy: false, rejected: true, message: null });
          // a rejection is per gallery/image: the other persons' copies of this candidate go too
          var next = store.state.result.persons.map(function (pp) {
            return Object.assign({}, pp, {
              candidates: pp.candidates.map(function (cc) {
                return cc.universal_id === c.universal_id ? Object.assign({}, cc, { rejected: true }) : cc;
              }),
            });
          });
          r = Object.assign({}, store.state.result, { persons: next });
          persons = next;
          store.set({ result: r });
          // move the keyboard focus to the next open candidate of this person
          var cands = store.state.result.persons[pi].candidates;
          for (var j = 0; j < cands.length; j++) {
            if (!cands[j].rejected) {
              setFocus({ person: pi, cand: j, grab: true });
              break;
            }
          }
        },
        function (err) {
          persons = store.state.result.persons;
          r = store.state.result;
          update(pi, ci, { busy: false, failed: "Could not reject: " + explain(err).text });
        }
      );
    }

    // best open candidate of each known person, if it is in the auto band and not applied yet
    function autoPicks() {
      var seen = {};
      var picks = [];
      store.state.result.persons.forEach(function (p, pi) {
        if (p.unknown) return;
        var ci = firstOpenCandidate(p);
        var c = p.candidates[ci];
        if (!c || c.rejected || c.band !== "auto" || c.on_target || seen[c.universal_id]) return;
        seen[c.universal_id] = true;
        picks.push([pi, ci]);
      });
      return picks;
    }

    function addAllAuto() {
      var picks = autoPicks();
      var i = 0;
      bulk[1]({ done: 0, total: picks.length });
      (function next() {
        if (i >= picks.length) {
          bulk[1](null);
          return;
        }
        var pk = picks[i++];
        add(pk[0], pk[1]).then(function () {
          bulk[1]({ done: i, total: picks.length });
          next();
        });
      })();
    }

    function onKeyDown(ev) {
      var tag = (ev.target && ev.target.tagName) || "";
      var n = persons.length;
      if (!n) return;
      var cur = focus;
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        if (tag === "SELECT" || tag === "TEXTAREA") return;
        var d = ev.key === "ArrowDown" ? 1 : -1;
        var np = Math.max(0, Math.min(n - 1, cur.person + d));
        setFocus({ person: np, cand: firstOpenCandidate(persons[np]), grab: true });
        ev.preventDefault();
        ev.stopPropagation();
      } else if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
        if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
        var cands = persons[cur.person].candidates;
        var step = ev.key === "ArrowRight" ? 1 : -1;
        var ci = cur.cand;
        for (var k = 0; k < cands.length; k++) {
          ci = ci + step;
          if (ci < 0 || ci >= cands.length) {
            ci = cur.cand;
            break;
          }
          if (!cands[ci].rejected) break;
        }
        setFocus({ person: cur.person, cand: ci, grab: true });
        ev.preventDefault();
        ev.stopPropagation();
      } else if (ev.key === "Enter") {
        if (tag === "BUTTON" || tag === "A" || tag === "INPUT" || tag === "SUMMARY") return; // native action
        ev.preventDefault();
        ev.stopPropagation();
        if (!bulk[0]) add(cur.person, cur.cand);
      }
    }

    useEffect(
      function () {
        props.setKeyHandler(onKeyDown);
      },
      [focus, persons, withImages, bulk[0]]
    );

    var picks = autoPicks();
    var summary = [
      r.images != null ? plural(r.images, t === "scene" ? "frame" : "image") : null,
      r.faces != null ? plural(r.faces, "face") : null,
      plural(persons.length, "person") +
        (function () {
          var u = persons.filter(function (p) {
            return p.unknown;
          }).length;
          return u ? " (" + u + " unknown)" : "";
        })(),
    ]
      .filter(Boolean)
      .join(" · ");
    var db = r.database
      ? "Face database " +
        (r.database.version || "") +
        (r.database.performers != null ? " (" + Number(r.database.performers).toLocaleString() + " performers)" : "")
      : null;

    return h(
      "div",
      { className: "stash-sense-results" },
      h(
        "div",
        { className: "stash-sense-summary" },
        h(
          "div",
          null,
          h("span", { className: "stash-sense-counts" }, summary),
          r.stored
            ? h("div", { className: "stash-sense-stored-note text-muted small" },
                "Suggestions stored by an earlier run, not recomputed. \u201cScan again\u201d identifies afresh.")
            : null,
          db ? h("div", { className: "text-muted small" }, db) : null
        ),
        picks.length || bulk[0]
          ? h(
              Btn,
              {
                variant: "success",
                size: "sm",
                className: "stash-sense-add-all",
                disabled: !!bulk[0],
                onClick: addAllAuto,
                title:
                  "Adds each person's best match whose confidence is at least " +
                  pct(r.thresholds.auto != null ? r.thresholds.auto : 1),
              },
              bulk[0] ? h(Spin) : h(Icon, { names: ICONS.check }),
              " ",
              bulk[0] ? "Adding " + bulk[0].done + " of " + bulk[0].total + "…" : "Add all above auto threshold (" + picks.length + ")"
            )
          : null
      ),
      r.errors.length
        ? h(
            "details",
            { className: "stash-sense-image-errors text-warning" },
            h("summary", null, h(Icon, { names: ICONS.warn }), " " + plural(r.errors.length, "image") + " could not be read"),
            h(
              "ul",
              null,
              r.errors.map(function (e, i) {
                return h("li", { key: i }, String(e.image) + ": " + String(e.error));
              })
            )
          )
        : null,
      persons.length
        ? persons.map(function (p, pi) {
            return h(Person, {
              key: p.key,
              person: p,
              position: pi,
              targetType: t,
              focused: focus.person === pi,
              focusedCand: focus.person === pi ? focus.cand : -1,
              grabFocus: focus.grab,
              withImages: !!withImages[pi],
              locked: !!bulk[0],
              onToggleImages: function (v) {
                var o = Object.assign({}, withImages);
                o[pi] = v;
                imgOpt[1](o);
              },
              onFocus: function () {
                if (focus.person !== pi) setFocus({ person: pi, cand: firstOpenCandidate(p), grab: false });
              },
              onHoverCand: function (ci) {
                if (focus.person === pi && focus.cand !== ci) setFocus({ person: pi, cand: ci, grab: false });
              },
              onAdd: function (ci) {
                setFocus({ person: pi, cand: ci, grab: false });
                add(pi, ci);
              },
              onReject: function (ci) {
                reject(pi, ci);
              },
            });
          })
        : h(
            "div",
            { className: "stash-sense-empty text-muted" },
            "No faces were found",
            t === "gallery" ? " in this gallery's images." : t === "scene" ? " in the frames of this scene." : " in this image.",
            " Faces smaller than about 40 pixels or seen from the side are skipped."
          )
    );
  }

  function IdentifyModal() {
    var st = useState(store.state);
    var s = st[0];
    var keyHandler = useRef(null);
    useEffect(function () {
      return store.subscribe(st[1]);
    }, []);
    if (!s.target) return null;
    var Modal = B.Modal;
    var title = "Identify performers in this " + s.target.type;
    var name = s.info && s.info.title;
    var body;
    if (s.phase === "running") body = h(Running, { state: s });
    else if (s.phase === "error" || s.phase === "waiting")
      body = h(ErrorView, {
        key: (s.error && s.error.kind) + ":" + s.target.type + s.target.id,
        error: s.error,
        attempt: s.attempt,
        target: s.target,
        onRetry: function () {
          identify(s.target, 0);
        },
      });
    else if (s.phase === "done" && s.result)
      body = h(Results, {
        key: s.target.type + s.target.id + ":" + s.startedAt,
        state: s,
        setKeyHandler: function (fn) {
          keyHandler.current = fn;
        },
      });
    else body = null;

    function onKeyDown(ev) {
      if (s.phase === "done" && keyHandler.current) keyHandler.current(ev);
    }

    var footer = h(
      "div",
      { className: "stash-sense-footer" },
      h(
        "span",
        { className: "stash-sense-keys text-muted small d-none d-md-inline" },
        s.phase === "done" ? "↑↓ person · ←→ candidate · Enter add · Esc close" : "Esc close"
      ),
      s.phase === "done"
        ? h(
            Btn,
            {
              variant: "secondary",
              className: "stash-sense-rescan",
              onClick: function () {
                identify(s.target, 0);
              },
            },
            h(Icon, { names: ICONS.redo }),
            " Scan again"
          )
        : null,
      h(Btn, { variant: "secondary", className: "stash-sense-close", onClick: closeModal }, "Close")
    );

    if (!Modal) {
      return s.show
        ? h(
            "div",
            { className: "stash-sense-modal stash-sense-fallback-modal", role: "dialog", onKeyDown: onKeyDown },
            h("h4", null, title),
            body,
            footer
          )
        : null;
    }
    return h(
      Modal,
      {
        show: !!s.show,
        onHide: closeModal,
        size: "xl",
        scrollable: true,
        keyboard: true,
        dialogClassName: "stash-sense-modal",
        "aria-labelledby": "stash-sense-modal-title",
        onKeyDown: onKeyDown,
      },
      h(
        Modal.Header,
        { closeButton: true },
        h(
          Modal.Title,
          { id: "stash-sense-modal-title", as: "h5" },
          h(Icon, { names: ICONS.identify }),
          " ",
          title,
          name ? h("small", { className: "text-muted stash-sense-target-title" }, " — " + name) : null
        )
      ),
      h(Modal.Body, null, body),
      h(Modal.Footer, null, footer)
    );
  }

  // --- mounting and page buttons -------------------------------------------------------------------

  var mounted = false;
  function mount() {
    if (mounted) return;
    mounted = true;
    var el = document.createElement("div");
    el.id = "stash-sense-root";
    document.body.appendChild(el);
    if (ReactDOM.createRoot) ReactDOM.createRoot(el).render(h(IdentifyModal));
    else ReactDOM.render(h(IdentifyModal), el);
  }

  var PAGES = [
    { type: "gallery", re: /\/galleries\/(\d+)(?:\/|$)/, toolbar: ".gallery-toolbar .gallery-toolbar-group:last-child, .gallery-toolbar-group:last-child" },
    { type: "image", re: /\/images\/(\d+)(?:\/|$)/, toolbar: ".image-toolbar .image-toolbar-group:last-child, .image-toolbar-group:last-child" },
  ];
  if (SCENES) PAGES.push({ type: "scene", re: /\/scenes\/(\d+)(?:\/|$)/, toolbar: ".scene-toolbar-group:last-child" });

  function pageTarget(pathname) {
    var base = "";
    try {
      base = new URL(baseURL(), location.href).pathname.replace(/\/$/, "");
    } catch (_) {
      /* keep "" */
    }
    var rel = base && pathname.indexOf(base) === 0 ? pathname.slice(base.length) : pathname;
    for (var i = 0; i < PAGES.length; i++) {
      var m = rel.match(PAGES[i].re);
      if (m && rel.indexOf(m[0]) === 0) return { type: PAGES[i].type, id: m[1], page: PAGES[i] };
    }
    return null;
  }

  function renderButton(btn, target) {
    var s = store.state;
    var busy = sameTarget(s.target, target) && (s.phase === "running" || s.phase === "waiting");
    var done = sameTarget(s.target, target) && !s.show && s.phase === "done" && s.result;
    var state = busy ? "busy" : done ? "done" : "idle";
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
      var ic = iconElement(ICONS.identify);
      if (ic) btn.appendChild(ic);
    }
    var label = document.createElement("span");
    label.className = "stash-sense-btn-label";
    label.textContent = busy ? " Identifying…" : done ? " Results ready" : " Identify performers";
    btn.appendChild(label);
    btn.title = busy ? "Stash Sense is identifying performers; click to watch" : "Identify performers with Stash Sense (face recognition)";
  }

  var current = null; // {type, id, page}
  var observer = null;

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
        if (current) openFor({ type: current.type, id: current.id });
      });
      group.insertBefore(btn, group.firstChild);
    }
    btn.setAttribute("data-target-type", current.type);
    renderButton(btn, current);
  }

  function onLocation(pathname) {
    var t = pageTarget(pathname || location.pathname);
    current = t;
    var old = document.getElementById("stash-sense-identify");
    if (!t) {
      if (old && old.parentNode) old.parentNode.removeChild(old);
      if (observer) {
        observer.disconnect();
        observer = null;
      }
      return;
    }
    if (old && old.getAttribute("data-target-type") !== t.type && old.parentNode) old.parentNode.removeChild(old);
    inject();
    if (!observer && window.MutationObserver) {
      // the toolbar renders after its data loads, and re-renders can drop our button
      var pending = false;
      observer = new MutationObserver(function () {
        if (pending) return;
        pending = true;
        setTimeout(function () {
          pending = false;
          var btn = document.getElementById("stash-sense-identify");
          if (current && (!btn || !document.querySelector(current.page.toolbar) || btn.parentNode !== document.querySelector(current.page.toolbar))) inject();
        }, 30);
      });
      observer.observe(document.body, { childList: true, subtree: true });
    }
  }

  store.subscribe(function () {
    var btn = document.getElementById("stash-sense-identify");
    if (btn && current) renderButton(btn, current);
  });

  function start() {
    mount();
    if (api.Event && api.Event.addEventListener) {
      api.Event.addEventListener("stash:location", function (e) {
        var loc = e && e.detail && e.detail.data && e.detail.data.location;
        onLocation(loc && loc.pathname);
      });
    }
    onLocation(location.pathname);
  }

  // for tests and other plugins: open the modal for a target without a button
  window.StashSense = { identify: openFor, close: closeModal, version: "0.1.0" };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
