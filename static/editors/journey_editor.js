/* The journey's stages as cards left to right; a card opens its stage in a panel below.
 *
 * Reads the form's state from <script id="journey-editor-data"> (admin_views/
 * journey_editor.py): values, the server's messages by field id, choices and words.
 * On submit it writes the same field names Flask-Admin's nested inline lists use
 * (stages-0-rules-1-conditions-0-tags ...), so the server saves and checks as before.
 * Text is never parsed as HTML: every node is built with textContent.
 */
(function () {
  "use strict";

  var data, stages, errors, words, choices, limits, root, fields, openIndex = null;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) {
      return values[name] === undefined ? all : values[name];
    });
  }
  function live(rows) { return rows.filter(function (row) { return !row.deleted; }); }
  function button(text, action, style, extra) {
    return el("button", Object.assign({type: "button", className: "btn btn-sm " + (style || "btn-outline-dark"),
                                       "data-action": action, text: text}, extra || {}));
  }
  function options(select, pairs, chosen) {
    var wanted = [].concat(chosen === undefined || chosen === null ? [] : chosen).map(String);
    pairs.forEach(function (pair) {
      var value = Array.isArray(pair) ? pair[0] : pair, label = Array.isArray(pair) ? pair[1] : pair;
      var option = el("option", {value: value, text: label});
      option.selected = wanted.indexOf(String(value)) >= 0;
      select.appendChild(option);
    });
    wanted.forEach(function (value) {  // a stored value no longer offered stays visible
      if (!pairs.some(function (p) { return String(Array.isArray(p) ? p[0] : p) === value; }) && value)
        select.appendChild(el("option", {value: value, text: value, selected: true}));
    });
    return select;
  }
  function feedback(messages) {
    if (!messages || !messages.length) return null;
    return el("div", {className: "invalid-feedback je-error"}, messages.map(function (m) {
      return el("div", {text: m});
    }));
  }
  function control(node, messages) {
    if (messages && messages.length) node.classList.add("is-invalid");
    return node;
  }

  // --- the server's messages, attached to the rows they belong to -----------------
  function attach() {
    stages.forEach(function (stage, i) {
      var p = "stages-" + i;
      stage.errs = pick(p, ["key", "name", "description", "rules", "reminders"]);
      (stage.rules || []).forEach(function (rule, j) {
        var rp = p + "-rules-" + j;
        rule.errs = pick(rp, ["conditions"]);
        (rule.conditions || []).forEach(function (cond, k) {
          cond.errs = pick(rp + "-conditions-" + k, ["kind", "tags", "value"]);
        });
      });
      (stage.reminders || []).forEach(function (reminder, j) {
        reminder.errs = pick(p + "-reminders-" + j, ["day", "hour", "kind", "text", "attachments"]);
      });
    });
  }
  function pick(prefix, names) {
    var found = {};
    names.forEach(function (name) {
      if (errors[prefix + "-" + name]) found[name] = errors[prefix + "-" + name];
    });
    return found;
  }
  function hasErrors(stage) {
    function any(row) { return row.errs && Object.keys(row.errs).length > 0; }
    return any(stage) || live(stage.rules || []).some(function (rule) {
      return any(rule) || live(rule.conditions || []).some(any);
    }) || live(stage.reminders || []).some(any);
  }

  // --- the cards ---------------------------------------------------------------------
  function renderCards() {
    var track = el("div", {className: "je-track"});
    var shown = live(stages);
    shown.forEach(function (stage, n) {
      var bad = hasErrors(stage);
      var reminders = live(stage.reminders || []);
      var card = el("div", {className: "card je-card" + (bad ? " border-danger" : "") +
                                        (stages.indexOf(stage) === openIndex ? " je-open" : ""),
                            "data-stage": stages.indexOf(stage)}, [
        el("div", {className: "card-header"}, [
          el("span", {className: "badge badge-primary mr-1", text: String(n + 1)}),
          el("strong", {text: stage.name || words.untitled})
        ]),
        el("div", {className: "card-body"}, [
          el("div", {className: "je-label", text: words.enters_when}),
          el("p", {className: "je-sentence", text: stage.sentence || ""}),
          el("div", {className: "je-label", text: words.reminders}),
          reminders.length ? el("ul", {className: "je-reminders"}, reminders.map(function (r) {
            return el("li", {text: fill(words.reminder_line, {day: r.day, hour: pad(r.hour)}) +
                                   " · " + label(choices.reminder_kinds, r.kind) + " · " + short(r.text)});
          })) : el("p", {className: "text-muted small", text: words.no_reminders}),
          bad ? el("div", {className: "text-danger small", text: words.has_errors}) : null
        ]),
        el("div", {className: "card-footer"}, [
          n > 0 ? button("←", "left", null, {title: words.left, "aria-label": words.left}) : null,
          n < shown.length - 1 ? button("→", "right", null, {title: words.right, "aria-label": words.right}) : null,
          button(words.edit, "edit", "btn-outline-primary"),
          button(words.remove, "remove-stage", "btn-outline-danger")
        ])
      ]);
      track.appendChild(card);
      if (n < shown.length - 1) track.appendChild(el("div", {className: "je-arrow", text: "→"}));
    });
    if (shown.length < limits.stages)
      track.appendChild(button("+ " + words.add_stage, "add-stage", "btn-outline-primary je-add-stage"));
    return track;
  }
  function pad(hour) { return ("0" + hour).slice(-2); }
  function short(text) { text = text || ""; return text.length > 24 ? text.slice(0, 24) + "…" : text; }
  function label(pairs, value) {
    var found = pairs.filter(function (p) { return p[0] === value; })[0];
    return found ? found[1] : value;
  }

  // --- the open stage ----------------------------------------------------------------
  function renderPanel(stage) {
    var e = stage.errs || {};
    var panel = el("div", {className: "card je-panel"}, [
      el("div", {className: "card-header"}, [el("strong", {text: words.editing + " · " + (stage.name || words.untitled)})]),
      el("div", {className: "card-body"}, [
        el("div", {className: "form-row"}, [
          labelled(words.key, control(el("input", {className: "form-control", id: "je-stage-key", value: stage.key}), e.key), e.key, "col-md-3"),
          labelled(words.name, control(el("input", {className: "form-control", id: "je-stage-name", value: stage.name}), e.name), e.name, "col-md-3"),
          labelled(words.description, control(el("input", {className: "form-control", id: "je-stage-description", value: stage.description}), e.description), e.description, "col-md-6")
        ]),
        el("h5", {className: "mt-3", text: words.enters_when}),
        feedback(e.rules),
        renderRules(stage),
        el("h5", {className: "mt-3", text: words.reminders}),
        feedback(e.reminders),
        renderReminders(stage),
        el("div", {className: "mt-3"}, [button(words.done, "done", "btn-primary")])
      ])
    ]);
    return panel;
  }
  function labelled(text, input, messages, width) {
    return el("div", {className: "form-group " + (width || "")}, [el("label", {text: text}), input, feedback(messages)]);
  }
  function renderRules(stage) {
    var box = el("div", {className: "je-rules"});
    var rules = live(stage.rules);
    rules.forEach(function (rule, j) {
      if (j > 0) box.appendChild(el("div", {className: "je-or", text: words.or}));
      var conds = live(rule.conditions);
      var ruleBox = el("div", {className: "je-rule", "data-rule": stage.rules.indexOf(rule)}, [
        el("div", {className: "je-label", text: fill(words.rule, {n: j + 1})}),
        feedback((rule.errs || {}).conditions)
      ]);
      conds.forEach(function (cond) { ruleBox.appendChild(renderCondition(rule, cond)); });
      ruleBox.appendChild(el("div", {}, [
        conds.length < limits.conditions ? button("+ " + words.add_condition, "add-condition") : null,
        button(words.remove_rule, "remove-rule", "btn-outline-danger ml-1")
      ]));
      box.appendChild(ruleBox);
    });
    if (rules.length < limits.rules) box.appendChild(button("+ " + words.add_rule, "add-rule", "btn-outline-primary"));
    return box;
  }
  function renderCondition(rule, cond) {
    var e = cond.errs || {};
    var kind = control(options(el("select", {className: "form-control je-kind"}), choices.condition_kinds, cond.kind), e.kind);
    var input = cond.kind === "tags_any"
      ? control(options(el("select", {className: "form-control je-tags", multiple: true}), choices.tags, cond.tags), e.tags)
      : control(options(el("select", {className: "form-control je-value"}),
                        cond.kind === "stage" ? choices.stages : choices.churn, cond.value), e.value);
    return el("div", {className: "form-row je-condition", "data-condition": rule.conditions.indexOf(cond)}, [
      el("div", {className: "col-md-3"}, [kind, feedback(e.kind)]),
      el("div", {className: "col-md-7"}, [input, feedback(e.tags || e.value)]),
      el("div", {className: "col-md-2"}, [button("×", "remove-condition", "btn-outline-danger", {title: words.remove, "aria-label": words.remove})])
    ]);
  }
  function renderReminders(stage) {
    var table = el("table", {className: "table table-sm je-reminder-table"}, [
      el("thead", {}, [el("tr", {}, [words.day, words.hour, words.kind, words.text, words.attachments, ""].map(function (t) {
        return el("th", {text: t});
      }))])
    ]);
    var body = el("tbody");
    live(stage.reminders).forEach(function (r) {
      var e = r.errs || {};
      body.appendChild(el("tr", {className: "je-reminder", "data-reminder": stage.reminders.indexOf(r)}, [
        el("td", {}, [control(el("input", {className: "form-control je-day", type: "number", min: 0, value: r.day}), e.day), feedback(e.day)]),
        el("td", {}, [control(el("input", {className: "form-control je-hour", type: "number", min: 0, max: 23, value: r.hour}), e.hour), feedback(e.hour)]),
        el("td", {}, [control(options(el("select", {className: "form-control je-rkind"}), choices.reminder_kinds, r.kind), e.kind), feedback(e.kind)]),
        el("td", {}, [control(el("textarea", {className: "form-control je-text", rows: 2, text: r.text}), e.text), feedback(e.text)]),
        el("td", {}, [control(options(el("select", {className: "form-control je-attachments", multiple: true}), choices.materials, r.attachments), e.attachments), feedback(e.attachments)]),
        el("td", {}, [button("×", "remove-reminder", "btn-outline-danger", {title: words.remove, "aria-label": words.remove})])
      ]));
    });
    table.appendChild(body);
    return el("div", {}, [table, button("+ " + words.add_reminder, "add-reminder", "btn-outline-primary")]);
  }

  // --- the panel's inputs back into the stage --------------------------------------------
  function selected(select) {
    return select ? Array.prototype.filter.call(select.options, function (o) { return o.selected; })
      .map(function (o) { return o.value; }) : [];
  }
  function collect() {
    if (openIndex === null) return;
    var stage = stages[openIndex], panel = root.querySelector(".je-panel");
    if (!panel) return;
    stage.key = panel.querySelector("#je-stage-key").value;
    stage.name = panel.querySelector("#je-stage-name").value;
    stage.description = panel.querySelector("#je-stage-description").value;
    panel.querySelectorAll(".je-rule").forEach(function (box) {
      var rule = stage.rules[+box.getAttribute("data-rule")];
      box.querySelectorAll(".je-condition").forEach(function (row) {
        var cond = rule.conditions[+row.getAttribute("data-condition")];
        cond.kind = row.querySelector("select.je-kind").value;
        var tags = row.querySelector("select.je-tags"), value = row.querySelector("select.je-value");
        if (tags) cond.tags = selected(tags);
        if (value) cond.value = value.value;
      });
    });
    panel.querySelectorAll(".je-reminder").forEach(function (row) {
      var r = stage.reminders[+row.getAttribute("data-reminder")];
      r.day = row.querySelector(".je-day").value;
      r.hour = row.querySelector(".je-hour").value;
      r.kind = row.querySelector(".je-rkind").value;
      r.text = row.querySelector(".je-text").value;
      r.attachments = selected(row.querySelector("select.je-attachments")).map(Number);
    });
  }

  function render() {
    root.textContent = "";
    if (errors.stages) root.appendChild(el("div", {className: "alert alert-danger"}, errors.stages.map(function (m) {
      return el("div", {text: m});
    })));
    root.appendChild(renderCards());
    if (openIndex !== null && stages[openIndex] && !stages[openIndex].deleted)
      root.appendChild(renderPanel(stages[openIndex]));
    if (window.jQuery && jQuery.fn.select2)  // the panel's multi-selects as Flask-Admin's own
      jQuery(root).find("select[multiple]").select2({width: "100%"});
  }

  function remove(rows, row) {
    if (row.id) row.deleted = true;  // posted with its del- flag so the server deletes it
    else rows.splice(rows.indexOf(row), 1);
  }
  function rulesOf(stage) {
    return live(stage.rules).map(function (rule) {
      return live(rule.conditions).map(function (c) { return {kind: c.kind, tags: c.tags, value: c.value}; });
    });
  }
  function refreshSentence(stage) {
    var token = document.querySelector("input[name=csrf_token]");
    fetch(data.sentence_url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token ? token.value : ""},
      body: JSON.stringify({rules: rulesOf(stage)})
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (answer) {
      if (answer) { stage.sentence = answer.sentence; render(); }
    });
  }
  function move(stage, step) {
    var shown = live(stages), at = shown.indexOf(stage), other = shown[at + step];
    if (!other) return;
    var a = stages.indexOf(stage), b = stages.indexOf(other);
    stages[a] = other; stages[b] = stage;
    if (openIndex === a) openIndex = b; else if (openIndex === b) openIndex = a;
  }

  function clicked(event) {
    var target = event.target.closest("[data-action]");
    if (!target || !root.contains(target)) return;
    event.preventDefault();
    collect();
    var action = target.getAttribute("data-action");
    var card = target.closest(".je-card"), stage = card ? stages[+card.getAttribute("data-stage")] : stages[openIndex];
    var ruleBox = target.closest(".je-rule"), rule = ruleBox ? stage.rules[+ruleBox.getAttribute("data-rule")] : null;
    if (action === "add-stage") {
      stages.push({id: null, key: "", name: "", description: "", rules: [], reminders: [], sentence: words_nobody()});
      openIndex = stages.length - 1;
    } else if (action === "edit") {
      openIndex = stages.indexOf(stage);
    } else if (action === "left" || action === "right") {
      move(stage, action === "left" ? -1 : 1);
    } else if (action === "remove-stage") {
      if (!window.confirm(words.confirm_remove)) return;
      if (openIndex === stages.indexOf(stage)) openIndex = null;
      var at = stages.indexOf(stage);
      remove(stages, stage);
      if (openIndex !== null && !stage.id && openIndex > at) openIndex -= 1;
    } else if (action === "add-rule") {
      stage.rules.push({id: null, conditions: [{id: null, kind: "tags_any", tags: [], value: ""}]});
    } else if (action === "remove-rule") {
      remove(stage.rules, rule);
    } else if (action === "add-condition") {
      rule.conditions.push({id: null, kind: "tags_any", tags: [], value: ""});
    } else if (action === "remove-condition") {
      remove(rule.conditions, rule.conditions[+target.closest(".je-condition").getAttribute("data-condition")]);
    } else if (action === "add-reminder") {
      stage.reminders.push({id: null, day: 1, hour: 9, kind: "stage", text: "", attachments: []});
    } else if (action === "remove-reminder") {
      remove(stage.reminders, stage.reminders[+target.closest(".je-reminder").getAttribute("data-reminder")]);
    } else if (action === "done") {
      openIndex = null;
      refreshSentence(stage);
    }
    render();
  }
  function words_nobody() { return data.nobody || ""; }
  function changed(event) {  // a condition's kind decides its input: tags or one value
    if (!event.target.classList || !event.target.classList.contains("je-kind")) return;
    collect();
    render();
  }

  // --- the form fields Flask-Admin reads ---------------------------------------------------
  function hidden(name, value) {
    fields.appendChild(el("input", {type: "hidden", name: name, value: value === null || value === undefined ? "" : String(value)}));
  }
  function rows(prefix, list, write) {
    list.forEach(function (row, i) {
      var p = prefix + "-" + i;
      if (row.id) hidden(p + "-id", row.id);
      if (row.deleted) hidden("del-" + p, "on");
      else write(p, row);
    });
  }
  function serialise() {
    collect();
    fields.textContent = "";
    rows("stages", stages, function (p, stage) {
      hidden(p + "-key", stage.key);
      hidden(p + "-name", stage.name);
      hidden(p + "-description", stage.description);
      rows(p + "-rules", stage.rules, function (rp, rule) {
        rows(rp + "-conditions", rule.conditions, function (cp, cond) {
          hidden(cp + "-kind", cond.kind);
          if (cond.kind === "tags_any") cond.tags.forEach(function (tag) { hidden(cp + "-tags", tag); });
          else hidden(cp + "-value", cond.value);
        });
      });
      rows(p + "-reminders", stage.reminders, function (mp, r) {
        hidden(mp + "-day", r.day);
        hidden(mp + "-hour", r.hour);
        hidden(mp + "-kind", r.kind);
        hidden(mp + "-text", r.text);
        r.attachments.forEach(function (id) { hidden(mp + "-attachments", id); });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("journey-editor-data");
    root = document.getElementById("journey-editor");
    fields = document.getElementById("journey-editor-fields");
    if (!source || !root) return;
    data = JSON.parse(source.textContent);
    stages = data.stages; errors = data.errors; words = data.words;
    choices = data.choices; limits = data.limits;
    data.nobody = data.nobody_sentence;
    attach();
    var first = stages.filter(function (s) { return !s.deleted && hasErrors(s); })[0];
    openIndex = first ? stages.indexOf(first) : null;  // where the server found a problem
    render();
    root.addEventListener("click", clicked);
    root.addEventListener("change", changed);
    root.closest("form").addEventListener("submit", serialise);
  });
})();
