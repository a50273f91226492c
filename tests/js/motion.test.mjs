// Easing and hidden ranges: written as version-2 fields only when set, so version-1 values stay version 1.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as commands from "../../web/js/editor/commands.js";
import { EditorStore } from "../../web/js/editor/store.js";

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
