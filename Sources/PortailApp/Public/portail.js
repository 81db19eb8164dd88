// Portail Famille: the only script of the parent pages, served from /static/ so that the
// Content-Security-Policy can forbid inline scripts. Every page works without it.

// The payment page posts its signed form to the bank at once; the button stays for browsers without
// JavaScript.
document.addEventListener("DOMContentLoaded", function () {
  var toBank = document.getElementById("vers-la-banque");
  if (toBank) { toBank.submit(); }
});
