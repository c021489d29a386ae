/* Renders an OpenAPI 3.1 document (paths grouped by tag: method, path, summary,
   parameters, request body and responses) into #openapi-doc. No framework, no network
   beyond the document itself; every value is inserted as text, never as HTML. */
(function () {
  "use strict";
  var METHODS = ["get", "post", "put", "patch", "delete"];

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function resolve(doc, schema) {
    var ref = schema && schema.$ref;
    if (!ref) return schema || {};
    var name = ref.split("/").pop();
    return (doc.components && doc.components.schemas && doc.components.schemas[name]) || {};
  }

  function typeOf(doc, schema) {
    if (!schema) return "";
    if (schema.$ref) return schema.$ref.split("/").pop();
    if (schema.oneOf) return schema.oneOf.map(function (s) { return typeOf(doc, s); }).join(" | ");
    var type = Array.isArray(schema.type) ? schema.type.join(" | ") : (schema.type || "any");
    if (schema.items) type += " of " + typeOf(doc, schema.items);
    if (schema["enum"]) type += " (" + schema["enum"].join(", ") + ")";
    if (schema.format) type += ", " + schema.format;
    return type;
  }

  function schemaTable(doc, schema, labels) {
    var resolved = resolve(doc, schema);
    var props = resolved.properties;
    if (!props) return el("code", "openapi-type", typeOf(doc, schema));
    var required = resolved.required || [];
    var table = el("table", "openapi-table");
    Object.keys(props).forEach(function (name) {
      var row = table.insertRow();
      row.appendChild(el("td", "openapi-name", name));
      row.appendChild(el("td", "openapi-type", typeOf(doc, props[name])));
      row.appendChild(el("td", "openapi-note",
        (required.indexOf(name) >= 0 ? labels.required + ". " : "") +
        (props[name].description || "")));
    });
    return table;
  }

  function operation(doc, method, path, op, labels) {
    var box = el("details", "openapi-op openapi-" + method);
    var head = el("summary");
    head.appendChild(el("span", "openapi-method", method.toUpperCase()));
    head.appendChild(el("code", "openapi-path", path));
    head.appendChild(el("span", "openapi-summary", op.summary || ""));
    box.appendChild(head);
    if (op.description) box.appendChild(el("p", "openapi-description", op.description));
    if (op.parameters && op.parameters.length) {
      box.appendChild(el("h4", null, labels.parameters));
      var table = el("table", "openapi-table");
      op.parameters.forEach(function (p) {
        var row = table.insertRow();
        row.appendChild(el("td", "openapi-name", p.name + " (" + p["in"] + ")"));
        row.appendChild(el("td", "openapi-type", typeOf(doc, p.schema)));
        row.appendChild(el("td", "openapi-note",
          (p.required ? labels.required + ". " : "") + (p.description || "")));
      });
      box.appendChild(table);
    }
    var body = op.requestBody && op.requestBody.content &&
      op.requestBody.content["application/json"];
    if (body) {
      box.appendChild(el("h4", null, labels.body));
      box.appendChild(schemaTable(doc, body.schema, labels));
    }
    box.appendChild(el("h4", null, labels.responses));
    var list = el("ul", "openapi-responses");
    Object.keys(op.responses || {}).forEach(function (code) {
      var answer = op.responses[code];
      var content = answer.content && answer.content["application/json"];
      var item = el("li", null, code + " — " + (answer.description || ""));
      if (content) item.appendChild(el("code", "openapi-type", " " + typeOf(doc, content.schema)));
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  }

  function render(root, doc) {
    var labels = root.dataset;
    root.textContent = "";
    if (doc.info) root.appendChild(el("p", "openapi-info", doc.info.description || ""));
    var groups = {};
    Object.keys(doc.paths || {}).sort().forEach(function (path) {
      METHODS.forEach(function (method) {
        var op = doc.paths[path][method];
        if (!op) return;
        var tag = (op.tags && op.tags[0]) || "API";
        (groups[tag] = groups[tag] || []).push(operation(doc, method, path, op, labels));
      });
    });
    Object.keys(groups).forEach(function (tag) {
      var section = el("section", "openapi-tag");
      section.appendChild(el("h3", "h5", tag));
      groups[tag].forEach(function (node) { section.appendChild(node); });
      root.appendChild(section);
    });
    root.setAttribute("data-rendered", "1");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("openapi-doc");
    if (!root) return;
    root.textContent = root.dataset.loading;
    fetch(root.dataset.src, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (doc) { render(root, doc); })
      .catch(function () { root.textContent = root.dataset.failed; });
  });
})();
