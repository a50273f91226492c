// The trajectory editor: a DOM element that edits the pack's trajectory document over the first frame.
//
//   store.js         the state and its one update -> commit -> render path (commands.js: every change)
//   canvas_view.js   draws the state on the canvas          panel_view.js  toolbar, rows, status line
//   input.js         pointer and keyboard gestures -> commands
//   server_cache.js  the preview, Gaussian, mask and camera requests the state needs, cached and cancellable
//
// It knows nothing about the graph: the node glue (../trajectory_editor.js) passes the node's value in
// (receiveValue), stores the value the editor writes (writeValue), and tells it the first frame and the settings
// of the connected nodes. Everything the model will see (the parsed value, the resampled tracks, the radii, the
// Gaussian maps, the masks) comes from the pack's server routes, so what is drawn is what the nodes compute.
import { CanvasView, radiusHandle } from "./canvas_view.js";
import * as commands from "./commands.js";
import { toScreen } from "./geometry.js";
import { InputHandler } from "./input.js";
import { PanelView, element } from "./panel_view.js";
import { fetchCamera, fetchGaussian, fetchMask, fetchPreview } from "./server.js";
import { ServerCache } from "./server_cache.js";
import { EditorStore, entityIndex, statusLine } from "./store.js";

export class TrajectoryEditor {
  /**
   * @param {object} host
   *   writeValue(text): void                 store a new JSON value on the node
   *   onImageFile(file): Promise<void>       upload a dropped or pasted picture and use it as the first frame
   */
  constructor(host) {
    this.host = host;
    this.store = new EditorStore({ writeValue: host.writeValue });

    this.root = element("div", "da-editor", { "data-testid": "da-editor" });
    this.stage = element("div", "da-stage");
    this.canvas = element("canvas", "da-canvas", { "data-testid": "da-canvas" });
    // Keyboard focus lives in a text input: the frontend's graph undo and its shortcuts deliberately ignore keys
    // typed into inputs, so the editor's own Ctrl+Z, Delete and arrows never act on the graph as well.
    this.keys = element("input", "da-keys", { type: "text", "aria-label": "trajectory editor keyboard", readonly: "", "data-testid": "da-keys" });
    this.stage.append(this.canvas, this.keys);

    this.canvasView = new CanvasView(this.canvas, this.store);
    this.input = new InputHandler(this, this.store, this.canvasView, (file) => host.onImageFile(file));
    this.panel = new PanelView(this.store, () => this.input.focus());
    this.root.append(this.panel.toolbar, this.stage, this.panel.scrub, this.panel.pointRow, this.panel.motionRow, this.panel.list, this.panel.statusLine);
    this.cache = new ServerCache(this.store, { preview: fetchPreview, gaussian: fetchGaussian, mask: fetchMask, camera: fetchCamera });
  }

  destroy() {
    this.cache.destroy();
    this.canvasView.destroy();
    this.panel.destroy();
  }

  /** The node's value, whenever it changed outside the editor. */
  receiveValue(text) {
    this.store.receiveValue(text);
  }

  /** The first frame (see commands.setImage), or null. */
  setImage(image) {
    this.store.update((s) => commands.setImage(s, image));
  }

  /** A dropped or pasted picture (already uploaded) becomes the document's first frame. */
  adoptPicture(image) {
    this.store.update((s) => commands.adoptPicture(s, image));
  }

  /** What the connected nodes say: {sam, mode, framing, modelWidth, modelHeight}. */
  setContext(context) {
    const known = this.store.state.context;
    if (Object.keys(context).every((key) => context[key] === known[key])) return;
    this.store.update((s) => commands.setContext(s, context));
  }

  setNotice(topic, text, error = false) {
    this.store.update((s) => commands.setNotice(s, topic, text, error));
  }

  // ------------------------------------------------------------------ read-only views for scripts and tests

  get state() {
    return this.store.state;
  }

  get status() {
    return statusLine(this.store.state).text;
  }

  /** Canvas pixels (before the graph's zoom) of frame pixel `point`. */
  toScreen(point) {
    return toScreen(point, this.canvasView.layout());
  }

  /** Frame pixels of the ◇ radius handle of entity `id`. */
  radiusHandle(id) {
    return radiusHandle(this.store.state, entityIndex(this.store.state, id), this.canvasView.layout());
  }
}
