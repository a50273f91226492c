// Geometry of the editor, free of the DOM: where the first frame sits in the canvas, frame pixels <-> canvas
// pixels, what the pointer is over, stroke simplification, and where an entity's caption goes and how it stays
// readable. Every coordinate of the document is a pixel of the first frame ("frame pixels").

/** Pointer distance (canvas pixels) within which a point or handle is hit. */
export const HANDLE_PX = 7;
/** Where the radius handle goes (canvas pixels from the point) while no radius is known yet. */
export const UNKNOWN_RADIUS_HANDLE_PX = 24;
/** Space kept between a caption and the canvas edge, and between a caption and its point (canvas pixels). */
export const CAPTION_MARGIN_PX = 3;
export const CAPTION_GAP_PX = 8;

export function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

/** The frame fitted into a canvas of `width` x `height`, centred, aspect kept. */
export function fitLayout(width, height, [frameWidth, frameHeight]) {
  const scale = Math.min(width / frameWidth, height / frameHeight);
  return { width, height, scale, frameWidth, frameHeight, ox: (width - frameWidth * scale) / 2, oy: (height - frameHeight * scale) / 2 };
}

export function toScreen([x, y], layout) {
  return [layout.ox + x * layout.scale, layout.oy + y * layout.scale];
}

/** A canvas position -> frame pixels, kept inside the frame. */
export function toFrame([cx, cy], layout) {
  return [
    clamp((cx - layout.ox) / layout.scale, 0, layout.frameWidth),
    clamp((cy - layout.oy) / layout.scale, 0, layout.frameHeight),
  ];
}

export function distance([ax, ay], [bx, by]) {
  return Math.hypot(bx - ax, by - ay);
}

export function distanceToSegment([px, py], [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const length2 = dx * dx + dy * dy;
  const t = length2 ? clamp(((px - ax) * dx + (py - ay) * dy) / length2, 0, 1) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/** Ramer-Douglas-Peucker: the points of a polyline that keep it within `tolerance` of the original. */
export function simplify(points, tolerance) {
  if (points.length < 3) return points;
  let farthest = 0;
  let index = 0;
  for (let i = 1; i < points.length - 1; i++) {
    const d = distanceToSegment(points[i], points[0], points[points.length - 1]);
    if (d > farthest) {
      farthest = d;
      index = i;
    }
  }
  if (farthest <= tolerance) return [points[0], points[points.length - 1]];
  return [...simplify(points.slice(0, index + 1), tolerance).slice(0, -1), ...simplify(points.slice(index), tolerance)];
}

/** The ◇ handle of a radius: on the circle, up and to the right of the entity's first point. */
export function radiusHandlePoint([x, y], radius) {
  return [x + radius * Math.SQRT1_2, y - radius * Math.SQRT1_2];
}

/**
 * What a pointer at `point` (frame pixels) is over: the selected entity's radius handle, a path point (the
 * selected entity's first), or a segment of the selected path. `tolerance` is in frame pixels.
 * @returns {{kind: "radius"|"point"|"segment", entityId: string, index?: number} | null}
 */
export function hitTest(doc, selectedId, point, tolerance, radiusHandle = null) {
  const near = (p) => distance(p, point) <= tolerance;
  const selected = doc.entities.find((e) => e.id === selectedId) ?? null;
  if (selected && radiusHandle && near(radiusHandle)) return { kind: "radius", entityId: selected.id };
  const ordered = selected ? [selected, ...doc.entities.filter((e) => e !== selected)] : doc.entities;
  for (const entity of ordered) {
    for (let i = entity.points.length - 1; i >= 0; i--) {
      if (near(entity.points[i])) return { kind: "point", entityId: entity.id, index: i };
    }
  }
  if (selected) {
    for (let i = 0; i + 1 < selected.points.length; i++) {
      if (distanceToSegment(point, selected.points[i], selected.points[i + 1]) <= tolerance) {
        return { kind: "segment", entityId: selected.id, index: i + 1 };
      }
    }
  }
  return null;
}

/** Whether frame pixel `point` lies inside a mask given as RGBA pixels (alpha = mask) of any size. */
export function insideMask(alpha, [frameWidth], [x, y]) {
  if (!alpha) return false;
  const s = alpha.width / frameWidth;
  const col = Math.floor(x * s);
  const row = Math.floor(y * s);
  if (col < 0 || row < 0 || col >= alpha.width || row >= alpha.height) return false;
  return alpha.data[(row * alpha.width + col) * 4 + 3] > 127;
}

// ------------------------------------------------------------------------------------------------------ captions

/**
 * The box of a caption `width` x `height` for the point at canvas position `anchor`: right of and below the
 * point; on the left when it would cross the right edge, above when it would cross the bottom; always inside
 * the canvas `bounds` ({width, height}) when it fits at all.
 */
export function captionBox([ax, ay], width, height, bounds) {
  const margin = CAPTION_MARGIN_PX;
  let x = ax + CAPTION_GAP_PX;
  if (x + width > bounds.width - margin) x = ax - CAPTION_GAP_PX - width;
  let y = ay + CAPTION_GAP_PX / 2;
  if (y + height > bounds.height - margin) y = ay - CAPTION_GAP_PX / 2 - height;
  x = clamp(x, margin, Math.max(margin, bounds.width - margin - width));
  y = clamp(y, margin, Math.max(margin, bounds.height - margin - height));
  return { x, y, width, height };
}

/** WCAG relative luminance of a "#rrggbb" colour. */
export function relativeLuminance(hex) {
  const channel = (offset) => {
    const v = Number.parseInt(hex.slice(offset, offset + 2), 16) / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

export function contrastRatio(hexA, hexB) {
  const [a, b] = [relativeLuminance(hexA), relativeLuminance(hexB)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}

/**
 * The outline drawn around text of colour `hex`: black or white, whichever contrasts more with it. The outlined
 * caption then reads on any picture: the outline stands out where the picture is like the text, the text where
 * the picture is like the outline.
 */
export function outlineColor(hex) {
  return contrastRatio(hex, "#000000") >= contrastRatio(hex, "#ffffff") ? "#000000" : "#ffffff";
}
