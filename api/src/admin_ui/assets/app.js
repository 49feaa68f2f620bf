// Seatflow license admin pages: copy buttons, confirmations and the live setup checklist.
(function () {
  "use strict";
  function licenseId() {
    var m = location.pathname.match(/\/admin\/licenses\/([^/]+)/);
    return m ? m[1] : "";
  }
  function markClientSteps() {
    var id = licenseId();
    document.querySelectorAll("[data-client-step]").forEach(function (li) {
      if (localStorage.getItem("seatflow:" + id + ":" + li.dataset.clientStep)) {
        li.classList.add("done");
        var tick = li.querySelector(".tick"); if (tick) tick.textContent = "\u2713";
        var hint = li.querySelector(".hint"); if (hint) hint.remove();
        var state = li.querySelector(".state"); if (state) state.textContent = " (done)";
      }
    });
  }
  async function copy(button) {
    var input = document.getElementById(button.dataset.copyTarget);
    var status = button.parentElement.querySelector(".copied");
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (e) {
      input.select(); document.execCommand("copy");
    }
    if (status) status.textContent = "Copied";
    if (button.dataset.copyStep) localStorage.setItem("seatflow:" + licenseId() + ":" + button.dataset.copyStep, "1");
  }
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button[data-copy-target]");
    if (b) { e.preventDefault(); copy(b); }
  });
  document.addEventListener("submit", function (e) {
    var msg = e.target.dataset.confirm;
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
  var section = document.querySelector("[data-checklist-url]");
  if (section) {
    markClientSteps();
    var url = section.dataset.checklistUrl;
    setInterval(async function () {
      try {
        var r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
        if (!r.ok) return;
        var html = await r.text();
        var current = document.getElementById("checklist");
        if (current && current.outerHTML !== html) { current.outerHTML = html; markClientSteps(); }
      } catch (e) { /* offline for a moment: try again next tick */ }
    }, 3000);
  } else {
    markClientSteps();
  }
})();
