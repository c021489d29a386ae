/* The group-send form: a live count of the text's characters and UTF-8 bytes (WeCom
   takes at most data-max-bytes). The sentence comes translated in data-template with
   {chars}, {bytes} and {max}; past the limit the count turns red. No inline script. */
(function () {
  "use strict";
  function utf8Bytes(text) {
    return new TextEncoder().encode(text).length;
  }
  function update(area, out) {
    var max = parseInt(area.getAttribute("data-max-bytes"), 10);
    var bytes = utf8Bytes(area.value);
    out.textContent = out.getAttribute("data-template")
      .replace("{chars}", Array.from(area.value).length)
      .replace("{bytes}", bytes)
      .replace("{max}", max);
    out.classList.toggle("text-danger", bytes > max);
    out.classList.toggle("text-muted", bytes <= max);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var area = document.getElementById("text");
    var out = document.getElementById("text-count");
    if (!area || !out) return;
    area.addEventListener("input", function () { update(area, out); });
    update(area, out);
  });
})();
