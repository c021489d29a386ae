/* The inbox's "tick all send tasks here": ticks every checkbox that belongs to the bulk
   form named by the button's data-form (the checkboxes sit in the cards, outside it). */
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest(".tick-all") : null;
  if (!button) return;
  var boxes = document.querySelectorAll('input[type="checkbox"][form="' + button.dataset.form + '"]');
  var all = Array.prototype.every.call(boxes, function (box) { return box.checked; });
  Array.prototype.forEach.call(boxes, function (box) { box.checked = !all; });
});
