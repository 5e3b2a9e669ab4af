/*
 * Stash Sense UI: the modal when identification failed. "No face database" offers the download
 * task and follows it (findJob every 1.5 s) until it has finished, then identifies straight away;
 * "engine starting" shows the automatic retry; anything else offers "Try again".
 */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;
  var useState = S.React.useState;
  var useEffect = S.React.useEffect;

  // The download task's state: {phase: idle|starting|running|done|failed, jobId, progress, status, message}.
  function useDownload(target) {
    var dl = useState({ phase: "idle" });
    var d = dl[0];
    var setD = dl[1];

    useEffect(
      function () {
        if (d.phase !== "running") return undefined;
        var alive = true;
        var t = setTimeout(function poll() {
          S.findJob(d.jobId).then(
            function (job) {
              if (!alive) return;
              if (!job || job.status === "FINISHED") {
                // FINISHED says nothing about success in Stash: ask the plugin how the download ended
                S.taskOutcome("download_db", job && job.startTime).then(
                  function (o) {
                    if (!alive) return;
                    if (o.status === "failed") {
                      setD({ phase: "failed", message: "The download failed: " + o.error });
                    } else {
                      setD({ phase: "done" });
                      S.identify(target, 0); // the database is there now: identify straight away
                    }
                  },
                  function (err) {
                    if (alive) setD({ phase: "failed", message: S.explain(err).text });
                  }
                );
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

    function start() {
      setD({ phase: "starting" });
      S.startDownloadTask().then(
        function (jobId) {
          setD({ phase: "running", jobId: jobId, progress: null, status: "READY" });
        },
        function (err) {
          setD({ phase: "failed", message: S.explain(err).text });
        }
      );
    }

    return { state: d, start: start };
  }

  function DownloadOffer(props) {
    var d = props.state;
    return h(
      "div",
      { className: "stash-sense-actions" },
      d.message ? h("div", { className: "text-warning mb-2 stash-sense-download-error" }, d.message) : null,
      h(
        S.Btn,
        { variant: "primary", onClick: props.onDownload, className: "stash-sense-download" },
        h(S.Icon, { names: S.ICONS.download }),
        " ",
        d.phase === "failed" ? "Try the download again" : "Download face database"
      )
    );
  }

  function downloadText(d) {
    var p = d.progress;
    if (d.phase === "starting") return "Starting the download…";
    if (d.phase === "done") return "Face database installed. Identifying…";
    if (d.status === "READY") return "Download queued (Settings → Tasks shows it)…";
    return "Downloading the face database" + (p != null ? " — " + Math.round(p * 100) + "%" : "…");
  }

  function DownloadStatus(props) {
    var p = props.state.progress;
    return h(
      "div",
      { className: "stash-sense-download-status", role: "status", "aria-live": "polite" },
      h("div", null, h(S.Spin), " ", downloadText(props.state)),
      h(
        "div",
        { className: "progress stash-sense-bar" },
        h("div", {
          className: S.cx("progress-bar", p == null && "progress-bar-striped progress-bar-animated"),
          style: { width: (p == null ? 100 : Math.round(p * 100)) + "%" },
        })
      )
    );
  }

  // What the user can do about this error.
  function errorActions(e, download, props) {
    var d = download.state;
    if (e.kind === "nodb") {
      return d.phase === "idle" || d.phase === "failed"
        ? h(DownloadOffer, { state: d, onDownload: download.start })
        : h(DownloadStatus, { state: d });
    }
    if (e.kind === "starting") {
      return h(
        "div",
        { className: "stash-sense-progress-line", role: "status" },
        h(S.Spin),
        " Waiting for the engine",
        props.attempt ? " (attempt " + props.attempt + ")" : "",
        "…"
      );
    }
    return h(
      "div",
      { className: "stash-sense-actions" },
      h(
        S.Btn,
        { variant: "secondary", onClick: props.onRetry, className: "stash-sense-retry" },
        h(S.Icon, { names: S.ICONS.redo }),
        " Try again"
      )
    );
  }

  S.ErrorView = function ErrorView(props) {
    var e = props.error;
    var download = useDownload(props.target);
    var icon = e.kind === "starting" ? S.ICONS.bolt : e.kind === "nodb" ? S.ICONS.download : S.ICONS.warn;
    return h(
      "div",
      { className: S.cx("stash-sense-error", "stash-sense-error-" + e.kind), role: "alert" },
      h("h5", null, h(S.Icon, { names: icon }), " ", e.title),
      h("p", null, e.text),
      errorActions(e, download, props),
      e.detail && e.detail !== e.text
        ? h(
            "details",
            { className: "stash-sense-detail" },
            h("summary", null, "Technical details"),
            h("pre", null, e.detail)
          )
        : null
    );
  };
})(window.__stashSenseModules);
