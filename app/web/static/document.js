// The document view: says what a highlight is when it is pointed at, tapped or focused;
// jumps from a record or an entity row to its highlight; reloads once processing ends.
"use strict";

(function () {
  const details = document.getElementById("entity-details");

  function describe(rect) {
    if (!details) return;
    document.querySelectorAll(".entity.active").forEach(function (el) { el.classList.remove("active"); });
    rect.classList.add("active");
    const flags = rect.dataset.flags ? " (" + rect.dataset.flags + ")" : "";
    details.textContent = rect.dataset.label + ": " + rect.dataset.text +
      " — confidence " + rect.dataset.confidence + flags;
  }

  document.querySelectorAll(".entity").forEach(function (rect) {
    ["mouseenter", "focus", "click"].forEach(function (name) {
      rect.addEventListener(name, function () { describe(rect); });
    });
    rect.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        describe(rect);
      }
    });
  });

  document.querySelectorAll("a.jump").forEach(function (link) {
    link.addEventListener("click", function (event) {
      const rects = link.dataset.entities.split(" ")
        .map(function (key) { return document.getElementById("entity-" + key); })
        .filter(Boolean);
      if (!rects.length) return;
      event.preventDefault();
      rects.forEach(function (rect) {
        rect.classList.remove("flash");
        void rect.getBoundingClientRect(); // restart the animation
        rect.classList.add("flash");
      });
      rects[0].scrollIntoView({ block: "center", behavior: "smooth" });
      rects[0].focus({ preventScroll: true });
      describe(rects[0]);
    });
  });

  const list = document.getElementById("documents");
  if (list) {
    list.addEventListener("doc:finished", function () { window.location.reload(); });
  }
})();
