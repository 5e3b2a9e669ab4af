/*
 * Stash Sense UI: one person card of the modal: the face crop, where the person is (image thumbnails
 * on a gallery/image, time ranges that seek the player on a scene), notes (unknown, incidental),
 * "Also add to the images" and the candidate list (weak guesses behind "Show more").
 */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;
  var plural = S.plural;

  function Thumbs(props) {
    var ids = props.ids;
    var max = props.max || 6;
    return h(
      "div",
      { className: "stash-sense-thumbs" },
      ids.slice(0, max).map(function (id) {
        return h(
          "a",
          { key: id, href: S.url("images/" + id), target: "_blank", rel: "noopener noreferrer", title: "Open image " + id,
            tabIndex: -1 },
          h("img", { src: S.thumbURL(id), alt: "image " + id, loading: "lazy", className: "stash-sense-thumb" })
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
            className: "btn btn-secondary btn-sm minimal stash-sense-time",
            "data-start": r[0],
            title: "Play from " + S.clock(r[0]),
            onClick: function (ev) {
              ev.stopPropagation();
              S.seekTo(r[0]);
            },
          },
          S.clock(r[0]) + "–" + S.clock(r[1])
        );
      })
    );
  }

  // Face crop, label and how often the person was seen.
  function side(p, t, label) {
    var n = p.image_ids.length;
    return h(
      "div",
      { className: "stash-sense-person-side" },
      p.crop
        ? h("img", { className: "stash-sense-crop", src: p.crop, alt: "face of " + label.toLowerCase() })
        : h("div", { className: "stash-sense-crop stash-sense-noimg" }, h(S.Icon, { names: S.ICONS.user })),
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
    );
  }

  function notes(p) {
    return [
      p.unknown
        ? h(
            "div",
            { key: "unknown", className: "stash-sense-unknown-note text-muted" },
            h(S.Icon, { names: S.ICONS.question }),
            " Not in the face database: no performer matches this face well enough.",
            p.candidates.length ? " Closest guesses:" : ""
          )
        : null,
      p.incidental && !p.unknown
        ? h(
            "div",
            { key: "incidental", className: "stash-sense-incidental-note text-muted small" },
            "Seen in one image only, beside the main people here: never added automatically."
          )
        : null,
    ];
  }

  function alsoImages(props) {
    var p = props.person;
    var n = p.image_ids.length;
    if (props.targetType !== "gallery" || n <= 0 || p.unknown) return null;
    return h(
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
    );
  }

  function candidateList(props, visible, label) {
    var p = props.person;
    if (!p.candidates.length) return p.unknown ? null : h("div", { className: "text-muted" }, "No candidates.");
    return h(
      "ul",
      { className: "stash-sense-candidates", role: "listbox", "aria-label": "Candidates for " + label },
      visible.map(function (c) {
        var idx = p.candidates.indexOf(c);
        return h(S.Candidate, {
          key: c.universal_id,
          cand: c,
          targetType: props.targetType,
          focused: props.focused && idx === props.focusedCand,
          withImages: props.withImages,
          imageCount: p.image_ids.length,
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
    );
  }

  // The focused card takes the DOM focus (keyboard navigation) and scrolls into view.
  function useGrabFocus(props) {
    var ref = S.React.useRef(null);
    S.React.useEffect(
      function () {
        if (props.focused && ref.current && props.grabFocus) {
          ref.current.focus({ preventScroll: true });
          if (ref.current.scrollIntoView) ref.current.scrollIntoView({ block: "nearest" });
        }
      },
      [props.focused, props.grabFocus]
    );
    return ref;
  }

  S.Person = function Person(props) {
    var p = props.person;
    var t = props.targetType;
    var more = S.React.useState(false);
    // the best candidate, and other likely ones; weak guesses wait behind "Show more"
    var visible = p.candidates.filter(function (c, i) {
      return more[0] || i === 0 || (c.band !== "low" && !c.rejected) || c.on_target || i === props.focusedCand;
    });
    var hidden = p.candidates.length - visible.length;
    var ref = useGrabFocus(props);
    var label = p.unknown ? "Unknown person" : "Person " + (props.position + 1);
    return h(
      "section",
      {
        ref: ref,
        tabIndex: 0,
        className: S.cx("stash-sense-person", props.focused && "stash-sense-person-focused", p.unknown && "stash-sense-unknown"),
        "data-person-index": p.key,
        "aria-label": label,
        onFocus: props.onFocus,
        onClick: props.onFocus,
      },
      side(p, t, label),
      h(
        "div",
        { className: "stash-sense-person-main" },
        t === "scene" ? h(TimeRanges, { ranges: p.time_ranges || [] }) : h(Thumbs, { ids: p.image_ids }),
        notes(p),
        alsoImages(props),
        candidateList(props, visible, label),
        hidden > 0
          ? h(
              "button",
              {
                type: "button",
                className: "btn btn-secondary btn-sm minimal stash-sense-show-more",
                onClick: function () {
                  more[1](true);
                },
              },
              "Show " + plural(hidden, "more candidate")
            )
          : null
      )
    );
  };
})(window.__stashSenseModules);
