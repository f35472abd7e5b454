// Keyboard shortcuts of the clerk page, and one submission per form. No data from the page
// is ever turned into markup here: only URLs of links and values of inputs are read.
(function () {
  "use strict";
  var page = document.body.getAttribute("data-page");

  function typing(el) {
    if (!el || el === document.body) return false;
    var tag = el.tagName;
    return el.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" ||
      tag === "BUTTON" || tag === "A";
  }

  function send(form) {
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  // A form is sent once; a second click or Enter before the next page loads does nothing
  // (the server also records a decision once per idempotency key).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.getAttribute("data-sent")) { e.preventDefault(); return; }
    form.setAttribute("data-sent", "1");
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) {
      var sent = document.querySelectorAll("form[data-sent]");
      for (var i = 0; i < sent.length; i++) sent[i].removeAttribute("data-sent");
    }
  });

  function go(id) {
    var link = document.getElementById(id);
    if (link) window.location.assign(link.href);
  }

  // -- the queue: j/k move the highlight, Enter opens
  var rows = page === "queue" ? document.querySelectorAll("#queue tbody tr") : [];
  var current = -1;
  function highlight(i) {
    if (!rows.length) return;
    i = Math.max(0, Math.min(rows.length - 1, i));
    if (current >= 0) rows[current].classList.remove("current");
    current = i;
    rows[current].classList.add("current");
    rows[current].scrollIntoView({block: "nearest"});
  }
  function openCurrent() {
    if (current < 0) return;
    var a = rows[current].querySelector("a");
    if (a) window.location.assign(a.href);
  }
  if (rows.length) highlight(0);

  // -- one letter: 1–3 pick the n-th ranked issue type into the correction form
  function pick(n) {
    var items = document.querySelectorAll("#issue-suggestions li[data-pick]");
    var input = document.getElementById("pick");
    if (!input || n > items.length) return;
    for (var i = 0; i < items.length; i++) items[i].classList.remove("picked");
    items[n - 1].classList.add("picked");
    input.value = items[n - 1].getAttribute("data-pick");
    input.focus();
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    var active = document.activeElement;
    if (typing(active)) {
      if (e.key === "Escape" && active.blur) active.blur();
      return;
    }
    var key = e.key;
    if (key === "u") { e.preventDefault(); send(document.getElementById("undo-form")); return; }
    if (page === "queue") {
      if (key === "j") { e.preventDefault(); highlight(current + 1); }
      else if (key === "k") { e.preventDefault(); highlight(current - 1); }
      else if (key === "Enter") { e.preventDefault(); openCurrent(); }
    } else if (page === "letter") {
      if (key === "Enter") { e.preventDefault(); send(document.getElementById("confirm-form")); }
      else if (key === "e") {
        e.preventDefault();
        var input = document.getElementById("pick");
        if (input) { input.focus(); input.select(); }
      }
      else if (key === "1" || key === "2" || key === "3") { e.preventDefault(); pick(+key); }
      else if (key === "j") { e.preventDefault(); go("next-letter"); }
      else if (key === "k") { e.preventDefault(); go("prev-letter"); }
    }
  });
})();
