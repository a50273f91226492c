// The editor's state and its one update path: update(recipe) -> settle -> commit -> derive -> notify.
//
//   recipe   a function that changes the state (commands.js holds them all; so do the server answers).
//   settle   the rules that always hold: a document in the pack's format records the first frame's name and
//            size (scaled when it was drawn on another size of the same picture); the selection and the frame
//            stay valid.
//   commit   a changed document becomes the node's value: serialized, written through `writeValue`, recorded
//            in the editor's undo history. Nothing is committed while a pointer gesture holds the document open
//            (the drag commits once, when it ends), nor while a foreign value waits for the server's reading.
//   derive   the requests the server answers for this state (state.requests), so the server cache and the
//            views read them, never recompute them.
//   notify   every subscriber (canvas, panel, server cache) sees the new state.
//
// The node's value is the only stored state: everything else here is rebuilt from it, from the first frame and
// from the graph around the node. No DOM or host imports: this module runs in Node for the unit tests.
import { DEFAULT_NUM_FRAMES, emptyDocument, normalizeDocument, parseOwnDocument, scaleDocument, serializeDocument } from "./document.js";
import { clamp } from "./geometry.js";

export const HISTORY_LIMIT = 200;
/** The frame size drawn before there is a picture or a document size. */
export const PLACEHOLDER_SIZE = [576, 320];
const FALLBACK_COLOR = "#9aa0a6";

export function initialState() {
  const doc = emptyDocument();
  return {
    text: "", // the node's value as last read or written
    foreign: false, // the value is in another accepted format; it is left as written until edited
    pending: false, // a foreign value waits for the server's reading of it
    doc,
    docText: serializeDocument(doc), // the document as last adopted or committed, serialized
    history: { entries: [], index: -1 },
    selection: { entityId: null, point: null },
    frame: 0,
    showGaussian: true,
    showValue: false, // the raw JSON text box of the node
    image: null, // {element, width, height, source, documentRef, maskRef}
    // Read from the graph around the node: a connected SAM loader, the Drag Conditions node it feeds.
    context: { sam: null, mode: null, framing: null, modelWidth: null, modelHeight: null },
    preview: null, // {key, answer}: the server's last good reading, of the request `key`
    masks: {}, // entity id -> {key, radius, method, note, error, element, alpha}: the last answer for it
    gaussian: null, // {key, element}
    notices: {}, // topic -> {text, error}
    gesture: null, // a pointer gesture in progress (input.js)
    cameraMoves: new Map(), // document text -> {baseText, move: {zoom, orbit}}: the documents camera clicks made
    cameraRequest: null, // {key, body, baseText, move, fromText}: a camera tool's click, waiting for /camera
    requests: { preview: null, gaussian: null, camera: null }, // derived: {key, body} or null
  };
}

export class EditorStore {
  /** @param {{writeValue: (text: string) => void}} host  stores a new value on the node */
  constructor({ writeValue }) {
    this.writeValue = writeValue;
    this.state = initialState();
    this.valueWritten = null; // the value the node holds, as far as the editor knows
    this.listeners = new Set();
    this.queue = [];
    this.busy = false;
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The node's value changed outside the editor (typed, pasted, workflow load, graph undo). */
  receiveValue(text) {
    text = text ?? "";
    if (text === this.valueWritten) return;
    this.valueWritten = text;
    this.update((s) => readValue(s, text, { record: true }));
  }

  /** The one way to change the state. Updates asked for while one runs (by subscribers) run right after it. */
  update(recipe) {
    this.queue.push(recipe);
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length) {
        const next = this.queue.shift();
        next(this.state);
        settle(this.state);
        this.commit();
        this.state.requests = deriveRequests(this.state);
        for (const listener of [...this.listeners]) {
          try {
            listener(this.state);
          } catch (error) {
            console.error("[DragAnything] editor view failed:", error);
          }
        }
      }
    } finally {
      this.busy = false;
      this.queue.length = 0;
    }
  }

  commit() {
    const s = this.state;
    if (!s.pending && !s.gesture) {
      const text = serializeDocument(s.doc);
      if (text !== s.docText) {
        s.docText = text;
        s.text = text;
        s.foreign = false;
        pushHistory(s.history, text);
      }
    }
    if (s.text !== this.valueWritten) {
      this.valueWritten = s.text;
      this.writeValue(s.text);
    }
  }
}

// ------------------------------------------------------------------------------------------ value and history

/** Show `text`. The pack's own documents are read here; other formats are read by the server (receivePreview). */
export function readValue(s, text, { record }) {
  s.text = text;
  if (record) pushHistory(s.history, text);
  const own = parseOwnDocument(text);
  s.foreign = !own && Boolean(text.trim());
  s.pending = s.foreign;
  if (!s.foreign) adoptDocument(s, own ?? emptyDocument());
}

export function adoptDocument(s, document) {
  s.doc = normalizeDocument(document);
  s.docText = serializeDocument(s.doc);
}

export function pushHistory(history, text) {
  if (history.entries[history.index] === text) return;
  history.entries.splice(history.index + 1);
  history.entries.push(text);
  if (history.entries.length > HISTORY_LIMIT) history.entries.shift();
  history.index = history.entries.length - 1;
}

export const canUndo = (s) => s.history.index > 0;
export const canRedo = (s) => s.history.index < s.history.entries.length - 1;

// ----------------------------------------------------------------------------------------------------- settle

function settle(s) {
  fitDocumentToImage(s);
  const { entityId, point } = s.selection;
  const selected = s.doc.entities.find((e) => e.id === entityId);
  if (!selected) s.selection = { entityId: null, point: null };
  else if (point != null && point >= selected.points.length) s.selection.point = selected.points.length - 1;
  s.frame = clamp(Math.round(s.frame) || 0, 0, numFrames(s) - 1);
}

/**
 * A document in the pack's format records the first frame's name and size. One drawn on another size of the
 * same picture is scaled to this one. Left alone: foreign values (until edited), an empty document that names no
 * picture (so opening a workflow never rewrites its value), and the small copy embedded in the workflow (the
 * points are pixels of the original picture).
 */
function fitDocumentToImage(s) {
  const image = s.image;
  if (!image || image.source === "embedded" || s.foreign || s.pending) return;
  if (!s.doc.entities.length && !s.doc.image) return;
  const doc = s.doc;
  if (doc.width !== image.width || doc.height !== image.height) {
    if (doc.width && doc.height) {
      scaleDocument(doc, image.width / doc.width, image.height / doc.height);
      s.notices.edit = { text: `The paths were drawn on a ${doc.width}x${doc.height} picture: scaled to ${image.width}x${image.height}.`, error: false };
    }
    doc.width = image.width;
    doc.height = image.height;
  }
  if (image.documentRef && doc.image !== image.documentRef) doc.image = image.documentRef;
}

// -------------------------------------------------------------------------------------------------- selectors

export function numFrames(s) {
  return s.doc.num_frames ?? s.preview?.answer?.num_frames ?? DEFAULT_NUM_FRAMES;
}

/** The first frame's size in pixels, when known: the document's, else the picture's (not its embedded copy's). */
export function imageSize(s) {
  if (s.doc.width && s.doc.height) return [s.doc.width, s.doc.height];
  if (s.image && s.image.source !== "embedded") return [s.image.width, s.image.height];
  return null;
}

export function frameSize(s) {
  return imageSize(s) ?? PLACEHOLDER_SIZE;
}

export function entityIndex(s, id) {
  return s.doc.entities.findIndex((e) => e.id === id);
}

export function selectedEntity(s) {
  return s.doc.entities.find((e) => e.id === s.selection.entityId) ?? null;
}

/** The mask prompt of an entity as the nodes build it: its clicks and box, else its first point. */
export function maskPrompt(entity) {
  const clicks = entity.clicks.length || entity.box ? entity.clicks : [{ x: entity.points[0][0], y: entity.points[0][1], positive: true }];
  return { clicks, box: entity.box };
}

/** The /mask request for an entity, or null when there is no picture the server can read. */
export function maskRequest(s, entity) {
  const ref = s.image?.source === "embedded" ? null : s.image?.maskRef;
  if (!ref) return null;
  const body = { image: ref, ...maskPrompt(entity), sam: s.context.sam };
  return { key: JSON.stringify(body), body };
}

/** The entity's mask when it was made for its current prompt. */
export function currentMask(s, entity) {
  const mask = s.masks[entity.id];
  const request = maskRequest(s, entity);
  return mask && request && mask.key === request.key ? mask : null;
}

function maskRadius(s, entity) {
  const radius = currentMask(s, entity)?.radius;
  return typeof radius === "number" ? radius : null;
}

function deriveRequests(s) {
  const preview = previewRequest(s);
  const gaussian = preview && gaussianRequest(s, preview.body);
  const camera = s.cameraRequest && { key: s.cameraRequest.key, body: s.cameraRequest.body };
  return { preview, gaussian, camera };
}

/**
 * The /preview request: the value, and what decides how the nodes read it (frame count, the resampling, framing
 * and model size of the Drag Conditions node it feeds, each entity's mask radius). Settings the graph does not
 * give are left out, so the server's defaults apply. Null when there is nothing to read.
 */
function previewRequest(s) {
  if (!s.pending && !s.doc.entities.length) return null;
  const size = imageSize(s);
  const body = { trajectories: s.text };
  if (!s.pending) body.num_frames = numFrames(s);
  if (s.context.mode) body.mode = s.context.mode;
  if (size) [body.width, body.height] = size;
  if (s.context.framing) body.framing = s.context.framing;
  if (s.context.modelWidth && s.context.modelHeight) {
    body.model_width = s.context.modelWidth;
    body.model_height = s.context.modelHeight;
  }
  if (!s.pending) {
    body.mask_radii = s.doc.entities.map((e) => maskRadius(s, e));
    body.radii = body.mask_radii; // the field's earlier name, for servers that predate `mask_radii`
  }
  return { key: JSON.stringify(body), body };
}

/** The /gaussian request at the current frame, once the server has read the value without error. */
function gaussianRequest(s, preview) {
  if (!s.showGaussian || s.pending || !imageSize(s) || s.preview?.key !== JSON.stringify(preview)) return null;
  const body = { ...preview, frame: s.frame };
  return { key: JSON.stringify(body), body };
}

/** The server's answer for the current value and settings, or null while it is on its way (or failed). */
export function currentPreview(s) {
  const key = s.requests.preview?.key;
  return key && s.preview?.key === key ? s.preview.answer : null;
}

/** The last good answer whose entity at `index` is this entity: its colour and track, until a newer one comes. */
function answerFor(s, index) {
  const answer = s.preview?.answer;
  return answer?.document?.entities?.[index]?.id === s.doc.entities[index]?.id ? answer : null;
}

export function entityColor(s, index) {
  return s.preview?.answer?.colors?.[index] ?? FALLBACK_COLOR;
}

export function entityTrack(s, index) {
  return answerFor(s, index)?.tracks?.[index] ?? null;
}

/** Whether the model sees the entity at `index` at the current frame, as the server resampled it (its hidden ranges, off-frame points). */
export function entityShownNow(s, index) {
  return answerFor(s, index)?.visible?.[index]?.[s.frame] ?? true;
}

/** The camera move that made the document, when camera clicks made it: "camera: zoom ×1.56 · orbit +15°". */
export function cameraReadout(s) {
  if (s.cameraRequest) return "camera: computing…";
  const move = s.cameraMoves.get(s.docText)?.move;
  if (!move) return "";
  const parts = [];
  if (move.zoom !== 1) parts.push(`zoom ×${move.zoom.toFixed(2)}`);
  if (move.orbit !== 0) parts.push(`orbit ${move.orbit > 0 ? "+" : ""}${move.orbit}°`);
  return `camera: ${parts.join(" · ")}`;
}

/**
 * The radius the maps use for the entity at `index`, in frame pixels: the server's (`radii` of the current
 * answer) when it has answered, else, provisionally, the typed radius or the mask's inscribed radius.
 * @returns {{radius: number, provisional: boolean} | null}
 */
export function entityRadius(s, index) {
  const entity = s.doc.entities[index];
  if (!entity) return null;
  const served = currentPreview(s)?.radii?.[index];
  const dragged = s.gesture?.mode === "radius" && s.gesture.entityId === entity.id;
  if (typeof served === "number" && !dragged) return { radius: served, provisional: false };
  const own = entity.radius ?? maskRadius(s, entity);
  if (own != null) return { radius: own, provisional: true };
  const stale = answerFor(s, index)?.radii?.[index];
  return typeof stale === "number" ? { radius: stale, provisional: true } : null;
}

const NOTICE_ORDER = ["value", "image", "gaussian", "mask", "edit"];

/** The status line: the first error, else the first message, else what to do next. */
export function statusLine(s) {
  const notices = NOTICE_ORDER.map((topic) => s.notices[topic]).filter(Boolean);
  const shown = notices.find((n) => n.error) ?? notices[0];
  if (shown) return shown;
  // Without a picture the canvas itself says what to do; the status line does not repeat it.
  if (!s.image) return { text: "", error: false };
  if (s.image.source === "embedded")
    return { text: `Showing the copy stored in the workflow: '${s.doc.image}' is not in your input folder; drop the picture again for masks.`, error: false };
  if (!s.doc.entities.length) return { text: "Click an object to make it an entity, then drag from it to draw its path.", error: false };
  return { text: "", error: false };
}
