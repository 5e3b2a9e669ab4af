/*
 * Stash Sense page, part 1: the review queue. Every stored suggestion across the library, grouped by
 * performer, the group that clears the most work first (paged by the plugin's review_queue
 * operation, never the whole queue in the browser). Keyboard: j/k move, a accept, r reject,
 * s skip, d dismiss (deleted targets), u undo the last decision.
 */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;
  var React = S.React;
  var B = S.B;
  var PER_PAGE = 20;

  S.BAND_NAMES = { auto: "auto", review: "review", low: "low" };

  function Target(props) {
    var t = props.target;
    var label = t.title || t.type + " " + t.id;
    return h(
      "li",
      { className: S.cx("stash-sense-q-target", t.deleted && "stash-sense-q-deleted"), "data-target": t.type + ":" + t.id },
      t.crop ? h("img", { className: "stash-sense-q-crop", src: t.crop, alt: "face", width: 56, height: 56 }) : null,
      h(
        "span",
        { className: "stash-sense-q-thumbs" },
        (t.image_ids || []).map(function (id) {
          return h("img", { key: id, className: "stash-sense-thumb", src: S.thumbURL(id), alt: "", loading: "lazy", width: 48, height: 48 });
        })
      ),
      h(
        "span",
        { className: "stash-sense-q-title" },
        t.deleted ? h("span", null, label, " ", S.h(S.Badge, { variant: "danger" }, "deleted from Stash")) : h("a", { href: S.itemURL(t.type, t.id), target: "_blank", rel: "noreferrer" }, label),
        h("span", { className: "stash-sense-q-type" }, " · " + t.type + (t.image_count ? " · " + S.plural(t.image_count, "image") : ""))
      ),
      h("span", { className: "stash-sense-confidence" }, S.pct(t.confidence)),
      h(S.Badge, { variant: (S.BAND[t.band] || S.BAND.low).variant, className: "stash-sense-band" }, t.band),
      h(
        "span",
        { className: "stash-sense-q-one" },
        t.deleted
          ? h(S.Btn, { size: "sm", variant: "secondary", className: "stash-sense-dismiss", onClick: function () { props.decide([t], "dismiss"); } }, "Dismiss")
          : [
              h(S.Btn, { key: "a", size: "sm", variant: "success", title: "Add to this " + t.type + " only", onClick: function () { props.decide([t], "accept"); } }, "Add"),
              h(S.Btn, { key: "r", size: "sm", variant: "danger", className: "stash-sense-reject", onClick: function () { props.decide([t], "reject"); } }, "Reject"),
            ]
      )
    );
  }

  function Group(props) {
    var g = props.group;
    var alive = g.targets.filter(function (t) {
      return !t.deleted;
    });
    var where = S.plural(g.count, "target") + (g.count > g.targets.length ? " (first " + g.targets.length + " shown)" : "");
    return h(
      "section",
      {
        className: S.cx("stash-sense-q-group card", props.focused && "stash-sense-q-focused"),
        "data-universal-id": g.universal_id,
        "aria-label": g.name,
        onClick: props.onFocus,
      },
      h(
        "header",
        { className: "stash-sense-q-head" },
        g.image_url ? h("img", { className: "stash-sense-performer-img", src: g.image_url, alt: "", width: 56, height: 56 }) : null,
        h(
          "div",
          { className: "stash-sense-q-name" },
          h("strong", null, g.name),
          g.disambiguation ? h("span", { className: "text-muted" }, " (" + g.disambiguation + ")") : null,
          h("div", { className: "stash-sense-q-meta" },
            where + " · best " + S.pct(g.best),
            g.local_performer_id ? h("a", { href: S.url("performers/" + g.local_performer_id), className: "ml-2" }, "performer page") : null,
            g.performer_deleted ? h(S.Badge, { variant: "danger", className: "ml-2" }, "performer deleted from Stash (accept creates it again)") : null,
            !g.local_performer_id && !g.performer_deleted ? h(S.Badge, { variant: "info", className: "ml-2" }, "not in your Stash yet") : null)
        ),
        h(
          "div",
          { className: "stash-sense-q-actions" },
          h(S.Btn, { variant: "success", className: "stash-sense-accept-all", disabled: !alive.length, onClick: function () { props.decide(alive, "accept"); } }, "Accept all (a)"),
          h(S.Btn, { variant: "danger", className: "stash-sense-reject stash-sense-reject-all", disabled: !alive.length, onClick: function () { props.decide(alive, "reject"); } }, "Reject all (r)"),
          h(S.Btn, { variant: "secondary", onClick: props.skip }, "Skip (s)")
        )
      ),
      h(
        "ul",
        { className: "stash-sense-q-targets" },
        g.targets.map(function (t) {
          return h(Target, { key: t.type + t.id, target: t, decide: props.decide });
        })
      )
    );
  }

  function Filters(props) {
    var f = props.filters;
    var set = function (k) {
      return function (e) {
        var v = e.target.value;
        props.onChange(Object.assign({}, f, (function () { var o = {}; o[k] = v; return o; })()));
      };
    };
    var input = function (k, attrs) {
      return h("input", Object.assign({ className: "form-control form-control-sm", value: f[k] || "", onChange: set(k), "aria-label": attrs.placeholder }, attrs));
    };
    return h(
      "form",
      { className: "stash-sense-q-filters form-inline", onSubmit: function (e) { e.preventDefault(); props.onApply(); } },
      h(
        "select",
        { className: "form-control form-control-sm", value: f.target_type || "", onChange: set("target_type"), "aria-label": "Target type" },
        h("option", { value: "" }, "All types"),
        h("option", { value: "gallery" }, "Galleries"),
        h("option", { value: "scene" }, "Scenes"),
        h("option", { value: "image" }, "Images")
      ),
      input("min", { placeholder: "min %", type: "number", min: 0, max: 100, style: { width: "6em" } }),
      input("max", { placeholder: "max %", type: "number", min: 0, max: 100, style: { width: "6em" } }),
      input("performer", { placeholder: "performer" }),
      input("tag", { placeholder: "tag name" }),
      h(S.Btn, { size: "sm", variant: "primary", type: "submit" }, "Filter")
    );
  }

  function queueArgs(filters, page) {
    var args = { mode: "review_queue", page: page, per_page: PER_PAGE };
    if (filters.target_type) args.target_type = filters.target_type;
    if (filters.min !== "" && filters.min != null) args.min_confidence = Number(filters.min) / 100;
    if (filters.max !== "" && filters.max != null) args.max_confidence = Number(filters.max) / 100;
    if (filters.performer) args.performer = filters.performer;
    if (!filters.tag) return Promise.resolve(args);
    return S.findTagId(filters.tag).then(function (id) {
      if (!id) throw new Error("There is no tag named " + filters.tag);
      args.tag_id = id;
      return args;
    });
  }

  S.ReviewQueue = function ReviewQueue() {
    var st = React.useState({ loading: true, data: null, error: null, page: 1, focus: 0, message: "", busy: false });
    var state = st[0];
    var setState = st[1];
    var fs = React.useState({ target_type: "", min: "", max: "", performer: "", tag: "" });
    var undoStack = React.useRef([]);
    var stateRef = React.useRef(state);
    stateRef.current = state;

    function patch(p) {
      setState(function (old) {
        return Object.assign({}, old, p);
      });
    }

    function load(page, message) {
      patch({ loading: true, error: null });
      return queueArgs(fs[0], page)
        .then(S.runOperation)
        .then(function (data) {
          patch({ loading: false, data: data, page: page, focus: 0, message: message || "" });
        })
        .catch(function (e) {
          patch({ loading: false, error: e });
        });
    }

    React.useEffect(function () {
      load(1);
    }, []);

    function decide(group, targets, decision) {
      if (stateRef.current.busy || !targets.length) return;
      patch({ busy: true });
      S.runOperation({
        mode: "review_decide",
        universal_id: group.universal_id,
        decision: decision,
        targets: targets.map(function (t) {
          return { type: t.type, id: t.id };
        }),
      })
        .then(function (out) {
          if (out.run_id) undoStack.current.push({ run_id: out.run_id, name: group.name, decision: decision });
          var word = out.already_decided ? out.message : decision === "accept" ? "Added " + group.name + " to " + S.plural(out.added.length, "target") : decision === "reject" ? "Rejected " + group.name : "Dismissed";
          removeTargets(group, targets, word);
          if (decision === "accept") S.refreshStash();
        })
        .catch(function (e) {
          patch({ busy: false, message: "Failed: " + e.message });
        });
    }

    function removeTargets(group, targets, message) {
      var keys = targets.map(function (t) {
        return t.type + ":" + t.id;
      });
      var data = stateRef.current.data;
      var groups = data.groups
        .map(function (g) {
          if (g.universal_id !== group.universal_id) return g;
          return Object.assign({}, g, {
            targets: g.targets.filter(function (t) {
              return keys.indexOf(t.type + ":" + t.id) < 0;
            }),
          });
        })
        .filter(function (g) {
          return g.targets.length;
        });
      var left = data.total_suggestions - targets.length;
      var more = group.count > group.targets.length; // the server holds more of this group
      if ((!groups.length && left > 0) || more) {
        patch({ busy: false });
        load(stateRef.current.page, message);
        return;
      }
      var focus = Math.min(stateRef.current.focus, Math.max(0, groups.length - 1));
      patch({ busy: false, message: message, focus: focus, data: Object.assign({}, data, { groups: groups, total_suggestions: left }) });
    }

    function undoLast() {
      var last = undoStack.current.pop();
      if (!last) {
        patch({ message: "Nothing to undo on this page" });
        return;
      }
      patch({ busy: true });
      S.undoRun(last.run_id)
        .then(function () {
          patch({ busy: false });
          return load(stateRef.current.page, "Undid: " + last.decision + " " + last.name);
        })
        .catch(function (e) {
          patch({ busy: false, message: "Undo failed: " + e.message });
        });
    }

    React.useEffect(function () {
      function onKey(e) {
        var tag = (e.target && e.target.tagName) || "";
        if (/INPUT|SELECT|TEXTAREA/.test(tag) || e.ctrlKey || e.metaKey || e.altKey) return;
        var s = stateRef.current;
        var groups = (s.data && s.data.groups) || [];
        var g = groups[s.focus];
        var alive = g ? g.targets.filter(function (t) { return !t.deleted; }) : [];
        var dead = g ? g.targets.filter(function (t) { return t.deleted; }) : [];
        var k = e.key;
        if (k === "j" || k === "s") patch({ focus: Math.min(groups.length - 1, s.focus + 1) });
        else if (k === "k") patch({ focus: Math.max(0, s.focus - 1) });
        else if (k === "a" && g) decide(g, alive, "accept");
        else if (k === "r" && g) decide(g, alive, "reject");
        else if (k === "d" && g) decide(g, dead, "dismiss");
        else if (k === "u") undoLast();
        else return;
        e.preventDefault();
      }
      document.addEventListener("keydown", onKey);
      return function () {
        document.removeEventListener("keydown", onKey);
      };
    }, []);

    React.useEffect(function () {
      var el = document.querySelector(".stash-sense-q-focused");
      if (el && el.scrollIntoView) el.scrollIntoView({ block: "nearest" });
    }, [state.focus, state.data]);

    var data = state.data;
    var pages = data ? Math.max(1, Math.ceil(data.total_groups / PER_PAGE)) : 1;
    return h(
      "div",
      { className: "stash-sense-queue" },
      h(Filters, { filters: fs[0], onChange: fs[1], onApply: function () { load(1); } }),
      state.error ? h("div", { className: "stash-sense-error alert alert-danger" }, state.error.message) : null,
      data
        ? h("p", { className: "stash-sense-q-summary" },
            S.plural(data.total_suggestions, "suggestion") + " in " + S.plural(data.total_groups, "group") + " · page " + state.page + " of " + pages +
            " · keys: j/k move, a accept, r reject, s skip, d dismiss deleted, u undo")
        : null,
      state.message ? h("div", { className: "stash-sense-q-message alert alert-info", role: "status" }, state.message) : null,
      state.loading && !data ? h(S.Spin) : null,
      data && !data.groups.length ? h("p", { className: "stash-sense-empty" }, "Nothing to review. Bulk runs store their uncertain matches here.") : null,
      data
        ? data.groups.map(function (g, i) {
            return h(Group, {
              key: g.universal_id,
              group: g,
              focused: i === state.focus,
              onFocus: function () { patch({ focus: i }); },
              skip: function () { patch({ focus: Math.min(data.groups.length - 1, i + 1) }); },
              decide: function (targets, decision) { decide(g, targets, decision); },
            });
          })
        : null,
      data && pages > 1
        ? h("nav", { className: "stash-sense-q-pager" },
            h(S.Btn, { size: "sm", variant: "secondary", disabled: state.page <= 1, onClick: function () { load(state.page - 1); } }, "Previous"),
            h(S.Btn, { size: "sm", variant: "secondary", disabled: state.page >= pages, onClick: function () { load(state.page + 1); } }, "Next"))
        : null,
      B && state.busy ? h("div", { className: "stash-sense-q-busy" }, h(S.Spin)) : null
    );
  };
})(window.__stashSenseModules);
