/*
 * Stash Sense UI: keyboard use of the results: ↑↓ person, ←→ candidate (rejected ones skipped),
 * Enter adds the focused candidate. Keys meant for a form control or a link keep their own meaning.
 */
(function (S) {
  "use strict";
  if (!S) return;

  function nextOpenCandidate(cands, from, step) {
    var ci = from;
    for (var k = 0; k < cands.length; k++) {
      ci = ci + step;
      if (ci < 0 || ci >= cands.length) return from;
      if (!cands[ci].rejected) return ci;
    }
    return ci;
  }

  function handled(ev) {
    ev.preventDefault();
    ev.stopPropagation();
  }

  // nav: {persons, focus: {person, cand}, setFocus, busy (adding all), add(pi, ci)}
  S.resultKeys = function (ev, nav) {
    var tag = (ev.target && ev.target.tagName) || "";
    var persons = nav.persons;
    var cur = nav.focus;
    if (!persons.length) return;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      if (tag === "SELECT" || tag === "TEXTAREA") return;
      var np = Math.max(0, Math.min(persons.length - 1, cur.person + (ev.key === "ArrowDown" ? 1 : -1)));
      nav.setFocus({ person: np, cand: S.firstOpenCandidate(persons[np]), grab: true });
      handled(ev);
    } else if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
      if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
      var ci = nextOpenCandidate(persons[cur.person].candidates, cur.cand, ev.key === "ArrowRight" ? 1 : -1);
      nav.setFocus({ person: cur.person, cand: ci, grab: true });
      handled(ev);
    } else if (ev.key === "Enter") {
      if (tag === "BUTTON" || tag === "A" || tag === "INPUT" || tag === "SUMMARY") return; // native action
      handled(ev);
      if (!nav.busy) nav.add(cur.person, cur.cand);
    }
  };
})(window.__stashSenseModules);
