/*
 * Stash Sense page, the "Unknown people" tab: the faces that matched no performer, grouped across
 * the library into people seen again and again (the "Find recurring unknown people" task, started
 * and followed from here). Each group shows its best faces (crops the plugin made from the analysed
 * images, as data URLs) and links to where it was seen; "This is…" (a performer search), "New
 * performer named …" (both: one journalled run adding the performer everywhere, and the faces
 * enrolled locally; Undo takes both back) and "Not interesting" (hidden, now and after the next
 * grouping).
 */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;
  var React = S.React;
  var TASK = "Find recurring unknown people";
  var MAX_LINKS = 12;
  var SEARCH_DELAY_MS = 250;

  function addedText(added) {
    var parts = Object.keys(added || {}).filter(function (k) {
      return added[k].length;
    }).map(function (k) {
      return S.plural(added[k].length, k, k === "gallery" ? "galleries" : k + "s");
    });
    return parts.join(", ") || "nothing new (every place had the performer already)";
  }

  function Places(props) {
    var items = props.person.items;
    var shown = items.slice(0, MAX_LINKS);
    return h(
      "ul",
      { className: "stash-sense-unknown-items" },
      shown.map(function (i) {
        var info = props.titles[i.type + ":" + i.id];
        var label = (info && info.title) || i.type + " " + i.id;
        return h("li", { key: i.type + i.id },
          h("a", { className: "stash-sense-unknown-item", href: S.itemURL(i.type, i.id), "data-type": i.type, "data-id": i.id, target: "_blank", rel: "noreferrer" }, label),
          h("span", { className: "stash-sense-q-type" }, " · " + i.type));
      }),
      items.length > shown.length ? h("li", { className: "text-muted" }, "and " + (items.length - shown.length) + " more") : null
    );
  }

  function Faces(props) {
    return h(
      "div",
      { className: "stash-sense-unknown-faces" },
      props.person.samples.map(function (s, i) {
        if (s.crop) return h("img", { key: i, className: "stash-sense-unknown-crop", src: s.crop, alt: "face " + (i + 1), width: 72, height: 72 });
        if (s.item_type !== "scene") return null;
        return h("a", { key: i, className: "stash-sense-unknown-frame", href: S.itemURL("scene", s.item_id) }, "scene " + s.item_id + (s.time != null ? " at " + S.clock(s.time) : ""));
      })
    );
  }

  // "This is…": a search over Stash's performers; picking one names the group.
  function ThisIs(props) {
    var text = React.useState("");
    var found = React.useState([]);
    React.useEffect(
      function () {
        var q = text[0].trim();
        if (!q) {
          found[1]([]);
          return undefined;
        }
        var alive = true;
        var t = setTimeout(function () {
          S.searchPerformers(q).then(function (list) {
            if (alive) found[1](list);
          }, function () {
            if (alive) found[1]([]);
          });
        }, SEARCH_DELAY_MS);
        return function () {
          alive = false;
          clearTimeout(t);
        };
      },
      [text[0]]
    );
    var id = "stash-sense-this-is-" + props.person.id;
    return h(
      "div",
      { className: "stash-sense-this-is" },
      h("label", { htmlFor: id, className: "mb-1" }, "This is…"),
      h("input", { id: id, className: "form-control form-control-sm stash-sense-this-is-input", placeholder: "search your performers", value: text[0], disabled: props.busy, autoComplete: "off",
        onChange: function (e) { text[1](e.target.value); } }),
      found[0].length
        ? h("div", { className: "dropdown-menu show stash-sense-performer-options" }, found[0].map(function (p) {
            return h("button", { key: p.id, type: "button", className: "dropdown-item stash-sense-performer-option", "data-performer-id": p.id, disabled: props.busy,
              onClick: function () { props.name({ performer_id: p.id }, p.name); } },
              p.name, p.disambiguation ? h("span", { className: "text-muted" }, " (" + p.disambiguation + ")") : null);
          }))
        : null
    );
  }

  function NewPerformer(props) {
    var name = React.useState("");
    var id = "stash-sense-new-name-" + props.person.id;
    return h(
      "form",
      { className: "stash-sense-new-performer", onSubmit: function (e) {
        e.preventDefault();
        if (name[0].trim()) props.name({ new_name: name[0].trim() }, name[0].trim());
      } },
      h("label", { htmlFor: id, className: "mb-1" }, "New performer named…"),
      h("div", { className: "input-group input-group-sm" },
        h("input", { id: id, className: "form-control stash-sense-new-name", value: name[0], disabled: props.busy, onChange: function (e) { name[1](e.target.value); } }),
        h("div", { className: "input-group-append" },
          h(S.Btn, { size: "sm", variant: "primary", type: "submit", className: "stash-sense-name-new", disabled: props.busy || !name[0].trim() }, "Create and add")))
    );
  }

  function Person(props) {
    var p = props.person;
    return h(
      "section",
      { className: "stash-sense-unknown-person card", "data-person-id": p.id, "aria-label": p.label },
      h("div", { className: "card-body" },
        h("h5", { className: "stash-sense-unknown-label" }, p.label),
        h(Faces, { person: p }),
        h(Places, { person: p, titles: props.titles }),
        h("div", { className: "stash-sense-unknown-actions" },
          h(ThisIs, { person: p, busy: props.busy, name: props.name }),
          h(NewPerformer, { person: p, busy: props.busy, name: props.name }),
          h(S.Btn, { size: "sm", variant: "secondary", className: "stash-sense-hide", disabled: props.busy, onClick: props.hide }, "Not interesting")))
    );
  }

  S.UnknownPeopleTab = function UnknownPeopleTab() {
    var st = React.useState({ loading: true, people: null, titles: {}, error: null, busy: false, message: "", undo: null, task: null });
    var state = st[0];
    function patch(p) {
      st[1](function (old) { return Object.assign({}, old, p); });
    }

    // The groups again; `after` (the outcome message, undo) is shown with them, not before.
    function load(after) {
      patch({ loading: true, error: null });
      return S.runOperation({ mode: "unknown_people_list" })
        .then(function (out) {
          var items = [];
          out.people.forEach(function (p) { items = items.concat(p.items.slice(0, MAX_LINKS)); });
          return S.itemTitles(items).then(function (titles) {
            patch(Object.assign({ loading: false, people: out.people, titles: titles }, after || {}));
          });
        })
        .catch(function (e) { patch({ loading: false, busy: false, task: null, error: e }); });
    }

    React.useEffect(function () { load(); }, []);

    function group() {
      patch({ task: { progress: 0 }, message: "", undo: null, error: null });
      S.followTask(TASK, "unknown_people", function (f) { patch({ task: { progress: f } }); })
        .then(function () { return load({ task: null, message: "Grouping done." }); })
        .catch(function (e) { patch({ task: null, error: e }); });
    }

    function name(person, args, who) {
      patch({ busy: true, message: "", undo: null });
      S.runOperation(Object.assign({ mode: "unknown_person_name", person_id: person.id }, args))
        .then(function (out) {
          S.refreshStash();
          var msg = "Unknown person " + person.id + " is " + who + ": added to " + addedText(out.added) + "; " + S.plural(out.enrolled_faces, "face") + " enrolled.";
          return load({ busy: false, message: msg, undo: out.journal_run_id ? { run_id: out.journal_run_id, who: who, person: person.id } : null });
        })
        .catch(function (e) { patch({ busy: false, message: "Failed: " + e.message }); });
    }

    function hide(person) {
      patch({ busy: true, message: "", undo: null });
      S.runOperation({ mode: "unknown_person_hide", person_id: person.id })
        .then(function () { return load({ busy: false, message: "Unknown person " + person.id + " hidden: not listed again." }); })
        .catch(function (e) { patch({ busy: false, message: "Failed: " + e.message }); });
    }

    function undo() {
      var u = state.undo;
      patch({ busy: true });
      S.undoRun(u.run_id)
        .then(function () {
          return load({ busy: false, undo: null, message: "Undone: " + u.who + " removed again, and the faces left the local database." });
        })
        .catch(function (e) { patch({ busy: false, message: "Undo failed: " + e.message }); });
    }

    var people = state.people || [];
    return h(
      "div",
      { className: "stash-sense-unknown-people" },
      h("div", { className: "stash-sense-unknown-toolbar" },
        h(S.Btn, { variant: "primary", className: "stash-sense-unknown-run", disabled: !!state.task || state.busy, onClick: group },
          state.task ? "Grouping…" : people.length ? "Group again" : TASK),
        state.loading && state.people ? h(S.Spin) : null,
        h("span", { className: "text-muted" }, "Faces no performer matched, grouped across your galleries and scenes (bulk runs collect them).")),
      state.task && S.B.ProgressBar ? h(S.B.ProgressBar, { className: "stash-sense-bar", now: Math.round(state.task.progress * 100) }) : null,
      state.error ? h("div", { className: "stash-sense-error alert alert-danger", role: "alert" }, state.error.message) : null,
      state.message
        ? h("div", { className: "alert alert-info stash-sense-unknown-message", role: "status" }, state.message,
            state.undo ? h(S.Btn, { size: "sm", variant: "secondary", className: "ml-2 stash-sense-unknown-undo", disabled: state.busy, onClick: undo }, "Undo") : null)
        : null,
      state.loading && !state.people ? h(S.Spin) : null,
      state.people && !people.length && !state.task
        ? h("p", { className: "stash-sense-unknown-empty" }, "No recurring unknown people. Run \u201c" + TASK + "\u201d after a bulk run.")
        : null,
      people.map(function (p) {
        return h(Person, {
          key: p.id, person: p, titles: state.titles, busy: state.busy || !!state.task,
          name: function (args, who) { name(p, args, who); },
          hide: function () { hide(p); },
        });
      })
    );
  };
})(window.__stashSenseModules);
