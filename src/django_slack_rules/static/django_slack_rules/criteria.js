/* django-slack-rules: the rule form's criteria as rows of (label, operator, value).
 *
 * Progressive enhancement, no dependencies, no build step. Without this script the text
 * box is the editor (a JSON object, or Alertmanager matchers one a line) and the rows are
 * hidden. With it, the rows write that box, which stays editable under "Edit as text";
 * the server reads only the box, and checks it.
 *
 * The rows write a JSON object ({"team": "db"}: every label present with its value) while
 * every operator is "=" and the criteria were an object; otherwise Alertmanager matchers,
 * one a line, in the canonical form name="value".
 */
(function () {
  "use strict";

  var CLASSIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  // name, operator, value: bare or double-quoted (\" \\ \n are escapes, as Alertmanager's).
  var MATCHER = /^\s*(?:"((?:[^"\\]|\\.)*)"|([^\s{}!=~,"'`]+))\s*(=~|!=|!~|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"]*?))\s*$/;
  var OPERATORS = ["=", "!=", "=~", "!~"];

  function escapeText(text) {
    return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
  }

  function unescapeText(text) {
    return text.replace(/\\(["\\n])/g, function (_, c) { return c === "n" ? "\n" : c; });
  }

  function matcherText(row) {
    var name = CLASSIC_NAME.test(row.name) ? row.name : '"' + escapeText(row.name) + '"';
    return name + row.op + '"' + escapeText(row.value) + '"';
  }

  function parseMatcher(text) {
    var found = MATCHER.exec(text);
    if (!found) { return null; }
    return {
      name: found[1] !== undefined ? unescapeText(found[1]) : found[2],
      op: found[3],
      value: found[4] !== undefined ? unescapeText(found[4]) : found[5]
    };
  }

  /* The rows a text stands for, and its form ("object" or "list"); null when the rows
     cannot show it (invalid, or beyond what they express): the text box stays the editor. */
  function parseCriteria(text) {
    var trimmed = text.trim();
    var rows = [];
    var i;
    if (!trimmed) { return { rows: rows, form: "object" }; }
    if (trimmed[0] === "{" || trimmed[0] === "[") {
      var data;
      try { data = JSON.parse(trimmed); } catch (e) { return null; }
      if (Array.isArray(data)) {
        for (i = 0; i < data.length; i++) {
          var parsed = typeof data[i] === "string" ? parseMatcher(data[i]) : null;
          if (!parsed) { return null; }
          rows.push(parsed);
        }
        return { rows: rows, form: "list" };
      }
      if (data === null || typeof data !== "object") { return null; }
      var names = Object.keys(data);
      for (i = 0; i < names.length; i++) {
        if (typeof data[names[i]] !== "string") { return null; }
        rows.push({ name: names[i], op: "=", value: data[names[i]] });
      }
      return { rows: rows, form: "object" };
    }
    var lines = text.split("\n");
    for (i = 0; i < lines.length; i++) {
      if (!lines[i].trim()) { continue; }
      var row = parseMatcher(lines[i]);
      if (!row) { return null; }
      rows.push(row);
    }
    return { rows: rows, form: "list" };
  }

  function serialize(rows, form) {
    var kept = rows.filter(function (row) { return row.name !== "" || row.value !== ""; });
    if (!kept.length) { return form === "list" ? "[]" : "{}"; }
    var names = {};
    var asObject = form === "object" && kept.every(function (row) {
      var fresh = row.op === "=" && row.name !== "" && !names.hasOwnProperty(row.name);
      names[row.name] = true;
      return fresh;
    });
    if (asObject) {
      var data = {};
      kept.forEach(function (row) { data[row.name] = row.value; });
      return JSON.stringify(data, null, 2);
    }
    return kept.map(matcherText).join("\n");
  }

  function setUp(editor) {
    var box = document.getElementById(editor.getAttribute("data-target"));
    if (!box) { return; }
    var list = editor.querySelector("[data-dsr-rows]");
    var template = editor.querySelector("[data-dsr-row-template]");
    var summary = editor.querySelector("[data-dsr-summary]");
    var unreadable = editor.querySelector("[data-dsr-unreadable]");
    var holder = editor.querySelector("[data-dsr-text-holder]");
    var wrapper = document.getElementById("div_" + box.id) || box.parentNode;
    var form = "object";

    holder.appendChild(wrapper);  // the text box moves under "Edit as text"
    if (wrapper.querySelector(".invalid-feedback, .is-invalid")) { holder.open = true; }

    function currentRows() {
      return Array.prototype.map.call(list.children, function (item) {
        return {
          name: item.querySelector('[data-dsr-field="name"]').value.trim(),
          op: item.querySelector('[data-dsr-field="op"]').value,
          value: item.querySelector('[data-dsr-field="value"]').value
        };
      });
    }

    function describe(rows) {
      var kept = rows.filter(function (row) { return row.name !== "" || row.value !== ""; });
      if (!kept.length) { return editor.getAttribute("data-every"); }
      var text = box.value.trim();
      return editor.getAttribute(text[0] === "{" ? "data-object" : "data-list");
    }

    function write() {
      var rows = currentRows();
      box.value = serialize(rows, form);
      summary.textContent = describe(rows);
    }

    function addRow(row) {
      var item = template.content.firstElementChild.cloneNode(true);
      item.querySelector('[data-dsr-field="name"]').value = row.name;
      item.querySelector('[data-dsr-field="op"]').value =
        OPERATORS.indexOf(row.op) >= 0 ? row.op : "=";
      item.querySelector('[data-dsr-field="value"]').value = row.value;
      item.querySelector("[data-dsr-remove]").addEventListener("click", function () {
        item.remove();
        write();
        var next = list.querySelector('[data-dsr-field="name"]');
        (next || editor.querySelector("[data-dsr-add]")).focus();
      });
      list.appendChild(item);
      return item;
    }

    function read() {
      var parsed = parseCriteria(box.value);
      unreadable.hidden = parsed !== null;
      list.hidden = parsed === null;
      editor.querySelector("[data-dsr-add]").disabled = parsed === null;
      if (parsed === null) {
        summary.textContent = "";
        holder.open = true;
        return;
      }
      form = parsed.form;
      list.textContent = "";
      parsed.rows.forEach(addRow);
      summary.textContent = describe(parsed.rows);
    }

    list.addEventListener("input", write);
    list.addEventListener("change", write);
    box.addEventListener("input", read);
    editor.querySelector("[data-dsr-add]").addEventListener("click", function () {
      addRow({ name: "", op: "=", value: "" }).querySelector('[data-dsr-field="name"]').focus();
    });
    read();
    editor.hidden = false;
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-dsr-criteria-editor]"), setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
