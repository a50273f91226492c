// The controls around the canvas: the toolbar, the frame slider, the selected point's row, one row per entity
// and the status line. They show the store's state and turn what the user does into commands.
//
// Rows are kept per entity and patched in place, never rebuilt, so a click on a row's button or a value being
// typed survives any update; an input that has the focus is never overwritten. Nothing here asks the server for
// anything: the radius placeholders, colours and frames come from the state.
import * as commands from "./commands.js";
import { EASING_PRESETS, MAX_NUM_FRAMES, formatHidden, hiddenAt, parseHidden } from "./document.js";
import { cameraReadout, canRedo, canUndo, entityColor, entityRadius, entityShownNow, numFrames, selectedEntity, statusLine } from "./store.js";

const EASING_NAMES = { linear: "linear", ease_in: "ease in", ease_out: "ease out", ease_in_out: "ease in-out" };
const CUSTOM_EASING = "custom";

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
  ["Camera buttons", "zoom / orbit the held entities and the background (clicks add up; undo takes a move back)"],
  ["H", "hide the selected entity from this frame on / show it again"],
  ["Delete", "delete the selected point, else the entity"],
  ["← / →", "previous / next frame"],
  ["G", "Gaussian preview on/off"],
  ["Ctrl+Z / Ctrl+Shift+Z, Ctrl+Y", "undo / redo in the editor (the graph's own undo is untouched)"],
  ["Esc", "deselect"],
  ["Drop or paste a picture", "use it as the first frame"],
];

export function element(tag, className, attributes = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  return node;
}

/** Set an input's value unless the user is typing in it. */
function show(input, value) {
  if (document.activeElement !== input && input.value !== value) input.value = value;
}

/** A number typed into an input, or null when it is empty or not a number. */
function typedNumber(input) {
  const value = input.value.trim() === "" ? Number.NaN : Number(input.value);
  return Number.isFinite(value) ? value : null;
}

export class PanelView {
  /** @param {EditorStore} store  @param {() => void} focusKeys  gives the keyboard back to the canvas */
  constructor(store, focusKeys) {
    this.store = store;
    this.focusKeys = focusKeys;
    this.rows = new Map(); // entity id -> {element, label, radius, start, end, anchor, swatch}
    const update = (recipe) => store.update(recipe);
    this.update = update;

    this.toolbar = element("div", "da-toolbar");
    this.anchorButton = this.button("⚓ Hold still", "Hold the selected entity still (A)", "da-anchor", (s) => commands.toggleAnchor(s));
    this.button("+ Background", "Add a background anchor: keeps the background still (B)", "da-background", commands.addBackgroundAnchor);
    this.button("Clear", "Remove every entity (undo brings them back)", "da-clear", commands.clearEntities);
    const camera = (text, title, testid, step) => this.button(text, title, testid, (s) => commands.cameraStep(s, commands.CAMERA_STEPS[step]));
    camera("⊕", "Camera: zoom in (the held entities and the background spread out over the video; clicks add up)", "da-zoom-in", "zoom_in");
    camera("⊖", "Camera: zoom out (clicks add up)", "da-zoom-out", "zoom_out");
    camera("↻", "Camera: orbit clockwise by 15° (clicks add up)", "da-orbit-cw", "orbit_cw");
    camera("↺", "Camera: orbit counter-clockwise by 15° (clicks add up)", "da-orbit-ccw", "orbit_ccw");
    this.cameraLabel = element("span", "da-caption da-camera", { "data-testid": "da-camera" });
    this.toolbar.append(this.cameraLabel);
    this.undoButton = this.button("↶", "Undo (Ctrl+Z)", "da-undo", commands.undo);
    this.redoButton = this.button("↷", "Redo (Ctrl+Shift+Z)", "da-redo", commands.redo);
    const framesLabel = element("label", "da-frames-label", { text: "frames" });
    this.framesInput = element("input", "da-frames", { type: "number", min: "1", max: String(MAX_NUM_FRAMES), "data-testid": "da-frames" });
    this.framesInput.addEventListener("change", () => update((s) => commands.setNumFrames(s, Number(this.framesInput.value))));
    framesLabel.append(this.framesInput);
    const gaussianLabel = element("label", "da-gaussian-label", { text: "Gaussian" });
    this.gaussianToggle = element("input", "", { type: "checkbox", "data-testid": "da-gaussian" });
    this.gaussianToggle.addEventListener("change", () => update((s) => commands.setShowGaussian(s, this.gaussianToggle.checked)));
    gaussianLabel.prepend(this.gaussianToggle);
    this.toolbar.append(framesLabel, gaussianLabel);
    this.valueButton = this.button("JSON", "Show the node's value as text (typed or pasted values update the picture)", "da-json",
      (s) => commands.setShowValue(s, !s.showValue));
    this.toolbar.append(helpBadge());

    this.scrub = element("div", "da-scrub");
    this.frameSlider = element("input", "da-frame-slider", { type: "range", min: "0", value: "0", "data-testid": "da-scrub" });
    this.frameSlider.addEventListener("input", () => update((s) => commands.setFrame(s, Number(this.frameSlider.value))));
    this.frameLabel = element("span", "da-frame-label");
    this.scrub.append(this.frameSlider, this.frameLabel);

    this.pointRow = element("div", "da-point-row");
    this.pointCaption = element("span", "da-caption");
    this.pointFrame = element("input", "da-point-frame", { type: "number", min: "0", placeholder: "auto", "data-testid": "da-point-frame" });
    this.pointFrame.addEventListener("change", () => {
      const { entityId, point } = store.state.selection;
      update((s) => commands.setPointFrame(s, entityId, point, typedNumber(this.pointFrame)));
    });
    this.pointRow.append(this.pointCaption, this.pointFrame);

    // The selected entity's pace and the frames it is hidden in.
    this.motionRow = element("div", "da-motion-row", { "data-testid": "da-motion" });
    this.motionCaption = element("span", "da-caption");
    this.easing = element("select", "da-easing", { title: "Pace along the path", "data-testid": "da-easing" });
    for (const name of [...EASING_PRESETS, CUSTOM_EASING]) this.easing.append(element("option", "", { value: name, text: EASING_NAMES[name] ?? "custom curve" }));
    this.easing.addEventListener("change", () => {
      const id = store.state.selection.entityId;
      const chosen = this.easing.value;
      // "custom curve" is shown for a curve typed into the JSON; choosing it keeps the curve the entity has.
      if (chosen !== CUSTOM_EASING) update((s) => commands.setEasing(s, id, chosen));
      this.focusKeys();
    });
    this.hidden = element("input", "da-hidden", { type: "text", placeholder: "none", "data-testid": "da-hidden",
      title: "Frames in which the entity is hidden (left the picture, behind something): 4-7, 10- (10-: to the end)" });
    this.hidden.addEventListener("change", () => {
      const id = store.state.selection.entityId;
      const ranges = parseHidden(this.hidden.value);
      if (ranges) update((s) => commands.setHidden(s, id, ranges));
      else update((s) => commands.setNotice(s, "edit", `Hidden frames '${this.hidden.value}': write frame ranges such as 4-7, 10- (10-: to the end).`, true));
    });
    this.hideButton = element("button", "da-button da-small", { type: "button", "data-testid": "da-hide" });
    this.hideButton.addEventListener("click", (e) => {
      e.stopPropagation();
      const id = store.state.selection.entityId;
      update((s) => commands.toggleHiddenAtFrame(s, id));
      this.focusKeys();
    });
    this.motionRow.append(this.motionCaption, element("span", "da-caption", { text: "pace" }), this.easing,
      element("span", "da-caption", { text: "hidden at frames" }), this.hidden, this.hideButton);

    this.list = element("div", "da-list", { "data-testid": "da-list" });
    this.statusLine = element("div", "da-status", { "data-testid": "da-status" });

    this.unsubscribe = store.subscribe((s) => this.render(s));
    this.render(store.state);
  }

  destroy() {
    this.unsubscribe();
  }

  button(text, title, testid, recipe) {
    const node = element("button", "da-button", { type: "button", title, "data-testid": testid, text });
    node.addEventListener("click", (e) => {
      e.stopPropagation();
      this.update(recipe);
      this.focusKeys();
    });
    this.toolbar.append(node);
    return node;
  }

  render(s) {
    const selected = selectedEntity(s);
    this.anchorButton.classList.toggle("da-on", Boolean(selected?.anchor));
    this.undoButton.disabled = !canUndo(s);
    this.redoButton.disabled = !canRedo(s);
    this.valueButton.classList.toggle("da-on", s.showValue);
    this.gaussianToggle.checked = s.showGaussian;
    const frames = numFrames(s);
    show(this.framesInput, String(frames));
    this.frameSlider.max = String(frames - 1);
    this.frameSlider.value = String(s.frame);
    this.frameLabel.textContent = `frame ${s.frame} / ${frames - 1}`;
    this.cameraLabel.textContent = cameraReadout(s);
    this.renderPointRow(s, selected);
    this.renderMotionRow(s, selected);
    this.renderRows(s);
    const status = statusLine(s);
    this.statusLine.textContent = status.text;
    this.statusLine.classList.toggle("da-error", status.error);
  }

  renderPointRow(s, entity) {
    const index = s.selection.point;
    const shown = Boolean(entity && index != null && index < entity.points.length);
    this.pointRow.hidden = !shown;
    if (!shown) return;
    const [x, y] = entity.points[index];
    this.pointCaption.textContent =
      `${entity.label || entity.id}: point ${index + 1}/${entity.points.length} at (${Math.round(x)}, ${Math.round(y)}) reached at frame`;
    show(this.pointFrame, entity.frames ? String(entity.frames[index]) : "");
  }

  renderMotionRow(s, entity) {
    this.motionRow.hidden = !entity;
    if (!entity) return;
    this.motionCaption.textContent = `${entity.label || entity.id}:`;
    const easing = entity.easing ?? "linear";
    if (document.activeElement !== this.easing) this.easing.value = typeof easing === "string" ? easing : CUSTOM_EASING;
    show(this.hidden, formatHidden(entity.hidden));
    const hiddenHere = hiddenAt(entity.hidden, s.frame);
    this.hideButton.textContent = hiddenHere ? `Show from frame ${s.frame}` : `Hide from frame ${s.frame}`;
    this.hideButton.title = hiddenHere
      ? "Show the entity again from this frame on (H)"
      : "Hide the entity from this frame to the end: it leaves the picture or goes behind something (H)";
    this.hideButton.disabled = s.frame === 0;
  }

  renderRows(s) {
    const ids = new Set(s.doc.entities.map((e) => e.id));
    for (const [id, row] of this.rows) {
      if (ids.has(id)) continue;
      row.element.remove();
      this.rows.delete(id);
    }
    s.doc.entities.forEach((entity, index) => {
      let row = this.rows.get(entity.id);
      if (!row) {
        row = this.createRow(entity.id);
        this.rows.set(entity.id, row);
      }
      if (this.list.children[index] !== row.element) this.list.insertBefore(row.element, this.list.children[index] ?? null);
      this.patchRow(row, s, entity, index);
    });
  }

  createRow(id) {
    const update = this.update;
    const row = { element: element("div", "da-row", { "data-testid": `da-row-${id}`, "data-entity": id }) };
    row.element.addEventListener("pointerdown", () => {
      if (this.store.state.selection.entityId !== id) update((s) => commands.select(s, id));
    });
    row.swatch = element("span", "da-swatch");
    row.label = element("input", "da-label", { type: "text", title: "Name", "data-testid": "da-label" });
    row.label.addEventListener("change", () => update((s) => commands.setLabel(s, id, row.label.value)));
    row.radius = element("input", "da-radius", { type: "number", min: "1", step: "1", "data-testid": "da-radius" });
    row.radius.addEventListener("change", () => update((s) => commands.setRadius(s, id, typedNumber(row.radius))));
    row.start = element("input", "da-span", { type: "number", min: "0", title: "Start frame (empty: spread over the video)", placeholder: "0", "data-testid": "da-start" });
    row.end = element("input", "da-span", { type: "number", min: "0", title: "End frame", "data-testid": "da-end" });
    const span = () => update((s) => commands.setSpan(s, id, typedNumber(row.start), typedNumber(row.end)));
    row.start.addEventListener("change", span);
    row.end.addEventListener("change", span);
    const small = (text, title, testid, recipe) => {
      const node = element("button", "da-button da-small", { type: "button", title, text, "data-testid": testid });
      node.addEventListener("click", () => update(recipe));
      return node;
    };
    row.anchor = small("⚓", "Hold still", "da-row-anchor", (s) => commands.toggleAnchor(s, id));
    row.element.append(
      row.swatch, row.label, element("span", "da-caption", { text: "r" }), row.radius,
      element("span", "da-caption", { text: "frames" }), row.start, element("span", "da-caption", { text: "–" }), row.end,
      row.anchor,
      small("▲", "Move up", "da-row-up", (s) => commands.moveEntity(s, id, -1)),
      small("▼", "Move down", "da-row-down", (s) => commands.moveEntity(s, id, 1)),
      small("✕", "Delete", "da-row-delete", (s) => commands.deleteEntity(s, id)),
    );
    return row;
  }

  patchRow(row, s, entity, index) {
    row.element.classList.toggle("da-selected", entity.id === s.selection.entityId);
    // Greyed while the scrub is at a frame where the model does not see the entity.
    row.element.classList.toggle("da-hidden-now", !entityShownNow(s, index));
    row.swatch.style.background = entityColor(s, index);
    show(row.label, entity.label);
    show(row.radius, entity.radius != null ? String(Math.round(entity.radius)) : "");
    // Empty means "from the mask": the placeholder shows the radius the maps use, as the server gives it.
    const radius = entityRadius(s, index);
    const used = radius ? String(Math.round(radius.radius)) : "";
    row.radius.placeholder = used;
    row.radius.title = `Radius in pixels (empty: from the mask${used ? `, ${used} px` : ""})`;
    row.anchor.classList.toggle("da-on", entity.anchor);
    show(row.start, entity.frames ? String(entity.frames[0]) : "");
    show(row.end, entity.frames ? String(entity.frames.at(-1)) : "");
    row.end.placeholder = String(numFrames(s) - 1);
  }
}

function helpBadge() {
  const help = element("span", "da-help", { tabindex: "0", "data-testid": "da-help", text: "?" });
  const card = element("div", "da-help-card", { role: "tooltip" });
  for (const [keys, action] of SHORTCUTS) {
    const row = element("div", "da-help-row");
    row.append(element("kbd", "", { text: keys }), element("span", "", { text: action }));
    card.append(row);
  }
  help.append(card);
  return help;
}
