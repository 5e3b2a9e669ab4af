/*
 * Stash Sense UI: the one state shared by the injected page buttons and the modal
 * ({show, target, phase: idle|running|waiting|done|error, result, error, info, startedAt, attempt}),
 * and the shape of a result as the modal reads it.
 */
(function (S) {
  "use strict";
  if (!S) return;

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
  S.store = store;

  S.sameTarget = function (a, b) {
    return !!a && !!b && a.type === b.type && String(a.id) === String(b.id);
  };

  // Sort candidates (best first, rejected last) and add UI-only fields.
  S.normalise = function (result) {
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
  };

  S.firstOpenCandidate = function (person) {
    for (var i = 0; i < person.candidates.length; i++) if (!person.candidates[i].rejected) return i;
    return 0;
  };
})(window.__stashSenseModules);
