// Easing and hidden ranges: written as version-2 fields only when set, so version-1 values stay version 1.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as commands from "../../web/js/editor/commands.js";
import { EditorStore, cameraReadout } from "../../web/js/editor/store.js";

function editor(initial) {
  const written = [];
  const store = new EditorStore({ writeValue: (text) => written.push(text) });
  store.receiveValue(initial);
  return { store, written, doc: () => JSON.parse(written.at(-1)) };
}

const V1 = JSON.stringify({ format: "draganything/trajectories", version: 1, width: 576, height: 320, num_frames: 14,
  entities: [{ id: "1", label: "car", points: [[10, 10], [200, 20]] }] });

test("reading a version-1 value writes nothing back", () => {
  const { written } = editor(V1);
  assert.deepEqual(written, []);
});

test("setting an easing writes it and version 2; linear removes it and returns to version 1", () => {
  const { store, doc } = editor(V1);
  store.update((s) => commands.setEasing(s, "1", "ease_in_out"));
  assert.equal(doc().version, 2);
  assert.equal(doc().entities[0].easing, "ease_in_out");
  store.update((s) => commands.setEasing(s, "1", [[0, 0], [0.5, 0.1], [1, 1]]));
  assert.deepEqual(doc().entities[0].easing, [[0, 0], [0.5, 0.1], [1, 1]]);
  store.update((s) => commands.setEasing(s, "1", "linear"));
  assert.equal(doc().version, 1);
  assert.equal("easing" in doc().entities[0], false);
});

test("hidden ranges are written as [first, last] with null for 'to the end'; none removes the field", () => {
  const { store, doc } = editor(V1);
  store.update((s) => commands.setHidden(s, "1", [[5, null], [2, 3]]));
  assert.equal(doc().version, 2);
  assert.deepEqual(doc().entities[0].hidden, [[5, null], [2, 3]]);
  store.update((s) => commands.setHidden(s, "1", []));
  assert.equal(doc().version, 1);
  assert.equal("hidden" in doc().entities[0], false);
});

test("an edit to a version-2 value keeps its easing, hidden ranges, scale and rotation", () => {
  const v2 = JSON.stringify({ format: "draganything/trajectories", version: 2, width: 576, height: 320, num_frames: 14,
    entities: [{ id: "1", label: "car", points: [[10, 10], [200, 20]], easing: "ease_out", hidden: [[4, 6]], scale: 1.5, rotation: 30 }] });
  const { store, doc } = editor(v2);
  store.update((s) => commands.setLabel(s, "1", "truck"));
  const entity = doc().entities[0];
  assert.equal(doc().version, 2);
  assert.deepEqual([entity.label, entity.easing, entity.hidden, entity.scale, entity.rotation], ["truck", "ease_out", [[4, 6]], 1.5, 30]);
});

// ------------------------------------------------------------------------------------------ hidden frames

import { formatHidden, parseHidden, toggleHiddenFrom } from "../../web/js/editor/document.js";

test("hidden frames typed in the row are read as ranges and shown back the same way", () => {
  assert.deepEqual(parseHidden("4-7, 10-"), [[4, 7], [10, null]]);
  assert.deepEqual(parseHidden(" 5 ; 8 – 9 "), [[5, 5], [8, 9]]);
  assert.deepEqual(parseHidden(""), []);
  assert.equal(parseHidden("4-x"), null);
  assert.equal(parseHidden("7-3"), null, "a range that runs backwards is not a range");
  assert.equal(formatHidden([[4, 7], [10, null], [12, 12]]), "4-7, 10-, 12");
});

test("hide from a frame runs to the end; show from a frame ends the range just before it", () => {
  assert.deepEqual(toggleHiddenFrom(null, 5, 14), [[5, null]]);
  assert.deepEqual(toggleHiddenFrom([[5, null]], 9, 14), [[5, 8]]);
  assert.deepEqual(toggleHiddenFrom([[5, 8]], 5, 14), []);
  assert.deepEqual(toggleHiddenFrom([[2, 3], [6, 7]], 5, 14), [[2, 3], [5, null]], "hiding swallows the later ranges");
  assert.deepEqual(toggleHiddenFrom([[3, 6]], 5, 14), [[3, 4]]);
  assert.deepEqual(toggleHiddenFrom([[2, 3], [20, 22]], 9, 14), [[2, 3], [9, null]], "an open range covers the ranges past the video");
});

test("the row's hide button works at the current frame, and never at frame 0", () => {
  const { store, doc } = editor(V1);
  store.update((s) => commands.toggleHiddenAtFrame(s, "1"));
  assert.match(store.state.notices.edit.text, /Frame 0 always shows/);
  store.update((s) => commands.setFrame(s, 6));
  store.update((s) => commands.toggleHiddenAtFrame(s, "1"));
  assert.deepEqual(doc().entities[0].hidden, [[6, null]]);
  store.update((s) => commands.setFrame(s, 9));
  store.update((s) => commands.toggleHiddenAtFrame(s, "1"));
  assert.deepEqual(doc().entities[0].hidden, [[6, 8]]);
  store.update((s) => commands.setFrame(s, 6));
  store.update((s) => commands.toggleHiddenAtFrame(s, "1"));
  assert.equal(doc().version, 1, "showing every frame again removes the field");
});

// ------------------------------------------------------------------------------------------ per-point lists

test("editing the points of a camera-made path keeps its scale and rotation lists one per point", () => {
  const v2 = JSON.stringify({ format: "draganything/trajectories", version: 2, width: 576, height: 320, num_frames: 4,
    entities: [{ id: "1", label: "background", points: [[10, 10], [12, 11], [14, 12], [16, 13]], frames: [0, 1, 2, 3],
      scale: [1, 1.1, 1.2, 1.3], rotation: [0, 5, 10, 15] }] });
  const { store, doc } = editor(v2);
  store.update((s) => commands.deletePoint(s, "1", 1));
  assert.deepEqual([doc().entities[0].scale, doc().entities[0].rotation], [[1, 1.2, 1.3], [0, 10, 15]]);
  store.update((s) => commands.insertPoint(s, "1", 1, [11, 11]));
  assert.deepEqual([doc().entities[0].scale, doc().entities[0].rotation], [[1, 1, 1.2, 1.3], [0, 0, 10, 15]]);
  store.update((s) => commands.select(s, "1"));
  store.update((s) => commands.appendPoint(s, [30, 30]));
  assert.equal(doc().entities[0].scale.length, 5);
  assert.equal(doc().entities[0].scale.at(-1), 1.3, "a point added at the end keeps the last size");
  store.update((s) => commands.restartPath(s, "1"));
  assert.deepEqual([doc().entities[0].points.length, doc().entities[0].scale, doc().entities[0].rotation], [1, [1], [0]]);
});

// ---------------------------------------------------------------------------------------------------- camera

const HELD = JSON.stringify({ format: "draganything/trajectories", version: 1, width: 576, height: 320, num_frames: 14,
  entities: [{ id: "1", label: "car", points: [[100, 200], [300, 200]] }, { id: "2", label: "road", points: [[400, 300]], anchor: true }] });

/** The document the server answers for a camera request: here every held entity gets a two-point path. */
function movedBy(body) {
  const moved = JSON.parse(body.trajectories);
  moved.version = 2;
  for (const entity of moved.entities.filter((e) => e.anchor)) {
    const [x, y] = entity.points[0];
    Object.assign(entity, { anchor: false, points: [[x, y], [x * body.zoom, y * body.zoom]], frames: [0, body.num_frames - 1],
      scale: [1, body.zoom], rotation: [0, body.orbit] });
  }
  return { document: moved };
}

function answerCamera(store) {
  const request = store.state.requests.camera;
  store.update((s) => commands.receiveCamera(s, request.key, movedBy(request.body)));
}

test("a camera click asks the server to move the held entities, and its answer is one edit", () => {
  const { store, written, doc } = editor(HELD);
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.zoom_in));
  const request = store.state.requests.camera;
  assert.deepEqual([request.body.zoom, request.body.orbit, request.body.num_frames], [1.25, 0, 14]);
  assert.equal(request.body.trajectories, store.state.docText, "the move starts from the document as it is");
  assert.equal(written.length, 0, "nothing changes until the server answers");
  answerCamera(store);
  assert.equal(written.length, 1);
  assert.deepEqual(doc().entities[1].scale, [1, 1.25]);
  assert.equal(store.state.requests.camera, null);
  store.update(commands.undo);
  assert.equal(doc().entities[1].anchor, true, "undo takes the move back");
});

test("camera clicks in a row add up from the same start; zoom in then out is no move", () => {
  const { store, doc } = editor(HELD);
  const start = store.state.docText;
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.zoom_in));
  answerCamera(store);
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.zoom_in));
  let body = store.state.requests.camera.body;
  assert.deepEqual([body.zoom, body.trajectories], [1.5625, start]);
  answerCamera(store);
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.orbit_cw));
  body = store.state.requests.camera.body;
  assert.deepEqual([body.zoom, body.orbit], [1.5625, 15]);
  answerCamera(store);
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.orbit_ccw));
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.zoom_out));
  answerCamera(store);
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.zoom_out));
  assert.equal(store.state.requests.camera, null, "back to no move: nothing to ask");
  assert.equal(store.state.docText, start);
  assert.equal(doc().entities[1].anchor, true);
});

test("with nothing held, a camera click adds a background anchor in the same edit", () => {
  const { store, written, doc } = editor(V1);
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.zoom_in));
  const sent = JSON.parse(store.state.requests.camera.body.trajectories);
  assert.deepEqual(sent.entities.map((e) => [e.label, Boolean(e.anchor)]), [["car", false], ["background", true]]);
  answerCamera(store);
  assert.equal(written.length, 1);
  assert.deepEqual(doc().entities.map((e) => e.label), ["car", "background"]);
  store.update((s) => commands.setLabel(s, "1", "truck"));
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.zoom_in));
  assert.equal(store.state.requests.camera, null, "a path from an earlier move: no second background");
  assert.match(store.state.notices.edit.text, /Nothing holds still/);
});

test("a camera answer for a document edited meanwhile is dropped; a failure is reported", () => {
  const { store, doc } = editor(HELD);
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.zoom_in));
  const request = store.state.requests.camera;
  store.update((s) => commands.setLabel(s, "1", "truck"));
  store.update((s) => commands.receiveCamera(s, request.key, movedBy(request.body)));
  assert.equal(doc().entities[1].anchor, true);
  assert.match(store.state.notices.edit.text, /changed while the camera move/);
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.orbit_cw));
  const failing = store.state.requests.camera;
  store.update((s) => commands.receiveCameraError(s, failing.key, "camera zoom: it is 0"));
  assert.equal(store.state.requests.camera, null);
  assert.deepEqual(store.state.notices.edit, { text: "Camera move: camera zoom: it is 0", error: true });
});

test("after undo back to a moved document, the next camera click adds to that document's move", () => {
  const { store } = editor(HELD);
  const start = store.state.docText;
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.zoom_in));
  answerCamera(store);
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.orbit_cw));
  answerCamera(store);
  store.update(commands.undo);
  assert.equal(cameraReadout(store.state), "camera: zoom ×1.25");
  store.update((s) => commands.cameraStep(s, commands.CAMERA_STEPS.zoom_in));
  const body = store.state.requests.camera.body;
  assert.deepEqual([body.zoom, body.orbit, body.trajectories], [1.5625, 0, start]);
  answerCamera(store);
  assert.equal(cameraReadout(store.state), "camera: zoom ×1.56");
  store.update((s) => commands.setLabel(s, "1", "truck"));
  assert.equal(cameraReadout(store.state), "", "another edit: the document is no longer the camera's");
});
