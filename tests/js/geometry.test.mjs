// Geometry of the editor: frame <-> canvas mapping, hit tests, stroke simplification, caption placement and the
// caption outline's contrast.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  captionBox,
  contrastRatio,
  distanceToSegment,
  fitLayout,
  hitTest,
  insideMask,
  outlineColor,
  radiusHandlePoint,
  relativeLuminance,
  simplify,
  toFrame,
  toScreen,
} from "../../web/js/editor/geometry.js";

const close = (actual, expected, tolerance = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not within ${tolerance} of ${expected}`);

describe("layout", () => {
  test("a wide frame fills the canvas width and is centred vertically", () => {
    const layout = fitLayout(600, 400, [1124, 668]);
    close(layout.scale, 600 / 1124);
    close(layout.ox, 0);
    close(layout.oy, (400 - 668 * (600 / 1124)) / 2);
  });

  test("a tall frame fills the canvas height and is centred horizontally", () => {
    const layout = fitLayout(600, 400, [320, 576]);
    close(layout.scale, 400 / 576);
    close(layout.oy, 0);
    close(layout.ox, (600 - 320 * (400 / 576)) / 2);
  });

  test("frame -> canvas -> frame is the identity inside the frame", () => {
    const layout = fitLayout(471, 389, [1124, 668]);
    for (const point of [[0, 0], [1124, 668], [366.25, 325.5], [714, 250]]) {
      const back = toFrame(toScreen(point, layout), layout);
      close(back[0], point[0], 1e-9);
      close(back[1], point[1], 1e-9);
    }
  });

  test("a canvas position outside the frame is clamped to its edge", () => {
    const layout = fitLayout(600, 600, [1124, 668]);
    assert.deepEqual(toFrame([-50, -50], layout), [0, 0]);
    assert.deepEqual(toFrame([650, 650], layout), [1124, 668]);
  });
});

describe("hit tests", () => {
  const doc = {
    entities: [
      { id: "1", points: [[100, 100], [200, 100]] },
      { id: "2", points: [[105, 100]] },
    ],
  };

  test("the selected entity's points are hit before the others'", () => {
    assert.deepEqual(hitTest(doc, "2", [103, 100], 6), { kind: "point", entityId: "2", index: 0 });
    assert.deepEqual(hitTest(doc, "1", [103, 100], 6), { kind: "point", entityId: "1", index: 0 });
  });

  test("the radius handle of the selected entity comes first", () => {
    const handle = radiusHandlePoint([100, 100], 40);
    close(Math.hypot(handle[0] - 100, handle[1] - 100), 40);
    assert.ok(handle[0] > 100 && handle[1] < 100, "the handle sits up and to the right");
    assert.deepEqual(hitTest(doc, "1", handle, 6, handle), { kind: "radius", entityId: "1" });
  });

  test("a segment of the selected path is hit between its points, with the index to insert at", () => {
    assert.deepEqual(hitTest(doc, "1", [150, 103], 6), { kind: "segment", entityId: "1", index: 1 });
    assert.equal(hitTest(doc, "2", [150, 103], 6), null, "only the selected path's segments count");
    assert.equal(hitTest(doc, "1", [150, 120], 6), null);
  });

  test("distance to a segment: perpendicular inside it, to the nearer end outside it", () => {
    close(distanceToSegment([5, 3], [0, 0], [10, 0]), 3);
    close(distanceToSegment([13, 4], [0, 0], [10, 0]), 5);
    close(distanceToSegment([3, 4], [0, 0], [0, 0]), 5);
  });

  test("inside a mask: the mask's alpha at the point, whatever the mask's resolution", () => {
    // A 4x2 mask of an 8x4 frame whose right half is set.
    const data = new Uint8ClampedArray(4 * 2 * 4);
    for (const [col, row] of [[2, 0], [3, 0], [2, 1], [3, 1]]) data[(row * 4 + col) * 4 + 3] = 255;
    const alpha = { width: 4, height: 2, data };
    assert.equal(insideMask(alpha, [8, 4], [6, 1]), true);
    assert.equal(insideMask(alpha, [8, 4], [1, 3]), false);
    assert.equal(insideMask(alpha, [8, 4], [8, 4]), false, "the far edge lies outside");
    assert.equal(insideMask(null, [8, 4], [6, 1]), false);
  });
});

describe("stroke simplification", () => {
  test("points on a straight stroke reduce to its ends", () => {
    const line = Array.from({ length: 20 }, (_, i) => [i * 5, i * 2.5]);
    assert.deepEqual(simplify(line, 0.5), [[0, 0], [95, 47.5]]);
  });

  test("a corner survives; wiggles within the tolerance do not", () => {
    const stroke = [[0, 0], [50, 1], [100, 0], [100, 50], [101, 100]];
    assert.deepEqual(simplify(stroke, 2), [[0, 0], [100, 0], [101, 100]]);
  });

  test("every point of the original lies within the tolerance of the simplified stroke", () => {
    const stroke = Array.from({ length: 60 }, (_, i) => [i * 4, 30 * Math.sin(i / 6)]);
    const kept = simplify(stroke, 1.5);
    assert.ok(kept.length < stroke.length);
    for (const point of stroke) {
      const nearest = Math.min(...kept.slice(1).map((p, i) => distanceToSegment(point, kept[i], p)));
      assert.ok(nearest <= 1.5 + 1e-9, `${point} is ${nearest} from the simplified stroke`);
    }
  });
});

describe("captions", () => {
  const bounds = { width: 470, height: 280 };

  test("right of and below the point when there is room", () => {
    const box = captionBox([100, 100], 60, 15, bounds);
    assert.ok(box.x > 100 && box.y > 100);
  });

  test("a caption that would cross the right edge goes left of its point, whole", () => {
    const box = captionBox([460, 100], 90, 15, bounds);
    assert.ok(box.x + box.width <= bounds.width - 3, `the caption ends at ${box.x + box.width}`);
    assert.ok(box.x + box.width < 460, "it sits left of the point");
  });

  test("a caption that would cross the bottom goes above its point", () => {
    const box = captionBox([100, 275], 60, 15, bounds);
    assert.ok(box.y + box.height <= bounds.height - 3 && box.y + box.height < 275);
  });

  test("any point, even outside the canvas, gives a caption inside it", () => {
    for (const anchor of [[-20, -20], [0, 0], [470, 280], [500, 140], [235, -5]]) {
      const box = captionBox(anchor, 80, 15, bounds);
      assert.ok(box.x >= 3 && box.y >= 3, `${anchor}: ${JSON.stringify(box)}`);
      assert.ok(box.x + box.width <= bounds.width - 3 && box.y + box.height <= bounds.height - 3, `${anchor}: ${JSON.stringify(box)}`);
    }
  });
});

describe("caption outline", () => {
  test("relative luminance and contrast follow WCAG 2", () => {
    close(relativeLuminance("#000000"), 0);
    close(relativeLuminance("#ffffff"), 1);
    close(relativeLuminance("#808080"), 0.2158605, 1e-6);
    close(contrastRatio("#000000", "#ffffff"), 21);
    close(contrastRatio("#ffffff", "#000000"), 21);
  });

  test("dark colours get a white outline, light ones a black outline", () => {
    assert.equal(outlineColor("#2365ff"), "#ffffff"); // the second entity's blue
    assert.equal(outlineColor("#5623ff"), "#ffffff"); // the seventh entity's violet
    assert.equal(outlineColor("#a7ff23"), "#000000"); // the third entity's green
    assert.equal(outlineColor("#ff2323"), "#000000"); // the first entity's red
  });

  test("text and outline always differ by at least 4.5:1 (WCAG AA), whatever the colour", () => {
    for (let r = 0; r < 256; r += 15) {
      for (let g = 0; g < 256; g += 15) {
        for (let b = 0; b < 256; b += 15) {
          const hex = `#${[r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("")}`;
          assert.ok(contrastRatio(hex, outlineColor(hex)) >= 4.5, hex);
        }
      }
    }
  });
});
