// The run page: the run's state, counters and time left (read again every second while it walks
// or applies, and for a while after an action), and its staged rows under the chosen filter, the
// org units in tree order. Its actions go through console.js; their answers come back here.
(function () {
  "use strict";
  var c = window.dingbridgeConsole;
  var el = c.el, word = c.word, readonly = c.readonly;

  var filter = "all";
  // After an action the run may take a moment to start applying: keep reading it for a while.
  var settle = 0;
  function cell(row, text) {
    var td = el("td", text);
    row.appendChild(td);
    return td;
  }
  // Staged org units in tree order (a parent before its children, indented by depth).
  function treeOrder(items) {
    var byId = {};
    items.forEach(function (u) { byId[String(u.dept_id)] = u; });
    var children = {};
    var roots = [];
    items.forEach(function (u) {
      var p = String(u.parent_id);
      if (byId[p] && p !== String(u.dept_id)) { (children[p] = children[p] || []).push(u); } else { roots.push(u); }
    });
    var out = [];
    var walk = function (u, depth) {
      out.push({ unit: u, depth: depth });
      (children[String(u.dept_id)] || []).forEach(function (c) { walk(c, depth + 1); });
    };
    roots.forEach(function (r) { walk(r, 0); });
    return out;
  }
  function fill(section, table, path, label, none, tree) {
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
        var ordered = tree ? treeOrder(items) : items.map(function (i) { return { unit: i, depth: 0 }; });
        ordered.forEach(function (entry) {
          var item = entry.unit;
          var tr = document.createElement("tr");
          tr.setAttribute("data-row", item.row_id);
          var staged = item.body || item;
          var name = cell(tr, staged.name);
          if (entry.depth) { name.style.paddingLeft = (10 + entry.depth * 18) + "px"; name.className = "nested"; }
          cell(tr, staged.userid || item.dept_id || staged.dept_id);
          cell(tr, item.action);
          cell(tr, (item.reasons || []).join("; "));
          var td = cell(tr, "");
          var remove = el("button", label, "secondary write");
          remove.type = "button";
          remove.disabled = readonly;
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
        // A push run is confirmed whole; a pull's org units, then its accounts.
        document.querySelectorAll("[data-kind]").forEach(function (b) {
          b.hidden = b.getAttribute("data-kind") !== (run.kind || "pull");
        });
        var c = run.counters || {};
        var list = document.getElementById("run-counters");
        list.textContent = "";
        Object.keys(c).forEach(function (k) {
          if (!c[k]) { return; }
          var li = el("li", k + ": " + c[k]);
          li.setAttribute("data-counter", k);
          list.appendChild(li);
        });
        var progress = document.getElementById("run-progress");
        var text = run.duration_ms ? word("js.elapsed") + " " + Math.round(run.duration_ms / 100) / 10 + " s" : "";
        if (run.estimate && run.state === "pulling") {
          text += " · " + word("js.left") + " ≈ " + Math.max(1, Math.round(run.estimate.remaining_ms / 1000)) + " s";
        }
        progress.textContent = text;
        var guard = document.getElementById("run-guard");
        guard.hidden = !run.review_reason;
        guard.textContent = run.review_reason ? word("js.review_reason") + ": " + run.review_reason : "";
        var problems = (run.errors || []).concat(run.blocking || []).concat(run.partial_reasons || []);
        var box = document.getElementById("run-problems");
        box.hidden = !problems.length;
        box.textContent = problems.join(" · ");
        if (run.state === "pulling" || run.state === "applying" || settle > 0) {
          settle = Math.max(0, settle - 1);
          window.setTimeout(loadRun, 1000);
        }
        return Promise.all([
          fill(id, "units", "/admin/api/runs/" + id + "/org-units?limit=1000&filter=" + filter, label, none, filter === "all"),
          fill(id, "rows", "/admin/api/runs/" + id + "/rows?limit=1000&filter=" + filter, label, none, false)
        ]);
      });
  }

  document.addEventListener("acted", function (event) {
    var answer = event.detail;
    var box = document.getElementById("action-result");
    box.textContent = "";
    box.appendChild(el("p", answer.ok ? word("js.done") : (answer.body.message || answer.body.error || "error"), answer.ok ? "ok" : "error"));
    settle = 20;
    loadRun();
  });
  document.addEventListener("click", function (event) {
    var chosen = event.target.closest("a[data-filter]");
    if (chosen) {
      event.preventDefault();
      filter = chosen.getAttribute("data-filter");
      document.querySelectorAll("a[data-filter]").forEach(function (a) { a.removeAttribute("aria-current"); });
      chosen.setAttribute("aria-current", "true");
      loadRun();
    }
  });
  loadRun();
})();
