/* Stash Sense UI: the modal while an identification runs. */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;

  function whatRuns(target, info) {
    if (target.type === "gallery") {
      return info && info.image_count != null
        ? "Looking for faces in the " + S.plural(info.image_count, "image") + " of this gallery…"
        : "Looking for faces in this gallery…";
    }
    return target.type === "scene" ? "Looking for faces in frames of this scene…" : "Looking for faces in this image…";
  }

  S.Running = function Running(props) {
    var s = props.state;
    return h(
      "div",
      { className: "stash-sense-progress", role: "status", "aria-live": "polite" },
      h("div", { className: "stash-sense-progress-line" }, h(S.Spin), " ", h("span", null, whatRuns(s.target, s.info))),
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
        h(S.Elapsed, { since: s.startedAt }),
        ". Large galleries take a while; you can close this window, the button shows when it is done."
      )
    );
  };
})(window.__stashSenseModules);
