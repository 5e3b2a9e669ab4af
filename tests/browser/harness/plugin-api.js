/*
 * A minimal window.PluginApi, built like Stash's (ui/v2.5/src/pluginApi.tsx) from the real npm
 * packages Stash ships: React 17, ReactDOM, react-bootstrap 1.6, FontAwesome solid icons, an Event
 * target dispatching "stash:location", and StashService.getClient() whose refetchQueries() makes the
 * harness pages reload their data (what Apollo does for Stash's active queries).
 */
(function () {
  "use strict";
  function PluginEvent() {
    var target = new EventTarget();
    this.addEventListener = target.addEventListener.bind(target);
    this.removeEventListener = target.removeEventListener.bind(target);
    this.dispatchEvent = target.dispatchEvent.bind(target);
  }
  // Stash: Event.dispatch("location", "", { location }) -> CustomEvent "stash:location"
  PluginEvent.prototype.dispatch = function (event, type, data) {
    var name = "stash:" + event + (type ? ":" + type : "");
    this.dispatchEvent(new CustomEvent(name, { detail: { event: event, type: type, data: data } }));
  };

  var refetchListeners = [];
  var client = {
    refetchQueries: function (opts) {
      window.__harness.refetches.push(opts || null);
      refetchListeners.forEach(function (fn) {
        fn();
      });
      return Promise.resolve([]);
    },
  };

  window.__harness = { refetches: [], onRefetch: function (fn) { refetchListeners.push(fn); }, errors: [] };
  window.addEventListener("error", function (e) {
    window.__harness.errors.push(String(e.message || e));
  });

  window.PluginApi = {
    React: window.React,
    ReactDOM: window.ReactDOM,
    GQL: {},
    libraries: {
      Bootstrap: window.ReactBootstrap,
      FontAwesomeSolid: window["free-solid-svg-icons"],
      FontAwesomeRegular: {},
      FontAwesomeBrands: {},
    },
    register: { route: function () {}, component: function () {} },
    loadableComponents: {},
    components: {},
    utils: { StashService: { getClient: function () { return client; } } },
    hooks: {},
    patch: { before: function () {}, instead: function () {}, after: function () {} },
    Event: new PluginEvent(),
  };
})();
