/*
 * Stash Sense UI: the modal itself (react-bootstrap's Modal when Stash provides it): title with the
 * target's name, the body for the current phase (progress, error, results) and the footer (keyboard
 * hints, Scan again, Close). It follows the store; key presses go to the results view.
 */
(function (S) {
  "use strict";
  if (!S) return;
  var h = S.h;
  var useState = S.React.useState;
  var useRef = S.React.useRef;
  var useEffect = S.React.useEffect;

  function body(s, keyHandler) {
    if (s.phase === "running") return h(S.Running, { state: s });
    if (s.phase === "error" || s.phase === "waiting") {
      return h(S.ErrorView, {
        key: (s.error && s.error.kind) + ":" + s.target.type + s.target.id,
        error: s.error,
        attempt: s.attempt,
        target: s.target,
        onRetry: function () {
          S.identify(s.target, 0);
        },
      });
    }
    if (s.phase === "done" && s.result) {
      return h(S.Results, {
        key: s.target.type + s.target.id + ":" + s.startedAt,
        state: s,
        setKeyHandler: function (fn) {
          keyHandler.current = fn;
        },
      });
    }
    return null;
  }

  // Where the engine ran and on which execution provider (asked for / used), e.g. "remote · CUDA".
  function EngineLine(props) {
    var e = props.engine;
    if (!e || !e.provider) return null;
    var used = String(e.provider.provider || "").replace("ExecutionProvider", "");
    var title = "device " + e.provider.device + ", provider " + e.provider.provider + (e.provider.reason ? ": " + e.provider.reason : "");
    return h(
      "span",
      { className: "stash-sense-engine text-muted small", title: title },
      (e.mode ? e.mode + " · " : "") + used
    );
  }

  function Footer(props) {
    var s = props.state;
    return h(
      "div",
      { className: "stash-sense-footer" },
      h(
        "span",
        { className: "stash-sense-keys text-muted small d-none d-md-inline" },
        s.phase === "done" ? "↑↓ person · ←→ candidate · Enter add · Esc close" : "Esc close"
      ),
      s.phase === "done" ? h(EngineLine, { engine: s.result && s.result.engine }) : null,
      s.phase === "done"
        ? h(
            S.Btn,
            {
              variant: "secondary",
              className: "stash-sense-rescan",
              onClick: function () {
                S.identify(s.target, 0);
              },
            },
            h(S.Icon, { names: S.ICONS.redo }),
            " Scan again"
          )
        : null,
      h(S.Btn, { variant: "secondary", className: "stash-sense-close", onClick: S.closeModal }, "Close")
    );
  }

  // Without react-bootstrap: a plain dialog, shown inline.
  function FallbackModal(props) {
    if (!props.show) return null;
    return h(
      "div",
      { className: "stash-sense-modal stash-sense-fallback-modal", role: "dialog", onKeyDown: props.onKeyDown },
      h("h4", null, props.title),
      props.body,
      props.footer
    );
  }

  S.IdentifyModal = function IdentifyModal() {
    var st = useState(S.store.state);
    var s = st[0];
    var keyHandler = useRef(null);
    useEffect(function () {
      return S.store.subscribe(st[1]);
    }, []);
    if (!s.target) return null;
    var Modal = S.B.Modal;
    var title = "Identify performers in this " + s.target.type;
    var name = s.info && s.info.title;
    var footer = h(Footer, { state: s });

    function onKeyDown(ev) {
      if (s.phase === "done" && keyHandler.current) keyHandler.current(ev);
    }

    if (!Modal) {
      return h(FallbackModal, { show: s.show, title: title, body: body(s, keyHandler), footer: footer, onKeyDown: onKeyDown });
    }
    return h(
      Modal,
      {
        show: !!s.show,
        onHide: S.closeModal,
        size: "xl",
        scrollable: true,
        keyboard: true,
        dialogClassName: "stash-sense-modal",
        "aria-labelledby": "stash-sense-modal-title",
        onKeyDown: onKeyDown,
      },
      h(
        Modal.Header,
        { closeButton: true },
        h(
          Modal.Title,
          { id: "stash-sense-modal-title", as: "h5" },
          h(S.Icon, { names: S.ICONS.identify }),
          " ",
          title,
          name ? h("small", { className: "text-muted stash-sense-target-title" }, " — " + name) : null
        )
      ),
      h(Modal.Body, null, body(s, keyHandler)),
      h(Modal.Footer, null, footer)
    );
  };
})(window.__stashSenseModules);
