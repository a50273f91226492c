// Every change the editor makes, as a recipe for EditorStore.update: `store.update((s) => addEntity(s, point))`.
// Recipes only change the state; the store then commits the document and notifies the views. No DOM here.
import {
  DEFAULT_NUM_FRAMES,
  MAX_NUM_FRAMES,
  backgroundAnchor,
  newEntity,
  retime,
  toggleHiddenFrom,
  normalizeDocument,
  serializeDocument,
  setPointFrame as placePointFrame,
  setSpan as spreadSpan,
  splicePointLists,
} from "./document.js";
import { clamp } from "./geometry.js";
import { adoptDocument, numFrames, readValue, selectedEntity } from "./store.js";

function find(s, id) {
  return s.doc.entities.find((e) => e.id === id) ?? null;
}

/** An edit replaces the message the previous edit left in the status line. */
function edited(s) {
  delete s.notices.edit;
}

// ------------------------------------------------------------------------------------------------- selection

export function select(s, id, point = null) {
  s.selection = { entityId: id, point };
}

export function deselect(s) {
  s.selection = { entityId: null, point: null };
}

// -------------------------------------------------------------------------------------------------- entities

/** A new entity at `point` (its mask prompt is that click), selected. */
export function addEntity(s, [x, y], options = {}) {
  return addNew(s, newEntity(s.doc, x, y, options));
}

export function addBackgroundAnchor(s) {
  addNew(s, backgroundAnchor(s.doc));
}

function addNew(s, entity) {
  edited(s);
  s.doc.entities.push(entity);
  select(s, entity.id, 0);
  return entity;
}

export function deleteEntity(s, id) {
  edited(s);
  s.doc.entities = s.doc.entities.filter((e) => e.id !== id);
  delete s.masks[id];
}

export function clearEntities(s) {
  edited(s);
  s.doc.entities = [];
  s.masks = {};
}

export function moveEntity(s, id, step) {
  const index = s.doc.entities.findIndex((e) => e.id === id);
  const target = index + step;
  if (index < 0 || target < 0 || target >= s.doc.entities.length) return;
  edited(s);
  const [entity] = s.doc.entities.splice(index, 1);
  s.doc.entities.splice(target, 0, entity);
}

export function setLabel(s, id, label) {
  const entity = find(s, id);
  if (!entity) return;
  edited(s);
  entity.label = label;
}

/** How fast the entity travels its path: a preset name, a list of [t, progress] points, or null (linear). */
export function setEasing(s, id, easing) {
  const entity = find(s, id);
  if (!entity) return;
  edited(s);
  entity.easing = easing === "linear" ? null : easing;
}

/** The frame ranges [first, last] (last null: to the end) in which the entity is not shown; empty or null: none. */
export function setHidden(s, id, ranges) {
  const entity = find(s, id);
  if (!entity) return;
  edited(s);
  entity.hidden = ranges && ranges.length ? ranges.map(([a, b]) => [a, b ?? null]) : null;
}

/**
 * The entity's toggle at the current frame: hidden from this frame to the end when it is shown here, shown again
 * from this frame when it is hidden here. The first frame always shows every entity (the model starts from it).
 */
export function toggleHiddenAtFrame(s, id = s.selection.entityId) {
  const entity = find(s, id);
  if (!entity) {
    s.notices.edit = { text: "Select an entity first (click it, or pick its row).", error: false };
    return;
  }
  if (s.frame === 0) {
    s.notices.edit = { text: "Frame 0 always shows every entity: scrub to the frame where it should leave.", error: false };
    return;
  }
  setHidden(s, id, toggleHiddenFrom(entity.hidden, s.frame, numFrames(s)));
}

/** The typed radius in frame pixels; null (or anything not positive) means "from the mask". */
export function setRadius(s, id, radius) {
  const entity = find(s, id);
  if (!entity) return;
  edited(s);
  entity.radius = typeof radius === "number" && radius > 0 ? radius : null;
}

export function toggleAnchor(s, id = s.selection.entityId) {
  const entity = find(s, id);
  if (!entity) {
    s.notices.edit = { text: "Select an entity first (click it, or pick its row).", error: false };
    return;
  }
  edited(s);
  entity.anchor = !entity.anchor;
}

/** Shift/Alt/right click: a positive or negative mask click for the selected entity. */
export function addClick(s, [x, y], positive) {
  const entity = selectedEntity(s);
  if (!entity) return;
  edited(s);
  entity.clicks.push({ x, y, positive });
}

/** A box prompt for the selected entity, or for a new entity at its centre when none is selected. */
export function setBox(s, box) {
  edited(s);
  let entity = selectedEntity(s);
  if (!entity) entity = addEntity(s, [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], { clicks: [] });
  entity.box = box;
}

// ----------------------------------------------------------------------------------------------------- paths

/** Ctrl+click: a point at the end of the selected path (a held entity starts moving). */
export function appendPoint(s, point) {
  const entity = selectedEntity(s);
  if (!entity) return;
  edited(s);
  entity.anchor = false;
  splicePointLists(entity, entity.points.length, 0, 1);
  entity.points.push(point);
  retime(entity, numFrames(s));
  select(s, entity.id, entity.points.length - 1);
}

export function insertPoint(s, id, index, point) {
  const entity = find(s, id);
  if (!entity) return;
  edited(s);
  splicePointLists(entity, index, 0, 1);
  entity.points.splice(index, 0, point);
  retime(entity, numFrames(s));
  select(s, id, index);
}

export function movePoint(s, id, index, point) {
  const entity = find(s, id);
  if (!entity || index >= entity.points.length) return;
  edited(s);
  entity.points[index] = point;
}

/** A lone or held point starts a new path from where it stands (for the background anchor: a camera pan). */
export function restartPath(s, id) {
  const entity = find(s, id);
  if (!entity) return;
  edited(s);
  entity.anchor = false;
  splicePointLists(entity, 1, entity.points.length - 1, 0);
  entity.points = [entity.points[0]];
  entity.frames = null;
}

/** Points drawn by a stroke, appended to the entity's path. */
export function extendPath(s, id, points) {
  const entity = find(s, id);
  if (!entity) return;
  edited(s);
  splicePointLists(entity, entity.points.length, 0, points.length);
  entity.points.push(...points);
  retime(entity, numFrames(s));
  select(s, id, entity.points.length - 1);
}

/** Delete a path point; the last one left takes its entity with it. */
export function deletePoint(s, id, index) {
  const entity = find(s, id);
  if (!entity) return;
  if (entity.points.length <= 1) return deleteEntity(s, id);
  edited(s);
  splicePointLists(entity, index, 1, 0);
  entity.points.splice(index, 1);
  if (entity.frames) entity.frames.splice(index, 1);
  select(s, id, Math.min(index, entity.points.length - 1));
}

/** Delete key: the selected point when the path has others, else the selected entity. */
export function deleteSelection(s) {
  const entity = selectedEntity(s);
  if (!entity) return;
  const point = s.selection.point;
  if (point != null && entity.points.length > 1) deletePoint(s, entity.id, point);
  else deleteEntity(s, entity.id);
}

// ---------------------------------------------------------------------------------------------------- timing

export function setNumFrames(s, value) {
  edited(s);
  s.doc.num_frames = clamp(Math.round(value) || DEFAULT_NUM_FRAMES, 1, MAX_NUM_FRAMES);
}

export function setFrame(s, value) {
  s.frame = value; // kept in range by the store
}

/**
 * The frames at which an entity's first and last points are reached (null: not given). Both empty: the entity
 * loses its per-point frames. The points in between are spread evenly; a span too short for the points is
 * lengthened and the status line says so.
 */
export function setSpan(s, id, start, end) {
  const entity = find(s, id);
  if (!entity) return;
  edited(s);
  if (start == null && end == null) {
    entity.frames = null;
    return;
  }
  const last = numFrames(s) - 1;
  const final = end ?? last;
  spreadSpan(entity, start ?? 0, final, last + 1);
  if (entity.frames.at(-1) !== final) {
    const count = entity.points.length;
    s.notices.edit = { text: `${count} points need ${count} distinct frames: it ends at frame ${entity.frames.at(-1)}.`, error: true };
  }
}

/** The frame at which one point is reached (null: the entity loses its per-point frames). */
export function setPointFrame(s, id, index, frame) {
  const entity = find(s, id);
  if (!entity) return;
  edited(s);
  if (frame == null) entity.frames = null;
  else placePointFrame(entity, index, frame, numFrames(s));
}

// ---------------------------------------------------------------------------------------------------- camera

/** What one click of each camera tool adds to the move: zoom multiplies, orbit (degrees, clockwise) adds. */
// How many moved documents are remembered, so that undo back to one lets the next click add to its move.
const CAMERA_MOVES_KEPT = 32;

export const CAMERA_STEPS = {
  zoom_in: { zoom: 1.25, orbit: 0 },
  zoom_out: { zoom: 0.8, orbit: 0 },
  orbit_cw: { zoom: 1, orbit: 15 },
  orbit_ccw: { zoom: 1, orbit: -15 },
};

/**
 * One click of a camera tool. The server's /camera route turns every held entity into its path under the move
 * (the library's rule, as the Camera Move node applies it); with nothing held, a background anchor is added
 * first, in the same edit (unless a path already carries an earlier move). A click on a document a camera
 * click made (also after undo or redo back to it) adds to that move, from the same starting document: zoom in
 * twice is a zoom of 1.25², zoom in then out is no move at all. Any other edit starts a new move.
 */
export function cameraStep(s, step) {
  if (s.pending) {
    s.notices.edit = { text: "The value is still being read: try the camera again in a moment.", error: false };
    return;
  }
  // The move this click adds to: one still waiting for the server, else the one the document last got.
  const pending = s.cameraRequest?.fromText === s.docText ? s.cameraRequest : null;
  const last = pending ?? s.cameraMoves.get(s.docText) ?? null;
  let baseText;
  let move;
  if (last) {
    baseText = last.baseText;
    move = { zoom: last.move.zoom * step.zoom, orbit: last.move.orbit + step.orbit };
  } else {
    const doc = normalizeDocument(JSON.parse(s.docText));
    if (!doc.entities.some((e) => e.anchor)) {
      // A path with a scale or turn per point came from an earlier camera move (or a tracker): another
      // background anchor would be a second background, so the user chooses.
      if (doc.entities.some((e) => e.scale || e.rotation)) {
        s.notices.edit = { text: "Nothing holds still: undo back to the last camera move to change it, or hold an entity (A) or add a background anchor (B) first.", error: false };
        return;
      }
      doc.entities.push(backgroundAnchor(doc));
    }
    baseText = serializeDocument(doc);
    move = { ...step };
  }
  edited(s);
  if (Math.abs(move.zoom - 1) < 1e-9 && Math.abs(move.orbit) < 1e-9) {
    // Back where the move started: the starting document itself, no request.
    s.doc = normalizeDocument(JSON.parse(baseText));
    s.cameraRequest = null;
    return;
  }
  const body = { trajectories: baseText, num_frames: numFrames(s), zoom: move.zoom, orbit: move.orbit };
  s.cameraRequest = { key: JSON.stringify(body), body, baseText, move, fromText: s.docText };
}

export function receiveCamera(s, key, answer) {
  const request = s.cameraRequest;
  if (request?.key !== key) return;
  s.cameraRequest = null;
  if (s.docText !== request.fromText) {
    s.notices.edit = { text: "The paths changed while the camera move was computed: click the camera tool again.", error: false };
    return;
  }
  edited(s);
  s.doc = normalizeDocument(answer.document);
  const moves = s.cameraMoves;
  moves.set(serializeDocument(s.doc), { baseText: request.baseText, move: request.move });
  if (moves.size > CAMERA_MOVES_KEPT) moves.delete(moves.keys().next().value);
}

export function receiveCameraError(s, key, message) {
  if (s.cameraRequest?.key !== key) return;
  s.cameraRequest = null;
  s.notices.edit = { text: `Camera move: ${message}`, error: true };
}

// --------------------------------------------------------------------------------------------------- display

export function setShowGaussian(s, on) {
  s.showGaussian = on;
}

export function setShowValue(s, on) {
  s.showValue = on;
}

// ------------------------------------------------------------------------------------------------------ undo

export function undo(s) {
  if (s.history.index <= 0) return;
  s.history.index -= 1;
  readValue(s, s.history.entries[s.history.index], { record: false });
}

export function redo(s) {
  if (s.history.index >= s.history.entries.length - 1) return;
  s.history.index += 1;
  readValue(s, s.history.entries[s.history.index], { record: false });
}

// ------------------------------------------------------------------------------------- the graph around it

/**
 * The first frame: {element, width, height, source, documentRef, maskRef}. source is "connected" (the
 * connected node's picture), "executed" (the frame the node received in the last run), "document" (the picture
 * the document names) or "embedded" (the small copy kept in the workflow); documentRef is the input-folder name
 * the document records, maskRef the name the /mask route reads.
 */
export function setImage(s, image) {
  if (s.image?.maskRef !== image?.maskRef || s.image?.source !== image?.source) s.masks = {};
  s.image = image;
  delete s.notices.image;
}

/** A picture dropped or pasted onto the editor becomes the document's first frame. */
export function adoptPicture(s, image) {
  setImage(s, image);
  s.doc.image = image.documentRef;
}

/** {sam, mode, framing, modelWidth, modelHeight}: what the connected nodes say; null where they say nothing. */
export function setContext(s, context) {
  s.context = context;
}

export function setNotice(s, topic, text, error = false) {
  if (text) s.notices[topic] = { text, error };
  else delete s.notices[topic];
}

// ------------------------------------------------------------------------------------------ server answers

export function receivePreview(s, key, answer) {
  s.preview = { key, answer };
  delete s.notices.value;
  if (s.pending && key === s.requests.preview?.key) {
    // A foreign value as the server reads it; the value itself stays as written until the first edit.
    adoptDocument(s, answer.document);
    s.pending = false;
  }
}

export function receivePreviewError(s, key, message) {
  if (key !== s.requests.preview?.key) return;
  s.notices.value = { text: `Cannot preview the value: ${message}`, error: true };
  // The last readable document stays on show; an edit replaces the value (undo brings it back).
  s.pending = false;
}

export function receiveMask(s, id, key, mask) {
  s.masks[id] = { key, ...mask };
  setNotice(s, "mask", mask.note);
}

export function receiveMaskError(s, id, key, message) {
  s.masks[id] = { key, error: message };
  const entity = find(s, id);
  setNotice(s, "mask", `Mask for ${entity?.label || id} failed: ${message}. The path still works.`, true);
}

export function receiveGaussian(s, key, element) {
  s.gaussian = { key, element };
  delete s.notices.gaussian;
}

export function receiveGaussianError(s, key, message) {
  if (key !== s.requests.gaussian?.key) return;
  s.gaussian = null;
  s.notices.gaussian = { text: `Gaussian preview failed: ${message}`, error: true };
}
