// Drag and drop with pointer events (mouse, pen, touch; and what WebDriver's actions send),
// rather than HTML5 drag and drop. A press that moves less than a few pixels is a click.

const THRESHOLD = 5;

/**
 * Make `source` draggable. `options`:
 *   label():          the text of the ghost that follows the pointer
 *   payload():        what is dragged (given to the drop target)
 *   targets:          [{element(), over(x, y, payload) -> bool, leave(), drop(x, y, payload)}]
 *   handle:           the element that starts a drag (default: source)
 */
export function draggable(source, options) {
  const handle = options.handle || source;
  handle.addEventListener("pointerdown", (down) => {
    if (down.button !== 0) return;
    if (down.target.closest("input, select, textarea, .no-drag")) return;
    const startX = down.clientX;
    const startY = down.clientY;
    let ghost = null;
    let active = null;
    const payload = options.payload();

    const move = (event) => {
      if (!ghost) {
        if (Math.hypot(event.clientX - startX, event.clientY - startY) < THRESHOLD) return;
        ghost = document.createElement("div");
        ghost.className = "drag-ghost";
        ghost.textContent = options.label();
        document.body.append(ghost);
        document.body.classList.add("dragging");
        source.classList.add("drag-source");
      }
      event.preventDefault();
      ghost.style.transform = `translate(${event.clientX + 12}px, ${event.clientY + 8}px)`;
      const target = options.targets.find((t) => contains(t.element(), event.clientX, event.clientY));
      if (active && active !== target) active.leave();
      active = target && target.over(event.clientX, event.clientY, payload) ? target : null;
    };
    const up = (event) => {
      handle.removeEventListener("pointermove", move);
      handle.removeEventListener("pointerup", up);
      handle.removeEventListener("pointercancel", cancel);
      if (!ghost) return; // a click: the element's own click handler does the rest
      ghost.remove();
      document.body.classList.remove("dragging");
      source.classList.remove("drag-source");
      suppressNextClick(handle);
      if (active) {
        active.leave();
        active.drop(event.clientX, event.clientY, payload);
      }
    };
    const cancel = () => {
      if (ghost) ghost.remove();
      if (active) active.leave();
      document.body.classList.remove("dragging");
      source.classList.remove("drag-source");
      handle.removeEventListener("pointermove", move);
      handle.removeEventListener("pointerup", up);
      handle.removeEventListener("pointercancel", cancel);
    };
    handle.setPointerCapture(down.pointerId);
    handle.addEventListener("pointermove", move);
    handle.addEventListener("pointerup", up);
    handle.addEventListener("pointercancel", cancel);
  });
}

function contains(element, x, y) {
  if (!element) return false;
  const box = element.getBoundingClientRect();
  return x >= box.left && x <= box.right && y >= box.top && y <= box.bottom;
}

function suppressNextClick(element) {
  const stop = (event) => {
    event.stopPropagation();
    event.preventDefault();
  };
  element.addEventListener("click", stop, { capture: true, once: true });
  setTimeout(() => element.removeEventListener("click", stop, { capture: true }), 0);
}
