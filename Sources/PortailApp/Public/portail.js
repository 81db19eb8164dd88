// Portail Famille: the only script of the parent pages, served from /static/ so that the
// Content-Security-Policy can forbid inline scripts. Every page works without it.

// The payment page posts its signed form to the bank at once; the button stays for browsers without
// JavaScript.
document.addEventListener("DOMContentLoaded", function () {
  var toBank = document.getElementById("vers-la-banque");
  if (toBank) { toBank.submit(); }
});

// The waiting room asks for its state every few seconds and lets the family in when its turn comes.
document.addEventListener("DOMContentLoaded", function () {
  var room = document.getElementById("salle-attente");
  if (!room || !window.fetch) { return; }
  var rank = document.getElementById("attente-rang");
  var estimate = document.getElementById("attente-estimation");
  function poll() {
    fetch(room.getAttribute("data-etat"), { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (state) {
        if (!state) { setTimeout(poll, 10000); return; }
        if (state.admitted) { window.location.assign(room.getAttribute("data-suite")); return; }
        rank.textContent = state.ahead;
        estimate.textContent = state.estimate;
        // Half the wait, between 5 s and a minute, spread so that a crowd does not ask all at once.
        setTimeout(poll, Math.min(60000, Math.max(5000, state.wait_seconds * 500)) * (0.8 + Math.random() * 0.4));
      })
      .catch(function () { setTimeout(poll, 10000); });
  }
  setTimeout(poll, 3000 + Math.random() * 2000);
});

// The back office's center import: a file chosen on the computer fills the text area (which works alone).
document.addEventListener("DOMContentLoaded", function () {
  var chooser = document.querySelector("input[type=file][data-remplit]");
  if (!chooser || !window.FileReader) { return; }
  chooser.addEventListener("change", function () {
    var file = chooser.files && chooser.files[0];
    if (!file) { return; }
    var reader = new FileReader();
    reader.onload = function () { document.getElementById(chooser.getAttribute("data-remplit")).value = reader.result; };
    reader.readAsText(file);
  });
});
