/* Stash Sense UI: FontAwesome icons from PluginApi.libraries.FontAwesomeSolid, as React and DOM <svg>. */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;

  // First name the FontAwesome version knows (icons were renamed in v6).
  S.ICONS = {
    identify: ["faUserTag", "faUsers", "faUser"],
    check: ["faCheck"],
    plus: ["faPlus"],
    ban: ["faBan"],
    user: ["faUser"],
    warn: ["faTriangleExclamation", "faExclamationTriangle"],
    download: ["faDownload"],
    images: ["faImages", "faImage"],
    question: ["faCircleQuestion", "faQuestionCircle", "faQuestion"],
    redo: ["faRotateRight", "faRedo"],
    bolt: ["faBolt"],
  };

  function iconDef(names) {
    for (var i = 0; i < names.length; i++) if (S.FA[names[i]]) return S.FA[names[i]];
    return null;
  }

  // An <svg> from a FontAwesome icon definition: {icon: [width, height, ligatures, unicode, path]}.
  function svgParts(def) {
    if (!def || !def.icon) return null;
    var d = def.icon[4];
    return { w: def.icon[0], h: def.icon[1], paths: Array.isArray(d) ? d : [d] };
  }

  S.Icon = function Icon(props) {
    var p = svgParts(iconDef(props.names));
    if (!p) return null;
    return h(
      "svg",
      {
        className: S.cx("svg-inline--fa stash-sense-icon", props.className),
        viewBox: "0 0 " + p.w + " " + p.h,
        "aria-hidden": "true",
        focusable: "false",
      },
      p.paths.map(function (d, i) {
        return h("path", { key: i, fill: "currentColor", d: d });
      })
    );
  };

  // The same icon as a DOM node, for the buttons injected outside React.
  S.iconElement = function (names) {
    var p = svgParts(iconDef(names));
    if (!p) return null;
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "svg-inline--fa stash-sense-icon");
    svg.setAttribute("viewBox", "0 0 " + p.w + " " + p.h);
    svg.setAttribute("aria-hidden", "true");
    p.paths.forEach(function (d) {
      var path = document.createElementNS(ns, "path");
      path.setAttribute("fill", "currentColor");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  };
})(window.__stashSenseModules);
