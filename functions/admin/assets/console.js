// The console's only script. Every rule stays in the admin API: this script reads it, sends the
// admin's forms and actions to it with the session's CSRF token (read from GET /admin/api/me,
// never embedded in a page), and shows its answers. Pages mark what the script does with data
// attributes (the run page and the directory add run.js and directory.js, which use the helpers
// this script shares as window.dingbridgeConsole):
//   form[data-api]      sends the form as JSON (data-method, default POST); data-then says where
//                       to go after a success ("reload", or a URL with {id} from the answer);
//   form[data-load]     is filled from a GET of the API before it is shown;
//   table[data-list]    is filled from a GET of the API (data-items names the array, "items" by
//                       default, following next_cursor); its header cells say which field each
//                       column shows (data-field, data-format, data-link) and which action a
//                       row offers (data-row-action with {field} placeholders, data-when);
//   button[data-action] calls the API (data-method, data-body, data-confirm, data-then);
//   button[data-test]   runs a test and lists its checks in data-target.
// A viewer's page (body[data-readonly=true]) has every write control disabled; the API refuses
// a viewer's writes as well.
(function () {
  "use strict";
  var words = {};
  try { words = JSON.parse(document.body.getAttribute("data-words") || "{}"); } catch (e) { words = {}; }
  function word(key) { return words[key] || key; }
  var readonly = document.body.getAttribute("data-readonly") === "true";

  var csrf = null;
  function token() {
    if (csrf) { return Promise.resolve(csrf); }
    return fetch("/admin/api/me", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (me) { csrf = me.csrf_token || ""; return csrf; });
  }
  // One call of the API: {ok, status, body}.
  function api(method, url, body) {
    var send = function (t) {
      var headers = {};
      if (method !== "GET") { headers["X-CSRF-Token"] = t; }
      var init = { method: method, credentials: "same-origin", headers: headers };
      if (body !== undefined && body !== null) {
        headers["Content-Type"] = "application/json";
        init.body = typeof body === "string" ? body : JSON.stringify(body);
      }
      return fetch(url, init).then(function (r) {
        return r.text().then(function (text) {
          var parsed = {};
          try { parsed = text ? JSON.parse(text) : {}; } catch (e) { parsed = { message: text }; }
          return { ok: r.ok, status: r.status, body: parsed };
        });
      });
    };
    return method === "GET" ? send("") : token().then(send);
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  // A value of an API object by path: "a.b", or "list[].field" for that field of every item.
  function at(obj, path) {
    var each = path.indexOf("[].");
    if (each >= 0) {
      var list = at(obj, path.slice(0, each)) || [];
      return list.map(function (item) { return at(item, path.slice(each + 3)); });
    }
    return path.split(".").reduce(function (v, k) {
      return v === undefined || v === null ? undefined : v[k];
    }, obj);
  }
  function when(ms) {
    if (!ms) { return ""; }
    var d = new Date(ms);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function fillTemplate(template, item) {
    return template.replace(/\{([a-z_.]+)\}/g, function (_, k) {
      var v = at(item, k);
      return encodeURIComponent(v === undefined || v === null ? "" : String(v));
    });
  }

  // An answer of the API in a box: ✓ with what the admin must know (a secret shown once, the
  // fields trimmed, the callback's registration), or the refusal with every problem.
  function showAnswer(answer, box) {
    box = box || document.getElementById("answer");
    if (!box) { return; }
    box.textContent = "";
    var b = answer.body || {};
    if (!answer.ok) {
      var p = el("p", b.message || b.error || ("HTTP " + answer.status), "error");
      p.setAttribute("role", "alert");
      box.appendChild(p);
      var problems = b.problems || [];
      if (problems.length) {
        var list = el("ul");
        problems.forEach(function (pr) {
          var li = el("li", pr.field + ": " + pr.reason, "fail");
          li.setAttribute("data-field", pr.field);
          list.appendChild(li);
        });
        box.appendChild(list);
      }
      return;
    }
    box.appendChild(el("p", word("js.saved"), "ok"));
    var secret = b.client_secret || b.secret;
    if (secret) {
      var s = el("div", null, "secret");
      s.appendChild(el("p", word("js.secret_once")));
      var code = el("code", secret);
      code.id = "secret-once";
      s.appendChild(code);
      box.appendChild(s);
    }
    (b.warnings || []).forEach(function (w) {
      box.appendChild(el("p", w.field + ": " + w.detail, "warning"));
    });
    if (b.callback) {
      box.appendChild(el("p", word("js.callback") + ": " + (b.callback.detail || b.callback.message || JSON.stringify(b.callback)), "muted"));
    }
  }
  // The last answer, kept across the navigation a save makes.
  function keep(answer) {
    try { sessionStorage.setItem("dingbridge.answer", JSON.stringify(answer)); } catch (e) { /* private mode */ }
  }
  function kept() {
    try {
      var raw = sessionStorage.getItem("dingbridge.answer");
      sessionStorage.removeItem("dingbridge.answer");
      if (raw) { showAnswer(JSON.parse(raw)); }
    } catch (e) { /* nothing kept */ }
  }

  // --- forms --------------------------------------------------------------------------------
  // A form field's value at its name; a dotted name ("assigned_to.everyone") nests.
  function put(body, name, value) {
    var path = name.split(".");
    var last = path.pop();
    var into = path.reduce(function (o, k) { o[k] = o[k] || {}; return o[k]; }, body);
    into[last] = value;
  }
  function formBody(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (f) {
      if (!f.name || f.disabled || f.type === "submit" || f.type === "button") { return; }
      var type = f.getAttribute("data-type") || "text";
      var raw = f.value;
      if (type === "bool") { put(body, f.name, f.type === "checkbox" ? f.checked : raw === "true"); return; }
      if (raw === "") {
        // Blank: a secret is kept, an optional value left out (or cleared where data-clear says).
        if (f.hasAttribute("data-clear")) { put(body, f.name, null); }
        return;
      }
      if (type === "int" || type === "float") {
        var n = Number(raw);
        put(body, f.name, isNaN(n) ? raw : n);
      } else if (type === "list") {
        put(body, f.name, raw.split(/[\n,]/).map(function (v) { return v.trim(); })
          .filter(function (v) { return v; }));
      } else {
        put(body, f.name, raw);
      }
    });
    return body;
  }
  function fillForm(form, data) {
    Array.prototype.forEach.call(form.elements, function (f) {
      if (!f.name) { return; }
      var v = at(data, f.getAttribute("data-from") || f.name);
      if (f.getAttribute("data-secret") !== null) {
        f.value = "";
        if (data[f.name + "_set"]) { f.placeholder = word("js.secret_set"); }
        return;
      }
      if (f.type === "checkbox") { f.checked = v === true; return; }
      if (v === undefined || v === null) { f.value = ""; return; }
      f.value = Array.isArray(v) ? v.join(", ") : String(v);
    });
  }
  function submit(form) {
    var box = form.querySelector(".form-answer") || document.getElementById("answer");
    var buttons = form.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    var url = form.getAttribute("data-api");
    return api(form.getAttribute("data-method") || "POST", url, formBody(form))
      .then(function (answer) {
        var then = form.getAttribute("data-then");
        var secret = answer.body && (answer.body.client_secret || answer.body.secret);
        if (answer.ok && then && !secret) {
          keep(answer);
          if (then === "reload") { window.location.reload(); return; }
          window.location.href = fillTemplate(then, answer.body);
          return;
        }
        showAnswer(answer, box);
        if (answer.ok) {
          // A creation form is emptied for the next one (a form that edits keeps its values).
          if (!form.hasAttribute("data-load") && (form.getAttribute("data-method") || "POST") === "POST") {
            Array.prototype.forEach.call(form.elements, function (f) {
              if (f.name && f.type !== "hidden" && f.type !== "checkbox" && f.tagName !== "SELECT") { f.value = ""; }
            });
          }
          form.dispatchEvent(new CustomEvent("saved", { bubbles: true, detail: answer.body }));
          refreshLists();
        }
      })
      .catch(function (e) { showAnswer({ ok: false, status: 0, body: { message: String(e) } }, box); })
      .then(function () {
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = readonly; });
      });
  }
  function loadForm(form) {
    return api("GET", form.getAttribute("data-load")).then(function (answer) {
      if (answer.ok) {
        fillForm(form, answer.body);
        form.querySelectorAll("[data-show]").forEach(function (shown) {
          shown.textContent = format(at(answer.body, shown.getAttribute("data-show")));
        });
        form.dispatchEvent(new CustomEvent("loaded", { bubbles: true, detail: answer.body })); }
      else { showAnswer(answer, form.querySelector(".form-answer")); }
    });
  }

  // --- lists --------------------------------------------------------------------------------
  function format(value, how) {
    if (value === undefined || value === null) { return ""; }
    if (how === "time") { return when(value); }
    if (how === "seconds") { return Math.round(value / 100) / 10 + " s"; }
    if (how === "bool") { return value ? "✓" : "—"; }
    if (how === "json") { return JSON.stringify(value); }
    if (how === "brief") {
      var text = JSON.stringify(value);
      return text.length > 160 ? text.slice(0, 157) + "…" : text;
    }
    if (how === "counters") {
      return Object.keys(value).filter(function (k) { return value[k]; })
        .map(function (k) { return k + " " + value[k]; }).join(", ");
    }
    if (how === "ids") {
      return (value || []).map(function (m) { return m.external_id; }).join(", ");
    }
    if (how === "push") {
      return (value || []).map(function (p) {
        return word("js.push." + p.state) + (p.reason ? " (" + p.reason + ")" : "");
      }).join("; ");
    }
    if (Array.isArray(value)) { return value.join("; "); }
    if (typeof value === "object") { return JSON.stringify(value); }
    return String(value);
  }
  function matches(item, condition) {
    if (!condition) { return true; }
    var parts = condition.split("=");
    return String(at(item, parts[0])) === parts[1];
  }
  function rowOf(table, item, columns) {
    var tr = document.createElement("tr");
    var key = table.getAttribute("data-key");
    if (key) { tr.setAttribute("data-key", String(at(item, key))); }
    columns.forEach(function (th) {
      var td = document.createElement("td");
      var field = th.getAttribute("data-field");
      var action = th.getAttribute("data-row-action");
      if (field) {
        var text = format(at(item, field), th.getAttribute("data-format"));
        var link = th.getAttribute("data-link");
        if (link) {
          var a = el("a", text || "—");
          a.href = fillTemplate(link, item);
          td.appendChild(a);
        } else {
          td.textContent = text;
        }
        td.setAttribute("data-field", field);
      }
      if (action && matches(item, th.getAttribute("data-when"))) {
        var b = el("button", th.getAttribute("data-label"), "secondary write");
        b.type = "button";
        b.setAttribute("data-action", fillTemplate(action, item));
        b.setAttribute("data-method", th.getAttribute("data-method") || "POST");
        ["data-confirm", "data-body"].forEach(function (a) {
          if (th.getAttribute(a)) { b.setAttribute(a, th.getAttribute(a)); }
        });
        b.disabled = readonly;
        td.appendChild(b);
      }
      tr.appendChild(td);
    });
    return tr;
  }
  // Every item of a list (following next_cursor, at most `pages` pages), or a sub-array of one
  // object (`itemsAt` other than "items").
  function readAll(url, itemsAt, pages, cursor) {
    var page = cursor ? url + (url.indexOf("?") < 0 ? "?" : "&") + "cursor=" + encodeURIComponent(cursor) : url;
    return api("GET", page).then(function (answer) {
      if (!answer.ok) { throw answer; }
      var items = at(answer.body, itemsAt) || [];
      var next = answer.body.next_cursor;
      if (itemsAt === "items" && next && pages > 1) {
        return readAll(url, itemsAt, pages - 1, next).then(function (rest) { return items.concat(rest); });
      }
      return items;
    });
  }
  function fillList(table) {
    var url = table.getAttribute("data-list");
    if (!url) { return Promise.resolve([]); }
    var columns = Array.prototype.slice.call(table.querySelectorAll("thead th"));
    var body = table.querySelector("tbody");
    return readAll(url, table.getAttribute("data-items") || "items", parseInt(table.getAttribute("data-pages") || "20", 10)).then(function (items) {
      body.textContent = "";
      if (!items.length) {
        var tr = document.createElement("tr");
        var td = el("td", table.getAttribute("data-none") || word("js.none"), "muted");
        td.colSpan = columns.length;
        tr.appendChild(td);
        body.appendChild(tr);
      }
      items.forEach(function (item) { body.appendChild(rowOf(table, item, columns)); });
      table.setAttribute("data-count", String(items.length));
      table.dispatchEvent(new CustomEvent("filled", { bubbles: true, detail: items }));
      return items;
    }).catch(function (answer) {
      body.textContent = "";
      var tr = document.createElement("tr");
      var td = el("td", (answer.body && answer.body.message) || String(answer), "error");
      td.colSpan = columns.length;
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }
  function refreshLists() {
    document.querySelectorAll("table[data-list]").forEach(fillList);
  }

  // --- tests and actions --------------------------------------------------------------------
  function show(target, report) {
    var box = document.getElementById(target);
    box.textContent = "";
    var list = el("ul");
    (report.checks || []).forEach(function (c) {
      var item = el("li", null, c.ok ? "ok" : "fail");
      item.setAttribute("data-check", c.name);
      item.appendChild(el("strong", c.name + ": "));
      item.appendChild(document.createTextNode(c.detail));
      if (c.fix) { item.appendChild(el("div", c.fix, "fix")); }
      list.appendChild(item);
    });
    if (!report.checks) {
      list.appendChild(el("li", report.message || report.error || "error", "fail"));
    }
    box.appendChild(list);
    if (report.register) { box.appendChild(el("p", report.register, "muted")); }
  }
  function runTest(button) {
    button.disabled = true;
    api("POST", button.getAttribute("data-test"))
      .then(function (answer) { show(button.getAttribute("data-target"), answer.body); })
      .catch(function (e) { show(button.getAttribute("data-target"), { message: String(e) }); })
      .then(function () { button.disabled = false; });
  }
  function act(button) {
    var question = button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { return; }
    button.disabled = true;
    var box = document.getElementById("action-result") || document.getElementById("answer");
    if (box) { box.textContent = ""; }
    var body = button.getAttribute("data-body");
    api(button.getAttribute("data-method") || "POST", button.getAttribute("data-action"), body || undefined)
      .then(function (answer) {
        var then = button.getAttribute("data-then");
        if (answer.ok && then === "run" && answer.body.id) {
          window.location.href = "/admin/imports/" + answer.body.id;
          return;
        }
        if (answer.ok && then && then !== "run" && !answer.body.client_secret) {
          keep(answer);
          window.location.href = then === "reload" ? window.location.href : fillTemplate(then, answer.body);
          return;
        }
        // A page with a script of its own (the run page) shows the answer itself.
        if (button.closest("[data-own-answers]")) {
          document.dispatchEvent(new CustomEvent("acted", { detail: answer }));
          return;
        }
        showAnswer(answer, box);
        if (answer.ok) {
          if (document.querySelector("table[data-list], [data-refreshes]")) {
            refreshLists();
            document.dispatchEvent(new CustomEvent("changed"));
          } else if (!answer.body.client_secret) {
            window.location.reload();
          }
        }
      })
      .catch(function (e) { if (box) { box.textContent = String(e); } })
      .then(function () { button.disabled = readonly && !button.hasAttribute("data-test"); });
  }

  // --- wiring -------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var test = event.target.closest("button[data-test]");
    if (test) { runTest(test); return; }
    var action = event.target.closest("button[data-action]");
    if (action) { act(action); return; }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-api]");
    if (form) { event.preventDefault(); submit(form); return; }
    var query = event.target.closest("form[data-query]");
    if (query) {
      event.preventDefault();
      var table = document.getElementById(query.getAttribute("data-query"));
      var params = new URLSearchParams();
      Array.prototype.forEach.call(query.elements, function (f) {
        if (f.name && f.value.trim()) { params.set(f.name, f.value.trim()); }
      });
      var base = table.getAttribute("data-list").split("?")[0];
      table.setAttribute("data-list", base + (params.toString() ? "?" + params.toString() : ""));
      fillList(table);
    }
  });
  document.addEventListener("input", function (event) {
    // A pasted value with spaces around it: say so now (the API trims it and says so too).
    var f = event.target;
    if (f.matches && f.matches("input[data-trim]")) {
      var hint = f.parentNode.querySelector(".trim-hint");
      if (hint) { hint.hidden = f.value === f.value.trim(); }
    }
  });
  document.addEventListener("change", function (event) {
    var role = event.target.closest("select[data-roles]");
    if (role) {
      var value = role.value;
      var box = document.getElementById("answer");
      api("PUT", role.getAttribute("data-roles"), { roles: value ? [value] : [] })
        .then(function (answer) { showAnswer(answer, box); });
    }
  });

  // What the page scripts (run.js, directory.js) share.
  window.dingbridgeConsole = {
    api: api, at: at, el: el, fillForm: fillForm, format: format, readAll: readAll,
    readonly: readonly, rowOf: rowOf, showAnswer: showAnswer, word: word
  };

  kept();
  if (readonly) {
    document.querySelectorAll("form[data-api] button, form[data-api] input, form[data-api] select, form[data-api] textarea, button[data-action], button[data-test], select[data-roles], .write")
      .forEach(function (c) { c.disabled = true; });
  }
  document.querySelectorAll("form[data-load]").forEach(loadForm);
  document.querySelectorAll("table[data-list]").forEach(fillList);
  var roles = document.querySelector("select[data-roles]");
  if (roles) {
    api("GET", roles.getAttribute("data-roles")).then(function (answer) {
      if (answer.ok) { roles.value = (answer.body.roles || [])[0] || ""; }
    });
  }
})();
