// The console's only script: it calls the admin API with the session's CSRF token (read from
// GET /admin/api/me, never embedded in a page) — tests (data-test), actions (data-action) and the
// run page's data — and shows the answers. Every rule stays in the API.
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
  // Buttons marked data-action call the API (data-method, default POST); the answer is shown,
  // then the page's data is read again (or, data-then="run", the new run's page is opened).
  function act(button) {
    button.disabled = true;
    var shown = document.getElementById("action-result");
    if (shown) { shown.textContent = ""; }
    var method = button.getAttribute("data-method") || "POST";
    token().then(function (t) {
      return fetch(button.getAttribute("data-action"), {
        method: method,
        credentials: "same-origin",
        headers: { "X-CSRF-Token": t }
      });
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (answer) {
      if (answer.ok && button.getAttribute("data-then") === "run" && answer.body.id) {
        window.location.href = "/admin/imports/" + answer.body.id;
        return;
      }
      var box = document.getElementById("action-result");
      if (box) {
        box.textContent = "";
        var line = document.createElement("p");
        line.className = answer.ok ? "ok" : "error";
        line.textContent = answer.ok ? "✓" : (answer.body.message || answer.body.error || "error");
        box.appendChild(line);
      }
      if (document.getElementById("run")) { settle = 20; loadRun(); } else if (answer.ok) { window.location.reload(); }
    }).catch(function (e) {
      var box = document.getElementById("action-result");
      if (box) { box.textContent = String(e); }
    }).then(function () { button.disabled = false; });
  }

  // The run page: the run's state and counters (read again every 1.5 s while it walks or
  // applies), and its staged rows under the chosen filter.
  var filter = "all";
  // After an action the run may take a moment to start applying: keep reading it for a while.
  var settle = 0;
  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    row.appendChild(td);
    return td;
  }
  function fill(section, table, path, label, none) {
    return fetch(path, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (page) {
        var body = document.querySelector("#" + table + " tbody");
        body.textContent = "";
        var items = page.items || [];
        if (!items.length) {
          var empty = document.createElement("tr");
          cell(empty, none).colSpan = 5;
          body.appendChild(empty);
        }
        items.forEach(function (item) {
          var tr = document.createElement("tr");
          tr.setAttribute("data-row", item.row_id);
          var staged = item.body || item;
          cell(tr, staged.name);
          cell(tr, staged.userid || item.dept_id || staged.dept_id);
          cell(tr, item.action);
          cell(tr, (item.reasons || []).join("; "));
          var td = cell(tr, "");
          var remove = document.createElement("button");
          remove.type = "button";
          remove.className = "secondary";
          remove.textContent = label;
          remove.setAttribute("data-action", "/admin/api/runs/" + section + "/rows/" + encodeURIComponent(item.row_id));
          remove.setAttribute("data-method", "DELETE");
          td.appendChild(remove);
          body.appendChild(tr);
        });
      });
  }
  function loadRun() {
    var section = document.getElementById("run");
    var id = section.getAttribute("data-run-id");
    var label = section.getAttribute("data-label-remove");
    var none = section.getAttribute("data-label-none");
    return fetch("/admin/api/runs/" + id, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (run) {
        document.getElementById("run-state").textContent = run.state;
        var c = run.counters || {};
        var list = document.getElementById("run-counters");
        list.textContent = "";
        Object.keys(c).forEach(function (k) {
          if (!c[k]) { return; }
          var li = document.createElement("li");
          li.setAttribute("data-counter", k);
          li.textContent = k + ": " + c[k];
          list.appendChild(li);
        });
        var progress = document.getElementById("run-progress");
        progress.textContent = run.duration_ms ? "(" + Math.round(run.duration_ms / 100) / 10 + " s)" : "";
        var problems = (run.errors || []).concat(run.blocking || []);
        if (run.review_reason) { problems.unshift(run.review_reason); }
        var box = document.getElementById("run-problems");
        box.hidden = !problems.length;
        box.textContent = problems.join(" · ");
        if (run.state === "pulling" || run.state === "applying" || settle > 0) {
          settle = Math.max(0, settle - 1);
          window.setTimeout(loadRun, 1000);
        }
        return Promise.all([
          fill(id, "units", "/admin/api/runs/" + id + "/org-units?filter=" + filter, label, none),
          fill(id, "rows", "/admin/api/runs/" + id + "/rows?filter=" + filter, label, none)
        ]);
      });
  }

  document.addEventListener("click", function (event) {
    var test = event.target.closest("button[data-test]");
    if (test) { run(test); return; }
    var action = event.target.closest("button[data-action]");
    if (action) { act(action); return; }
    var chosen = event.target.closest("a[data-filter]");
    if (chosen) {
      event.preventDefault();
      filter = chosen.getAttribute("data-filter");
      document.querySelectorAll("a[data-filter]").forEach(function (a) {
        a.removeAttribute("aria-current");
      });
      chosen.setAttribute("aria-current", "true");
      loadRun();
    }
  });
  if (document.getElementById("run")) { loadRun(); }
})();
