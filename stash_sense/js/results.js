/*
 * Stash Sense UI: the modal's result view: a summary line (counts, stored-or-fresh, database) with
 * "Add all above auto threshold", the images that could not be read, and one card per person.
 * Holds the view's own state: the keyboard focus, the "also add to images" ticks, the add-all run.
 */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;
  var plural = S.plural;
  var useState = S.React.useState;

  function counts(r, t) {
    var unknown = r.persons.filter(function (p) {
      return p.unknown;
    }).length;
    return [
      r.images != null ? plural(r.images, t === "scene" ? "frame" : "image") : null,
      r.faces != null ? plural(r.faces, "face") : null,
      plural(r.persons.length, "person") + (unknown ? " (" + unknown + " unknown)" : ""),
    ]
      .filter(Boolean)
      .join(" · ");
  }

  function databaseLine(db) {
    if (!db) return null;
    return (
      "Face database " +
      (db.version || "") +
      (db.performers != null ? " (" + Number(db.performers).toLocaleString() + " performers)" : "")
    );
  }

  function AddAll(props) {
    var bulk = props.bulk;
    return h(
      S.Btn,
      {
        variant: "primary", // success: white on #0f9960 in Stash's theme, 3.65:1
        size: "sm",
        className: "stash-sense-add-all",
        disabled: !!bulk,
        onClick: props.onClick,
        title:
          "Adds each person's best match whose confidence is at least " +
          S.pct(props.thresholds.auto != null ? props.thresholds.auto : 1),
      },
      bulk ? h(S.Spin) : h(S.Icon, { names: S.ICONS.check }),
      " ",
      bulk ? "Adding " + bulk.done + " of " + bulk.total + "…" : "Add all above auto threshold (" + props.picks + ")"
    );
  }

  function Summary(props) {
    var r = props.result;
    var db = databaseLine(r.database);
    return h(
      "div",
      { className: "stash-sense-summary" },
      h(
        "div",
        null,
        h("span", { className: "stash-sense-counts" }, counts(r, props.targetType)),
        r.stored
          ? h("div", { className: "stash-sense-stored-note text-muted small" },
              "Suggestions stored by an earlier run, not recomputed. \u201cScan again\u201d identifies afresh.")
          : null,
        db ? h("div", { className: "text-muted small" }, db) : null
      ),
      props.picks || props.bulk
        ? h(AddAll, { bulk: props.bulk, picks: props.picks, thresholds: r.thresholds, onClick: props.onAddAll })
        : null
    );
  }

  function ImageErrors(props) {
    var errors = props.errors;
    if (!errors.length) return null;
    return h(
      "details",
      { className: "stash-sense-image-errors text-warning" },
      h("summary", null, h(S.Icon, { names: S.ICONS.warn }), " " + plural(errors.length, "image") + " could not be read"),
      h(
        "ul",
        null,
        errors.map(function (e, i) {
          return h("li", { key: i }, String(e.image) + ": " + String(e.error));
        })
      )
    );
  }

  function NoFaces(props) {
    var t = props.targetType;
    return h(
      "div",
      { className: "stash-sense-empty text-muted" },
      "No faces were found",
      t === "gallery" ? " in this gallery's images." : t === "scene" ? " in the frames of this scene." : " in this image.",
      " Faces smaller than about 40 pixels or seen from the side are skipped."
    );
  }

  S.Results = function Results(props) {
    var s = props.state;
    var r = s.result;
    var target = s.target;
    var persons = r.persons;
    var sel = useState({ person: 0, cand: persons.length ? S.firstOpenCandidate(persons[0]) : 0, grab: true });
    var focus = sel[0];
    var setFocus = sel[1];
    var imgOpt = useState({});
    var withImages = imgOpt[0];
    var bulk = useState(null);

    function add(pi, ci) {
      return S.addCandidate(target, pi, ci, withImages[pi]);
    }

    S.React.useEffect(
      function () {
        props.setKeyHandler(function (ev) {
          S.resultKeys(ev, { persons: persons, focus: focus, setFocus: setFocus, busy: !!bulk[0], add: add });
        });
      },
      [focus, persons, withImages, bulk[0]]
    );

    function personCard(p, pi) {
      return h(S.Person, {
        key: p.key,
        person: p,
        position: pi,
        targetType: target.type,
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
          if (focus.person !== pi) setFocus({ person: pi, cand: S.firstOpenCandidate(p), grab: false });
        },
        onHoverCand: function (ci) {
          if (focus.person === pi && focus.cand !== ci) setFocus({ person: pi, cand: ci, grab: false });
        },
        onAdd: function (ci) {
          setFocus({ person: pi, cand: ci, grab: false });
          add(pi, ci);
        },
        onReject: function (ci) {
          S.rejectCandidate(target, pi, ci, function (fpi, fci) {
            setFocus({ person: fpi, cand: fci, grab: true });
          });
        },
      });
    }

    return h(
      "div",
      { className: "stash-sense-results" },
      h(Summary, {
        result: r,
        targetType: target.type,
        picks: S.autoPicks(r).length,
        bulk: bulk[0],
        onAddAll: function () {
          S.addAllAuto(target, withImages, bulk[1]);
        },
      }),
      h(ImageErrors, { errors: r.errors }),
      persons.length ? persons.map(personCard) : h(NoFaces, { targetType: target.type })
    );
  };
})(window.__stashSenseModules);
