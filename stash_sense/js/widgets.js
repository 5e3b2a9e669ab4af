/* Stash Sense UI: small building blocks of the modal (react-bootstrap when Stash provides it, plain
   Bootstrap markup otherwise). */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;
  var B = S.B;

  S.Btn = function Btn(props) {
    var Button = B.Button;
    var p = Object.assign({}, props);
    delete p.children;
    if (Button) return h(Button, p, props.children);
    var cls = S.cx("btn", "btn-" + (p.variant || "primary"), p.size === "sm" && "btn-sm", p.className);
    delete p.variant;
    delete p.size;
    return h("button", Object.assign({ type: "button" }, p, { className: cls }), props.children);
  };

  S.Spin = function Spin(props) {
    if (B.Spinner) return h(B.Spinner, { animation: "border", size: props.size || "sm", role: "status" });
    return h("span", { className: "spinner-border spinner-border-sm", role: "status" });
  };

  S.Badge = function Badge(props) {
    var cls = S.cx("badge", "badge-" + (props.variant || "secondary"), "stash-sense-badge", props.className);
    return h("span", { className: cls, title: props.title }, props.children);
  };

  // Seconds since `since`, ticking once a second.
  S.Elapsed = function Elapsed(props) {
    var st = S.React.useState(Date.now());
    S.React.useEffect(function () {
      var t = setInterval(function () {
        st[1](Date.now());
      }, 1000);
      return function () {
        clearInterval(t);
      };
    }, []);
    var s = Math.max(0, Math.round((st[0] - props.since) / 1000));
    return h("span", { className: "stash-sense-elapsed" }, s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s");
  };
})(window.__stashSenseModules);
