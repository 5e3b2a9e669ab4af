/*
 * Stash Sense UI: what the user does with a result: add a candidate (apply, optionally also to the
 * person's images), reject it (per target, every copy of it goes), add every person's best match in
 * the auto band. The result lives in the store; every change is a new result object so React redraws.
 */
(function (S) {
  "use strict";
  if (!S) return;
  var store = S.store;

  function withCandidates(mapCandidates) {
    var r = store.state.result;
    store.set({ result: Object.assign({}, r, { persons: r.persons.map(mapCandidates) }) });
  }

  // Patch candidate ci of person pi.
  function patchCandidate(pi, ci, patch) {
    withCandidates(function (p, i) {
      if (i !== pi) return p;
      return Object.assign({}, p, {
        candidates: p.candidates.map(function (c, j) {
          return j === ci ? Object.assign({}, c, patch) : c;
        }),
      });
    });
  }

  // Patch every copy of one performer (the same performer may be proposed for several persons).
  function patchPerformer(universalId, patch) {
    withCandidates(function (p) {
      return Object.assign({}, p, {
        candidates: p.candidates.map(function (c) {
          return c.universal_id === universalId ? Object.assign({}, c, patch) : c;
        }),
      });
    });
  }

  function targetArgs(mode, target, c) {
    return { mode: mode, target_type: target.type, target_id: String(target.id), universal_id: c.universal_id };
  }

  // apply -> the performer is on the target (and on the person's images if asked); resolves true when added.
  S.addCandidate = function (target, pi, ci, withImages) {
    var p = store.state.result.persons[pi];
    var c = p && p.candidates[ci];
    if (!c || c.busy || c.rejected) return Promise.resolve(false);
    var images = target.type === "gallery" && withImages && p.image_ids.length ? p.image_ids : null;
    if (c.on_target && !images) return Promise.resolve(false);
    patchCandidate(pi, ci, { busy: true, failed: null, message: null });
    var args = targetArgs("apply", target, c);
    if (images) args.image_ids = images;
    return S.runOperation(args).then(
      function (out) {
        var pid = out && out.performer_id != null ? String(out.performer_id) : c.local_performer_id;
        var msg = out && out.created ? "Created the performer in your Stash and added it." : "Added.";
        if (images) msg = msg.replace(/\.$/, "") + " Also on " + S.plural(images.length, "image") + ".";
        patchPerformer(c.universal_id, { local_performer_id: pid, on_target: true }); // it exists locally now
        patchCandidate(pi, ci, { busy: false, on_target: true, local_performer_id: pid, message: msg,
                                 imagesAdded: !!images || c.imagesAdded });
        S.refreshStash();
        return true;
      },
      function (err) {
        patchCandidate(pi, ci, { busy: false, failed: "Could not add: " + S.explain(err).text });
        return false;
      }
    );
  };

  // reject -> not proposed for this target again; onRejected(pi, ci) moves the keyboard focus on.
  S.rejectCandidate = function (target, pi, ci, onRejected) {
    var c = store.state.result.persons[pi].candidates[ci];
    if (!c || c.busy || c.rejected) return;
    patchCandidate(pi, ci, { busy: true, failed: null });
    S.runOperation(targetArgs("reject", target, c)).then(
      function () {
        patchCandidate(pi, ci, { busy: false, rejected: true, message: null });
        patchPerformer(c.universal_id, { rejected: true }); // a rejection is per gallery/image: other copies go too
        var cands = store.state.result.persons[pi].candidates;
        for (var j = 0; j < cands.length; j++) {
          if (!cands[j].rejected) {
            onRejected(pi, j);
            break;
          }
        }
      },
      function (err) {
        patchCandidate(pi, ci, { busy: false, failed: "Could not reject: " + S.explain(err).text });
      }
    );
  };

  // Best open candidate of each known person, if it is in the auto band and not applied yet: [[pi, ci]].
  S.autoPicks = function (result) {
    var seen = {};
    var picks = [];
    result.persons.forEach(function (p, pi) {
      if (p.unknown) return;
      var ci = S.firstOpenCandidate(p);
      var c = p.candidates[ci];
      if (!c || c.rejected || c.band !== "auto" || c.on_target || seen[c.universal_id]) return;
      seen[c.universal_id] = true;
      picks.push([pi, ci]);
    });
    return picks;
  };

  // Add the auto picks one after the other; onProgress({done, total}) and finally onProgress(null).
  S.addAllAuto = function (target, withImages, onProgress) {
    var picks = S.autoPicks(store.state.result);
    var i = 0;
    onProgress({ done: 0, total: picks.length });
    (function next() {
      if (i >= picks.length) {
        onProgress(null);
        return;
      }
      var pk = picks[i++];
      S.addCandidate(target, pk[0], pk[1], withImages[pk[0]]).then(function () {
        onProgress({ done: i, total: picks.length });
        next();
      });
    })();
  };
})(window.__stashSenseModules);
