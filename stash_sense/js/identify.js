/*
 * Stash Sense UI: opening the modal for a target and running the identification. Each run has a
 * sequence number so the answer of an older run (user clicked again, closed, rescanned) is dropped.
 * "The engine is starting" is retried by itself, a few times, while the modal is open.
 */
(function (S) {
  "use strict";
  if (!S) return;
  var store = S.store;
  var runSeq = 0;
  var retryTimer = null;

  function identify(target, attempt) {
    attempt = attempt || 0;
    clearTimeout(retryTimer);
    var seq = ++runSeq;
    store.set({
      show: true,
      target: target,
      phase: "running",
      startedAt: attempt ? store.state.startedAt : Date.now(),
      attempt: attempt,
      result: null,
      error: null,
    });
    if (!attempt) {
      store.set({ info: null });
      S.targetInfo(target).then(function (info) {
        if (seq === runSeq || S.sameTarget(store.state.target, target)) store.set({ info: info });
      });
    }
    var args = { mode: "identify_" + target.type };
    args[target.type + "_id"] = String(target.id);
    return S.runOperation(args).then(
      function (result) {
        if (seq !== runSeq) return;
        store.set({ phase: "done", result: S.normalise(result) });
      },
      function (err) {
        if (seq !== runSeq) return;
        var e = S.explain(err);
        if (e.kind === "starting" && attempt < 8 && store.state.show) {
          store.set({ phase: "waiting", error: e, attempt: attempt + 1 });
          retryTimer = setTimeout(function () {
            if (seq === runSeq && store.state.show) identify(target, attempt + 1);
          }, Math.min(3000 + attempt * 1000, 10000));
          return;
        }
        store.set({ phase: "error", error: e });
      }
    );
  }

  // What a bulk run (or an earlier click) left for review is shown at once, without recomputing;
  // "Scan again" identifies afresh. Nothing stored (or the lookup failing) -> identify now.
  function showStoredOrIdentify(target) {
    var seq = ++runSeq;
    store.set({ show: true, target: target, phase: "running", startedAt: Date.now(), attempt: 0,
                result: null, error: null, info: null });
    S.targetInfo(target).then(function (info) {
      if (S.sameTarget(store.state.target, target)) store.set({ info: info });
    });
    var args = { mode: "suggestions", target_type: target.type, target_id: String(target.id) };
    return S.runOperation(args).then(
      function (stored) {
        if (seq !== runSeq) return;
        if (stored && stored.persons && stored.persons.length) {
          store.set({ phase: "done", result: S.normalise(Object.assign({ stored: true }, stored)) });
        } else {
          identify(target, 0);
        }
      },
      function () {
        if (seq === runSeq) identify(target, 0);
      }
    );
  }

  S.identify = identify;

  S.openFor = function (target) {
    var s = store.state;
    if (S.sameTarget(s.target, target) && (s.phase === "running" || s.phase === "waiting" || s.phase === "done")) {
      store.set({ show: true }); // running, or results not looked at yet: show them ("Scan again" rescans)
      return;
    }
    showStoredOrIdentify(target);
  };

  S.closeModal = function () {
    clearTimeout(retryTimer);
    if (store.state.phase === "waiting") {
      runSeq++;
      store.set({ show: false, phase: "idle" });
      return;
    }
    store.set({ show: false }); // a running identification keeps going; the button shows it
  };
})(window.__stashSenseModules);
