// The public site: the pricing calculator updates as you type (the page works as a plain form
// without this), and /try streams the answer in.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function calculator(form) {
    var target = document.querySelector("[data-estimate]");
    var url = form.getAttribute("data-estimate-url");
    var timer = null, seq = 0;
    function update() {
      var query = new URLSearchParams(new FormData(form)).toString();
      var mine = ++seq;
      fetch(url + "?" + query, { headers: { "Accept": "text/html" } })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          if (mine !== seq) return;  // a later change is on its way
          target.innerHTML = html;
          history.replaceState(null, "", "?" + query + "#calculator");
        });
    }
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(update, 150);
    });
    form.addEventListener("submit", function (e) { e.preventDefault(); update(); });
  }

  function tryForm(form) {
    var answer = document.querySelector("[data-answer]");
    var facts = document.querySelector("[data-facts]");
    var errorBox = document.querySelector("[data-error]");
    var errorText = document.querySelector("[data-error-text]");
    var signup = document.querySelector("[data-signup]");
    var signupText = document.querySelector("[data-signup-text]");
    var left = document.querySelector("[data-left]");
    var submit = form.querySelector("[data-try-submit]");
    var remaining = parseInt((left.textContent.match(/\d+/) || ["0"])[0], 10);
    var total = parseInt((left.textContent.match(/of (\d+)/) || [0, "2"])[1], 10);

    function fact(name, text) { document.querySelector('[data-fact="' + name + '"]').textContent = text; }
    function fail(message) {
      errorText.textContent = message;
      errorBox.hidden = false;
    }
    function refused(message) {
      signupText.textContent = message;
      signup.hidden = false;
      remaining = 0;
      left.textContent = "0 of " + total + " free calls left";
    }

    function handle(event) {
      if (event.type === "delta") {
        answer.textContent += event.text;
      } else if (event.type === "done") {
        fact("model", event.model_name + " (" + event.model + ")");
        fact("tokens", event.prompt_tokens + " in · " + event.completion_tokens + " out");
        fact("cost", event.cost);
        fact("latency", event.latency_ms + " ms" + (event.ttft_ms !== null ? " (first token " + event.ttft_ms + " ms)" : ""));
        facts.hidden = false;
        remaining = Math.max(0, remaining - 1);
        left.textContent = remaining + " of " + total + " free calls left";
        if (remaining === 0) signup.hidden = false;
      } else if (event.type === "error") {
        fail(event.message);
      }
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      errorBox.hidden = true;
      submit.disabled = true;
      submit.textContent = "Routing…";
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "Accept": "text/event-stream", "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
        credentials: "same-origin"
      }).then(function (r) {
        if (!r.ok) {
          return r.json().then(function (body) {
            if (r.status === 429) refused(body.error.message);
            else fail(body.error.message);
          });
        }
        facts.hidden = true;
        answer.textContent = "";
        var reader = r.body.getReader(), decoder = new TextDecoder(), buffer = "";
        function pump() {
          return reader.read().then(function (part) {
            if (part.done) return;
            buffer += decoder.decode(part.value, { stream: true });
            var frames = buffer.split("\n\n");
            buffer = frames.pop();
            frames.forEach(function (frame) {
              if (frame.indexOf("data: ") === 0) handle(JSON.parse(frame.slice(6)));
            });
            return pump();
          });
        }
        return pump();
      }).catch(function () {
        fail("The connection failed. Try again.");
      }).then(function () {
        submit.textContent = "Send";
        submit.disabled = false;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var calc = document.querySelector("[data-calculator]");
    if (calc) calculator(calc);
    var t = document.querySelector("[data-try]");
    if (t) tryForm(t);
  });
})();
