/*
 * Stash Sense UI: seeking the scene page's player to where a person is on screen.
 *
 * Stash's scene page renders its video.js player as <video-js id="VideoJsPlayer" data-vjs-player>
 * inside .VideoPlayer, with the media element <video id="VideoJsPlayer_html5_api" class="vjs-tech">
 * in it, and video.js puts the player object on both (`el.player`). The page has other <video>
 * elements before it: the markers tab shows a preview clip per marker (which the plugin itself can
 * add), so the first <video> of the document is not the player once a scene has markers.
 */
(function (S) {
  "use strict";
  if (!S) return;

  var PLAYER_SELECTORS = ["#VideoJsPlayer", "[data-vjs-player]", ".VideoPlayer .video-js", ".VideoPlayer"];

  // Stash's player element (video.js), or null on a page that has none.
  function playerElement() {
    for (var i = 0; i < PLAYER_SELECTORS.length; i++) {
      var el = document.querySelector(PLAYER_SELECTORS[i]);
      if (el) return el;
    }
    return null;
  }

  // The media element to seek: the player's own <video>; without a known player element, the page's
  // last <video> (the scene page puts the tabs with the marker previews before the player).
  function playerVideo(el) {
    if (el) return el.tagName === "VIDEO" ? el : el.querySelector("video.vjs-tech") || el.querySelector("video");
    var videos = document.querySelectorAll("video");
    return videos.length ? videos[videos.length - 1] : null;
  }

  S.seekTo = function (seconds) {
    var t = Number(seconds) || 0;
    var el = playerElement();
    try {
      var player = el && el.player;
      if (player && typeof player.currentTime === "function") {
        player.currentTime(t); // video.js API: also right for non-HTML5 techs (Chromecast)
        return true;
      }
      var video = playerVideo(el);
      if (!video) return false;
      video.currentTime = t;
    } catch (e) {
      return false;
    }
    return true;
  };
})(window.__stashSenseModules);
