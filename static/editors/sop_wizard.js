/* The SOP form in four steps (admin_views/sop_wizard.py): one pane at a time, a live
 * character count under each step's text, and an attachment picker with thumbnails.
 *
 * "Next" posts the whole form to the server's check (the validation a save runs; it
 * saves nothing) and stays on the step whose fields have problems, marked at the
 * field. The last step shows the server's review and the form's own Save buttons.
 * The data (URLs, words, materials) comes from <script id="sop-wizard-data">.
 */
(function () {
  "use strict";

  var TEXT = /^steps-\d+-text$/, ATTACHMENTS = /^steps-\d+-attachments$/;
  var WHEN = /^steps-\d+-(day|at_time)$/;
  var data, form, panes, nav, buttons, alertBox, current = 1, saveRow;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name === "className") node.className = attrs[name];
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) { return values[name]; });
  }
  function paneOf(node) {
    var pane = node && node.closest ? node.closest(".wizard-pane") : null;
    return pane ? +pane.getAttribute("data-step") : null;
  }

  // --- paging ---------------------------------------------------------------------------
  function show(step) {
    current = step;
    panes.forEach(function (pane) { pane.hidden = +pane.getAttribute("data-step") !== step; });
    nav.querySelectorAll("li").forEach(function (li) {
      li.classList.toggle("active", +li.getAttribute("data-step") === step);
    });
    var last = step === panes.length;
    buttons.querySelector("[data-go=back]").hidden = step === 1;
    buttons.querySelector("[data-go=next]").hidden = last;
    if (saveRow) saveRow.hidden = !last;
    window.scrollTo(0, form.getBoundingClientRect().top + window.pageYOffset - 70);
  }
  function buildNav() {
    nav = el("ol", {className: "sop-wizard-nav"}, panes.map(function (pane) {
      var step = pane.getAttribute("data-step");
      return el("li", {"data-step": step}, [
        el("span", {className: "step-no", text: step}),
        el("span", {text: pane.getAttribute("data-title")})
      ]);
    }));
    alertBox = el("div", {className: "alert alert-danger", role: "alert"});
    alertBox.hidden = true;
    panes[0].parentNode.insertBefore(nav, panes[0]);
    panes[0].parentNode.insertBefore(alertBox, panes[0]);
    buttons = el("div", {className: "wizard-buttons"}, [
      el("button", {type: "button", className: "btn btn-secondary", "data-go": "back", text: "← " + data.words.back}),
      el("button", {type: "button", className: "btn btn-primary", "data-go": "next", text: data.words.next + " →"})
    ]);
    var last = panes[panes.length - 1];
    last.parentNode.insertBefore(buttons, last.nextSibling);
  }

  // --- the server's check -----------------------------------------------------------------
  function clearErrors() {
    form.querySelectorAll(".wizard-pane .invalid-feedback").forEach(function (box) { box.remove(); });
    form.querySelectorAll(".wizard-pane .is-invalid").forEach(function (f) { f.classList.remove("is-invalid"); });
    nav.querySelectorAll("li").forEach(function (li) { li.classList.remove("has-errors"); });
    alertBox.hidden = true;
    alertBox.textContent = "";
  }
  function markError(id, messages) {
    var field = document.getElementById(id);
    if (!field) return null;
    field.classList.add("is-invalid");
    var group = field.closest(".form-group") || field.parentNode;
    group.appendChild(el("div", {className: "invalid-feedback"}, messages.map(function (m) {
      return el("div", {text: m});
    })));
    return paneOf(field);
  }
  function stepsWithErrors() {
    var steps = [];
    form.querySelectorAll(".wizard-pane .invalid-feedback, .wizard-pane .is-invalid").forEach(function (node) {
      var step = paneOf(node);
      if (step && steps.indexOf(step) < 0) steps.push(step);
    });
    steps.forEach(function (step) {
      var li = nav.querySelector("li[data-step='" + step + "']");
      if (li) li.classList.add("has-errors");
    });
    return steps.sort();
  }
  function check(target) {
    var next = buttons.querySelector("[data-go=next]");
    next.disabled = true;
    var url = new URL(data.check_url, window.location.href);
    if (target === panes.length) url.searchParams.set("review", "1");
    fetch(url.toString(), {method: "POST", body: new FormData(form), credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        clearErrors();
        Object.keys(answer.errors).forEach(function (id) { markError(id, answer.errors[id]); });
        var bad = stepsWithErrors().filter(function (step) { return step < target; });
        if (bad.length || answer.messages.length && !answer.ok && target === panes.length) {
          alertBox.hidden = false;
          [data.words.fix_here].concat(answer.messages).forEach(function (m) {
            alertBox.appendChild(el("div", {text: m}));
          });
          show(bad.length ? bad[0] : current);
          return;
        }
        if (answer.review !== undefined) document.getElementById("sop-review").innerHTML = answer.review;
        show(target);
      })
      .catch(function () {
        alertBox.hidden = false;
        alertBox.textContent = data.words.unreachable;
      })
      .then(function () { next.disabled = false; });
  }
  function go(event) {
    var button = event.target.closest("[data-go]"), item = event.target.closest(".sop-wizard-nav li");
    var target = button ? current + (button.getAttribute("data-go") === "next" ? 1 : -1)
                        : item ? +item.getAttribute("data-step") : null;
    if (!target || target === current) return;
    event.preventDefault();
    if (target < current) show(target);  // going back needs no check
    else check(target);
  }

  // --- character count and attachment picker ------------------------------------------------
  function count(textarea) {
    var counter = textarea.parentNode.querySelector(".char-count[data-for='" + textarea.id + "']");
    if (!counter) {
      counter = el("div", {className: "char-count", "data-for": textarea.id});
      textarea.parentNode.insertBefore(counter, textarea.nextSibling);
    }
    var bytes = new TextEncoder().encode(textarea.value).length;
    counter.textContent = fill(data.words.chars, {n: Array.from(textarea.value).length, bytes: bytes, max: data.max_text_bytes});
    counter.classList.toggle("too-long", bytes > data.max_text_bytes);
  }
  function picker(select) {
    if (!data.materials.length || select.getAttribute("data-picker")) return;
    select.setAttribute("data-picker", "1");
    var box = el("div", {className: "material-picker", "aria-label": data.words.pick, title: data.words.pick});
    data.materials.forEach(function (m) {
      var thumb = el("div", {className: "thumb"}, [m.thumb ? el("img", {src: m.thumb, alt: ""}) : el("span", {text: m.kind})]);
      box.appendChild(el("button", {type: "button", className: "material-tile", "data-material": String(m.id)}, [
        thumb, el("div", {text: m.title})
      ]));
    });
    var group = select.closest(".form-group") || select.parentNode;
    group.appendChild(box);
    box.addEventListener("click", function (event) {
      var tile = event.target.closest(".material-tile");
      if (!tile) return;
      var option = select.querySelector("option[value='" + tile.getAttribute("data-material") + "']");
      if (!option) return;
      option.selected = !option.selected;
      if (window.jQuery) jQuery(select).trigger("change"); else select.dispatchEvent(new Event("change"));
      mark(select, box);
    });
    if (window.jQuery) jQuery(select).on("change", function () { mark(select, box); });
    mark(select, box);
  }
  function mark(select, box) {
    box.querySelectorAll(".material-tile").forEach(function (tile) {
      var option = select.querySelector("option[value='" + tile.getAttribute("data-material") + "']");
      tile.classList.toggle("chosen", !!(option && option.selected));
    });
  }
  function enhance(root) {
    root.querySelectorAll("textarea").forEach(function (t) { if (TEXT.test(t.id)) count(t); });
    root.querySelectorAll("select").forEach(function (s) { if (ATTACHMENTS.test(s.id)) picker(s); });
  }

  // --- steps in the order they run (the server numbers them by day and time too) --------
  function when(row) {
    var day = row.querySelector("input[id$='-day']"), at = row.querySelector("input[id$='-at_time']");
    var number = parseInt(day ? day.value : "", 10);
    var time = (at ? at.value : "").trim().replace(/^(\d):/, "0$1:");
    return [isNaN(number) ? Infinity : number, time];
  }
  function sortSteps() {
    var list = document.querySelector("#steps > .inline-field-list");
    if (!list) return;
    var rows = Array.prototype.filter.call(list.children, function (r) { return r.classList.contains("inline-field"); });
    var sorted = rows.map(function (row, i) { return {row: row, key: when(row), i: i}; }).sort(function (a, b) {
      return a.key[0] - b.key[0] || (a.key[1] < b.key[1] ? -1 : a.key[1] > b.key[1] ? 1 : 0) || a.i - b.i;
    }).map(function (item) { return item.row; });
    if (sorted.some(function (row, i) { return row !== rows[i]; }))
      sorted.forEach(function (row) { list.appendChild(row); });
    sorted.forEach(function (row, i) {  // "Step #2" follows the row's place
      var small = row.querySelector("legend small");
      var text = small && small.firstChild;
      if (text && text.nodeType === 3 && /#\d+/.test(text.nodeValue))
        text.nodeValue = text.nodeValue.replace(/#\d+/, "#" + (i + 1));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("sop-wizard-data");
    if (!source) return;
    data = JSON.parse(source.textContent);
    panes = Array.prototype.slice.call(document.querySelectorAll(".wizard-pane"));
    form = panes[0].closest("form");
    var save = form.querySelector("input[type=submit].btn-primary");
    saveRow = save ? save.parentNode : null;
    buildNav();
    form.addEventListener("click", go);
    form.addEventListener("input", function (event) { if (TEXT.test(event.target.id || "")) count(event.target); });
    form.addEventListener("change", function (event) { if (WHEN.test(event.target.id || "")) sortSteps(); });
    enhance(form);
    new MutationObserver(function (changes) {  // "Add step" inserts a new row
      changes.forEach(function (change) {
        change.addedNodes.forEach(function (node) { if (node.querySelectorAll) enhance(node); });
      });
    }).observe(form, {childList: true, subtree: true});
    var bad = stepsWithErrors();  // a refused save: open the first step with a problem
    show(bad.length ? bad[0] : 1);
  });
})();
