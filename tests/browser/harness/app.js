/*
 * Stand-ins for Stash's gallery, image and scene pages, with Stash's markup where the plugin meets it:
 * the details column (.gallery-tabs, .scene-tabs ...) holding the toolbar (.gallery-toolbar > two
 * .gallery-toolbar-group: rating stars | organized button and operations menu), on a scene the markers
 * tab's preview clips before Stash's video.js player (<video-js id="VideoJsPlayer"> with its
 * <video class="vjs-tech">). Pages render only once their data has loaded (as in Stash), re-mount on
 * navigation, and dispatch stash:location on every route change. Performers on the page come from
 * GraphQL and reload on refetchQueries().
 */
(function () {
  "use strict";
  var React = window.React;
  var h = React.createElement;
  var base = document.querySelector("base").getAttribute("href");

  function gql(query, variables) {
    return fetch(base + "graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query: query, variables: variables }),
    })
      .then(function (r) { return r.json(); })
      .then(function (j) { return j.data; });
  }

  function relPath() {
    var p = location.pathname;
    var b = new URL(base, location.href).pathname;
    return "/" + (p.indexOf(b) === 0 ? p.slice(b.length) : p).replace(/^\//, "");
  }

  function navigate(path) {
    history.pushState({}, "", base + path.replace(/^\//, ""));
    render();
  }
  window.__harness.navigate = navigate;

  function Page(props) {
    var st = React.useState(null);
    var tick = React.useState(0);
    React.useEffect(function () {
      window.__harness.onRefetch(function () { tick[1](function (n) { return n + 1; }); });
    }, []);
    React.useEffect(function () {
      var q = props.kind === "gallery"
        ? "query($id: ID!) { findGallery(id: $id) { id title image_count performers { id name } } }"
        : props.kind === "scene"
        ? "query($id: ID!) { findScene(id: $id) { id title performers { id name } } }"
        : "query($id: ID!) { findImage(id: $id) { id title performers { id name } } }";
      var t = setTimeout(function () { // Stash shows a spinner first; the toolbar appears later
        gql(q, { id: props.id }).then(function (d) { st[1](d.findGallery || d.findScene || d.findImage); });
      }, 150);
      return function () { clearTimeout(t); };
    }, [props.id, tick[0]]);
    if (!st[0]) return h("div", { className: "loading" }, "Loading…");
    var obj = st[0];
    var k = props.kind;
    // Stash's layout: the details column (.gallery-tabs / .scene-tabs, 450 px wide from 1200 px on) with
    // the toolbar (rating stars | organized, operations menu), beside the content (.scene-player-container)
    return h("div", { className: "row " + k + "-page" },
      h("div", { className: k + "-tabs" },
        h("div", null,
          h("h3", { className: k + "-header " + k + "-title" }, obj.title || k + " " + obj.id),
          h(Toolbar, { kind: k })),
        k === "scene" ? h(MarkerPreviews, { id: obj.id }) : null),
      h("div", { className: k === "scene" ? "scene-player-container" : k + "-container" },
        k === "scene" ? h(Player, { id: obj.id }) : null,
        h("div", { className: "performer-list" },
          h("h6", null, "Performers"),
          h("ul", { className: "harness-performers" }, obj.performers.map(function (p) {
            return h("li", { key: p.id, "data-performer-id": p.id }, p.name);
          })))));
  }

  function icon(name) {
    var def = window["free-solid-svg-icons"][name].icon;
    return h("svg", { className: "svg-inline--fa", viewBox: "0 0 " + def[0] + " " + def[1], "aria-hidden": "true" },
      h("path", { fill: "currentColor", d: def[4] }));
  }

  // Stash's toolbar: star rating (5 minimal buttons), then the organized button and the operations menu
  function Toolbar(props) {
    var k = props.kind;
    var stars = [0, 1, 2, 3, 4].map(function (i) {
      return h("button", { key: i, type: "button", className: "minimal star-fill-0 btn btn-secondary" }, icon("faStar"));
    });
    return h("div", { className: k + "-toolbar" },
      h("span", { className: k + "-toolbar-group" },
        h("div", { className: "rating-stars rating-stars-precision-full" }, stars)),
      h("span", { className: k + "-toolbar-group" },
        h("span", null, h("button", { type: "button", title: "Organized",
          className: "organized-button not-organized minimal btn btn-secondary" }, icon("faBox"))),
        h("span", null, h("div", { className: "dropdown" }, h("button", { type: "button", id: "operation-menu",
          className: "minimal dropdown-toggle btn btn-secondary" }, icon("faEllipsisVertical"))))));
  }

  // The markers tab of the scene page: one looping preview clip per marker, before the player in the DOM.
  function MarkerPreviews(props) {
    return h("div", { className: "scene-markers-panel" },
      h("div", { className: "wall-item" },
        h("video", { className: "wall-item-media wall-item-preview", src: base + "scene/" + props.id + "/stream",
          muted: true, loop: true, playsInline: true, preload: "metadata", width: 160 })));
  }

  // Stash's ScenePlayer: a <video-js id="VideoJsPlayer" data-vjs-player> element appended to .video-wrapper,
  // which video.js fills with the media element <video id="VideoJsPlayer_html5_api" class="vjs-tech">.
  function Player(props) {
    var wrapper = React.useRef(null);
    React.useEffect(function () {
      var el = document.createElement("video-js");
      el.id = "VideoJsPlayer";
      el.setAttribute("data-vjs-player", "true");
      el.className = "video-js vjs-big-play-centered";
      var video = document.createElement("video");
      video.id = "VideoJsPlayer_html5_api";
      video.className = "vjs-tech";
      video.muted = true;
      video.preload = "metadata";
      video.src = base + "scene/" + props.id + "/stream";
      video.width = 480;
      el.appendChild(video);
      wrapper.current.appendChild(el);
      return function () { el.remove(); };
    }, [props.id]);
    return h("div", { className: "VideoPlayer" }, h("div", { className: "video-wrapper", ref: wrapper }));
  }

  function App() {
    var path = relPath();
    var m = path.match(/^\/(galleries|images|scenes)\/(\d+)/);
    return h("div", null,
      h("nav", { className: "navbar navbar-dark bg-dark harness-nav" }, h("span", { className: "navbar-brand" }, "Stash")),
      m ? h("div", { className: "main container-fluid" },
            h(Page, { key: path, kind: { galleries: "gallery", images: "image", scenes: "scene" }[m[1]], id: m[2] }))
        : h("div", { className: "container-fluid" }, "Harness home"));
  }

  function render() {
    window.ReactDOM.render(h(App), document.getElementById("root"));
    window.PluginApi.Event.dispatch("location", "", { location: { pathname: location.pathname, search: location.search } });
  }
  window.addEventListener("popstate", render);
  render();
})();
