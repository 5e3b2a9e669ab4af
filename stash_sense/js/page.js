/*
 * Stash Sense page, part 2: the page itself at /plugin/stash-sense (PluginApi.register.route) with
 * a link in Stash's navbar (patch MainNavBar.UtilityItems), and its tabs: Review (page-review.js),
 * Unknown people (page-unknown.js), Runs (every run, undo of any one after a preview of exactly what goes), Database & engine, and
 * Settings explained (what the thresholds meant on the calibration data, preview of a new one).
 */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;
  var React = S.React;
  var B = S.B;
  S.PAGE_PATH = "/plugin/stash-sense";

  function useOperation(args, deps) {
    var st = React.useState({ loading: true, data: null, error: null });
    var reload = React.useCallback(function () {
      st[1]({ loading: true, data: st[0].data, error: null });
      return S.runOperation(args)
        .then(function (data) {
          st[1]({ loading: false, data: data, error: null });
        })
        .catch(function (e) {
          st[1]({ loading: false, data: null, error: e });
        });
    }, deps || []);
    React.useEffect(function () {
      reload();
    }, [reload]);
    return [st[0], reload];
  }

  function Problem(props) {
    return props.error ? h("div", { className: "stash-sense-error alert alert-danger", role: "alert" }, props.error.message || String(props.error)) : null;
  }

  function when(ts) {
    return ts ? new Date(ts * 1000).toLocaleString() : "";
  }

  function bytes(n) {
    if (!n) return "0 B";
    var units = ["B", "KB", "MB", "GB", "TB"];
    var i = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
    return (n / Math.pow(1024, i)).toFixed(i ? 1 : 0) + " " + units[i];
  }

  // --- runs ---------------------------------------------------------------------------------------

  function addedText(run) {
    var parts = Object.keys(run.added || {}).map(function (k) {
      return run.added[k] + " " + k.replace("_", " ");
    });
    return parts.join(", ") || "nothing";
  }

  function whatText(run) {
    var s = run.summary || {};
    if (run.kind === "review") return (s.decision || "decision") + ": " + (s.name || s.universal_id || "") + " on " + S.plural((s.targets || []).length, "target");
    if (s.galleries != null) return S.plural(s.processed || 0, "item") + " of " + s.galleries + " processed";
    if (s.target) return s.target.join(" ");
    return "";
  }

  function UndoPreview(props) {
    var p = props.preview;
    var line = function (e, i) {
      var what = e.field + " " + (e.name ? "\u201c" + e.name + "\u201d" : e.id);
      var where = e.target_type + " " + (e.target_title ? "\u201c" + e.target_title + "\u201d (" + e.target_id + ")" : e.target_id);
      return h("li", { key: i }, what + " on " + where + (e.why ? " (" + e.why + ")" : ""));
    };
    return h(
      "div",
      { className: "stash-sense-undo-preview" },
      h("p", null, "Will remove " + S.plural(p.remove.length, "link") + ":"),
      h("ul", { className: "stash-sense-undo-remove" }, p.remove.map(line)),
      p.stays.length ? h("p", null, "Stays (changed by you since the run):") : null,
      p.stays.length ? h("ul", { className: "stash-sense-undo-stays" }, p.stays.map(line)) : null,
      p.created_performers.length ? h("p", null, "Performers it created are deleted if nothing uses them: " + p.created_performers.map(function (c) { return c.name; }).join(", ")) : null,
      p.requeue ? h("p", null, S.plural(p.requeue, "suggestion") + (p.requeue === 1 ? " goes" : " go") + " back to the review queue.") : null
    );
  }

  S.RunsTab = function RunsTab() {
    var r = useOperation({ mode: "runs", per_page: 100 });
    var pv = React.useState(null); // {run, preview, busy, error}
    var msg = React.useState("");
    function preview(run) {
      pv[1]({ run: run, preview: null });
      S.runOperation({ mode: "undo_preview", run_id: run.id })
        .then(function (p) { pv[1]({ run: run, preview: p }); })
        .catch(function (e) { pv[1]({ run: run, error: e }); });
    }
    function confirm() {
      var run = pv[0].run;
      pv[1](Object.assign({}, pv[0], { busy: true }));
      S.undoRun(run.id)
        .then(function () {
          pv[1](null);
          msg[1]("Run " + run.id + " undone");
          r[1]();
        })
        .catch(function (e) { pv[1](Object.assign({}, pv[0], { busy: false, error: e })); });
    }
    var runs = (r[0].data && r[0].data.runs) || [];
    var Modal = B.Modal;
    return h(
      "div",
      { className: "stash-sense-runs" },
      h(Problem, { error: r[0].error }),
      msg[0] ? h("div", { className: "alert alert-info", role: "status" }, msg[0]) : null,
      r[0].loading && !runs.length ? h(S.Spin) : null,
      r[0].data && !runs.length ? h("p", null, "No runs yet.") : null,
      runs.length
        ? h(
            "table",
            { className: "table table-sm table-striped stash-sense-runs-table" },
            h("thead", null, h("tr", null, ["#", "When", "Kind", "What", "Added", "Status / errors", ""].map(function (t) { return h("th", { key: t }, t); }))),
            h(
              "tbody",
              null,
              runs.map(function (run) {
                var s = run.summary || {};
                return h(
                  "tr",
                  { key: run.id, "data-run-id": run.id },
                  h("td", null, run.id),
                  h("td", null, when(run.started_at)),
                  h("td", null, run.kind),
                  h("td", null, whatText(run)),
                  h("td", null, addedText(run)),
                  h("td", null, run.status + (s.errors ? " · " + S.plural(s.errors, "error") : "") + (s.error ? " · " + s.error : "")),
                  h("td", null, run.undone_at == null && (run.undoable || run.kind === "review")
                    ? h(S.Btn, { size: "sm", variant: "secondary", className: "stash-sense-undo", onClick: function () { preview(run); } }, "Undo…")
                    : null)
                );
              })
            )
          )
        : null,
      pv[0] && Modal
        ? h(
            Modal,
            { show: true, onHide: function () { pv[1](null); }, className: "stash-sense-undo-modal" },
            h(Modal.Header, { closeButton: true }, h(Modal.Title, null, "Undo run " + pv[0].run.id + " (" + pv[0].run.kind + ")")),
            h(Modal.Body, null, h(Problem, { error: pv[0].error }), pv[0].preview ? h(UndoPreview, { preview: pv[0].preview }) : pv[0].error ? null : h(S.Spin)),
            h(Modal.Footer, null,
              h(S.Btn, { variant: "secondary", onClick: function () { pv[1](null); } }, "Cancel"),
              h(S.Btn, { variant: "danger", className: "stash-sense-undo-confirm", disabled: !pv[0].preview || pv[0].busy, onClick: confirm }, pv[0].busy ? "Undoing…" : "Undo this run"))
          )
        : null
    );
  };

  // --- database & engine --------------------------------------------------------------------------

  S.DatabaseTab = function DatabaseTab() {
    var status = useOperation({ mode: "page_status" });
    var note = React.useState("");
    var job = React.useState(null); // {id, progress, status}
    function act(args, describe) {
      note[1]("Working…");
      S.runOperation(args)
        .then(function (out) {
          note[1](describe(out));
          status[1]();
        })
        .catch(function (e) { note[1]("Failed: " + e.message); });
    }
    function download() {
      S.startDownloadTask().then(function (id) {
        job[1]({ id: id, progress: 0, status: "READY" });
        var timer = setInterval(function () {
          S.findJob(id).then(function (j) {
            if (!j || /FINISHED|FAILED|CANCELLED/.test(j.status)) {
              clearInterval(timer);
              job[1]({ id: id, progress: 1, status: j ? j.status : "FINISHED", error: j && j.error });
              status[1]();
            } else job[1]({ id: id, progress: j.progress || 0, status: j.status });
          });
        }, 1000);
      }).catch(function (e) { note[1]("Failed: " + e.message); });
    }
    var d = status[0].data;
    var engine = d && d.engine;
    return h(
      "div",
      { className: "stash-sense-dbtab" },
      h(Problem, { error: status[0].error }),
      d && d.problem ? h("div", { className: "alert alert-warning stash-sense-db-problem", role: "alert" }, d.problem) : null,
      h("h5", null, "Face databases"),
      d && d.databases.length
        ? h("table", { className: "table table-sm stash-sense-db-table" },
            h("thead", null, h("tr", null, ["Kind", "Version", "Performers", "Faces", "Storage", "Pack", "Previous"].map(function (t) { return h("th", { key: t }, t); }))),
            h("tbody", null, d.databases.map(function (db) {
              return h("tr", { key: db.path, title: db.path },
                h("td", null, db.kind), h("td", null, db.version || "?"), h("td", null, db.performers != null ? db.performers : db.problem),
                h("td", null, db.faces), h("td", null, bytes(db.size_bytes)), h("td", null, db.pack || ""), h("td", null, db.previous || ""));
            })))
        : null,
      h("div", { className: "stash-sense-db-actions" },
        h(S.Btn, { variant: "secondary", className: "stash-sense-check-update", onClick: function () {
          act({ mode: "check_update" }, function (o) {
            return o.latest ? (o.update_available ? "Update available: " + o.latest + " (installed " + (o.installed || "none") + ")" : "Up to date (" + o.latest + ")") : o.message;
          });
        } }, "Check for update"),
        h(S.Btn, { variant: "primary", className: "stash-sense-download", onClick: download }, "Download / update"),
        h(S.Btn, { variant: "secondary", onClick: function () { act({ mode: "verify_db" }, function (o) { return o.ok ? "Verified: every file matches its checksum" : "Damaged files: " + o.damaged.join(", "); }); } }, "Verify"),
        h(S.Btn, { variant: "secondary", onClick: function () { act({ mode: "rollback_db" }, function (o) { return "Rolled back to " + o.active; }); } }, "Roll back")),
      job[0] ? h("div", { className: "stash-sense-job" }, "Download task: " + job[0].status + (job[0].error ? " – " + job[0].error : ""),
        B.ProgressBar ? h(B.ProgressBar, { now: Math.round(job[0].progress * 100), label: Math.round(job[0].progress * 100) + "%" }) : null) : null,
      note[0] ? h("div", { className: "alert alert-info stash-sense-db-note", role: "status" }, note[0]) : null,
      h("h5", { className: "mt-3" }, "Engine"),
      engine
        ? h("dl", { className: "stash-sense-engine" },
            h("dt", null, "Runs as"), h("dd", null, engine.mode + (engine.provider ? " · " + engine.provider : "")),
            h("dt", null, "State"), h("dd", { className: "stash-sense-engine-state" }, engine.state),
            h("dt", null, "Memory"), h("dd", null, engine.memory + " (model pack " + engine.pack + ", " + engine.threads + " threads)"))
        : null,
      engine ? h(S.Btn, { variant: "danger", className: "stash-sense-stop-worker", disabled: !engine.running, onClick: function () {
        act({ mode: "stop_worker" }, function (o) { return o.stopped ? "Worker stopped" : "No worker was running"; });
      } }, "Stop worker") : null
    );
  };

  // --- settings explained -----------------------------------------------------------------------

  S.SettingsTab = function SettingsTab() {
    var status = useOperation({ mode: "page_status" });
    var value = React.useState("");
    var pv = React.useState(null);
    var d = status[0].data;
    var t = d && d.thresholds;
    var cal = (d && d.calibration) || {};
    var fitted = cal.fitted_on || {};
    function preview(e) {
      if (e) e.preventDefault();
      var v = Number(value[0]) / 100;
      if (!(v >= 0 && v <= 1)) return;
      S.runOperation({ mode: "threshold_preview", auto: v }).then(pv[1]).catch(function (err) { pv[1]({ error: err }); });
    }
    var on = fitted.samples ? " on the calibration set (" + fitted.samples + " matches of " + (fitted.identities || "?") + " people, " + (fitted.distractor_identities || 0) + " look-alike strangers)" : " on the calibration set";
    return h(
      "div",
      { className: "stash-sense-settings-explained" },
      h(Problem, { error: status[0].error }),
      t
        ? h("ul", null,
            h("li", { className: "stash-sense-explain-auto" }, "Auto-apply at " + S.pct(t.auto) + ": " + (cal.auto != null && Math.abs(cal.auto - t.auto) < 1e-9 ? "the calibrated value; " + Math.round(cal.auto_precision * 100) + "% of the auto tags were right" + on + "." : "set by you (calibrated: " + S.pct(cal.auto) + ", where " + Math.round(cal.auto_precision * 100) + "% of auto tags were right" + on + ").")),
            h("li", null, "Review from " + S.pct(t.review) + ": " + (cal.review != null ? "at the calibrated " + S.pct(cal.review) + ", " + Math.round(cal.review_precision * 100) + "% of suggestions were right" + on + "." : "")))
        : null,
      h("form", { className: "form-inline stash-sense-threshold-preview", onSubmit: preview },
        h("label", { htmlFor: "stash-sense-new-auto", className: "mr-2" }, "New auto-apply threshold (%)"),
        h("input", { id: "stash-sense-new-auto", className: "form-control form-control-sm mr-2", type: "number", min: 1, max: 100, value: value[0], onChange: function (e) { value[1](e.target.value); } }),
        h(S.Btn, { size: "sm", type: "submit" }, "Preview")),
      pv[0] && !pv[0].error
        ? h("p", { className: "stash-sense-preview-result" }, S.plural(pv[0].suggestions, "stored suggestion") + " of " + pv[0].stored + " (on " + S.plural(pv[0].targets, "target") + ") would have been added automatically at " + S.pct(pv[0].auto) + ".")
        : h(Problem, { error: pv[0] && pv[0].error }),
      h("p", null, "Save a threshold under ", h("a", { href: S.url("settings?tab=plugins") }, "Settings › Plugins › Stash Sense"), ".")
    );
  };

  // --- the page, its route and its navbar link -----------------------------------------------------

  var TABS = [
    { key: "review", title: "Review", body: function () { return h(S.ReviewQueue); } },
    { key: "unknown", title: "Unknown people", body: function () { return h(S.UnknownPeopleTab); } },
    { key: "runs", title: "Runs", body: function () { return h(S.RunsTab); } },
    { key: "database", title: "Database & engine", body: function () { return h(S.DatabaseTab); } },
    { key: "settings", title: "Settings explained", body: function () { return h(S.SettingsTab); } },
  ];

  S.Page = function Page() {
    var tab = React.useState("review");
    var Nav = B.Nav;
    return h(
      "div",
      { className: "stash-sense-page container-fluid" },
      h("h2", null, "Stash Sense"),
      Nav
        ? h(Nav, { variant: "tabs", activeKey: tab[0], onSelect: function (k) { tab[1](k); }, className: "mb-3" },
            TABS.map(function (t) {
              return h(Nav.Item, { key: t.key }, h(Nav.Link, { eventKey: t.key, className: "stash-sense-tab-" + t.key }, t.title));
            }))
        : null,
      TABS.filter(function (t) { return t.key === tab[0]; })[0].body()
    );
  };

  function NavEntry() {
    var Router = (S.api.libraries || {}).ReactRouterDOM || {};
    var inner = h(S.Btn, { className: "minimal d-flex align-items-center h-100", variant: "primary", title: "Stash Sense: review queue, runs, database" },
      h(S.Icon, { names: S.ICONS.identify }), h("span", { className: "d-none d-xl-inline ml-1" }, "Sense"));
    if (Router.Link) return h(Router.Link, { to: S.PAGE_PATH, className: "nav-utility stash-sense-nav" }, inner);
    return h("a", { href: S.url(S.PAGE_PATH), className: "nav-utility stash-sense-nav" }, inner);
  }

  if (S.api.register && S.api.register.route) S.api.register.route(S.PAGE_PATH, S.Page);
  if (S.api.patch && S.api.patch.before) {
    S.api.patch.before("MainNavBar.UtilityItems", function (props) {
      return [Object.assign({}, props, { children: h(React.Fragment, null, props.children, h(NavEntry)) })];
    });
  }
})(window.__stashSenseModules);
