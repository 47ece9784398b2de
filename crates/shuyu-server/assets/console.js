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
})();
