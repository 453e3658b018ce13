// execrole console: the few things a server-rendered page cannot do alone.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const text = button.dataset.copy || "";
  const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallback(text, done));
  } else {
    fallback(text, done);
  }
});
function fallback(text, done) {
  const area = document.createElement("textarea");
  area.value = text; area.setAttribute("readonly", ""); area.style.position = "absolute"; area.style.left = "-9999px";
  document.body.appendChild(area); area.select();
  try { document.execCommand("copy"); done(); } finally { area.remove(); }
}
// JSON editors: Tab inserts two spaces instead of leaving the field (Escape, then Tab, leaves).
document.addEventListener("keydown", (event) => {
  const area = event.target;
  if (!(area instanceof HTMLTextAreaElement) || !area.classList.contains("json")) return;
  if (event.key === "Escape") { area.dataset.leave = "1"; return; }
  if (event.key !== "Tab" || event.shiftKey || area.dataset.leave === "1") { delete area.dataset.leave; return; }
  event.preventDefault();
  const start = area.selectionStart;
  area.setRangeText("  ", start, area.selectionEnd, "end");
});
