// LOCAL ONLY: plays DingTalk's JSAPI (`dd.requestAuthCode`) in a desktop browser on `cargo run`,
// by asking the simulated DingTalk for a free-login code. Never served on Lambda.
// The simulated member comes from the page's `simUser` query parameter, or is asked for.
(function () {
  "use strict";
  if (window.dd) {
    return;
  }
  var banner = document.createElement("p");
  banner.className = "notice";
  banner.id = "local-stand-in";
  banner.textContent = "本地模拟钉钉 (local only): this page runs outside DingTalk; a simulated member signs in.";
  var card = document.getElementById("micro");
  if (card) {
    card.insertBefore(banner, card.firstChild);
  }
  function requestAuthCode(options) {
    var params = new URLSearchParams(window.location.search);
    var userid = params.get("simUser") || window.prompt("本地模拟钉钉：以哪个成员的 userid 免登？ Sign in as which simulated member (userid)?");
    if (!userid) {
      options.onFail({ errorCode: "cancelled", errorMessage: "no simulated member chosen" });
      return;
    }
    fetch("/_local/dingtalk/code", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ userid: userid, corp_id: options.corpId, client_id: options.clientId })
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (answer) {
      if (answer.ok && answer.body.code) {
        options.onSuccess({ code: answer.body.code });
      } else {
        options.onFail({ errorCode: "simulator", errorMessage: JSON.stringify(answer.body) });
      }
    }, function (e) {
      options.onFail({ errorCode: "simulator", errorMessage: String(e) });
    });
  }
  window.dd = {
    env: { platform: "local-simulator" },
    ready: function (callback) { callback(); },
    requestAuthCode: requestAuthCode
  };
})();
