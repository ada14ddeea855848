// Auto-refresh: reloads the page every 5 s while the box is ticked (kept
// across reloads in localStorage). Pages work without it.
(function () {
  var box = document.getElementById("autorefresh");
  if (!box) return;
  box.checked = localStorage.getItem("gregor-refresh") === "1";
  box.addEventListener("change", function () { localStorage.setItem("gregor-refresh", box.checked ? "1" : "0"); });
  setInterval(function () { if (box.checked && document.body.dataset.page !== "messages") location.reload(); }, 5000);
})();
