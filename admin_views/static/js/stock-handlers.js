/* Flask-Admin's stock templates carry a few inline onclick= handlers and
   javascript: links, which the Content-Security-Policy (no 'unsafe-inline')
   refuses to run. This file gives each known handler the same behaviour as a
   listener and removes the attribute, before anyone can click. Loaded on every
   admin page after Flask-Admin's own scripts (admin/my_master.html). */
(function () {
  "use strict";

  /* The single-quoted argument of a call such as f('text') or f(this, 'text'). */
  function quoted(code) {
    var m = /'((?:[^'\\]|\\.)*)'\s*\)\s*;?\s*$/.exec(code);
    return m ? m[1].replace(/\\(.)/g, "$1") : null;
  }

  var HANDLERS = [
    [/^\s*return\s+faHelpers\.safeConfirm\(/, function (el, arg) {
      return function (event) { if (!window.confirm(arg)) event.preventDefault(); };
    }],
    [/^\s*return\s+modelActions\.execute\(/, function (el, arg) {
      return function (event) { event.preventDefault(); window.modelActions.execute(arg); };
    }],
    [/^\s*faForm\.addInlineField\(\s*this\s*,/, function (el, arg) {
      return function (event) { event.preventDefault(); window.faForm.addInlineField(el, arg); };
    }],
    [/^\s*return\s+false;?\s*$/, function () {
      return function (event) { event.preventDefault(); };
    }]
  ];

  function convert(el) {
    var code = el.getAttribute("onclick");
    el.removeAttribute("onclick");
    for (var i = 0; i < HANDLERS.length; i++) {
      if (HANDLERS[i][0].test(code)) {
        el.addEventListener("click", HANDLERS[i][1](el, quoted(code)));
        return;
      }
    }
  }

  function convertAll(root) {
    if (root.getAttribute && root.getAttribute("onclick") !== null) convert(root);
    if (root.querySelectorAll) root.querySelectorAll("[onclick]").forEach(convert);
  }

  /* javascript:void(0) links: nothing to navigate to; other listeners still run. */
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href^='javascript:']") : null;
    if (link) event.preventDefault();
  }, true);

  convertAll(document);
  new MutationObserver(function (changes) {  // inline rows added from a template
    changes.forEach(function (change) { change.addedNodes.forEach(convertAll); });
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
