// Portail Famille: the only script of the parent pages, served from /static/ so that the
// Content-Security-Policy can forbid inline scripts. Every page works without it.

// The payment page posts its signed form to the bank at once; the button stays for browsers without
// JavaScript.
document.addEventListener("DOMContentLoaded", function () {
  var toBank = document.getElementById("vers-la-banque");
  if (toBank) { toBank.submit(); }
});

// The waiting room: the line moves at the center's set rate, so the page knows when the family's turn comes
// (`data-attente`, in seconds) and goes on to the booking then, by itself. It asks for its place in between
// only to refresh a wait of more than a minute: a crowd of families waiting asks the server little. Gone on
// too early (the center slowed its line meanwhile), the booking page shows the room again with the new wait.
document.addEventListener("DOMContentLoaded", function () {
  var room = document.getElementById("salle-attente");
  if (!room || !window.fetch) { return; }
  var rank = document.getElementById("attente-rang");
  var estimate = document.getElementById("attente-estimation");
  function enter() { window.location.assign(room.getAttribute("data-suite")); }
  function wait(seconds) {
    // Up to two seconds more, so that the families let in the same second do not all arrive at once.
    if (seconds <= 60) { setTimeout(enter, (seconds + Math.random() * 2) * 1000); }
    else { setTimeout(poll, (50 + Math.random() * 10) * 1000); }
  }
  function poll() {
    fetch(room.getAttribute("data-etat"), { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (state) {
        if (!state) { setTimeout(poll, 10000); return; }
        if (state.admitted) { enter(); return; }
        rank.textContent = state.ahead;
        estimate.textContent = state.estimate;
        wait(state.wait_seconds);
      })
      .catch(function () { setTimeout(poll, 10000); });
  }
  wait(Number(room.getAttribute("data-attente")) || 10);
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

// The booking grid: the number of days ticked and an estimate of their price always in view (the
// recap prices exactly, combinations and brothers and sisters included), and shortcuts that tick the
// first unit of a whole week or of the whole period. The page works without them.
document.addEventListener("DOMContentLoaded", function () {
  var total = document.getElementById("grille-total");
  if (!total) { return; }
  var boxes = Array.prototype.slice.call(document.querySelectorAll("table.grid input[type=checkbox][name=jour]"));
  // A unit's price on its column's head, a week's first day on each of its rows.
  var heads = document.querySelectorAll("table.grid thead th");
  function price(box) {
    var head = heads[box.closest("td").cellIndex];
    return parseInt((head && head.getAttribute("data-prix")) || "0", 10);
  }
  function weekOf(box) { return box.closest("tr").getAttribute("data-semaine"); }
  function euros(cents) {
    return (cents / 100).toFixed(2).replace(".", ",").replace(/\B(?=(\d{3})+(?!\d))/g, "\u00a0") + "\u00a0€";
  }
  function update() {
    var days = {}, cents = 0, count = 0;
    boxes.forEach(function (box) {
      if (box.checked && !box.disabled) {
        count += 1;
        days[box.value.split(":")[0]] = true;
        cents += price(box);
      }
    });
    var dayCount = Object.keys(days).length;
    total.hidden = false;
    total.textContent = dayCount === 0 ? "Aucun jour coché."
      : dayCount + " jour" + (dayCount > 1 ? "s" : "") + " coché" + (dayCount > 1 ? "s" : "") + " – environ " + euros(cents) + " (prix exact au récapitulatif)";
  }
  boxes.forEach(function (box) { box.addEventListener("change", update); });
  // The first unit's column: the first enabled box of each row.
  var firsts = Array.prototype.slice.call(document.querySelectorAll("table.grid tbody tr")).map(function (row) {
    return row.querySelector("td.cell input[type=checkbox][name=jour]");
  }).filter(function (box) { return box && !box.disabled; });
  // A row where another unit is ticked already keeps it (a day and its morning would be refused).
  function tick(list) {
    list.forEach(function (box) {
      var others = box.closest("tr").querySelectorAll("input[type=checkbox][name=jour]:checked");
      var taken = Array.prototype.some.call(others, function (other) { return other !== box && !other.disabled; });
      if (!taken) { box.checked = true; }
    });
    update();
  }
  var tools = document.getElementById("grille-raccourcis");
  if (tools) {
    tools.hidden = false;
    tools.querySelector("[data-cocher=periode]").addEventListener("click", function () { tick(firsts); });
  }
  // "toute la semaine" at the first row of each week.
  var seen = {};
  firsts.forEach(function (box) {
    var week = weekOf(box);
    if (seen[week]) { return; }
    seen[week] = true;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "week";
    button.textContent = "toute la semaine";
    // Its own accessible name ("toute la semaine du lun. 14/12"), the row's day staying the header's.
    var header = box.closest("tr").querySelector("th");
    button.setAttribute("aria-label", "Cocher toute la semaine du " + (header ? header.textContent.trim() : week));
    button.addEventListener("click", function () {
      tick(firsts.filter(function (other) { return weekOf(other) === week; }));
    });
    var cell = document.createElement("div");
    cell.appendChild(button);
    box.closest("tr").querySelector("th").appendChild(cell);
  });
  update();
});

// The cart's hold, counted down live from the time the server wrote (which stays without the script).
document.addEventListener("DOMContentLoaded", function () {
  var left = document.getElementById("panier-reste");
  if (!left) { return; }
  // From the seconds left when the server wrote the page: the phone's own clock may be wrong.
  var end = Date.now() + parseInt(left.getAttribute("data-reste") || "0", 10) * 1000;
  if (!left.getAttribute("data-reste")) { return; }
  function tick() {
    var seconds = Math.max(0, Math.floor((end - Date.now()) / 1000));
    var minutes = Math.floor(seconds / 60), rest = seconds % 60;
    left.textContent = seconds === 0 ? "Le temps est écoulé : les places ne sont plus garanties, rechargez la page."
      : "Temps restant : " + minutes + " min " + (rest < 10 ? "0" : "") + rest + " s.";
    if (seconds > 0) { window.setTimeout(tick, 1000); }
  }
  tick();
});

// "Copier l'adresse" of a new calendar link: the button appears only where the clipboard can be written.
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("copier-lien");
  var field = document.getElementById("lien-cree");
  if (!button || !field || !navigator.clipboard) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(function () { button.textContent = "Adresse copiée"; });
  });
});
