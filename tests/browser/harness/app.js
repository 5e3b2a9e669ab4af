/*
 * Stand-ins for Stash's gallery and image pages: the same toolbar markup (.gallery-toolbar >
 * .gallery-toolbar-group, .image-toolbar > .image-toolbar-group), rendered by React only once the
 * page's data has loaded (as in Stash), re-mounted on navigation, and a stash:location event on
 * every route change. Performers on the page come from GraphQL and reload on refetchQueries().
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
    return h("div", { className: k + "-page container-fluid" },
      h("h2", { className: k + "-title" }, obj.title || k + " " + obj.id),
      k === "scene" // Stash's scene page: a video.js player rendered into a <video> element
        ? h("video", { className: "harness-player", src: base + "scene/" + obj.id + "/stream", controls: true,
            preload: "metadata", muted: true, width: 480 })
        : null,
      h("div", { className: k + "-toolbar" },
        h("span", { className: k + "-toolbar-group" },
          h("button", { className: "btn btn-secondary minimal", type: "button" }, "Edit")),
        h("span", { className: k + "-toolbar-group" },
          h("button", { className: "btn btn-secondary minimal", type: "button" }, "Organized"),
          h("button", { className: "btn btn-secondary minimal", type: "button" }, "⋮"))),
      h("div", { className: "performer-list" },
        h("h6", null, "Performers"),
        h("ul", { className: "harness-performers" }, obj.performers.map(function (p) {
          return h("li", { key: p.id, "data-performer-id": p.id }, p.name);
        }))));
  }

  function App() {
    var path = relPath();
    var m = path.match(/^\/(galleries|images|scenes)\/(\d+)/);
    return h("div", null,
      h("nav", { className: "navbar navbar-dark bg-dark harness-nav" }, h("span", { className: "navbar-brand" }, "Stash")),
      m ? h(Page, { key: path, kind: { galleries: "gallery", images: "image", scenes: "scene" }[m[1]], id: m[2] })
        : h("div", { className: "container-fluid" }, "Harness home"));
  }

  function render() {
    window.ReactDOM.render(h(App), document.getElementById("root"));
    window.PluginApi.Event.dispatch("location", "", { location: { pathname: location.pathname, search: location.search } });
  }
  window.addEventListener("popstate", render);
  render();
})();
