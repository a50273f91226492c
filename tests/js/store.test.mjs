// The editor's store: one update path that commits the document to the node's value, its undo history, the
// rules it keeps (the document fits its first frame), the requests it derives for the server, and what it shows
// (radii, status line).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as commands from "../../web/js/editor/commands.js";
import { parseOwnDocument } from "../../web/js/editor/document.js";
import { EditorStore, canRedo, canUndo, entityRadius, maskRequest, numFrames, statusLine } from "../../web/js/editor/store.js";

const FISH = { element: null, width: 1124, height: 668, source: "connected", documentRef: "fish.jpg", maskRef: "fish.jpg" };

/** A store whose node value is `written` (every write recorded), as the node glue wires it. */
function editor(initial = "") {
  const written = [];
  const store = new EditorStore({ writeValue: (text) => written.push(text) });
  store.receiveValue(initial);
  return { store, written, doc: () => JSON.parse(written.at(-1)) };
}

function own(entities, extra = {}) {
  return JSON.stringify({ format: "draganything/trajectories", version: 1, width: 1124, height: 668, num_frames: 14, ...extra, entities });
}

describe("update -> commit", () => {
  test("an edit is written to the value once, in the pack's format, and recorded for undo", () => {
    const { store, written, doc } = editor();
    assert.deepEqual(written, [], "reading the value writes nothing back");
    store.update((s) => commands.addEntity(s, [366, 325]));
    assert.equal(written.length, 1);
    const value = doc();
    assert.equal(value.format, "draganything/trajectories");
    assert.deepEqual(value.entities.map((e) => [e.id, e.points, e.clicks]), [["1", [[366, 325]], [{ x: 366, y: 325, positive: true }]]]);
    assert.equal(store.state.text, written[0]);
    assert.ok(canUndo(store.state));
  });

  test("a change that leaves the document as it was (selection, frame, display) writes nothing", () => {
    const { store, written } = editor(own([{ id: "1", label: "fish", points: [[10, 10], [20, 20]] }]));
    store.update((s) => commands.select(s, "1", 1));
    store.update((s) => commands.setFrame(s, 5));
    store.update((s) => commands.setShowGaussian(s, false));
    assert.deepEqual(written, []);
    assert.equal(store.state.frame, 5);
  });

  test("subscribers see every update after its commit", () => {
    const { store } = editor();
    const seen = [];
    store.subscribe((s) => seen.push([s.doc.entities.length, s.text.length > 0]));
    store.update((s) => commands.addEntity(s, [1, 1]));
    store.update((s) => commands.deselect(s));
    assert.deepEqual(seen, [[1, true], [1, true]]);
  });

  test("an update asked for by a subscriber runs after the current one, not inside it", () => {
    const { store } = editor();
    const order = [];
    store.subscribe((s) => {
      order.push(`saw ${s.doc.entities.length}`);
      if (s.doc.entities.length === 1) store.update((t) => commands.addEntity(t, [2, 2]));
    });
    store.update((s) => commands.addEntity(s, [1, 1]));
    assert.deepEqual(order, ["saw 1", "saw 2"]);
  });

  test("the value the editor wrote, echoed back by the host, is not read again", () => {
    const { store, written } = editor();
    store.update((s) => commands.addEntity(s, [1, 1]));
    const entries = store.state.history.entries.length;
    store.receiveValue(written.at(-1));
    assert.equal(store.state.history.entries.length, entries);
  });

  test("a pointer gesture holds the commit until it ends: one write, one undo step", () => {
    const { store, written } = editor(own([{ id: "1", label: "fish", points: [[10, 10], [20, 20]] }]));
    store.update((s) => (s.gesture = { mode: "move" }));
    for (const x of [21, 25, 30, 40]) store.update((s) => commands.movePoint(s, "1", 1, [x, 20]));
    assert.deepEqual(written, []);
    store.update((s) => (s.gesture = null));
    assert.equal(written.length, 1);
    assert.deepEqual(JSON.parse(written[0]).entities[0].points, [[10, 10], [40, 20]]);
    assert.equal(store.state.history.entries.length, 2);
  });
});

describe("values typed or loaded", () => {
  test("a typed value in the pack's format is shown at once and kept as typed", () => {
    const text = JSON.stringify(JSON.parse(own([{ id: "7", label: "x", points: [[1.5, 2.5]] }])), null, 2);
    const { store, written } = editor(text);
    assert.deepEqual(store.state.doc.entities.map((e) => e.id), ["7"]);
    assert.equal(store.state.pending, false);
    assert.deepEqual(written, [], "pretty-printed JSON stays pretty-printed until an edit");
  });

  test("a foreign value waits for the server's reading and is not rewritten until edited", () => {
    const { store, written } = editor();
    const kjnodes = "[[{'x': 100, 'y': 100}, {'x': 300, 'y': 200}]]";
    store.receiveValue(kjnodes);
    assert.equal(store.state.pending, true);
    const request = store.state.requests.preview;
    assert.equal(request.body.trajectories, kjnodes);
    assert.equal("num_frames" in request.body, false, "the server takes the frame count from the value");
    const answer = { document: JSON.parse(own([{ id: "1", label: "entity 1", points: [[100, 100], [300, 200]] }])), tracks: [], colors: ["#ff2323"] };
    store.update((s) => commands.receivePreview(s, request.key, answer));
    assert.equal(store.state.pending, false);
    assert.deepEqual(store.state.doc.entities[0].points, [[100, 100], [300, 200]]);
    assert.equal(store.state.text, kjnodes);
    assert.deepEqual(written, []);
    store.update((s) => commands.setLabel(s, "1", "fish"));
    assert.equal(parseOwnDocument(written.at(-1)).entities[0].label, "fish");
  });

  test("a value that cannot be read is reported; the last document stays on show", () => {
    const { store } = editor(own([{ id: "1", label: "fish", points: [[10, 10]] }]));
    store.receiveValue("{not json");
    const key = store.state.requests.preview.key;
    store.update((s) => commands.receivePreviewError(s, key, "the value is not valid JSON"));
    assert.deepEqual(statusLine(store.state), { text: "Cannot preview the value: the value is not valid JSON", error: true });
    assert.deepEqual(store.state.doc.entities.map((e) => e.label), ["fish"]);
  });

  test("an answer to a request no longer current does not replace the reading", () => {
    const { store } = editor();
    store.receiveValue("[[1, 2]]");
    const stale = store.state.requests.preview.key;
    store.receiveValue("[[5, 6], [7, 8]]");
    store.update((s) => commands.receivePreview(s, stale, { document: JSON.parse(own([{ id: "1", points: [[1, 2]] }])) }));
    assert.equal(store.state.pending, true, "still waiting for the reading of the new value");
  });
});

describe("undo", () => {
  test("undo and redo walk the values, writing each to the node", () => {
    const { store, written } = editor();
    store.update((s) => commands.addEntity(s, [1, 1]));
    store.update((s) => commands.addEntity(s, [2, 2]));
    store.update(commands.undo);
    assert.equal(store.state.doc.entities.length, 1);
    assert.equal(JSON.parse(written.at(-1)).entities.length, 1);
    store.update(commands.undo);
    assert.equal(written.at(-1), "");
    assert.equal(canUndo(store.state), false);
    store.update(commands.redo);
    store.update(commands.redo);
    assert.equal(store.state.doc.entities.length, 2);
    assert.equal(canRedo(store.state), false);
  });

  test("an edit after undo drops the redo branch", () => {
    const { store } = editor();
    store.update((s) => commands.addEntity(s, [1, 1]));
    store.update((s) => commands.addEntity(s, [2, 2]));
    store.update(commands.undo);
    store.update((s) => commands.setLabel(s, "1", "fish"));
    assert.equal(canRedo(store.state), false);
    assert.deepEqual(store.state.doc.entities.map((e) => e.label), ["fish"]);
  });

  test("a value typed outside the editor is an undo step too", () => {
    const { store } = editor();
    store.receiveValue(own([{ id: "1", points: [[1, 1]] }]));
    store.update(commands.undo);
    assert.equal(store.state.doc.entities.length, 0);
  });
});

describe("the document fits its first frame", () => {
  test("the first edit records the picture's name and size", () => {
    const { store, doc } = editor();
    store.update((s) => commands.setImage(s, FISH));
    store.update((s) => commands.addEntity(s, [10, 10]));
    assert.deepEqual([doc().width, doc().height, doc().image], [1124, 668, "fish.jpg"]);
  });

  test("an empty value is not rewritten when a picture arrives (opening a workflow changes nothing)", () => {
    const { store, written } = editor();
    store.update((s) => commands.setImage(s, FISH));
    assert.deepEqual(written, []);
  });

  test("a document drawn on another size of the picture is scaled to it", () => {
    const value = own([{ id: "1", points: [[281, 167]], radius: 20, clicks: [{ x: 281, y: 167, positive: true }] }], { width: 562, height: 334 });
    const { store, doc } = editor(value);
    store.update((s) => commands.setImage(s, FISH));
    const entity = doc().entities[0];
    assert.deepEqual([doc().width, doc().height], [1124, 668]);
    assert.deepEqual(entity.points, [[562, 334]]);
    assert.deepEqual(entity.clicks, [{ x: 562, y: 334, positive: true }]);
    assert.equal(entity.radius, 40);
    assert.match(statusLine(store.state).text, /drawn on a 562x334 picture: scaled to 1124x668/);
  });

  test("the small copy embedded in the workflow never changes the document", () => {
    const value = own([{ id: "1", points: [[281, 167]] }]);
    const { store, written } = editor(value);
    store.update((s) => commands.setImage(s, { ...FISH, width: 384, height: 228, source: "embedded", maskRef: null }));
    assert.deepEqual(written, []);
    assert.equal(maskRequest(store.state, store.state.doc.entities[0]), null, "no masks from the copy");
  });

  test("a dropped picture becomes the document's first frame in one edit", () => {
    const { store, written, doc } = editor();
    store.update((s) => commands.adoptPicture(s, { ...FISH, source: "document", documentRef: "dropped.jpg", maskRef: "dropped.jpg" }));
    assert.equal(written.length, 1);
    assert.deepEqual([doc().image, doc().width, doc().height, doc().entities], ["dropped.jpg", 1124, 668, []]);
  });
});

describe("requests for the server", () => {
  test("nothing to ask while there are no entities", () => {
    const { store } = editor();
    store.update((s) => commands.setImage(s, FISH));
    assert.deepEqual(store.state.requests, { preview: null, gaussian: null, camera: null });
  });

  test("the preview request sends what the graph says and leaves the rest to the server's defaults", () => {
    const { store } = editor(own([{ id: "1", points: [[10, 10]] }]));
    let body = store.state.requests.preview.body;
    assert.deepEqual(Object.keys(body).sort(), ["height", "mask_radii", "num_frames", "radii", "trajectories", "width"]);
    store.update((s) => commands.setContext(s, { sam: null, mode: "time", framing: "stretch", modelWidth: 576, modelHeight: 320 }));
    body = store.state.requests.preview.body;
    assert.deepEqual([body.mode, body.framing, body.model_width, body.model_height], ["time", "stretch", 576, 320]);
  });

  test("mask_radii (and its older name radii) carry each entity's current mask radius, else null", () => {
    const { store } = editor(own([{ id: "1", points: [[10, 10]] }, { id: "2", points: [[50, 50]] }]));
    store.update((s) => commands.setImage(s, FISH));
    const [first] = store.state.doc.entities;
    const mask = maskRequest(store.state, first);
    assert.deepEqual(mask.body, { image: "fish.jpg", clicks: [{ x: 10, y: 10, positive: true }], box: null, sam: null });
    store.update((s) => commands.receiveMask(s, "1", mask.key, { radius: 37.5, note: "" }));
    const body = store.state.requests.preview.body;
    assert.deepEqual(body.mask_radii, [37.5, null]);
    assert.deepEqual(body.radii, body.mask_radii);
    // A mask made for another prompt no longer counts.
    store.update((s) => commands.addClick(s, [12, 12], false));
    store.update((s) => commands.select(s, "1"));
    store.update((s) => commands.addClick(s, [12, 12], false));
    assert.deepEqual(store.state.requests.preview.body.mask_radii, [null, null]);
  });

  test("the Gaussian is asked for at the current frame once the value has been read without error", () => {
    const { store } = editor(own([{ id: "1", points: [[10, 10], [90, 90]] }]));
    assert.equal(store.state.requests.gaussian, null);
    const key = store.state.requests.preview.key;
    store.update((s) => commands.receivePreview(s, key, { tracks: [[]], colors: ["#ff2323"] }));
    store.update((s) => commands.setFrame(s, 99));
    const gaussian = store.state.requests.gaussian.body;
    assert.equal(gaussian.frame, numFrames(store.state) - 1, "the frame is kept in range");
    assert.equal(gaussian.trajectories, store.state.text);
    store.update((s) => commands.setShowGaussian(s, false));
    assert.equal(store.state.requests.gaussian, null);
  });
});

describe("what is shown", () => {
  function answered(store, radii) {
    const key = store.state.requests.preview.key;
    store.update((s) => commands.receivePreview(s, key, { document: JSON.parse(s.text), tracks: [], colors: [], radii }));
  }

  test("the radius is the server's once it answers; until then the typed or mask radius, provisionally", () => {
    const { store } = editor(own([{ id: "1", points: [[10, 10]], radius: 200 }, { id: "2", points: [[50, 50]] }]));
    assert.deepEqual(entityRadius(store.state, 0), { radius: 200, provisional: true });
    assert.equal(entityRadius(store.state, 1), null, "no typed radius, no mask yet, no answer");
    answered(store, [97.5, 31]);
    assert.deepEqual(entityRadius(store.state, 0), { radius: 97.5, provisional: false });
    assert.deepEqual(entityRadius(store.state, 1), { radius: 31, provisional: false });
    // An edit makes the answer stale: provisional again until the next one.
    store.update((s) => commands.setRadius(s, "1", 150));
    assert.deepEqual(entityRadius(store.state, 0), { radius: 150, provisional: true });
    assert.deepEqual(entityRadius(store.state, 1), { radius: 31, provisional: true }, "the last answer, marked stale");
  });

  test("while its handle is dragged, an entity shows the dragged radius", () => {
    const { store } = editor(own([{ id: "1", points: [[10, 10]], radius: 50 }]));
    answered(store, [50]);
    store.update((s) => {
      s.gesture = { mode: "radius", entityId: "1" };
      commands.setRadius(s, "1", 80);
    });
    assert.deepEqual(entityRadius(store.state, 0), { radius: 80, provisional: true });
  });

  test("without a picture the status line stays empty: the canvas alone says what to do", () => {
    const { store } = editor();
    assert.deepEqual(statusLine(store.state), { text: "", error: false });
    store.update((s) => commands.setImage(s, FISH));
    assert.match(statusLine(store.state).text, /^Click an object/);
  });

  test("errors come before messages in the status line", () => {
    const { store } = editor(own([{ id: "1", points: [[10, 10], [20, 20], [30, 30]] }]));
    store.update((s) => commands.receiveMask(s, "1", "k", { radius: 3, note: "GrabCut fallback" }));
    assert.equal(statusLine(store.state).text, "GrabCut fallback");
    store.update((s) => commands.setSpan(s, "1", 12, 13));
    assert.deepEqual(statusLine(store.state), { text: "3 points need 3 distinct frames: it ends at frame 14.", error: true });
    assert.deepEqual(store.state.doc.entities[0].frames, [12, 13, 14]);
  });
});

describe("commands", () => {
  test("the background anchor is held, away from the entities, with negative clicks on them", () => {
    const { store, doc } = editor();
    store.update((s) => commands.setImage(s, FISH));
    store.update((s) => commands.addEntity(s, [366, 325]));
    store.update((s) => commands.addEntity(s, [714, 250]));
    store.update(commands.addBackgroundAnchor);
    const background = doc().entities[2];
    assert.equal(background.label, "background");
    assert.equal(background.anchor, true);
    assert.deepEqual(background.clicks.slice(1), [{ x: 366, y: 325, positive: false }, { x: 714, y: 250, positive: false }]);
    const [x, y] = background.points[0];
    assert.ok(Math.hypot(x - 366, y - 325) > 200 && Math.hypot(x - 714, y - 250) > 200);
  });

  test("deleting the last point deletes the entity and its mask", () => {
    const { store } = editor(own([{ id: "1", points: [[10, 10]] }]));
    store.update((s) => commands.receiveMask(s, "1", "k", { radius: 3 }));
    store.update((s) => commands.deletePoint(s, "1", 0));
    assert.deepEqual(store.state.doc.entities, []);
    assert.deepEqual(store.state.masks, {});
  });

  test("a deleted selection is deselected; the frame stays inside a shortened video", () => {
    const { store } = editor(own([{ id: "1", points: [[10, 10], [20, 20]] }]));
    store.update((s) => commands.select(s, "1", 1));
    store.update((s) => commands.setFrame(s, 13));
    store.update((s) => commands.setNumFrames(s, 8));
    assert.equal(store.state.frame, 7);
    store.update(commands.deleteSelection);
    assert.deepEqual(store.state.doc.entities[0].points, [[10, 10]]);
    store.update(commands.deleteSelection);
    assert.deepEqual(store.state.selection, { entityId: null, point: null });
  });

  test("reordering moves an entity and keeps the others' order", () => {
    const { store, doc } = editor(own([{ id: "1", points: [[1, 1]] }, { id: "2", points: [[2, 2]] }, { id: "3", points: [[3, 3]] }]));
    store.update((s) => commands.moveEntity(s, "3", -1));
    store.update((s) => commands.moveEntity(s, "1", -1));
    assert.deepEqual(doc().entities.map((e) => e.id), ["1", "3", "2"]);
  });
});
