/* What Flask-Admin's stock inline onclick= handlers did, as listeners. The server
   turns those handlers into data attributes before the page leaves it
   (admin_views/security.py, rewrite_stock_handlers), because the
   Content-Security-Policy (no 'unsafe-inline') refuses inline code. Its
   confirmations become data-confirm, handled by panel.js. Loaded on every admin
   page after Flask-Admin's own scripts (admin/my_master.html). */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    if (!event.target.closest) return;
    var run = event.target.closest("[data-fa-execute]");
    if (run) {  /* "With selected" actions of a list */
      event.preventDefault();
      window.modelActions.execute(run.getAttribute("data-fa-execute"));
      return;
    }
    var add = event.target.closest("[data-fa-add-inline]");
    if (add) {  /* "Add" of an inline list (SOP steps, journey stages, ...) */
      event.preventDefault();
      window.faForm.addInlineField(add, add.getAttribute("data-fa-add-inline"));
    }
  });

  /* javascript:void(0) links: nothing to navigate to; their own listeners still run. */
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href^='javascript:']") : null;
    if (link) event.preventDefault();
  }, true);
})();
