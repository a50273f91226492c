// The editor's view of the pack's trajectory JSON ("draganything/trajectories", version 1; the format is
// specified in docs/trajectory-format.md). The server parses every accepted input format and answers with this
// document, so this module only edits documents, it never parses foreign formats.

export const FORMAT_NAME = "draganything/trajectories";
export const FORMAT_VERSION = 1;
export const DEFAULT_NUM_FRAMES = 14;
export const MAX_NUM_FRAMES = 512;
export const BACKGROUND_LABEL = "background";
const V2_FIELDS = ["easing", "hidden", "scale", "rotation"];
// Lists with one entry per point, besides the frames (which `retime` keeps).
const PER_POINT_FIELDS = ["visible", "scale", "rotation"];
export const EASING_PRESETS = ["linear", "ease_in", "ease_out", "ease_in_out"];

export function emptyDocument() {
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    width: null,
    height: null,
    num_frames: DEFAULT_NUM_FRAMES,
    image: null,
    entities: [],
  };
}

/** A clean copy holding only the fields of the format, in the format's key order. */
export function normalizeDocument(source) {
  const doc = emptyDocument();
  for (const key of ["width", "height", "num_frames", "image"]) {
    if (source?.[key] !== undefined && source[key] !== null) doc[key] = source[key];
  }
  doc.entities = (source?.entities ?? []).map(normalizeEntity);
  return doc;
}

function normalizeEntity(entity) {
  const points = (entity.points ?? []).map(([x, y]) => [x, y]);
  const frames = Array.isArray(entity.frames) && entity.frames.length === points.length ? [...entity.frames] : null;
  return {
    id: String(entity.id),
    label: entity.label ?? "",
    points,
    frames,
    radius: typeof entity.radius === "number" ? entity.radius : null,
    anchor: Boolean(entity.anchor),
    clicks: (entity.clicks ?? []).map((c) => ({ x: c.x, y: c.y, positive: c.positive !== false })),
    box: Array.isArray(entity.box) ? [...entity.box] : null,
    // Kept from imported values (official demo.json masks, tracker visibility) so editing never drops them.
    mask_name: entity.mask_name ?? null,
    visible: Array.isArray(entity.visible) && entity.visible.length === points.length ? [...entity.visible] : null,
    // Version-2 fields (docs/trajectory-format.md); kept as given, the server checks them.
    easing: entity.easing ?? null,
    hidden: Array.isArray(entity.hidden) && entity.hidden.length ? entity.hidden.map(([a, b]) => [a, b]) : null,
    scale: entity.scale ?? null,
    rotation: entity.rotation ?? null,
  };
}

/** The text written into the node's `trajectories` widget. Fields that are unset are left out. */
export function serializeDocument(doc) {
  // Version 2 only when an entity uses a version-2 field, so a version-1 value is written back as it was.
  const usesV2 = doc.entities.some((e) => V2_FIELDS.some((key) => e[key] != null));
  const out = { format: FORMAT_NAME, version: usesV2 ? 2 : FORMAT_VERSION };
  for (const key of ["width", "height", "num_frames", "image"]) if (doc[key] != null) out[key] = doc[key];
  out.entities = doc.entities.map((e) => {
    const entity = { id: e.id, label: e.label, points: e.points.map(([x, y]) => [round2(x), round2(y)]) };
    if (e.frames) entity.frames = e.frames;
    if (e.radius != null) entity.radius = round2(e.radius);
    if (e.anchor) entity.anchor = true;
    if (e.clicks.length) entity.clicks = e.clicks.map((c) => ({ x: round2(c.x), y: round2(c.y), positive: c.positive }));
    if (e.box) entity.box = e.box.map(round2);
    if (e.mask_name) entity.mask_name = e.mask_name;
    if (e.visible && e.visible.length === e.points.length) entity.visible = e.visible;
    for (const key of V2_FIELDS) if (e[key] != null) entity[key] = e[key];
    return entity;
  });
  return JSON.stringify(out);
}

/** The document a value holds when it is in the pack's own format, else null (foreign formats, bad JSON). */
export function parseOwnDocument(text) {
  try {
    const value = JSON.parse(text);
    return value?.format === FORMAT_NAME ? value : null;
  } catch {
    return null;
  }
}

/** Scale every coordinate of a document drawn on another size of the same picture (radii by the mean scale). */
export function scaleDocument(doc, sx, sy) {
  const scale = ([x, y]) => [x * sx, y * sy];
  for (const entity of doc.entities) {
    entity.points = entity.points.map(scale);
    entity.clicks = entity.clicks.map((c) => ({ ...c, x: c.x * sx, y: c.y * sy }));
    if (entity.box) entity.box = [...scale(entity.box.slice(0, 2)), ...scale(entity.box.slice(2))];
    if (entity.radius != null) entity.radius *= Math.sqrt(sx * sy);
  }
}

function round2(value) {
  return Math.round(value * 100) / 100;
}

export function nextEntityId(doc) {
  const used = doc.entities.map((e) => Number.parseInt(e.id, 10)).filter(Number.isFinite);
  return String(used.length ? Math.max(...used) + 1 : 1);
}

export function newEntity(doc, x, y, { label = "", anchor = false, clicks = null } = {}) {
  const id = nextEntityId(doc);
  return {
    id,
    label: label || `entity ${id}`,
    points: [[x, y]],
    frames: null,
    radius: null,
    anchor,
    clicks: clicks ?? [{ x, y, positive: true }],
    box: null,
    mask_name: null,
    visible: null,
  };
}

/**
 * Keep the per-point lists (visibility, scale, rotation) in step with the points after `removed` points at
 * `index` were replaced by `added` new ones: a new point takes the values of the point before it (of the first
 * point when it is the first), so a camera-made or tracked path keeps its size and turn where a point is added.
 */
export function splicePointLists(entity, index, removed, added) {
  for (const key of PER_POINT_FIELDS) {
    const list = entity[key];
    if (!Array.isArray(list)) continue;
    const source = list[Math.max(0, index - 1)] ?? list[index];
    list.splice(index, removed, ...Array(added).fill(source));
  }
}

/**
 * Keep per-point frames consistent after points were added or removed: the first and last frames stay, the
 * points in between are spread evenly (strictly increasing, as the format requires).
 */
export function retime(entity, numFrames) {
  if (!entity.frames) return;
  const count = entity.points.length;
  if (entity.frames.length === count) return;
  const start = entity.frames[0] ?? 0;
  const end = Math.max(entity.frames[entity.frames.length - 1] ?? numFrames - 1, start + count - 1);
  entity.frames = spreadFrames(start, end, count);
}

export function spreadFrames(start, end, count) {
  if (count === 1) return [start];
  const frames = [];
  for (let i = 0; i < count; i++) frames.push(Math.round(start + ((end - start) * i) / (count - 1)));
  for (let i = 1; i < count; i++) frames[i] = Math.max(frames[i], frames[i - 1] + 1);
  return frames;
}

/** Set the frame at which point `index` is reached, keeping the list strictly increasing. */
export function setPointFrame(entity, index, frame, numFrames) {
  if (!entity.frames) entity.frames = spreadFrames(0, Math.max(numFrames - 1, entity.points.length - 1), entity.points.length);
  const count = entity.points.length;
  const low = index === 0 ? 0 : entity.frames[index - 1] + 1;
  const high = index === count - 1 ? Number.MAX_SAFE_INTEGER : entity.frames[index + 1] - 1;
  entity.frames[index] = Math.min(Math.max(Math.round(frame), low), high);
}

/** Set an entity's start or end frame; the points in between are re-spread evenly. */
export function setSpan(entity, start, end, numFrames) {
  const count = entity.points.length;
  const first = Math.max(0, Math.round(start));
  const last = Math.max(first + count - 1, Math.round(end));
  entity.frames = spreadFrames(first, Math.min(last, Math.max(numFrames - 1, first + count - 1)), count);
}

/**
 * Where a background anchor goes: the point of a coarse grid farthest from every entity already placed, so its
 * mask prompt lands on the background.
 */
export function backgroundPoint(doc) {
  const width = doc.width ?? 576;
  const height = doc.height ?? 320;
  const taken = doc.entities.flatMap((e) => [...e.points.slice(0, 1), ...e.clicks.filter((c) => c.positive).map((c) => [c.x, c.y])]);
  let best = [width * 0.5, height * 0.08];
  let bestDistance = -1;
  for (let gy = 1; gy < 8; gy++) {
    for (let gx = 1; gx < 8; gx++) {
      const x = (width * gx) / 8;
      const y = (height * gy) / 8;
      const distance = taken.length ? Math.min(...taken.map(([tx, ty]) => Math.hypot(tx - x, ty - y))) : 0;
      if (distance > bestDistance) {
        bestDistance = distance;
        best = [x, y];
      }
    }
  }
  return best.map(Math.round);
}

/** A held entity on the background: at `backgroundPoint`, with negative clicks on the other entities so its mask stays off them. */
export function backgroundAnchor(doc) {
  const [x, y] = backgroundPoint(doc);
  const negatives = doc.entities.map((e) => ({ x: e.points[0][0], y: e.points[0][1], positive: false }));
  return newEntity(doc, x, y, { label: BACKGROUND_LABEL, anchor: true, clicks: [{ x, y, positive: true }, ...negatives] });
}

// ------------------------------------------------------------------------------------------ hidden frames

/** An entity's hidden ranges as the row shows them: "4-7, 10-" ("10-": from frame 10 to the end). */
export function formatHidden(ranges) {
  return (ranges ?? []).map(([first, last]) => (last == null ? `${first}-` : last === first ? `${first}` : `${first}-${last}`)).join(", ");
}

/**
 * The ranges typed into the row ("4-7, 10-", "5"): [[first, last or null], ...], [] for an empty text, or null
 * when the text is not a list of ranges. Whether the frames suit the video is the server's check.
 */
export function parseHidden(text) {
  const ranges = [];
  for (const part of text.split(/[,;]/).map((p) => p.trim()).filter(Boolean)) {
    const match = /^(\d+)\s*(?:(-|–)\s*(\d+)?)?$/.exec(part);
    if (!match) return null;
    const first = Number(match[1]);
    const last = match[2] ? (match[3] != null ? Number(match[3]) : null) : first;
    if (last != null && last < first) return null;
    ranges.push([first, last]);
  }
  return ranges;
}

/** Whether `frame` lies in one of the ranges. */
export function hiddenAt(ranges, frame) {
  return (ranges ?? []).some(([first, last]) => frame >= first && (last == null || frame <= last));
}

/**
 * The ranges after "hide from `frame`" (when it is shown there) or "show from `frame`" (when it is hidden
 * there), over a video of `numFrames` frames: hiding runs to the end of the video; showing ends the range that
 * holds `frame` just before it. A range that reaches the last frame is written open ("to the end").
 */
export function toggleHiddenFrom(ranges, frame, numFrames) {
  const hidden = Array.from({ length: numFrames }, (_, f) => hiddenAt(ranges, f));
  const hide = !hidden[frame];
  // Ranges beyond the video (typed for a longer one) are kept as they are.
  const beyond = (ranges ?? []).filter(([first]) => first >= numFrames);
  if (hide) hidden.fill(true, frame);
  else for (let f = frame; f < numFrames && hidden[f]; f++) hidden[f] = false;
  const result = [];
  for (let f = 0; f < numFrames; f++) {
    if (!hidden[f] || (f > 0 && hidden[f - 1])) continue;
    let last = f;
    while (last + 1 < numFrames && hidden[last + 1]) last++;
    result.push([f, last === numFrames - 1 ? null : last]);
  }
  return result.at(-1)?.[1] === null ? result : [...result, ...beyond];
}
