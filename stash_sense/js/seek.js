/* Stash Sense UI: seeking the scene page's player to where a person is on screen. */
(function (S) {
  "use strict";
  if (!S) return;

  // Seek the scene page's player: Stash renders its video.js player into a <video> element.
  S.seekTo = function (seconds) {
    var video = document.querySelector("video");
    if (!video) return false;
    try {
      video.currentTime = Number(seconds) || 0;
    } catch (e) {
      return false;
    }
    return true;
  };
})(window.__stashSenseModules);
