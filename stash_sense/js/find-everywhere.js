/*
 * Stash Sense UI: "Find everywhere" on a performer's page. The performer page has no patch point
 * for its action buttons, so the button is injected into its row of buttons (Edit, Auto Tag, …;
 * `.details-edit` with the Edit button, not the edit form's), idempotently, again after React
 * re-renders it or the route changes. It opens a modal listing the galleries, scenes and images
 * whose faces match this performer and that do not have them yet (the plugin's find_everywhere,
 * best first, with the calibrated confidence and band), with checkboxes, "Add selected" and "Add
 * all above auto threshold" (one journalled run each, with Undo).
 */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;
  var React = S.React;
  var B = S.B;
  var BUTTON_ID = "stash-sense-find-everywhere";
  var PERFORMER_RE = /^\/performers\/(\d+)(?:\/|$)/;
  var MAX_THUMBS = 4;

  var performerId = null;
  var watcher = S.domWatcher(inject);
  var root = null;
  var openModal = null; // set by the mounted modal
  var pendingId = null; // the performer to show once the modal has mounted

  function buttonRow() {
    var rows = document.querySelectorAll("#performer-page .details-edit");
    for (var i = 0; i < rows.length; i++) if (rows[i].querySelector(":scope > button.edit")) return rows[i];
    return null;
  }

  function inject() {
    var row = performerId && buttonRow();
    var btn = document.getElementById(BUTTON_ID);
    if (!row) return;
    if (btn && btn.parentNode === row) return;
    if (btn) btn.parentNode.removeChild(btn);
    btn = document.createElement("button");
    btn.id = BUTTON_ID;
    btn.type = "button";
    btn.className = "btn btn-secondary stash-sense-btn";
    btn.setAttribute("data-performer-id", performerId);
    btn.title = "Galleries, scenes and images where Stash Sense sees this performer's face, and that do not have them yet";
    var ic = S.iconElement(S.ICONS.identify);
    if (ic) btn.appendChild(ic);
    btn.appendChild(document.createTextNode(" Find everywhere"));
    btn.addEventListener("click", function () { show(performerId); });
    var del = row.querySelector(":scope > button.delete");
    row.insertBefore(btn, del || null);
  }

  S.onPerformerLocation = function (pathname) {
    var m = S.routePath(pathname || location.pathname).match(PERFORMER_RE);
    performerId = m ? m[1] : null;
    var old = document.getElementById(BUTTON_ID);
    if (old && (!m || old.getAttribute("data-performer-id") !== performerId)) old.parentNode.removeChild(old);
    if (!m) {
      watcher.stop();
      return;
    }
    inject();
    watcher.start();
  };

  function show(id) {
    if (openModal) {
      openModal(id);
      return;
    }
    pendingId = id;
    if (root) return; // mounting: the modal opens pendingId
    root = document.createElement("div");
    root.id = "stash-sense-find-root";
    document.body.appendChild(root);
    if (S.ReactDOM.createRoot) S.ReactDOM.createRoot(root).render(h(FindModal));
    else S.ReactDOM.render(h(FindModal), root);
  }

  // The name Stash's performer page shows, for the modal's title before the plugin answers.
  function performerName() {
    var el = document.querySelector("#performer-page .performer-name");
    return el ? el.textContent.trim() : "";
  }

  function ItemRow(props) {
    var i = props.item;
    var info = props.titles[i.type + ":" + i.id];
    var band = S.BAND[i.band] || S.BAND.low;
    var key = i.type + ":" + i.id;
    return h(
      "li",
      { className: "stash-sense-find-item", "data-item": key },
      h("input", { type: "checkbox", className: "stash-sense-find-check", id: "stash-sense-find-" + key, checked: props.checked, disabled: props.busy, onChange: props.toggle }),
      h("span", { className: "stash-sense-q-thumbs" }, (i.images || []).slice(0, MAX_THUMBS).map(function (imageId) {
        return h("img", { key: imageId, className: "stash-sense-thumb", src: S.thumbURL(imageId), alt: "", loading: "lazy", width: 48, height: 48 });
      })),
      h("label", { htmlFor: "stash-sense-find-" + key, className: "stash-sense-find-title" },
        h("a", { href: S.itemURL(i.type, i.id), target: "_blank", rel: "noreferrer" }, (info && info.title) || i.type + " " + i.id),
        h("span", { className: "stash-sense-q-type" }, " · " + i.type + (i.images && i.images.length ? " · seen in " + S.plural(i.images.length, "image") : ""))),
      h("span", { className: "stash-sense-confidence" }, S.pct(i.confidence)),
      h(S.Badge, { variant: band.variant, className: "stash-sense-band", title: band.hint }, band.label)
    );
  }

  function FindModal() {
    var st = React.useState({ performerId: null, loading: false, data: null, titles: {}, error: null, checked: {}, busy: false, message: "", undo: null });
    var state = st[0];
    function patch(p) {
      st[1](function (old) { return Object.assign({}, old, p); });
    }

    // The places again; `after` (the outcome message, undo) is shown with them, not before.
    function load(id, after) {
      patch({ performerId: id, loading: true, error: null, checked: {} });
      return S.runOperation({ mode: "find_everywhere", performer_id: id })
        .then(function (data) {
          return S.itemTitles(data.items).then(function (titles) {
            patch(Object.assign({ loading: false, data: data, titles: titles }, after || {}));
          });
        })
        .catch(function (e) { patch({ loading: false, busy: false, error: e }); });
    }

    React.useEffect(function () {
      openModal = function (id) {
        patch({ data: null, message: "", undo: null, name: performerName() });
        load(id);
      };
      if (pendingId) openModal(pendingId);
      pendingId = null;
      return function () { openModal = null; };
    }, []);

    function add(items, what) {
      var name = (state.data && state.data.performer.name) || state.name || "the performer";
      patch({ busy: true, message: "" });
      S.runOperation({ mode: "find_everywhere_add", performer_id: state.performerId, items: items.map(function (i) { return { type: i.type, id: i.id }; }) })
        .then(function (out) {
          S.refreshStash();
          var n = Object.keys(out.added || {}).reduce(function (sum, k) { return sum + out.added[k].length; }, 0);
          return load(state.performerId, { busy: false, message: "Added " + name + " to " + S.plural(n, "item") + " (" + what + ").",
            undo: out.journal_run_id ? { run_id: out.journal_run_id, n: n } : null });
        })
        .catch(function (e) { patch({ busy: false, message: "Failed: " + e.message }); });
    }

    function undo() {
      var u = state.undo;
      patch({ busy: true });
      S.undoRun(u.run_id)
        .then(function () {
          return load(state.performerId, { busy: false, undo: null, message: "Undone: removed again from " + S.plural(u.n, "item") + "." });
        })
        .catch(function (e) { patch({ busy: false, message: "Undo failed: " + e.message }); });
    }

    if (!state.performerId || !B.Modal) return null;
    var d = state.data;
    var items = (d && d.items) || [];
    var chosen = items.filter(function (i) { return state.checked[i.type + ":" + i.id]; });
    var auto = items.filter(function (i) { return i.band === "auto"; });
    var close = function () { patch({ performerId: null, data: null }); };
    return h(
      B.Modal,
      { show: true, onHide: close, size: "lg", className: "stash-sense-modal stash-sense-find-modal" },
      h(B.Modal.Header, { closeButton: true }, h(B.Modal.Title, null, "Find " + ((d && d.performer.name) || state.name || "this performer") + " everywhere")),
      h(B.Modal.Body, null,
        state.error ? h("div", { className: "stash-sense-error alert alert-danger", role: "alert" }, state.error.message) : null,
        state.message
          ? h("div", { className: "alert alert-info stash-sense-find-message", role: "status" }, state.message,
              state.undo ? h(S.Btn, { size: "sm", variant: "secondary", className: "ml-2 stash-sense-find-undo", disabled: state.busy, onClick: undo }, "Undo") : null)
          : null,
        state.loading ? h("div", { className: "stash-sense-progress" }, h(S.Spin), " Looking through the library's faces…") : null,
        d && !state.loading && !items.length
          ? h("p", { className: "stash-sense-empty" }, d.message || "Nowhere else: every gallery, scene and image that shows this performer has them already (as far as the analysed faces tell).")
          : null,
        d && items.length && !state.loading
          ? h("div", null,
              h("p", { className: "stash-sense-find-summary" }, S.plural(items.length, "place") + " without " + d.performer.name + ", best first (from " + S.plural(d.reference_faces, "reference face") + "; auto-apply at " + S.pct(d.thresholds.auto) + ")."),
              h("ul", { className: "stash-sense-find-list" }, items.map(function (i) {
                var key = i.type + ":" + i.id;
                return h(ItemRow, { key: key, item: i, titles: state.titles, busy: state.busy, checked: !!state.checked[key], toggle: function () {
                  var c = Object.assign({}, state.checked);
                  c[key] = !c[key];
                  patch({ checked: c });
                } });
              })))
          : null),
      h(B.Modal.Footer, null,
        h(S.Btn, { variant: "secondary", onClick: close }, "Close"),
        h(S.Btn, { variant: "primary", className: "stash-sense-find-add-auto", disabled: state.busy || state.loading || !auto.length, onClick: function () { add(auto, "above the auto threshold"); } },
          "Add all above auto threshold (" + auto.length + ")"),
        h(S.Btn, { variant: "success", className: "stash-sense-find-add-selected", disabled: state.busy || state.loading || !chosen.length, onClick: function () { add(chosen, "selected"); } },
          "Add selected (" + chosen.length + ")"))
    );
  }
})(window.__stashSenseModules);
