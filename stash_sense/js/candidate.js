/*
 * Stash Sense UI: one candidate performer of a person (a row of the person card): picture, name,
 * confidence and band, whether it is already on the target / in the user's Stash, and Add / Reject.
 */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;

  // "Add to gallery" (+ images), or what is already done.
  function addAction(props) {
    var c = props.cand;
    var t = props.targetType;
    var wantImages = props.withImages && t === "gallery" && props.imageCount > 0;
    if (c.rejected) return h(S.Badge, { variant: "dark", className: "stash-sense-rejected-badge" }, "Rejected");
    if (c.on_target && !(wantImages && !c.imagesAdded)) {
      return h(
        "span",
        { className: "stash-sense-done text-success" },
        h(S.Icon, { names: S.ICONS.check }),
        " ",
        c.imagesAdded ? "On gallery and its images" : "On this " + t
      );
    }
    var addLabel = "Add to " + t;
    return [
      h(
        S.Btn,
        {
          key: "add",
          variant: "primary",
          size: "sm",
          disabled: c.busy || props.locked,
          onClick: props.onAdd,
          className: "stash-sense-add",
        },
        c.busy ? h(S.Spin) : h(S.Icon, { names: S.ICONS.plus }),
        " ",
        c.on_target ? "Add to " + S.plural(props.imageCount, "image") : wantImages ? addLabel + " + images" : addLabel
      ),
    ];
  }

  function rejectButton(props) {
    var c = props.cand;
    if (c.rejected || c.on_target) return null;
    return h(
      S.Btn,
      {
        key: "reject",
        variant: "secondary", // outline-secondary is #394b59 text on the #30404d modal in Stash's theme: 1.2:1
        size: "sm",
        disabled: c.busy || props.locked,
        onClick: props.onReject,
        className: "stash-sense-reject",
        title: "Not this performer: Stash Sense will not propose it for this " + props.targetType + " again",
      },
      h(S.Icon, { names: S.ICONS.ban }),
      " Reject"
    );
  }

  function picture(c) {
    if (!c.image_url) {
      return h("div", { className: "stash-sense-performer-img stash-sense-noimg" }, h(S.Icon, { names: S.ICONS.user }));
    }
    return h("img", {
      className: "stash-sense-performer-img",
      src: c.image_url,
      alt: c.name || "",
      loading: "lazy",
      referrerPolicy: "no-referrer",
    });
  }

  function name(c) {
    var countryCode = c.country ? String(c.country).toLowerCase() : "";
    return h(
      "div",
      { className: "stash-sense-cand-name" },
      c.local_performer_id
        ? h(
            "a",
            {
              href: S.url("performers/" + c.local_performer_id),
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
    );
  }

  function meta(c, t) {
    var band = S.BAND[c.band] || S.BAND.low;
    return h(
      "div",
      { className: "stash-sense-cand-meta" },
      h("span", { className: "stash-sense-confidence", title: "Calibrated confidence: " + band.hint }, S.pct(c.confidence)),
      " ",
      h(S.Badge, { variant: band.variant, className: "stash-sense-band stash-sense-band-" + c.band }, band.label),
      " ",
      c.on_target ? h(S.Badge, { variant: "info", className: "stash-sense-tag-on" }, "on " + t) : null,
      " ",
      c.local_performer_id
        ? h(S.Badge, { variant: "primary", className: "stash-sense-tag-local" }, "in your Stash")
        : h(
            S.Badge,
            { variant: "light", className: "stash-sense-tag-new", title: "Adding creates this performer in your Stash" },
            "new performer"
          )
    );
  }

  S.Candidate = function Candidate(props) {
    var c = props.cand;
    return h(
      "li",
      {
        className: S.cx(
          "stash-sense-candidate",
          props.focused && "stash-sense-focused",
          c.rejected && "stash-sense-rejected",
          c.on_target && "stash-sense-on-target"
        ),
        "data-universal-id": c.universal_id,
        "aria-selected": props.focused ? "true" : "false",
        onMouseEnter: props.onHover,
      },
      picture(c),
      h(
        "div",
        { className: "stash-sense-cand-main" },
        name(c),
        meta(c, props.targetType),
        c.message ? h("div", { className: "stash-sense-cand-msg text-success small" }, c.message) : null,
        c.failed ? h("div", { className: "stash-sense-cand-msg text-danger small" }, c.failed) : null
      ),
      h("div", { className: "stash-sense-cand-actions" }, addAction(props), rejectButton(props))
    );
  };
})(window.__stashSenseModules);
