// DragAnything: the trajectory editor on the Trajectories node.
//
// The node's `trajectories` STRING widget stays the single source of truth: it is what the workflow saves, what
// the prompt sends and what the Python node parses. The editor is an extra DOM widget that is never serialised;
// it reads that value, draws it over the first frame, and writes every edit back as the pack's JSON document.
import { app } from "../../../scripts/app.js";
import { TrajectoryEditor, loadImage } from "./editor/editor.js";
import { uploadImage, viewUrl } from "./editor/server.js";

const NODE_CLASS = "DragAnythingTrajectories";
const VALUE_WIDGET = "trajectories";
const EDITOR_WIDGET = "trajectory_editor";
const SAM_TYPE = "DRAGANYTHING_SAM";
const DEFAULT_RESAMPLING = "pchip"; // the nodes' default (nodes/conditioning_nodes.py)
// The first frame, downscaled, travels inside the workflow so a shared file still shows it (docs/editor.md).
const EMBEDDED_PROPERTY = "draganything_first_frame";
const EMBEDDED_MAX_SIDE = 384;
const EMBEDDED_QUALITY = 0.8;
const POLL_MS = 250;
const MIN_SIZE = [560, 720];
const EDITOR_MIN_HEIGHT = 460;
const VALUE_MAX_HEIGHT = 90;

const stylesheet = document.createElement("link");
stylesheet.rel = "stylesheet";
stylesheet.href = new URL("./editor/editor.css", import.meta.url).href;
document.head.append(stylesheet);

/** The linked node feeding the first input of `type`, if any. */
function sourceNode(node, type) {
  const slot = node.inputs?.findIndex((input) => input.type === type && input.link != null) ?? -1;
  return slot >= 0 ? node.getInputNode(slot) : null;
}

/** Where the connected node's picture comes from: LoadImage's file, or whatever image it shows. */
function connectedImage(node) {
  const source = sourceNode(node, "IMAGE");
  if (!source) return null;
  const fileWidget = source.widgets?.find((w) => w.name === "image" && typeof w.value === "string" && w.value);
  if (fileWidget) return { ref: fileWidget.value.replace(/\s*\[input\]$/, ""), url: viewUrl(fileWidget.value), widget: fileWidget };
  const shown = source.imgs?.[0]?.src;
  return shown ? { ref: null, url: shown, widget: null } : null;
}

function samModel(node) {
  const source = sourceNode(node, SAM_TYPE);
  const name = source?.widgets?.find((w) => typeof w.value === "string" && w.value)?.value;
  return name ?? null;
}

/** The resampling mode of the Drag Conditions node this node feeds, so the curve is drawn as it will be used. */
function resamplingMode(node) {
  for (const link of node.outputs?.[0]?.links ?? []) {
    const target = node.graph?.getNodeById(node.graph.links.get?.(link)?.target_id ?? node.graph.links[link]?.target_id);
    const mode = target?.widgets?.find((w) => w.name === "resampling")?.value;
    if (mode) return mode;
  }
  return DEFAULT_RESAMPLING;
}

function thumbnail(image) {
  const scale = Math.min(1, EMBEDDED_MAX_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(image.naturalWidth * scale));
  canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
  canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL("image/jpeg", EMBEDDED_QUALITY);
}

function recordGraphChange() {
  app.graph?.setDirtyCanvas(true, true);
  app.extensionManager?.workflow?.activeWorkflow?.changeTracker?.checkState();
}

function attachEditor(node) {
  const valueWidget = node.widgets?.find((w) => w.name === VALUE_WIDGET);
  if (!valueWidget) {
    console.warn(`[DragAnything] ${NODE_CLASS} has no '${VALUE_WIDGET}' widget; the trajectory editor is not shown.`);
    return;
  }
  // The raw JSON stays editable (typing or pasting updates the canvas) but gives the space to the editor.
  valueWidget.options.getMaxHeight = () => VALUE_MAX_HEIGHT;

  let imageKey = null;
  let loading = null;

  const editor = new TrajectoryEditor({
    readValue: () => valueWidget.value,
    writeValue: (text) => {
      valueWidget.value = text;
      recordGraphChange();
    },
    samModel: () => samModel(node),
    resamplingMode: () => resamplingMode(node),
    onImageFile: async (file) => {
      try {
        const ref = await uploadImage(file);
        const connected = connectedImage(node);
        if (connected?.widget) {
          // The picture feeds the graph too: point the connected LoadImage at it.
          if (!connected.widget.options?.values?.includes(ref)) connected.widget.options?.values?.push(ref);
          connected.widget.value = ref;
          connected.widget.callback?.(ref);
        } else {
          editor.doc.image = ref;
          editor.commit();
        }
        refreshImage();
      } catch (error) {
        editor.setStatus(`Could not use the picture: ${error.message}`, true);
      }
      return null;
    },
  });

  const widget = node.addDOMWidget(EDITOR_WIDGET, "draganything_editor", editor.root, {
    serialize: false,
    getMinHeight: () => EDITOR_MIN_HEIGHT,
  });
  widget.serialize = false;

  async function refreshImage() {
    const connected = connectedImage(node);
    const ref = connected ? connected.ref : editor.doc.image;
    const url = connected ? connected.url : ref ? viewUrl(ref) : null;
    const key = `${connected ? "connected" : "document"}:${url}`;
    if (key === imageKey || loading === key) return;
    loading = key;
    try {
      if (!url) throw new Error("no first frame");
      const image = await loadImage(url);
      if (loading !== key) return;
      editor.setImage(image, ref, connected ? "connected" : "document");
      if (ref && node.properties[EMBEDDED_PROPERTY]?.name !== ref) {
        node.properties[EMBEDDED_PROPERTY] = { name: ref, data: thumbnail(image) };
      }
    } catch {
      if (loading !== key) return;
      const embedded = node.properties[EMBEDDED_PROPERTY];
      if (embedded?.data && (!ref || embedded.name === ref)) {
        editor.setImage(await loadImage(embedded.data), embedded.name, "embedded");
      } else if (url) {
        editor.setStatus(`The first frame '${ref ?? url}' could not be loaded: drop the picture onto the editor.`, true);
      }
    } finally {
      if (loading === key) {
        imageKey = key;
        loading = null;
      }
    }
  }

  // One poll covers every way the value or the picture can change (typing, paste, graph undo, workflow load,
  // relinking, another extension writing the widget) in both renderers, without hooking their internals.
  const poll = setInterval(() => {
    editor.syncFromValue();
    refreshImage();
  }, POLL_MS);
  editor.syncFromValue();

  node.onRemoved = chain(node.onRemoved, () => {
    clearInterval(poll);
    editor.destroy();
  });
  node.pasteFile = (file) => editor.host.onImageFile(file);
  node.onDragOver = (event) => [...(event.dataTransfer?.items ?? [])].some((i) => i.type.startsWith("image/"));
  node.onDragDrop = (event) => {
    const file = [...(event.dataTransfer?.files ?? [])].find((f) => f.type.startsWith("image/"));
    if (!file) return false;
    editor.host.onImageFile(file);
    return true;
  };
  node.draganythingEditor = editor;
  node.setSize([Math.max(node.size[0], MIN_SIZE[0]), Math.max(node.size[1], MIN_SIZE[1])]);
}

function chain(original, added) {
  return function (...args) {
    const result = original?.apply(this, args);
    added.apply(this, args);
    return result;
  };
}

app.registerExtension({
  name: "DragAnything.TrajectoryEditor",
  nodeCreated(node) {
    if (node.comfyClass === NODE_CLASS) attachEditor(node);
  },
});
