// Pointer and keyboard gestures on the canvas, turned into commands. A gesture in progress lives in the state
// (state.gesture), so the canvas draws it and the store holds the document's commit until the gesture ends: a
// drag is one edit and one undo step.
import * as commands from "./commands.js";
import { radiusHandle } from "./canvas_view.js";
import { HANDLE_PX, distance, hitTest, insideMask, simplify, toFrame } from "./geometry.js";
import { entityIndex, frameSize, selectedEntity } from "./store.js";

const DRAG_START_PX = 4;
const FREEHAND_STEP_PX = 6;
const SIMPLIFY_PX = 2.5;

/** Events that must not reach the graph canvas (or a Vue node's drag handler) while the pointer is in the editor. */
const CONTAINED_EVENTS = ["pointerdown", "pointermove", "pointerup", "dblclick", "contextmenu"];

export class InputHandler {
  /**
   * @param {{root, canvas, keys}} elements  the editor, its canvas, and the input that holds its keyboard focus
   * @param store, canvasView
   * @param {(file: File) => void} onImageFile  a picture was dropped or pasted
   */
  constructor({ root, canvas, keys }, store, canvasView, onImageFile) {
    Object.assign(this, { root, canvas, keys, store, canvasView, onImageFile });
    for (const type of CONTAINED_EVENTS) root.addEventListener(type, (e) => e.stopPropagation());
    canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    canvas.addEventListener("pointermove", (e) => this.onPointerMove(e));
    canvas.addEventListener("pointerup", (e) => this.onPointerUp(e));
    canvas.addEventListener("pointercancel", () => this.store.update((s) => (s.gesture = null)));
    canvas.addEventListener("dblclick", (e) => this.onDoubleClick(e));
    canvas.addEventListener("contextmenu", (e) => this.onContextMenu(e));
    keys.addEventListener("keydown", (e) => this.onKeyDown(e));
    keys.addEventListener("paste", (e) => this.takeImage(e, e.clipboardData));
    root.addEventListener("dragover", (e) => {
      if ([...(e.dataTransfer?.items ?? [])].some((i) => i.type.startsWith("image/"))) {
        e.preventDefault();
        e.stopPropagation();
      }
    });
    root.addEventListener("drop", (e) => this.takeImage(e, e.dataTransfer));
  }

  focus() {
    this.keys.focus({ preventScroll: true });
  }

  /** The pointer in frame pixels; getBoundingClientRect includes the graph's zoom, clientWidth does not. */
  framePoint(event, layout) {
    const rect = this.canvas.getBoundingClientRect();
    const cx = ((event.clientX - rect.left) / rect.width) * layout.width;
    const cy = ((event.clientY - rect.top) / rect.height) * layout.height;
    return toFrame([cx, cy], layout);
  }

  /** Screen pixels per frame pixel, including the graph's zoom (hit tolerances are in screen pixels). */
  pixelsPerUnit(layout) {
    return layout.scale * (this.canvas.getBoundingClientRect().width / Math.max(1, layout.width));
  }

  hit(s, point, layout) {
    const index = entityIndex(s, s.selection.entityId);
    const handle = index >= 0 ? radiusHandle(s, index, layout) : null;
    return hitTest(s.doc, s.selection.entityId, point, HANDLE_PX / this.pixelsPerUnit(layout), handle);
  }

  // ----------------------------------------------------------------------------------------------- pointer

  onPointerDown(event) {
    this.focus();
    if (event.button !== 0) return;
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    const layout = this.canvasView.layout();
    const point = this.framePoint(event, layout);
    const modifiers = { shift: event.shiftKey, alt: event.altKey, ctrl: event.ctrlKey || event.metaKey };
    this.store.update((s) => {
      const hit = this.hit(s, point, layout);
      const gesture = { start: point, startClient: [event.clientX, event.clientY], moved: false, hit, ...modifiers, path: [] };
      s.gesture = gesture;
      if (hit?.kind === "point") commands.select(s, hit.entityId, hit.index);
      else if (hit?.kind === "radius") commands.select(s, hit.entityId, s.selection.point);
      else if (gesture.ctrl && hit?.kind === "segment") {
        commands.insertPoint(s, hit.entityId, hit.index, point);
        gesture.hit = { kind: "point", entityId: hit.entityId, index: hit.index, inserted: true };
      } else {
        const selected = selectedEntity(s);
        if (selected && !gesture.shift && !gesture.alt && !gesture.ctrl) {
          // A drag that starts on the selected entity (its mask, or near its last point) extends its path.
          const near = (3 * HANDLE_PX) / this.pixelsPerUnit(layout);
          gesture.extends = insideMask(s.masks[selected.id]?.alpha, frameSize(s), point) || distance(selected.points.at(-1), point) <= near;
        }
      }
    });
  }

  onPointerMove(event) {
    const gesture = this.store.state.gesture;
    if (!gesture) return;
    if (!gesture.moved && Math.hypot(event.clientX - gesture.startClient[0], event.clientY - gesture.startClient[1]) < DRAG_START_PX) return;
    const layout = this.canvasView.layout();
    const point = this.framePoint(event, layout);
    const step = FREEHAND_STEP_PX / this.pixelsPerUnit(layout);
    this.store.update((s) => {
      const g = s.gesture;
      if (!g) return;
      if (!g.moved) {
        g.moved = true;
        beginDrag(s, g);
      }
      if (g.mode === "move") commands.movePoint(s, g.hit.entityId, g.hit.index, point);
      else if (g.mode === "radius") {
        const entity = s.doc.entities.find((e) => e.id === g.entityId);
        if (entity) commands.setRadius(s, g.entityId, Math.max(1, distance(entity.points[0], point)));
      } else if (g.mode === "path") {
        const last = g.path.at(-1) ?? s.doc.entities.find((e) => e.id === g.entityId)?.points.at(-1);
        if (last && distance(last, point) >= step) g.path.push(point);
        g.current = point;
      } else if (g.mode === "box") g.current = point;
    });
  }

  onPointerUp(event) {
    const gesture = this.store.state.gesture;
    if (!gesture) return;
    if (this.canvas.hasPointerCapture(event.pointerId)) this.canvas.releasePointerCapture(event.pointerId);
    const layout = this.canvasView.layout();
    const point = this.framePoint(event, layout);
    const tolerance = SIMPLIFY_PX / this.pixelsPerUnit(layout);
    this.store.update((s) => {
      s.gesture = null; // the store commits the document now
      if (!gesture.moved) click(s, gesture, point);
      else if (gesture.mode === "path") finishPath(s, gesture, point, tolerance);
      else if (gesture.mode === "box") finishBox(s, gesture, point);
    });
  }

  onDoubleClick(event) {
    event.preventDefault();
    this.deletePointAt(event);
  }

  onContextMenu(event) {
    event.preventDefault();
    event.stopPropagation();
    if (this.deletePointAt(event)) return;
    const point = this.framePoint(event, this.canvasView.layout());
    this.store.update((s) => commands.addClick(s, point, false));
  }

  deletePointAt(event) {
    const layout = this.canvasView.layout();
    const hit = this.hit(this.store.state, this.framePoint(event, layout), layout);
    if (hit?.kind !== "point") return false;
    this.store.update((s) => commands.deletePoint(s, hit.entityId, hit.index));
    return true;
  }

  // ---------------------------------------------------------------------------------------------- keyboard

  onKeyDown(event) {
    event.stopPropagation();
    const ctrl = event.ctrlKey || event.metaKey;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const recipe =
      ctrl && key === "z" ? (event.shiftKey ? commands.redo : commands.undo)
      : ctrl && key === "y" ? commands.redo
      : ctrl ? null // copy, paste and the browser's own shortcuts
      : {
          Delete: commands.deleteSelection,
          Backspace: commands.deleteSelection,
          a: (s) => commands.toggleAnchor(s),
          b: commands.addBackgroundAnchor,
          h: (s) => commands.toggleHiddenAtFrame(s),
          g: (s) => commands.setShowGaussian(s, !s.showGaussian),
          ArrowRight: (s) => commands.setFrame(s, s.frame + 1),
          ArrowLeft: (s) => commands.setFrame(s, s.frame - 1),
          Escape: commands.deselect,
        }[key];
    if (!recipe) return;
    event.preventDefault();
    this.store.update(recipe);
  }

  takeImage(event, transfer) {
    const file = [...(transfer?.files ?? [])].find((f) => f.type.startsWith("image/"));
    if (!file) return;
    event.preventDefault();
    event.stopPropagation();
    this.onImageFile(file);
  }
}

// ----------------------------------------------------------------------------------------- gesture recipes

function beginDrag(s, g) {
  const hit = g.hit;
  const entity = hit ? s.doc.entities.find((e) => e.id === hit.entityId) : null;
  if (hit?.kind === "radius") {
    g.mode = "radius";
    g.entityId = hit.entityId;
  } else if (hit?.kind === "point" && !hit.inserted && entity && (entity.anchor || entity.points.length === 1)) {
    // Dragging a lone point draws the entity's path from it. For a held entity the hold becomes a path from
    // where it stands: for the background anchor this is a camera pan.
    commands.restartPath(s, entity.id);
    g.mode = "path";
    g.entityId = entity.id;
  } else if (hit?.kind === "point") {
    g.mode = "move";
  } else if (g.shift) {
    g.mode = "box";
  } else if (g.extends) {
    g.mode = "path";
    g.entityId = s.selection.entityId;
  } else {
    // A drag on empty ground: a new entity where the drag starts, with the drag as its path.
    g.mode = "path";
    g.entityId = commands.addEntity(s, g.start).id;
  }
}

function click(s, g, point) {
  const hit = g.hit;
  if (hit?.kind === "point" || hit?.kind === "radius") return; // selected on press
  if ((g.shift || g.alt) && selectedEntity(s)) return commands.addClick(s, point, !g.alt);
  if (g.ctrl && selectedEntity(s)) return commands.appendPoint(s, point);
  commands.addEntity(s, point);
}

function finishPath(s, g, point, tolerance) {
  const entity = s.doc.entities.find((e) => e.id === g.entityId);
  if (!entity) return;
  const path = [...g.path];
  const last = path.at(-1);
  if (!last || distance(last, point) > 0.5) path.push(point);
  // A freehand stroke keeps only the points that shape it: fewer points to edit and to time.
  const start = entity.points.at(-1);
  commands.extendPath(s, entity.id, simplify([start, ...path], tolerance).slice(1));
}

function finishBox(s, g, point) {
  const [x0, y0] = g.start;
  const box = [Math.min(x0, point[0]), Math.min(y0, point[1]), Math.max(x0, point[0]), Math.max(y0, point[1])];
  if (box[2] - box[0] < 2 || box[3] - box[1] < 2) return;
  commands.setBox(s, box);
}
