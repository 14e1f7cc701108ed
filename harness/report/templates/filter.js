(function () {
  "use strict";
  var table = document.getElementById("cases-table");
  if (!table || !table.tBodies.length) { return; }
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var search = document.getElementById("case-filter");
  var outcome = document.getElementById("outcome-filter");
  var pack = document.getElementById("pack-filter");
  var issue = document.getElementById("issue-filter");
  var shown = document.getElementById("cases-shown");
  var texts = rows.map(function (row) {
    return [".c-id", ".c-srv", ".c-reason", ".c-issue"].map(function (cls) {
      var cell = row.querySelector(cls);
      return cell ? cell.textContent : "";
    }).join("\n").toLowerCase();
  });
  function matches(select, row, name) {
    return !select.value || row.getAttribute(name) === select.value;
  }
  function apply() {
    var needle = search.value.trim().toLowerCase();
    var count = 0;
    rows.forEach(function (row, i) {
      var visible = (!needle || texts[i].indexOf(needle) !== -1) &&
        matches(outcome, row, "data-outcome") && matches(pack, row, "data-pack") &&
        matches(issue, row, "data-issue");
      row.hidden = !visible;
      if (visible) { count += 1; }
    });
    shown.textContent = String(count);
  }
  [search, outcome, pack, issue].forEach(function (control) {
    control.addEventListener("input", apply);
    control.addEventListener("change", apply);
  });
  apply();
}());
