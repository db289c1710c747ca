// The directory page: the org tree drawn from every org unit and account, a unit's accounts and
// forms, and search; read again after each change and while a push is on its way to DingTalk.
(function () {
  "use strict";
  var c = window.dingbridgeConsole;
  var el = c.el, fillForm = c.fillForm, format = c.format, readAll = c.readAll, rowOf = c.rowOf;
  var showAnswer = c.showAnswer;

  var directory = { units: [], accounts: [], selected: null };
  function accountRows(table, accounts) {
    var columns = Array.prototype.slice.call(table.querySelectorAll("thead th"));
    var body = table.querySelector("tbody");
    body.textContent = "";
    if (!accounts.length) {
      var tr = document.createElement("tr");
      var td = el("td", table.getAttribute("data-none"), "muted");
      td.colSpan = columns.length;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    accounts.forEach(function (a) { body.appendChild(rowOf(table, a, columns)); });
    table.setAttribute("data-count", String(accounts.length));
  }
  function pending(items) {
    return items.some(function (i) {
      return (i.push || []).some(function (p) { return p.state === "pending"; });
    });
  }
  function drawTree() {
    var tree = document.getElementById("tree");
    tree.textContent = "";
    var children = {};
    var roots = [];
    var ids = {};
    directory.units.forEach(function (u) { ids[u.id] = true; });
    directory.units.forEach(function (u) {
      if (u.parent_id && ids[u.parent_id]) { (children[u.parent_id] = children[u.parent_id] || []).push(u); } else { roots.push(u); }
    });
    var counts = {};
    directory.accounts.forEach(function (a) {
      (a.memberships || []).forEach(function (m) { counts[m.org_unit_id] = (counts[m.org_unit_id] || 0) + 1; });
    });
    var draw = function (u, into) {
      var li = el("li");
      li.setAttribute("role", "treeitem");
      var b = el("button", u.name + (counts[u.id] ? " (" + counts[u.id] + ")" : ""), "unit");
      b.type = "button";
      b.setAttribute("data-unit", u.id);
      if (directory.selected === u.id) { b.setAttribute("aria-current", "true"); }
      if ((u.mappings || []).length) { b.title = "DingTalk " + format(u.mappings, "ids"); }
      li.appendChild(b);
      var kids = (children[u.id] || []).sort(function (x, y) { return x.order - y.order || (x.name < y.name ? -1 : 1); });
      if (kids.length) {
        var ul = el("ul");
        ul.setAttribute("role", "group");
        kids.forEach(function (k) { draw(k, ul); });
        li.appendChild(ul);
      }
      into.appendChild(li);
    };
    roots.forEach(function (r) { draw(r, tree); });
  }
  function selectUnit(id) {
    directory.selected = id;
    var unit = directory.units.filter(function (u) { return u.id === id; })[0];
    var panel = document.getElementById("unit");
    if (!unit) { panel.hidden = true; return; }
    panel.hidden = false;
    document.getElementById("search-results").hidden = true;
    document.getElementById("unit-name").textContent = unit.name;
    document.getElementById("unit-id").textContent = unit.id;
    document.getElementById("unit-dingtalk").textContent = format(unit.mappings, "ids") || "—";
    document.getElementById("unit-push").textContent = format(unit.push, "push") || "—";
    var edit = document.getElementById("unit-form");
    edit.setAttribute("data-api", "/admin/api/org-units/" + unit.id);
    fillForm(edit, unit);
    document.getElementById("unit-delete").setAttribute("data-action", "/admin/api/org-units/" + unit.id);
    document.querySelectorAll("[data-parent-field]").forEach(function (f) { f.value = unit.id; });
    document.getElementById("new-account-unit").textContent = unit.name;
    document.getElementById("new-unit-parent").textContent = unit.name;
    var members = directory.accounts.filter(function (a) {
      return (a.memberships || []).some(function (m) { return m.org_unit_id === id; });
    });
    accountRows(document.getElementById("unit-accounts"), members);
    drawTree();
  }
  var polling = false;
  function loadDirectory() {
    return Promise.all([
      readAll("/admin/api/org-units?limit=1000", "items", 20),
      readAll("/admin/api/accounts?limit=1000", "items", 50)
    ]).then(function (both) {
      directory.units = both[0];
      directory.accounts = both[1];
      var parents = document.getElementById("parent-options");
      parents.textContent = "";
      directory.units.forEach(function (u) {
        var o = el("option", u.name + " · " + u.id);
        o.value = u.id;
        parents.appendChild(o);
      });
      if (!directory.selected && directory.units.length) {
        var root = directory.units.filter(function (u) { return !u.parent_id; })[0] || directory.units[0];
        directory.selected = root.id;
      }
      selectUnit(directory.selected);
      var q = document.getElementById("search").value;
      if (q) { search(q); }
      // While a push is on its way to DingTalk, read again until it has landed.
      if (!polling && (pending(directory.accounts) || pending(directory.units))) {
        polling = true;
        window.setTimeout(function () { polling = false; loadDirectory(); }, 1500);
      }
    }).catch(function (answer) { showAnswer(answer.body ? answer : { ok: false, status: 0, body: { message: String(answer) } }); });
  }
  function search(q) {
    q = q.trim().toLowerCase();
    var results = document.getElementById("search-results");
    if (!q) { results.hidden = true; return; }
    var found = directory.accounts.filter(function (a) {
      return [a.username, a.display_name, a.mobile, a.email, a.job_number].concat((a.mappings || []).map(function (m) { return m.external_id; }))
        .some(function (v) { return v && String(v).toLowerCase().indexOf(q) >= 0; });
    });
    results.hidden = false;
    accountRows(document.getElementById("found-accounts"), found);
  }

  document.addEventListener("click", function (event) {
    var unit = event.target.closest("button[data-unit]");
    if (unit) { selectUnit(unit.getAttribute("data-unit")); }
  });
  document.addEventListener("input", function (event) {
    if (event.target.id === "search") { search(event.target.value); }
  });
  document.addEventListener("changed", loadDirectory);
  document.addEventListener("saved", loadDirectory);
  loadDirectory();
})();
