// The micro-app free login (免登) page: asks DingTalk's JSAPI for a free-login code and posts it.
// The current JSAPI is dd.requestAuthCode({corpId, clientId}); older DingTalk clients only have
// dd.runtime.permission.requestAuthCode({corpId}). Outside DingTalk (no `dd`, or `dd` saying so)
// the page says where to open the app and links to the QR sign-in.
(function () {
  "use strict";
  var box = document.getElementById("micro");
  var corpId = box.getAttribute("data-corp-id");
  var clientId = box.getAttribute("data-client-id");

  function show(id, text) {
    var el = document.getElementById(id);
    if (text) {
      el.textContent = text;
    }
    el.hidden = false;
    document.getElementById("status").hidden = true;
  }

  function send(code) {
    document.getElementById("code").value = code;
    document.getElementById("code-form").submit();
  }

  function failed(err) {
    var code = err && (err.errorCode !== undefined ? err.errorCode : err.errcode);
    var text = "钉钉没有给出免登码 DingTalk gave no sign-in code" +
      (code !== undefined && code !== null ? " (" + code + "). " : ". ");
    if (String(code) === "3") {
      text += "该企业没有使用此页面域名的微应用：请管理员检查微应用的首页地址。" +
        "No micro-app of this company uses this page's domain: the administrator should check the app's home-page URL.";
    } else {
      text += "请关闭后从工作台重新打开。Close the app and open it again from the workbench.";
    }
    show("failed", text);
  }

  function legacy(dd, ok, fail, first) {
    var permission = dd.runtime && dd.runtime.permission;
    if (permission && typeof permission.requestAuthCode === "function") {
      permission.requestAuthCode({ corpId: corpId, onSuccess: ok, onFail: fail });
    } else {
      fail(first);
    }
  }

  function request(dd) {
    var done = false;
    function ok(result) {
      if (done) { return; }
      done = true;
      if (result && typeof result.code === "string" && result.code) {
        send(result.code);
      } else {
        failed(result);
      }
    }
    function fail(err) {
      if (done) { return; }
      done = true;
      failed(err);
    }
    try {
      if (typeof dd.requestAuthCode === "function") {
        dd.requestAuthCode({
          corpId: corpId,
          clientId: clientId,
          onSuccess: ok,
          onFail: function (err) { legacy(dd, ok, fail, err); }
        });
      } else {
        legacy(dd, ok, fail);
      }
    } catch (e) {
      legacy(dd, ok, fail, e);
    }
  }

  function start() {
    var dd = window.dd;
    if (!dd || (dd.env && dd.env.platform === "notInDingTalk")) {
      show("outside");
      return;
    }
    if (typeof dd.ready === "function") {
      dd.ready(function () { request(dd); });
    } else {
      request(dd);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
