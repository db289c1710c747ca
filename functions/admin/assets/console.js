// The console's only script: buttons marked data-test POST to the admin API with the session's
// CSRF token (read from GET /admin/api/me, never embedded in the page) and list the checks the
// answer holds. Every rule stays in the API; this only shows its answers.
(function () {
  "use strict";
  var csrf = null;
  function token() {
    if (csrf) { return Promise.resolve(csrf); }
    return fetch("/admin/api/me", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (me) { csrf = me.csrf_token || ""; return csrf; });
  }
  function show(target, report) {
    var box = document.getElementById(target);
    box.textContent = "";
    var list = document.createElement("ul");
    (report.checks || []).forEach(function (c) {
      var item = document.createElement("li");
      item.className = c.ok ? "ok" : "fail";
      item.setAttribute("data-check", c.name);
      var name = document.createElement("strong");
      name.textContent = c.name + ": ";
      item.appendChild(name);
      item.appendChild(document.createTextNode(c.detail));
      list.appendChild(item);
    });
    if (!report.checks) {
      var error = document.createElement("li");
      error.className = "fail";
      error.textContent = report.message || report.error || "error";
      list.appendChild(error);
    }
    box.appendChild(list);
    if (report.register) {
      var note = document.createElement("p");
      note.className = "muted";
      note.textContent = report.register;
      box.appendChild(note);
    }
  }
  function run(button) {
    button.disabled = true;
    token().then(function (t) {
      return fetch(button.getAttribute("data-test"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": t }
      });
    }).then(function (r) { return r.json(); })
      .then(function (report) { show(button.getAttribute("data-target"), report); })
      .catch(function (e) { show(button.getAttribute("data-target"), { message: String(e) }); })
      .then(function () { button.disabled = false; });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-test]");
    if (button) { run(button); }
  });
})();
