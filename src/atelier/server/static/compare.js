// Before/after comparison: the result under the input, a divider the range input moves
// (drag anywhere on the image, or focus it and use the arrow keys).
import { h } from "./dom.js";

export function compareView(beforeUrl, afterUrl, { beforeLabel = "Before", afterLabel = "After" } = {}) {
  const after = h("img", { class: "compare-after", src: afterUrl, alt: `${afterLabel}: the result`, decoding: "async" });
  const before = h("img", { src: beforeUrl, alt: `${beforeLabel}: the input`, decoding: "async" });
  const range = h("input", {
    type: "range", min: "0", max: "100", step: "0.5", value: "50", class: "compare-range",
    "aria-label": "Compare before and after: move left for more of the result, right for more of the input",
  });
  const root = h("div", { class: "compare" },
    after,
    h("div", { class: "compare-before" }, before),
    h("div", { class: "compare-line", "aria-hidden": "true" }, h("span", { class: "compare-knob" })),
    h("span", { class: "compare-tag left", "aria-hidden": "true" }, beforeLabel),
    h("span", { class: "compare-tag right", "aria-hidden": "true" }, afterLabel),
    range);
  const set = () => root.style.setProperty("--pos", `${range.value}%`);
  range.addEventListener("input", set);
  set();
  for (const img of [after, before]) pixelateSmall(img);
  return root;
}

/** Small images (sample grids of 16-pixel digits, icons) are shown enlarged with crisp pixels. */
export function pixelateSmall(img) {
  const check = () => {
    if (img.naturalWidth && img.naturalWidth < 320) {
      img.classList.add("pixelated");
      img.style.setProperty("--nw", `${img.naturalWidth}px`); // CSSOM, not a style attribute: the CSP allows it
    }
  };
  if (img.complete) check();
  img.addEventListener("load", check);
  return img;
}
