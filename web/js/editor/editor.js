// The trajectory editor: a DOM element that edits the pack's trajectory document on top of the first frame.
//
// It knows nothing about the graph: the node glue (../trajectory_editor.js) gives it callbacks to read and write
// the node's JSON value and to find the first frame. Everything the model will see (the parsed value, the
// resampled tracks, the Gaussian maps, the masks) comes from the pack's server routes, so what is drawn here is
// what the nodes compute.
import {
  BACKGROUND_LABEL,
  DEFAULT_NUM_FRAMES,
  FORMAT_NAME,
  MAX_NUM_FRAMES,
  backgroundPoint,
  emptyDocument,
  newEntity,
  normalizeDocument,
  retime,
  serializeDocument,
  setPointFrame,
  setSpan,
} from "./document.js";
import { fetchGaussian, fetchMask, fetchPreview } from "./server.js";

const HANDLE_PX = 7;
const DRAG_START_PX = 4;
const FREEHAND_STEP_PX = 6;
const SIMPLIFY_PX = 2.5;
const HISTORY_LIMIT = 200;
const PREVIEW_DEBOUNCE_MS = 60;
const PLACEHOLDER_SIZE = [576, 320];

export const SHORTCUTS = [
  ["Click", "new entity at the click (its mask appears)"],
  ["Drag from the selected entity", "draw its path"],
  ["Drag elsewhere", "new entity with that path"],
  ["Ctrl+Click", "add a path point (on the curve: insert one)"],
  ["Drag a path point", "move it (from a lone or held point: draw a path; the background then pans the camera)"],
  ["Double-click / right-click a point", "delete it"],
  ["Shift+Click / Alt+Click", "refine the mask: positive / negative click"],
  ["Shift+Drag", "box prompt for the selected entity"],
  ["Drag the ◇ handle", "set the radius"],
  ["A", "hold still (anchor) on/off"],
  ["B", "add a background anchor"],
  ["Delete", "delete the selected point, else the entity"],
  ["← / →", "previous / next frame"],
  ["G", "Gaussian preview on/off"],
  ["Ctrl+Z / Ctrl+Shift+Z, Ctrl+Y", "undo / redo in the editor (the graph's own undo is untouched)"],
  ["Esc", "deselect"],
  ["Drop or paste a picture", "use it as the first frame"],
];

function element(tag, className, attributes = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  return node;
}

/** Events that must not reach the graph canvas (or a Vue node's drag handler) while the pointer is in the editor. */
const CONTAINED_EVENTS = ["pointerdown", "pointermove", "pointerup", "dblclick", "contextmenu"];

export class TrajectoryEditor {
  /**
   * @param {object} host
   *   readValue(): string            the node's current JSON value
   *   writeValue(text): void         store a new JSON value on the node
   *   onImageFile(file): Promise<string|null>  upload a dropped/pasted picture, returns its input name
   *   samModel(): string|null        SAM checkpoint of a connected Load SAM node
   *   resamplingMode(): string       how the nodes downstream spread the paths over the frames
   */
  constructor(host) {
    this.host = host;
    this.doc = emptyDocument();
    this.text = null; // the value last read from or written to the node
    this.history = [];
    this.historyIndex = -1;
    this.selectedId = null;
    this.selectedPoint = null;
    this.frame = 0;
    this.showGaussian = true;
    this.preview = null; // last answer of /preview for the current text
    this.previewSeq = 0;
    this.masks = new Map(); // entity id -> {key, image, tinted, alpha, width, radius, note}
    this.gaussian = { key: null, image: null, url: null };
    this.gaussianSeq = 0;
    this.image = null; // HTMLImageElement of the first frame
    this.imageSource = null; // "connected", "document" or "embedded"
    this.imageRef = null; // input-folder name of the first frame, when it has one
    this.gesture = null;
    this.pending = false; // a foreign value is being parsed by the server
    this.status = "";
    this.build();
  }

  // ------------------------------------------------------------------------------------------------- DOM

  build() {
    this.root = element("div", "da-editor", { "data-testid": "da-editor" });
    const toolbar = element("div", "da-toolbar");
    this.anchorButton = this.button(toolbar, "⚓ Hold still", "Hold the selected entity still (A)", () => this.toggleAnchor(), "da-anchor");
    this.button(toolbar, "+ Background anchor", "Keep the background still (B)", () => this.addBackgroundAnchor(), "da-background");
    this.button(toolbar, "Clear", "Remove every entity (undo brings them back)", () => this.clearEntities(), "da-clear");
    this.undoButton = this.button(toolbar, "↶", "Undo (Ctrl+Z)", () => this.undo(), "da-undo");
    this.redoButton = this.button(toolbar, "↷", "Redo (Ctrl+Shift+Z)", () => this.redo(), "da-redo");
    const framesLabel = element("label", "da-frames-label", { text: "frames" });
    this.framesInput = element("input", "da-frames", { type: "number", min: "1", max: String(MAX_NUM_FRAMES), "data-testid": "da-frames" });
    this.framesInput.addEventListener("change", () => this.setNumFrames(Number(this.framesInput.value)));
    framesLabel.append(this.framesInput);
    toolbar.append(framesLabel);
    const gaussianLabel = element("label", "da-gaussian-label", { text: "Gaussian" });
    this.gaussianToggle = element("input", "", { type: "checkbox", "data-testid": "da-gaussian" });
    this.gaussianToggle.checked = this.showGaussian;
    this.gaussianToggle.addEventListener("change", () => this.setShowGaussian(this.gaussianToggle.checked));
    gaussianLabel.prepend(this.gaussianToggle);
    toolbar.append(gaussianLabel);
    const help = element("span", "da-help", { tabindex: "0", "data-testid": "da-help", text: "?" });
    const helpCard = element("div", "da-help-card", { role: "tooltip" });
    for (const [keys, action] of SHORTCUTS) {
      const row = element("div", "da-help-row");
      row.append(element("kbd", "", { text: keys }), element("span", "", { text: action }));
      helpCard.append(row);
    }
    help.append(helpCard);
    toolbar.append(help);

    this.stage = element("div", "da-stage");
    this.canvas = element("canvas", "da-canvas", { "data-testid": "da-canvas" });
    this.stage.append(this.canvas);
    // Keyboard focus lives in a text input: the frontend's graph undo and its shortcuts deliberately ignore keys
    // typed into inputs, so the editor's own Ctrl+Z, Delete and arrows never act on the graph as well.
    this.keys = element("input", "da-keys", { type: "text", "aria-label": "trajectory editor keyboard", readonly: "", "data-testid": "da-keys" });
    this.stage.append(this.keys);

    const scrub = element("div", "da-scrub");
    this.frameSlider = element("input", "da-frame-slider", { type: "range", min: "0", value: "0", "data-testid": "da-scrub" });
    this.frameSlider.addEventListener("input", () => this.setFrame(Number(this.frameSlider.value)));
    this.frameLabel = element("span", "da-frame-label");
    scrub.append(this.frameSlider, this.frameLabel);

    this.list = element("div", "da-list", { "data-testid": "da-list" });
    this.pointRow = element("div", "da-point-row");
    this.statusLine = element("div", "da-status", { "data-testid": "da-status" });

    this.root.append(toolbar, this.stage, scrub, this.pointRow, this.list, this.statusLine);

    for (const type of CONTAINED_EVENTS) this.root.addEventListener(type, (e) => e.stopPropagation());
    this.canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    this.canvas.addEventListener("pointermove", (e) => this.onPointerMove(e));
    this.canvas.addEventListener("pointerup", (e) => this.onPointerUp(e));
    this.canvas.addEventListener("pointercancel", () => (this.gesture = null));
    this.canvas.addEventListener("dblclick", (e) => this.onDoubleClick(e));
    this.canvas.addEventListener("contextmenu", (e) => this.onContextMenu(e));
    this.keys.addEventListener("keydown", (e) => this.onKeyDown(e));
    this.keys.addEventListener("paste", (e) => this.onPaste(e));
    this.root.addEventListener("dragover", (e) => {
      if ([...(e.dataTransfer?.items ?? [])].some((i) => i.type.startsWith("image/"))) {
        e.preventDefault();
        e.stopPropagation();
      }
    });
    this.root.addEventListener("drop", (e) => this.onDrop(e));
    this.resizeObserver = new ResizeObserver(() => this.draw());
    this.resizeObserver.observe(this.stage);
  }

  button(parent, text, title, action, testid) {
    const node = element("button", "da-button", { type: "button", title, "data-testid": testid, text });
    node.addEventListener("click", (e) => {
      e.stopPropagation();
      this.syncFromValue();
      action();
      this.keys.focus({ preventScroll: true });
    });
    parent.append(node);
    return node;
  }

  destroy() {
    this.resizeObserver.disconnect();
    if (this.gaussian.url) URL.revokeObjectURL(this.gaussian.url);
  }

  // ------------------------------------------------------------------------------------------ value sync

  /** Called by the node glue whenever the node's JSON value may have changed (typed, pasted, undo, load). */
  syncFromValue() {
    const text = this.host.readValue() ?? "";
    if (text === this.text) return;
    this.text = text;
    this.pushHistory(text);
    this.readText();
  }

  /**
   * Show `this.text`. The pack's own documents are shown at once; any other format (demo.json, KJNodes strings,
   * nested lists) is shown as the server parses it, and the value itself is left as the user wrote it.
   */
  readText() {
    const own = parseOwn(this.text);
    if (own || !this.text.trim()) {
      this.pending = false;
      this.adopt(own ?? emptyDocument());
      this.fitDocumentToImage();
      this.refreshPreview({ adoptDocument: false });
    } else {
      this.pending = true;
      this.refreshPreview({ adoptDocument: true });
    }
  }

  /** Store the edited document on the node and record an undo step. */
  commit() {
    const text = serializeDocument(this.doc);
    if (text === this.text) return;
    this.text = text;
    this.host.writeValue(text);
    this.pushHistory(text);
    this.refreshPreview({ adoptDocument: false });
  }

  pushHistory(text) {
    if (this.history[this.historyIndex] === text) return;
    this.history.splice(this.historyIndex + 1);
    this.history.push(text);
    if (this.history.length > HISTORY_LIMIT) this.history.shift();
    this.historyIndex = this.history.length - 1;
    this.updateButtons();
  }

  undo() {
    if (this.historyIndex <= 0) return;
    this.restore(this.history[--this.historyIndex]);
  }

  redo() {
    if (this.historyIndex >= this.history.length - 1) return;
    this.restore(this.history[++this.historyIndex]);
  }

  restore(text) {
    this.text = text;
    this.host.writeValue(text);
    this.updateButtons();
    this.readText();
  }

  /**
   * Ask the server how it reads the value: the normalised document (for foreign formats such as demo.json or
   * KJNodes strings), each track resampled to the frame count, and the entity colours.
   */
  refreshPreview({ adoptDocument }) {
    clearTimeout(this.previewTimer);
    const text = this.text;
    if (!adoptDocument && !this.doc.entities.length) {
      // Nothing to resample (the library refuses a document without entities).
      this.preview = null;
      this.setStatus(this.imageStatus());
      this.draw();
      return;
    }
    this.previewTimer = setTimeout(async () => {
      const seq = ++this.previewSeq;
      try {
        const answer = await fetchPreview({
          trajectories: text,
          num_frames: this.numFrames(adoptDocument ? null : this.doc),
          mode: this.host.resamplingMode(),
          width: this.imageSize()?.[0],
          height: this.imageSize()?.[1],
        });
        if (seq !== this.previewSeq) return;
        this.preview = answer;
        if (adoptDocument) {
          this.pending = false;
          this.adopt(answer.document);
        } else this.refreshList(); // colours and radius hints follow the entity order
        this.setStatus(this.imageStatus());
      } catch (error) {
        if (seq !== this.previewSeq) return;
        this.preview = null;
        this.setStatus(`Cannot preview the value: ${error.message}`, true);
      }
      this.draw();
      this.requestGaussian();
    }, PREVIEW_DEBOUNCE_MS);
  }

  adopt(document) {
    this.doc = normalizeDocument(document);
    if (!this.doc.entities.some((e) => e.id === this.selectedId)) {
      this.selectedId = null;
      this.selectedPoint = null;
    }
    this.framesInput.value = String(this.numFrames(this.doc));
    this.refreshMasks();
    this.renderList();
    this.draw();
  }

  numFrames(doc) {
    return doc?.num_frames ?? this.preview?.num_frames ?? DEFAULT_NUM_FRAMES;
  }

  // --------------------------------------------------------------------------------------------- images

  /** Show a first frame. `ref` is its input-folder name when it has one (for masks and for the document). */
  setImage(image, ref, source) {
    this.syncFromValue(); // the node may have been given its value since the last poll (workflow load)
    this.image = image;
    this.imageRef = ref;
    this.imageSource = source;
    this.fitDocumentToImage();
    this.masks.clear();
    this.refreshMasks();
    this.setStatus(this.imageStatus());
    this.draw();
  }

  /**
   * Record the first frame's name and size in the document. A document drawn on another size of picture is
   * scaled to this one (same picture, resized). Foreign formats are left alone until the user edits them, and an
   * embedded thumbnail never changes the size: the points are pixels of the original picture.
   */
  fitDocumentToImage() {
    if (!this.image || this.pending || this.imageSource === "embedded" || !(parseOwn(this.text) || !this.text?.trim())) return;
    const [width, height] = [this.image.naturalWidth, this.image.naturalHeight];
    const doc = this.doc;
    let changed = false;
    if (doc.width !== width || doc.height !== height) {
      if (doc.width && doc.height && doc.entities.length) {
        scaleDocument(doc, width / doc.width, height / doc.height);
        this.setStatus(`The paths were drawn on a ${doc.width}x${doc.height} picture: scaled to ${width}x${height}.`);
      }
      doc.width = width;
      doc.height = height;
      changed = true;
    }
    if (this.imageRef && doc.image !== this.imageRef) {
      doc.image = this.imageRef;
      changed = true;
    }
    if (changed) this.commit();
  }

  imageStatus() {
    if (!this.image) return "No first frame yet: connect a LoadImage, or drop or paste a picture onto the editor.";
    if (this.imageSource === "embedded")
      return `Showing the copy stored in the workflow: '${this.doc.image}' is not in your input folder; drop the picture again for masks.`;
    return this.doc.entities.length ? "" : "Click an object to make it an entity, then drag from it to draw its path.";
  }

  imageSize() {
    if (this.doc.width && this.doc.height) return [this.doc.width, this.doc.height];
    if (this.image && this.imageSource !== "embedded") return [this.image.naturalWidth, this.image.naturalHeight];
    return null;
  }

  frameSize() {
    return this.imageSize() ?? PLACEHOLDER_SIZE;
  }

  // ---------------------------------------------------------------------------------------------- masks

  /** The mask prompt of an entity as the nodes build it: its clicks and box, else its first point. */
  maskPrompt(entity) {
    const clicks = entity.clicks.length || entity.box ? entity.clicks : [{ x: entity.points[0][0], y: entity.points[0][1], positive: true }];
    return { clicks, box: entity.box };
  }

  maskKey(entity) {
    return JSON.stringify([this.imageRef, this.host.samModel(), this.maskPrompt(entity)]);
  }

  refreshMasks() {
    if (!this.imageRef || this.imageSource === "embedded") return;
    for (const entity of this.doc.entities) {
      const key = this.maskKey(entity);
      const known = this.masks.get(entity.id);
      if (known?.key === key) continue;
      this.masks.set(entity.id, { ...known, key, pending: true });
      this.requestMask(entity, key);
    }
  }

  async requestMask(entity, key) {
    const id = entity.id;
    try {
      const answer = await fetchMask({ image: this.imageRef, ...this.maskPrompt(entity), sam: this.host.samModel() });
      if (this.masks.get(id)?.key !== key) return;
      const image = await loadImage(answer.mask);
      const alpha = maskAlpha(image);
      this.masks.set(id, { key, image, alpha, width: image.naturalWidth, radius: answer.radius, note: answer.note, method: answer.method });
      if (answer.note) this.setStatus(answer.note);
      this.refreshList();
      this.requestGaussian();
    } catch (error) {
      if (this.masks.get(id)?.key !== key) return;
      this.masks.set(id, { key, error: error.message });
      this.setStatus(`Mask for ${entity.label || entity.id} failed: ${error.message}. The path still works.`, true);
    }
    this.draw();
  }

  /** The radius the maps will use: the typed one, else the mask's inscribed radius; capped as the nodes cap it. */
  radiusHint(entity) {
    const radius = entity.radius ?? this.masks.get(entity.id)?.radius ?? null;
    const cap = this.preview?.radius_cap;
    return radius != null && cap ? Math.min(radius, cap) : radius;
  }

  // ------------------------------------------------------------------------------------------- gaussian

  requestGaussian() {
    if (!this.showGaussian || !this.preview || !this.imageSize() || !this.doc.entities.length) {
      this.draw();
      return;
    }
    const body = {
      trajectories: this.text,
      num_frames: this.numFrames(this.doc),
      frame: Math.min(this.frame, this.numFrames(this.doc) - 1),
      mode: this.host.resamplingMode(),
      width: this.imageSize()[0],
      height: this.imageSize()[1],
      radii: this.doc.entities.map((e) => this.radiusHint(e)),
    };
    const key = JSON.stringify(body);
    if (key === this.gaussian.key) return;
    clearTimeout(this.gaussianTimer);
    this.gaussianTimer = setTimeout(async () => {
      const seq = ++this.gaussianSeq;
      try {
        const url = await fetchGaussian(body);
        if (seq !== this.gaussianSeq) return URL.revokeObjectURL(url);
        const image = await loadImage(url);
        if (this.gaussian.url) URL.revokeObjectURL(this.gaussian.url);
        this.gaussian = { key, image, url };
      } catch (error) {
        this.gaussian = { key: null, image: null, url: null };
        this.setStatus(`Gaussian preview failed: ${error.message}`, true);
      }
      this.draw();
    }, PREVIEW_DEBOUNCE_MS);
  }

  setShowGaussian(on) {
    this.showGaussian = on;
    this.gaussianToggle.checked = on;
    this.requestGaussian();
    this.draw();
  }

  // ------------------------------------------------------------------------------------------- geometry

  layout() {
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    const [fw, fh] = this.frameSize();
    const scale = Math.min(width / fw, height / fh);
    return { width, height, scale, ox: (width - fw * scale) / 2, oy: (height - fh * scale) / 2 };
  }

  toScreen([x, y], l = this.layout()) {
    return [l.ox + x * l.scale, l.oy + y * l.scale];
  }

  /** Pointer position in frame pixels. getBoundingClientRect includes the graph's zoom transform. */
  toImage(event, l = this.layout()) {
    const rect = this.canvas.getBoundingClientRect();
    const cx = ((event.clientX - rect.left) / rect.width) * l.width;
    const cy = ((event.clientY - rect.top) / rect.height) * l.height;
    const [fw, fh] = this.frameSize();
    return [clamp((cx - l.ox) / l.scale, 0, fw), clamp((cy - l.oy) / l.scale, 0, fh)];
  }

  /** Screen pixels per frame pixel, including the graph's zoom (handle sizes are in screen pixels). */
  pixelsPerUnit(l = this.layout()) {
    const rect = this.canvas.getBoundingClientRect();
    return l.scale * (rect.width / Math.max(1, l.width));
  }

  entity(id = this.selectedId) {
    return this.doc.entities.find((e) => e.id === id) ?? null;
  }

  radiusHandle(entity) {
    const radius = this.radiusHint(entity) ?? this.defaultRadius();
    const [x, y] = entity.points[0];
    return [x + radius * Math.SQRT1_2, y - radius * Math.SQRT1_2];
  }

  defaultRadius() {
    const [fw, fh] = this.frameSize();
    return 0.06 * Math.min(fw, fh);
  }

  hitTest(point) {
    const tolerance = HANDLE_PX / this.pixelsPerUnit();
    const near = (p) => Math.hypot(p[0] - point[0], p[1] - point[1]) <= tolerance;
    const selected = this.entity();
    if (selected && near(this.radiusHandle(selected))) return { kind: "radius", entity: selected };
    const ordered = selected ? [selected, ...this.doc.entities.filter((e) => e !== selected)] : this.doc.entities;
    for (const entity of ordered) {
      for (let i = entity.points.length - 1; i >= 0; i--) {
        if (near(entity.points[i])) return { kind: "point", entity, index: i };
      }
    }
    if (selected) {
      for (let i = 0; i + 1 < selected.points.length; i++) {
        if (distanceToSegment(point, selected.points[i], selected.points[i + 1]) <= tolerance) {
          return { kind: "segment", entity: selected, index: i + 1 };
        }
      }
    }
    return null;
  }

  insideMask(entity, [x, y]) {
    const mask = this.masks.get(entity.id);
    if (!mask?.alpha) return false;
    const [fw] = this.frameSize();
    const s = mask.width / fw;
    const col = Math.floor(x * s);
    const row = Math.floor(y * s);
    return mask.alpha.data[(row * mask.alpha.width + col) * 4 + 3] > 127;
  }

  // --------------------------------------------------------------------------------------------- pointer

  onPointerDown(event) {
    this.keys.focus({ preventScroll: true });
    this.syncFromValue(); // edit what the node holds now, even if it changed since the last poll
    if (event.button !== 0) return;
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    const point = this.toImage(event);
    const hit = this.hitTest(point);
    const selected = this.entity();
    this.gesture = { start: point, startClient: [event.clientX, event.clientY], moved: false, hit, shift: event.shiftKey, alt: event.altKey, ctrl: event.ctrlKey || event.metaKey, path: [point] };
    if (hit?.kind === "point" || hit?.kind === "radius") {
      this.selectedId = hit.entity.id;
      this.selectedPoint = hit.kind === "point" ? hit.index : this.selectedPoint;
      this.renderList();
      this.draw();
    } else if (this.gesture.ctrl && hit?.kind === "segment") {
      hit.entity.points.splice(hit.index, 0, point);
      retime(hit.entity, this.numFrames(this.doc));
      this.gesture.hit = { kind: "point", entity: hit.entity, index: hit.index, inserted: true };
      this.selectedPoint = hit.index;
      this.draw();
    } else if (selected && !this.gesture.shift && !this.gesture.alt && !this.gesture.ctrl) {
      const last = selected.points[selected.points.length - 1];
      const tolerance = (3 * HANDLE_PX) / this.pixelsPerUnit();
      this.gesture.extends = this.insideMask(selected, point) || Math.hypot(last[0] - point[0], last[1] - point[1]) <= tolerance;
    }
  }

  onPointerMove(event) {
    const gesture = this.gesture;
    if (!gesture) return;
    const point = this.toImage(event);
    if (!gesture.moved) {
      const distance = Math.hypot(event.clientX - gesture.startClient[0], event.clientY - gesture.startClient[1]);
      if (distance < DRAG_START_PX) return;
      gesture.moved = true;
      this.beginDrag(gesture);
    }
    const hit = gesture.hit;
    if (gesture.mode === "move") {
      hit.entity.points[hit.index] = point;
    } else if (gesture.mode === "radius") {
      const [x, y] = hit.entity.points[0];
      hit.entity.radius = Math.max(1, Math.hypot(point[0] - x, point[1] - y));
      this.renderList();
    } else if (gesture.mode === "path") {
      const last = gesture.path.at(-1) ?? gesture.entity.points.at(-1);
      if (Math.hypot(point[0] - last[0], point[1] - last[1]) * this.pixelsPerUnit() >= FREEHAND_STEP_PX) gesture.path.push(point);
      gesture.current = point;
    } else if (gesture.mode === "box") {
      gesture.current = point;
    }
    this.draw();
  }

  beginDrag(gesture) {
    const hit = gesture.hit;
    if (hit?.kind === "radius") {
      gesture.mode = "radius";
    } else if (hit?.kind === "point" && !hit.inserted && (hit.entity.anchor || hit.entity.points.length === 1)) {
      // Dragging a lone point draws the entity's path from it. For a held entity the hold becomes a path from
      // where it stands: for the background anchor this is a camera pan.
      hit.entity.anchor = false;
      hit.entity.points = [hit.entity.points[0]];
      hit.entity.frames = null;
      gesture.mode = "path";
      gesture.entity = hit.entity;
      gesture.path = [];
    } else if (hit?.kind === "point") {
      gesture.mode = "move";
    } else if (gesture.shift) {
      gesture.mode = "box";
    } else if (gesture.extends) {
      gesture.mode = "path";
      gesture.entity = this.entity();
      gesture.path = [];
    } else {
      // A drag on empty ground: a new entity where the drag starts, with the drag as its path.
      const entity = newEntity(this.doc, ...gesture.start);
      this.doc.entities.push(entity);
      this.selectedId = entity.id;
      gesture.mode = "path";
      gesture.entity = entity;
      gesture.path = [];
    }
  }

  onPointerUp(event) {
    const gesture = this.gesture;
    this.gesture = null;
    if (!gesture) return;
    if (this.canvas.hasPointerCapture(event.pointerId)) this.canvas.releasePointerCapture(event.pointerId);
    const point = this.toImage(event);
    if (!gesture.moved) this.onClick(gesture, point);
    else if (gesture.mode === "path") this.finishPath(gesture, point);
    else if (gesture.mode === "box") this.finishBox(gesture, point);
    this.renderList();
    this.commit();
    this.draw();
  }

  onClick(gesture, point) {
    const selected = this.entity();
    const hit = gesture.hit;
    if (hit?.kind === "point" || hit?.kind === "radius") return; // selection happened on press
    if ((gesture.shift || gesture.alt) && selected) {
      selected.clicks.push({ x: point[0], y: point[1], positive: !gesture.alt });
      this.refreshMasks();
      return;
    }
    if (gesture.ctrl && selected) {
      if (selected.anchor) selected.anchor = false;
      selected.points.push(point);
      retime(selected, this.numFrames(this.doc));
      this.selectedPoint = selected.points.length - 1;
      return;
    }
    const entity = newEntity(this.doc, ...point);
    this.doc.entities.push(entity);
    this.selectedId = entity.id;
    this.selectedPoint = 0;
    this.refreshMasks();
  }

  finishPath(gesture, point) {
    const entity = gesture.entity;
    const path = gesture.path;
    const last = path[path.length - 1];
    if (!last || Math.hypot(point[0] - last[0], point[1] - last[1]) > 0.5) path.push(point);
    // A freehand stroke keeps only the points that shape it: fewer points to edit and to time.
    const start = entity.points[entity.points.length - 1];
    entity.points.push(...simplify([start, ...path], SIMPLIFY_PX / this.pixelsPerUnit()).slice(1));
    retime(entity, this.numFrames(this.doc));
    this.selectedPoint = entity.points.length - 1;
    this.refreshMasks();
  }

  finishBox(gesture, point) {
    const [x0, y0] = gesture.start;
    const box = [Math.min(x0, point[0]), Math.min(y0, point[1]), Math.max(x0, point[0]), Math.max(y0, point[1])];
    if (box[2] - box[0] < 2 || box[3] - box[1] < 2) return;
    let entity = this.entity();
    if (!entity) {
      entity = newEntity(this.doc, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, { clicks: [] });
      this.doc.entities.push(entity);
      this.selectedId = entity.id;
    }
    entity.box = box;
    this.refreshMasks();
  }

  onDoubleClick(event) {
    event.preventDefault();
    const hit = this.hitTest(this.toImage(event));
    if (hit?.kind === "point") this.deletePoint(hit.entity, hit.index);
  }

  onContextMenu(event) {
    event.preventDefault();
    event.stopPropagation();
    const point = this.toImage(event);
    const hit = this.hitTest(point);
    const selected = this.entity();
    if (hit?.kind === "point") this.deletePoint(hit.entity, hit.index);
    else if (selected) {
      selected.clicks.push({ x: point[0], y: point[1], positive: false });
      this.refreshMasks();
      this.commit();
      this.draw();
    }
  }

  deletePoint(entity, index) {
    if (entity.points.length <= 1) return this.deleteEntity(entity.id);
    entity.points.splice(index, 1);
    if (entity.frames) entity.frames.splice(index, 1);
    this.selectedId = entity.id;
    this.selectedPoint = Math.min(index, entity.points.length - 1);
    this.renderList();
    this.commit();
    this.draw();
  }

  // --------------------------------------------------------------------------------------------- keyboard

  onKeyDown(event) {
    event.stopPropagation();
    this.syncFromValue();
    const ctrl = event.ctrlKey || event.metaKey;
    const key = event.key;
    const handled = () => event.preventDefault();
    if (ctrl && key.toLowerCase() === "z") return handled(), event.shiftKey ? this.redo() : this.undo();
    if (ctrl && key.toLowerCase() === "y") return handled(), this.redo();
    if (ctrl) return; // copy/paste and the browser's own shortcuts
    if (key === "Delete" || key === "Backspace") {
      handled();
      const entity = this.entity();
      if (entity && this.selectedPoint != null && entity.points.length > 1) this.deletePoint(entity, this.selectedPoint);
      else if (entity) this.deleteEntity(entity.id);
    } else if (key === "a" || key === "A") {
      handled();
      this.toggleAnchor();
    } else if (key === "b" || key === "B") {
      handled();
      this.addBackgroundAnchor();
    } else if (key === "g" || key === "G") {
      handled();
      this.setShowGaussian(!this.showGaussian);
    } else if (key === "ArrowRight" || key === "ArrowLeft") {
      handled();
      this.setFrame(this.frame + (key === "ArrowRight" ? 1 : -1));
    } else if (key === "Escape") {
      handled();
      this.selectedId = null;
      this.selectedPoint = null;
      this.renderList();
      this.draw();
    }
  }

  async onPaste(event) {
    const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith("image/"));
    if (!file) return;
    event.preventDefault();
    event.stopPropagation();
    await this.host.onImageFile(file);
  }

  async onDrop(event) {
    const file = [...(event.dataTransfer?.files ?? [])].find((f) => f.type.startsWith("image/"));
    if (!file) return;
    event.preventDefault();
    event.stopPropagation();
    await this.host.onImageFile(file);
  }

  // ------------------------------------------------------------------------------------------- commands

  select(id, { rebuildList = true } = {}) {
    this.selectedId = id;
    this.selectedPoint = null;
    if (rebuildList) this.renderList();
    else {
      for (const row of this.list.children) row.classList.toggle("da-selected", row.dataset.entity === id);
      this.anchorButton.classList.toggle("da-on", Boolean(this.entity()?.anchor));
      this.renderPointRow();
    }
    this.draw();
  }

  toggleAnchor() {
    const entity = this.entity();
    if (!entity) return this.setStatus("Select an entity first (click it, or pick its row).");
    entity.anchor = !entity.anchor;
    this.renderList();
    this.commit();
    this.draw();
  }

  addBackgroundAnchor() {
    const [x, y] = backgroundPoint(this.doc);
    // Negative clicks on the other entities keep them out of the background's mask.
    const negatives = this.doc.entities.map((e) => ({ x: e.points[0][0], y: e.points[0][1], positive: false }));
    const entity = newEntity(this.doc, x, y, { label: BACKGROUND_LABEL, anchor: true, clicks: [{ x, y, positive: true }, ...negatives] });
    this.doc.entities.push(entity);
    this.selectedId = entity.id;
    this.selectedPoint = 0;
    this.renderList();
    this.commit();
    this.refreshMasks();
    this.draw();
  }

  clearEntities() {
    this.doc.entities = [];
    this.masks.clear();
    this.selectedId = null;
    this.selectedPoint = null;
    this.renderList();
    this.commit();
    this.draw();
  }

  deleteEntity(id) {
    this.doc.entities = this.doc.entities.filter((e) => e.id !== id);
    this.masks.delete(id);
    if (this.selectedId === id) {
      this.selectedId = null;
      this.selectedPoint = null;
    }
    this.renderList();
    this.commit();
    this.draw();
  }

  moveEntity(id, step) {
    const index = this.doc.entities.findIndex((e) => e.id === id);
    const target = index + step;
    if (index < 0 || target < 0 || target >= this.doc.entities.length) return;
    const [entity] = this.doc.entities.splice(index, 1);
    this.doc.entities.splice(target, 0, entity);
    this.renderList();
    this.commit();
  }

  setNumFrames(value) {
    const frames = clamp(Math.round(value) || DEFAULT_NUM_FRAMES, 1, MAX_NUM_FRAMES);
    this.doc.num_frames = frames;
    this.framesInput.value = String(frames);
    this.commit();
    this.setFrame(this.frame);
  }

  setFrame(value) {
    const last = this.numFrames(this.doc) - 1;
    this.frame = clamp(Math.round(value), 0, last);
    this.frameSlider.max = String(last);
    this.frameSlider.value = String(this.frame);
    this.frameLabel.textContent = `frame ${this.frame} / ${last}`;
    this.requestGaussian();
    this.draw();
  }

  setStatus(text, isError = false) {
    this.status = text;
    this.statusLine.textContent = text;
    this.statusLine.classList.toggle("da-error", isError);
  }

  updateButtons() {
    this.undoButton.disabled = this.historyIndex <= 0;
    this.redoButton.disabled = this.historyIndex >= this.history.length - 1;
  }

  // ------------------------------------------------------------------------------------------ entity list

  color(index) {
    return this.preview?.colors?.[index] ?? "#9aa0a6";
  }

  /**
   * Update the rows after a background answer (colours, radius hints) in place: replacing them would swallow a
   * click in progress or the text being typed. Rows are rebuilt only when the entities themselves changed.
   */
  refreshList() {
    const rows = [...this.list.children];
    if (rows.length !== this.doc.entities.length || rows.some((row, i) => row.dataset.entity !== this.doc.entities[i].id)) {
      this.renderList();
      return;
    }
    rows.forEach((row, index) => {
      row.querySelector(".da-swatch").style.background = this.color(index);
      row.querySelector(".da-radius").placeholder = this.radiusPlaceholder(this.doc.entities[index]);
    });
  }

  renderList() {
    const entity = this.entity();
    this.anchorButton.classList.toggle("da-on", Boolean(entity?.anchor));
    this.list.replaceChildren(
      ...this.doc.entities.map((e, index) => this.entityRow(e, index)),
    );
    this.renderPointRow();
    this.framesInput.value = String(this.numFrames(this.doc));
    this.setFrame(this.frame);
  }

  entityRow(entity, index) {
    const row = element("div", "da-row", { "data-testid": `da-row-${entity.id}`, "data-entity": entity.id });
    row.classList.toggle("da-selected", entity.id === this.selectedId);
    // Selecting from a row only restyles the rows: rebuilding them would swallow the click on a row's button.
    row.addEventListener("pointerdown", () => this.select(entity.id, { rebuildList: false }));
    const swatch = element("span", "da-swatch");
    swatch.style.background = this.color(index);
    const label = element("input", "da-label", { type: "text", value: entity.label, title: "Name", "data-testid": "da-label" });
    label.addEventListener("change", () => {
      entity.label = label.value;
      this.commit();
    });
    const radius = element("input", "da-radius", {
      type: "number", min: "1", step: "1", title: "Radius in pixels (empty: from the mask)", placeholder: this.radiusPlaceholder(entity), "data-testid": "da-radius",
    });
    radius.value = entity.radius != null ? String(Math.round(entity.radius)) : "";
    radius.addEventListener("change", () => {
      const value = Number(radius.value);
      entity.radius = radius.value === "" || !(value > 0) ? null : value;
      this.commit();
      this.draw();
    });
    const span = this.spanInputs(entity);
    const anchor = element("button", "da-button da-small", { type: "button", title: "Hold still", "data-testid": "da-row-anchor", text: "⚓" });
    anchor.classList.toggle("da-on", entity.anchor);
    anchor.addEventListener("click", () => {
      entity.anchor = !entity.anchor;
      this.renderList();
      this.commit();
      this.draw();
    });
    const up = element("button", "da-button da-small", { type: "button", title: "Move up", text: "▲", "data-testid": "da-row-up" });
    up.addEventListener("click", () => this.moveEntity(entity.id, -1));
    const down = element("button", "da-button da-small", { type: "button", title: "Move down", text: "▼", "data-testid": "da-row-down" });
    down.addEventListener("click", () => this.moveEntity(entity.id, 1));
    const remove = element("button", "da-button da-small", { type: "button", title: "Delete", text: "✕", "data-testid": "da-row-delete" });
    remove.addEventListener("click", () => this.deleteEntity(entity.id));
    row.append(swatch, label, element("span", "da-caption", { text: "r" }), radius, ...span, anchor, up, down, remove);
    return row;
  }

  radiusPlaceholder(entity) {
    const hint = this.masks.get(entity.id)?.radius;
    return hint ? `auto ${Math.round(hint)}` : "auto";
  }

  spanInputs(entity) {
    const last = this.numFrames(this.doc) - 1;
    const start = element("input", "da-span", { type: "number", min: "0", title: "Start frame (empty: spread over the video)", placeholder: "0", "data-testid": "da-start" });
    const end = element("input", "da-span", { type: "number", min: "0", title: "End frame", placeholder: String(last), "data-testid": "da-end" });
    if (entity.frames) {
      start.value = String(entity.frames[0]);
      end.value = String(entity.frames[entity.frames.length - 1]);
    }
    const apply = () => {
      if (start.value === "" && end.value === "") entity.frames = null;
      else {
        const [first, final] = [Number(start.value || 0), Number(end.value === "" ? last : end.value)];
        setSpan(entity, first, final, last + 1);
        if (entity.frames.at(-1) !== final)
          this.setStatus(`${entity.points.length} points need ${entity.points.length} distinct frames: it ends at frame ${entity.frames.at(-1)}.`, true);
      }
      this.renderList();
      this.commit();
    };
    start.addEventListener("change", apply);
    end.addEventListener("change", apply);
    return [element("span", "da-caption", { text: "frames" }), start, element("span", "da-caption", { text: "–" }), end];
  }

  renderPointRow() {
    const entity = this.entity();
    const index = this.selectedPoint;
    if (!entity || index == null || index >= entity.points.length) {
      this.pointRow.replaceChildren();
      return;
    }
    const [x, y] = entity.points[index];
    const text = element("span", "da-caption", { text: `${entity.label || entity.id}: point ${index + 1}/${entity.points.length} at (${Math.round(x)}, ${Math.round(y)}) reached at frame` });
    const frame = element("input", "da-span", { type: "number", min: "0", placeholder: "auto", "data-testid": "da-point-frame" });
    if (entity.frames) frame.value = String(entity.frames[index]);
    frame.addEventListener("change", () => {
      if (frame.value === "") entity.frames = null;
      else setPointFrame(entity, index, Number(frame.value), this.numFrames(this.doc));
      this.renderList();
      this.commit();
    });
    this.pointRow.replaceChildren(text, frame);
  }

  // ------------------------------------------------------------------------------------------------ draw

  draw() {
    const dpr = window.devicePixelRatio || 1;
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    if (!width || !height) return;
    if (this.canvas.width !== Math.round(width * dpr) || this.canvas.height !== Math.round(height * dpr)) {
      this.canvas.width = Math.round(width * dpr);
      this.canvas.height = Math.round(height * dpr);
    }
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const l = this.layout();
    const [fw, fh] = this.frameSize();
    const [x0, y0] = this.toScreen([0, 0], l);
    ctx.fillStyle = "#1b1b1f";
    ctx.fillRect(x0, y0, fw * l.scale, fh * l.scale);
    if (this.image) ctx.drawImage(this.image, x0, y0, fw * l.scale, fh * l.scale);
    else this.drawPlaceholder(ctx, l);

    this.doc.entities.forEach((entity, index) => this.drawMask(ctx, l, entity, index));
    if (this.showGaussian && this.gaussian.image) {
      ctx.globalAlpha = 0.75;
      ctx.drawImage(this.gaussian.image, x0, y0, fw * l.scale, fh * l.scale);
      ctx.globalAlpha = 1;
    }
    this.doc.entities.forEach((entity, index) => this.drawEntity(ctx, l, entity, index));
    this.drawGesture(ctx, l);
  }

  drawPlaceholder(ctx, l) {
    ctx.fillStyle = "#9aa0a6";
    ctx.font = "13px sans-serif";
    ctx.textAlign = "center";
    ctx.fillText("Connect a LoadImage, or drop / paste a picture here", l.width / 2, l.height / 2);
    ctx.textAlign = "start";
  }

  drawMask(ctx, l, entity, index) {
    const mask = this.masks.get(entity.id);
    if (!mask?.image) return;
    const color = this.color(index);
    if (mask.tintColor !== color) {
      const tinted = document.createElement("canvas");
      tinted.width = mask.image.naturalWidth;
      tinted.height = mask.image.naturalHeight;
      const tctx = tinted.getContext("2d");
      tctx.drawImage(mask.image, 0, 0);
      tctx.globalCompositeOperation = "source-in";
      tctx.fillStyle = color;
      tctx.fillRect(0, 0, tinted.width, tinted.height);
      mask.tinted = tinted;
      mask.tintColor = color;
    }
    const [fw, fh] = this.frameSize();
    const [x0, y0] = this.toScreen([0, 0], l);
    ctx.globalAlpha = entity.id === this.selectedId ? 0.45 : 0.3;
    ctx.drawImage(mask.tinted, x0, y0, fw * l.scale, fh * l.scale);
    ctx.globalAlpha = 1;
  }

  drawEntity(ctx, l, entity, index) {
    const color = this.color(index);
    const selected = entity.id === this.selectedId;
    const screen = entity.points.map((p) => this.toScreen(p, l));
    const track = this.preview?.document?.entities?.[index]?.id === entity.id ? this.preview.tracks?.[index] : null;

    // The curve as the nodes resample it: one dot per frame.
    if (track && !entity.anchor) {
      ctx.strokeStyle = color;
      ctx.lineWidth = selected ? 2.5 : 1.5;
      ctx.beginPath();
      track.forEach((p, i) => {
        const [sx, sy] = this.toScreen(p, l);
        if (i === 0) ctx.moveTo(sx, sy);
        else ctx.lineTo(sx, sy);
      });
      ctx.stroke();
      ctx.fillStyle = color;
      for (const p of track) {
        const [sx, sy] = this.toScreen(p, l);
        ctx.fillRect(sx - 1.5, sy - 1.5, 3, 3);
      }
      if (track.length > 1) drawArrowHead(ctx, this.toScreen(track[track.length - 2], l), this.toScreen(track[track.length - 1], l), color);
    } else if (screen.length > 1 && !entity.anchor) {
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = color;
      ctx.beginPath();
      screen.forEach(([sx, sy], i) => (i ? ctx.lineTo(sx, sy) : ctx.moveTo(sx, sy)));
      ctx.stroke();
      ctx.setLineDash([]);
    }

    // Control points; the first one carries the entity's label.
    screen.forEach(([sx, sy], i) => {
      ctx.beginPath();
      ctx.arc(sx, sy, i === 0 ? 5 : 3.5, 0, Math.PI * 2);
      ctx.fillStyle = selected && i === this.selectedPoint ? "#ffffff" : color;
      ctx.fill();
      ctx.strokeStyle = "#000000";
      ctx.lineWidth = 1;
      ctx.stroke();
    });
    for (const click of entity.clicks) {
      const [sx, sy] = this.toScreen([click.x, click.y], l);
      ctx.fillStyle = click.positive ? "#39d353" : "#f85149";
      ctx.font = "bold 12px sans-serif";
      ctx.fillText(click.positive ? "+" : "−", sx + 4, sy - 4);
    }
    if (entity.box) {
      const [bx0, by0] = this.toScreen(entity.box.slice(0, 2), l);
      const [bx1, by1] = this.toScreen(entity.box.slice(2), l);
      ctx.strokeStyle = color;
      ctx.setLineDash([6, 3]);
      ctx.strokeRect(bx0, by0, bx1 - bx0, by1 - by0);
      ctx.setLineDash([]);
    }
    const [lx, ly] = screen[0];
    ctx.font = "12px sans-serif";
    ctx.fillStyle = "#000000";
    const caption = `${entity.anchor ? "⚓ " : ""}${entity.label || entity.id}`;
    ctx.fillText(caption, lx + 8, ly + 15);
    ctx.fillStyle = color;
    ctx.fillText(caption, lx + 7, ly + 14);

    // Radius circle and handle (selected entity), and the position at the scrubbed frame.
    const radius = this.radiusHint(entity) ?? this.defaultRadius();
    if (selected) {
      ctx.beginPath();
      ctx.setLineDash(entity.radius == null ? [3, 3] : []);
      ctx.arc(lx, ly, radius * l.scale, 0, Math.PI * 2);
      ctx.strokeStyle = color;
      ctx.stroke();
      ctx.setLineDash([]);
      const [hx, hy] = this.toScreen(this.radiusHandle(entity), l);
      ctx.beginPath();
      ctx.moveTo(hx, hy - 6);
      ctx.lineTo(hx + 6, hy);
      ctx.lineTo(hx, hy + 6);
      ctx.lineTo(hx - 6, hy);
      ctx.closePath();
      ctx.fillStyle = "#ffffff";
      ctx.fill();
      ctx.strokeStyle = color;
      ctx.stroke();
    }
    if (track) {
      const [fx, fy] = this.toScreen(track[Math.min(this.frame, track.length - 1)], l);
      ctx.beginPath();
      ctx.arc(fx, fy, Math.max(4, radius * l.scale * 0.35), 0, Math.PI * 2);
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 2;
      ctx.stroke();
      ctx.lineWidth = 1;
    }
  }

  drawGesture(ctx, l) {
    const gesture = this.gesture;
    if (!gesture?.moved) return;
    if (gesture.mode === "path") {
      const start = gesture.entity.points[gesture.entity.points.length - 1];
      const points = [start, ...gesture.path, gesture.current ?? start].map((p) => this.toScreen(p, l));
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 2;
      ctx.beginPath();
      points.forEach(([sx, sy], i) => (i ? ctx.lineTo(sx, sy) : ctx.moveTo(sx, sy)));
      ctx.stroke();
    } else if (gesture.mode === "box" && gesture.current) {
      const [ax, ay] = this.toScreen(gesture.start, l);
      const [bx, by] = this.toScreen(gesture.current, l);
      ctx.strokeStyle = "#ffffff";
      ctx.setLineDash([6, 3]);
      ctx.strokeRect(Math.min(ax, bx), Math.min(ay, by), Math.abs(bx - ax), Math.abs(by - ay));
      ctx.setLineDash([]);
    }
  }
}

// --------------------------------------------------------------------------------------------------- helpers

function scaleDocument(doc, sx, sy) {
  const scale = ([x, y]) => [x * sx, y * sy];
  for (const entity of doc.entities) {
    entity.points = entity.points.map(scale);
    entity.clicks = entity.clicks.map((c) => ({ ...c, x: c.x * sx, y: c.y * sy }));
    if (entity.box) entity.box = [...scale(entity.box.slice(0, 2)), ...scale(entity.box.slice(2))];
    if (entity.radius != null) entity.radius *= Math.sqrt(sx * sy);
  }
}

function parseOwn(text) {
  try {
    const value = JSON.parse(text);
    return value?.format === FORMAT_NAME ? value : null;
  } catch {
    return null;
  }
}

/** Ramer-Douglas-Peucker: the points of a polyline that keep it within `tolerance` of the original. */
function simplify(points, tolerance) {
  if (points.length < 3) return points;
  let farthest = 0;
  let index = 0;
  for (let i = 1; i < points.length - 1; i++) {
    const distance = distanceToSegment(points[i], points[0], points[points.length - 1]);
    if (distance > farthest) {
      farthest = distance;
      index = i;
    }
  }
  if (farthest <= tolerance) return [points[0], points[points.length - 1]];
  return [...simplify(points.slice(0, index + 1), tolerance).slice(0, -1), ...simplify(points.slice(index), tolerance)];
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

function distanceToSegment([px, py], [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const length2 = dx * dx + dy * dy;
  const t = length2 ? clamp(((px - ax) * dx + (py - ay) * dy) / length2, 0, 1) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

function drawArrowHead(ctx, [ax, ay], [bx, by], color) {
  const angle = Math.atan2(by - ay, bx - ax);
  ctx.beginPath();
  ctx.moveTo(bx, by);
  ctx.lineTo(bx - 9 * Math.cos(angle - 0.45), by - 9 * Math.sin(angle - 0.45));
  ctx.lineTo(bx - 9 * Math.cos(angle + 0.45), by - 9 * Math.sin(angle + 0.45));
  ctx.closePath();
  ctx.fillStyle = color;
  ctx.fill();
}

export function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`could not load ${String(src).slice(0, 80)}`));
    image.src = src;
  });
}

function maskAlpha(image) {
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(image, 0, 0);
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}
