/* The panel's own behaviour, loaded on every admin page (admin/my_master.html).
   No inline scripts anywhere: the Content-Security-Policy allows scripts from this
   site only. Each part acts on the elements that carry its data-* attribute. */
(function () {
  "use strict";

  /* Buttons with data-confirm ask before their form is sent. */
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (button && !window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  });

  /* "Copy": the text of the element named by data-copy goes to the clipboard. */
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    var source = button && document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    function copied() { button.textContent = button.getAttribute("data-copied"); }
    function selectAndCopy() {  /* without the async clipboard (plain http) */
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try { if (document.execCommand("copy")) copied(); } catch (e) { /* left selected */ }
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent).then(copied, selectAndCopy);
    } else {
      selectAndCopy();
    }
  });

  /* Progress bars (admin/progress.html) poll their data-progress-url every 5 s. */
  var EVERY_MS = 5000;
  function showProgress(box, percent) {
    var bar = box.querySelector(".progress-bar");
    bar.style.width = percent + "%";
    bar.setAttribute("aria-valuenow", percent);
    bar.textContent = percent + "%";
  }
  function poll(box) {
    fetch(box.dataset.progressUrl, {credentials: "same-origin",
                                    headers: {"Accept": "application/json"}})
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (data) {
        if (data === null) return;  // signed out or gone: stop asking
        showProgress(box, data.progress);
        if (!data.done) setTimeout(function () { poll(box); }, EVERY_MS);
        else if (box.hasAttribute("data-reload")) window.location.reload();
      })
      .catch(function () { setTimeout(function () { poll(box); }, EVERY_MS); });
  }

  /* Each SOP step shows only the fields of its action; hidden fields are still
     submitted and the server ignores what the action does not use. */
  var FIELDS = {
    message: ["text", "attachments", "variants"],
    task: ["task_title", "text", "task_assignee", "task_deadline_hours"],
    tag: ["add_tags", "remove_tags"],
    stage: ["stage"]
  };
  var ALL = ["text", "attachments", "task_title", "task_assignee", "task_deadline_hours",
             "add_tags", "remove_tags", "stage", "variants"];
  var ACTION = /^steps-\d+-action$/;
  function showStep(select) {
    var prefix = select.id.slice(0, -"action".length);
    var wanted = FIELDS[select.value] || ALL;
    ALL.forEach(function (name) {
      var field = document.getElementById(prefix + name);
      var group = field && field.closest(".form-group");
      if (group) group.style.display = wanted.indexOf(name) >= 0 ? "" : "none";
    });
  }
  function showSteps(root) {
    root.querySelectorAll("select[id$='-action']").forEach(function (select) {
      if (ACTION.test(select.id)) showStep(select);
    });
  }
  function stepChanged(event) {
    if (ACTION.test(event.target.id || "")) showStep(event.target);
  }
  // Select2 announces changes through jQuery only; jQuery also passes on native ones.
  if (window.jQuery) window.jQuery(document).on("change", "select", stepChanged);
  else document.addEventListener("change", stepChanged);

  function start() {
    document.querySelectorAll("[data-progress-url]").forEach(function (box) {
      setTimeout(function () { poll(box); }, EVERY_MS);
    });
    if (!document.querySelector("select[id^='steps-']")) return;
    showSteps(document);
    new MutationObserver(function (changes) {  // "Add step" inserts a new row
      changes.forEach(function (change) {
        change.addedNodes.forEach(function (node) { if (node.querySelectorAll) showSteps(node); });
      });
    }).observe(document.body, {childList: true, subtree: true});
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
