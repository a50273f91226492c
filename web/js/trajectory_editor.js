// DragAnything: the trajectory editor on the Trajectories node.
//
// The node's `trajectories` STRING widget stays the single source of truth: it is what the workflow saves, what
// the prompt sends and what the Python node parses. The editor is an extra DOM widget that is never serialised;
// it reads that value, draws it over the first frame, and writes every edit back as the pack's JSON document.
//
// Everything reaches the editor as an event of the host, nothing is polled:
//   the value          the widget's callback (typing, pasting, workflow load, copy/paste, both renderers)
//   the graph around   the node's link changes, the end of a graph load, and the frontend's `graphChanged`
//                      (any change to the graph: another node's widget, a relink, the graph's undo)
//   the first frame    the same, plus the node's own execution (the frame it received)
import { api } from "../../../scripts/api.js";
import { app } from "../../../scripts/app.js";
import { TrajectoryEditor } from "./editor/editor.js";
import { loadImage, uploadImage, viewUrl } from "./editor/server.js";

const NODE_CLASS = "DragAnythingTrajectories";
const CONDITIONS_CLASS = "DragAnythingConditions";
const VALUE_WIDGET = "trajectories";
const EDITOR_WIDGET = "trajectory_editor";
const SAM_TYPE = "DRAGANYTHING_SAM";
// The first frame, downscaled, travels inside the workflow so a shared file still shows it (docs/editor.md).
const EMBEDDED_PROPERTY = "draganything_first_frame";
const EMBEDDED_MAX_SIDE = 384;
const EMBEDDED_QUALITY = 0.8;
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

/** The nodes the `trajectories` output feeds. */
function targetNodes(node) {
  const links = node.outputs?.[0]?.links ?? [];
  return links
    .map((id) => node.graph?.links?.get?.(id) ?? node.graph?.links?.[id])
    .map((link) => link && node.graph.getNodeById(link.target_id))
    .filter(Boolean);
}

function widgetValue(node, name) {
  return node?.widgets?.find((w) => w.name === name)?.value ?? null;
}

/**
 * What the graph around the node says about how its value is used: the connected SAM checkpoint, and the
 * resampling, framing and model size of the Drag Conditions node it feeds (null where nothing says, so the
 * server's defaults apply: the editor defines none of them).
 */
function graphContext(node) {
  const targets = targetNodes(node);
  const conditions = targets.find((t) => t.comfyClass === CONDITIONS_CLASS) ?? null;
  const resampling = conditions ?? targets.find((t) => widgetValue(t, "resampling")) ?? null;
  const sam = sourceNode(node, SAM_TYPE)?.widgets?.find((w) => typeof w.value === "string" && w.value)?.value ?? null;
  return {
    sam,
    mode: widgetValue(resampling, "resampling"),
    framing: widgetValue(conditions, "framing"),
    modelWidth: widgetValue(conditions, "preview_width"),
    modelHeight: widgetValue(conditions, "preview_height"),
  };
}

/** "sub/name.png [temp]" for an image the server reported ({filename, subfolder, type}). */
function annotated({ filename, subfolder, type }) {
  return `${subfolder ? `${subfolder}/` : ""}${filename} [${type ?? "output"}]`;
}

/**
 * Where the first frame comes from, best first: the connected LoadImage's file; the frame the node received in
 * its last run (any image source, e.g. a resize); whatever picture the connected node shows; the picture the
 * document names. `documentRef` is the input-folder name the document records, `maskRef` what /mask reads.
 */
function frameSource(node, documentImage, executed) {
  const source = sourceNode(node, "IMAGE");
  if (source) {
    const file = source.widgets?.find((w) => w.name === "image" && typeof w.value === "string" && w.value);
    if (file) {
      const name = file.value.replace(/\s*\[input\]$/, "");
      return { key: `file:${file.value}`, url: viewUrl(file.value), source: "connected", documentRef: name, maskRef: file.value, widget: file };
    }
    if (executed?.sourceId === source.id) {
      return { key: `executed:${executed.ref}`, url: viewUrl(executed.ref), source: "executed", documentRef: null, maskRef: executed.ref };
    }
    const shown = source.imgs?.[0]?.src;
    return shown ? { key: `shown:${shown}`, url: shown, source: "connected", documentRef: null, maskRef: null } : null;
  }
  return documentImage
    ? { key: `document:${documentImage}`, url: viewUrl(documentImage), source: "document", documentRef: documentImage, maskRef: documentImage }
    : null;
}

function thumbnail(image) {
  const scale = Math.min(1, EMBEDDED_MAX_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(image.naturalWidth * scale));
  canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
  canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL("image/jpeg", EMBEDDED_QUALITY);
}

function frameOf(element, wanted) {
  return { element, width: element.naturalWidth, height: element.naturalHeight, source: wanted.source, documentRef: wanted.documentRef, maskRef: wanted.maskRef };
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
  valueWidget.options.getMaxHeight = () => VALUE_MAX_HEIGHT;

  let shownKey = null; // the first frame on show (frameSource's key)
  let loadingKey = null;
  let executed = null; // {ref, sourceId}: the frame the node received in its last run

  const editor = new TrajectoryEditor({
    writeValue: (text) => {
      valueWidget.value = text;
      recordGraphChange();
    },
    onImageFile: async (file) => {
      try {
        const ref = await uploadImage(file);
        const connected = sourceNode(node, "IMAGE");
        const fileWidget = connected && frameSource(node, null, null)?.widget;
        if (fileWidget) {
          // The picture feeds the graph too: point the connected LoadImage at it.
          if (!fileWidget.options?.values?.includes(ref)) fileWidget.options?.values?.push(ref);
          fileWidget.value = ref;
          fileWidget.callback?.(ref);
          refresh();
        } else {
          const wanted = { key: `document:${ref}`, url: viewUrl(ref), source: "document", documentRef: ref, maskRef: ref };
          const element = await loadImage(wanted.url);
          shownKey = wanted.key;
          editor.adoptPicture(frameOf(element, wanted));
          embed(ref, element);
        }
      } catch (error) {
        editor.setNotice("image", `Could not use the picture: ${error.message}`, true);
      }
    },
  });

  const widget = node.addDOMWidget(EDITOR_WIDGET, "draganything_editor", editor.root, {
    serialize: false,
    getMinHeight: () => EDITOR_MIN_HEIGHT,
  });
  widget.serialize = false;

  function embed(name, element) {
    if (name && node.properties[EMBEDDED_PROPERTY]?.name !== name) {
      node.properties[EMBEDDED_PROPERTY] = { name, data: thumbnail(element) };
    }
  }

  async function refreshImage() {
    const wanted = frameSource(node, editor.state.doc.image, executed);
    const key = wanted?.key ?? "none";
    if (key === shownKey || key === loadingKey) return;
    loadingKey = key;
    try {
      if (!wanted) throw new Error("no first frame");
      const element = await loadImage(wanted.url);
      if (loadingKey !== key) return;
      editor.setImage(frameOf(element, wanted));
      embed(wanted.documentRef ?? wanted.maskRef, element);
    } catch {
      if (loadingKey !== key) return;
      const name = wanted?.documentRef ?? wanted?.maskRef ?? null;
      const embedded = node.properties[EMBEDDED_PROPERTY];
      if (embedded?.data && (!name || embedded.name === name)) {
        const element = await loadImage(embedded.data);
        if (loadingKey !== key) return;
        editor.setImage(frameOf(element, { source: "embedded", documentRef: embedded.name, maskRef: null }));
      } else {
        editor.setImage(null);
        if (wanted) editor.setNotice("image", `The first frame '${name ?? wanted.url}' could not be loaded: drop the picture onto the editor.`, true);
      }
    } finally {
      if (loadingKey === key) {
        shownKey = key;
        loadingKey = null;
      }
    }
  }

  function refresh() {
    editor.setContext(graphContext(node));
    refreshImage();
  }

  // The value: every change to the widget, by the user or by the frontend, goes through its callback.
  const valueCallback = valueWidget.callback;
  valueWidget.callback = function (...args) {
    const result = valueCallback?.apply(this, args);
    editor.receiveValue(valueWidget.value);
    refreshImage();
    return result;
  };
  editor.receiveValue(valueWidget.value);

  // The raw JSON folds away behind the toolbar's JSON button (the host's own way to hide a widget).
  let valueShown = null;
  const showValue = (on) => {
    if (on === valueShown) return;
    valueShown = on;
    valueWidget.hidden = !on;
    valueWidget.options.hidden = !on;
    // The Vue renderer lays widgets out again when the node's widget list changes, not when an option does.
    const index = node.widgets.indexOf(valueWidget);
    if (index >= 0) {
      node.widgets.splice(index, 1);
      node.widgets.splice(index, 0, valueWidget);
    }
    if (on) node.setSize([node.size[0], Math.max(node.size[1], node.computeSize()[1])]);
    app.graph?.setDirtyCanvas(true, true);
  };
  const unsubscribe = editor.store.subscribe((s) => showValue(s.showValue));
  showValue(editor.state.showValue);

  // The graph around the node.
  const onGraphChanged = () => refresh();
  api.addEventListener("graphChanged", onGraphChanged);
  node.onConnectionsChange = chain(node.onConnectionsChange, refresh);
  node.onAfterGraphConfigured = chain(node.onAfterGraphConfigured, refresh);
  editor.root.addEventListener("pointerenter", refresh);
  node.onExecuted = chain(node.onExecuted, (output) => {
    const frame = output?.images?.[0];
    if (frame) executed = { ref: annotated(frame), sourceId: sourceNode(node, "IMAGE")?.id ?? null };
    // The editor shows the frame the node received; the host's preview of it would be a second copy, drawn
    // below the editor and past the node's edge.
    delete output?.images;
    refresh();
  });
  refresh();

  node.onRemoved = chain(node.onRemoved, () => {
    api.removeEventListener("graphChanged", onGraphChanged);
    unsubscribe();
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
