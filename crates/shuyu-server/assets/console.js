// Shuyu console behaviour: sign-in, sign-out and password change call the JSON API; pages are
// rendered by the server. Messages come from the server's catalogue via data attributes.
(function () {
  "use strict";

  function errorText(body, lang) {
    if (!body) return "";
    var msg = lang === "en" ? body.message : body.message_zh;
    var fields = body.details && body.details.fields;
    if (fields && fields.length) {
      msg += " — " + fields.map(function (f) {
        return f.field + ": " + (lang === "en" ? f.problem : f.problem_zh);
      }).join("; ");
    }
    return msg;
  }

  async function postJson(url, data) {
    var res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(data || {}),
    });
    var body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    return { ok: res.ok, status: res.status, body: body };
  }

  var lang = document.documentElement.getAttribute("lang") === "en" ? "en" : "zh";

  var login = document.getElementById("login-form");
  if (login) {
    login.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var out = document.getElementById("login-error");
      out.textContent = "";
      var r = await postJson("/api/v1/auth/login", {
        username: login.username.value,
        password: login.password.value,
      });
      if (r.ok) {
        window.location.href = "/console";
      } else {
        out.textContent = errorText(r.body, lang);
      }
    });
  }

  var logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async function () {
      await postJson("/api/v1/auth/logout", {});
      window.location.href = "/console/login";
    });
  }

  var pw = document.getElementById("password-form");
  if (pw) {
    pw.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var out = document.getElementById("password-result");
      var r = await postJson("/api/v1/auth/password", {
        current_password: pw.current_password.value,
        new_password: pw.new_password.value,
      });
      out.className = r.ok ? "ok" : "error";
      out.textContent = r.ok ? pw.getAttribute("data-done") : errorText(r.body, lang);
      if (r.ok) pw.reset();
    });
  }

  // Workflow forms: <form class="api-action" data-url="…"> posts its fields as JSON. Files
  // (inputs with data-material) are uploaded first and sent as `materials`; textareas with
  // data-list become arrays (one item per line); checkboxes become booleans; empty fields are
  // left out. On success the page reloads, or goes to data-redirect + the new object's id.
  async function upload(file) {
    var res = await fetch("/api/v1/attachments?filename=" + encodeURIComponent(file.name), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream" },
      body: file,
    });
    var body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    return { ok: res.ok, body: body };
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.api-action"), function (form) {
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var out = form.querySelector(".error");
      if (out) out.textContent = "";
      var data = {};
      var materials = [];
      var decisions = [];
      var privacy = null;
      var els = form.querySelectorAll("input, select, textarea");
      for (var i = 0; i < els.length; i++) {
        var el = els[i];
        if (el.type === "file") {
          for (var j = 0; j < el.files.length; j++) {
            var up = await upload(el.files[j]);
            if (!up.ok) { if (out) out.textContent = errorText(up.body, lang); return; }
            if (el.hasAttribute("data-attachment-field")) {
              data[el.getAttribute("data-attachment-field")] = up.body.id;
            } else {
              materials.push({ key: el.getAttribute("data-material"), attachment_id: up.body.id });
            }
          }
          continue;
        }
        if (el.hasAttribute("data-column")) {
          // A reviewer's decision on one column: "table.column" → approve or refuse, with the
          // reason from the input that names the same column.
          var tc = el.getAttribute("data-column").split(".");
          var reason = form.querySelector('input[data-reason-for="' + el.getAttribute("data-column") + '"]');
          decisions.push({ table: tc[0], column: tc[1], approved: el.value === "approve", reason: reason ? reason.value : "" });
          continue;
        }
        if (el.hasAttribute("data-reason-for")) continue;
        if (el.hasAttribute("data-privacy")) {
          // A reviewer's privacy settings: sent as one object, and only when a mode is chosen.
          if (el.value !== "") {
            privacy = privacy || {};
            privacy[el.getAttribute("data-privacy")] = el.type === "number" ? Number(el.value) : el.value;
          }
          continue;
        }
        if (!el.name) continue;
        if (el.type === "checkbox") { data[el.name] = el.checked; continue; }
        if (el.hasAttribute("data-bool")) { data[el.name] = el.value === "true"; continue; }
        if (el.hasAttribute("data-number")) { if (el.value !== "") data[el.name] = Number(el.value); continue; }
        if (el.type === "number") { if (el.value !== "") data[el.name] = Number(el.value); continue; }
        if (el.hasAttribute("data-split")) {
          data[el.name] = el.value.split(/[,，]/).map(function (x) { return x.trim(); }).filter(Boolean);
          continue;
        }
        if (el.hasAttribute("data-rows")) {
          // One object per line, columns separated by "|", e.g. "uscc|string|1|统一社会信用代码".
          var cols = el.getAttribute("data-rows").split("|");
          var numeric = (el.getAttribute("data-numeric") || "").split("|");
          data[el.name] = el.value.split("\n").map(function (x) { return x.trim(); }).filter(Boolean).map(function (line) {
            var parts = line.split("|"), obj = {};
            cols.forEach(function (c, k) {
              var v = (parts[k] || "").trim();
              if (v !== "") obj[c] = numeric.indexOf(c) >= 0 ? Number(v) : v;
            });
            return obj;
          });
          continue;
        }
        if (el.hasAttribute("data-list")) {
          data[el.name] = el.value.split("\n").map(function (x) { return x.trim(); }).filter(Boolean);
          continue;
        }
        if (el.value !== "") data[el.name] = el.value;
      }
      // Dotted names build nested objects: "definition.interface.sql" → {definition: {interface: {sql}}}.
      Object.keys(data).forEach(function (k) {
        if (k.indexOf(".") < 0) return;
        var parts = k.split("."), obj = data;
        for (var p = 0; p < parts.length - 1; p++) {
          if (typeof obj[parts[p]] !== "object" || obj[parts[p]] === null) obj[parts[p]] = {};
          obj = obj[parts[p]];
        }
        obj[parts[parts.length - 1]] = data[k];
        delete data[k];
      });
      var wrap = form.getAttribute("data-wrap");
      if (wrap) { var inner = data; data = {}; data[wrap] = inner; }
      if (materials.length) data.materials = materials;
      if (decisions.length) data.decisions = decisions;
      if (privacy && privacy.mode) {
        if (privacy.mode !== "aggregation_only") delete privacy.k;
        if (privacy.mode !== "differential_privacy") { delete privacy.epsilon; delete privacy.query_epsilon; }
        data.privacy = privacy;
      }
      var r = await postJson(form.getAttribute("data-url"), data);
      if (!r.ok) { if (out) out.textContent = errorText(r.body, lang); return; }
      // A value shown once (a new API key) stays on the page instead of a reload.
      var show = form.getAttribute("data-show");
      if (show && r.body && r.body[show]) {
        var res = form.querySelector(".result");
        res.textContent = res.getAttribute("data-note") + " ";
        var code = document.createElement("code");
        code.className = "shown-once";
        code.textContent = r.body[show];
        res.appendChild(code);
        return;
      }
      var next = form.getAttribute("data-redirect");
      if (next && r.body && r.body.id) { window.location.href = next + r.body.id; } else { window.location.reload(); }
    });
  });

  // The workspace SQL editor: results are drawn under the editor, the page stays.
  var editor = document.getElementById("sql-editor");
  if (editor) {
    editor.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var out = document.getElementById("results");
      out.textContent = "";
      var r = await postJson(editor.getAttribute("data-url"), { sql: editor.querySelector("textarea").value });
      if (!r.ok) {
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = errorText(r.body, lang) + (r.body && r.body.details && r.body.details.reason ? " — " + r.body.details.reason : "");
        out.appendChild(p);
        return;
      }
      var b = r.body;
      if (!b.columns) {
        var done = document.createElement("p");
        done.textContent = b.created ? b.created + " (" + b.row_count + ")" : (b.dropped || "");
        out.appendChild(done);
        return;
      }
      var table = document.createElement("table");
      table.id = "result-table";
      var head = document.createElement("tr");
      b.columns.forEach(function (c) { var th = document.createElement("th"); th.textContent = c; head.appendChild(th); });
      var thead = document.createElement("thead");
      thead.appendChild(head);
      table.appendChild(thead);
      var tbody = document.createElement("tbody");
      b.rows.forEach(function (row) {
        var tr = document.createElement("tr");
        row.forEach(function (v) { var td = document.createElement("td"); td.textContent = v === null ? "" : String(v); tr.appendChild(td); });
        tbody.appendChild(tr);
      });
      table.appendChild(tbody);
      out.appendChild(table);
      if (b.truncated) {
        var note = document.createElement("p");
        note.textContent = editor.getAttribute("data-truncated");
        out.appendChild(note);
      }
      if (b.suppressed_groups !== undefined && b.suppressed_groups !== null) {
        var sup = document.createElement("p");
        sup.id = "suppressed-note";
        sup.textContent = editor.getAttribute("data-suppressed") + "：" + b.suppressed_groups;
        out.appendChild(sup);
      }
      if (b.privacy) {
        var dp = document.createElement("p");
        dp.id = "noise-note";
        var scales = (b.privacy.noise || []).map(function (n) { return n.column + " ±" + n.scale.toFixed(2); }).join("；");
        var left = b.privacy.budget && b.privacy.budget.budget ? b.privacy.budget.budget.epsilon_left : "";
        dp.textContent = editor.getAttribute("data-noise") + " " + b.privacy.epsilon + "（" + scales + "）；" +
          editor.getAttribute("data-budget-left") + " " + left;
        out.appendChild(dp);
      }
    });
  }

  // A trial call of a data interface with the consumer's key, as any client would make it.
  Array.prototype.forEach.call(document.querySelectorAll("form.try-interface"), function (form) {
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var out = form.querySelector(".result");
      out.textContent = "";
      var q = form.query.value.trim();
      var res = await fetch(form.getAttribute("data-url") + (q ? "?" + q : ""), {
        headers: { "X-Api-Key": form.key.value.trim() },
        credentials: "omit",
      });
      var body = null;
      try { body = await res.json(); } catch (e) { body = null; }
      if (!res.ok) {
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = res.status + " " + errorText(body, lang);
        out.appendChild(p);
        return;
      }
      var range = document.createElement("p");
      range.className = "muted";
      range.textContent = res.headers.get("Content-Range") || "";
      out.appendChild(range);
      var table = document.createElement("table");
      table.className = "call-result";
      var head = document.createElement("tr");
      body.columns.forEach(function (c) { var th = document.createElement("th"); th.textContent = c; head.appendChild(th); });
      table.appendChild(head);
      body.rows.forEach(function (row) {
        var tr = document.createElement("tr");
        row.forEach(function (v) { var td = document.createElement("td"); td.textContent = v === null ? "" : String(v); tr.appendChild(td); });
        table.appendChild(tr);
      });
      out.appendChild(table);
    });
  });

  var print = document.getElementById("print");
  if (print) print.addEventListener("click", function () { window.print(); });
})();
