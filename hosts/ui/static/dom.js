// Small DOM helpers: build elements declaratively, with text always set as text (never HTML).

/**
 * h("button", {class: "x", onclick: f, dataset: {key: "a"}}, "text", child, [more])
 * Attributes whose value is null, undefined or false are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name === "class") {
      element.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (name === "value" || name === "checked" || name === "selected") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace every child of `element` with `children`. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** An inline SVG icon from a small set (stroke icons, 16px, currentColor). */
export function icon(name) {
  const paths = {
    play: "M5 3.5v9l7.5-4.5z",
    grip: "M6 3h.01M10 3h.01M6 8h.01M10 8h.01M6 13h.01M10 13h.01",
    up: "M8 12.5v-9M4 7l4-4 4 4",
    down: "M8 3.5v9M4 9l4 4 4-4",
    close: "M4 4l8 8M12 4l-8 8",
    link: "M6.5 9.5l3-3M7 4.5l1-1a2.8 2.8 0 014 4l-1 1M9 11.5l-1 1a2.8 2.8 0 01-4-4l1-1",
    chevron: "M4 6l4 4 4-4",
    search: "M7 12A5 5 0 107 2a5 5 0 000 10zM10.5 10.5L14 14",
    bolt: "M9 1.5L3.5 9H8l-1 5.5L12.5 7H8z",
    list: "M5.5 4h8M5.5 8h8M5.5 12h8M2.5 4h.01M2.5 8h.01M2.5 12h.01",
    plus: "M8 3v10M3 8h10",
    open: "M2.5 4.5h4l1.5 1.5h5.5v6.5h-11z",
    save: "M8 2.5v7.5M4.5 7L8 10.5 11.5 7M3 13.5h10",
    dropdown: "M3 4.5h10M3 8h10M6 11.5l2 2 2-2",
    check: "M3.5 8.5l3 3 6-7",
  };
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", `icon icon-${name}`);
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", paths[name] || "");
  svg.append(path);
  return svg;
}

/** Call `fn` once calls stop for `ms` milliseconds. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
