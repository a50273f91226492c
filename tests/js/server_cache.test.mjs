// The server cache: each request the state needs is asked once, answered from the cache when it was answered
// before, cancelled when no longer wanted; answers come back through the store. The network here is a set of
// in-test fetchers that record what they were asked and answer when the test says.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as commands from "../../web/js/editor/commands.js";
import { ServerCache } from "../../web/js/editor/server_cache.js";
import { EditorStore } from "../../web/js/editor/store.js";

const FISH = { element: null, width: 1124, height: 668, source: "connected", documentRef: "fish.jpg", maskRef: "fish.jpg" };

function own(entities) {
  return JSON.stringify({ format: "draganything/trajectories", version: 1, width: 1124, height: 668, num_frames: 14, entities });
}

/** Fetchers whose calls wait until the test answers them. */
function network() {
  const calls = { preview: [], gaussian: [], mask: [] };
  const fetcher = (kind) => (body, signal) =>
    new Promise((resolve, reject) => {
      const call = { body, signal, resolve, reject };
      signal.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
      calls[kind].push(call);
    });
  return { calls, fetchers: { preview: fetcher("preview"), gaussian: fetcher("gaussian"), mask: fetcher("mask") } };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function setup(value) {
  const store = new EditorStore({ writeValue: () => {} });
  const { calls, fetchers } = network();
  const cache = new ServerCache(store, fetchers, { debounceMs: 0 });
  store.receiveValue(value);
  return { store, calls, cache };
}

function previewAnswer(store) {
  return { document: JSON.parse(store.state.text), tracks: [[[10, 10]]], colors: ["#ff2323"], radii: [40] };
}

describe("server cache", () => {
  test("the preview is asked once and its answer reaches the state", async () => {
    const { store, calls } = setup(own([{ id: "1", points: [[10, 10]] }]));
    assert.equal(calls.preview.length, 1);
    store.update((s) => commands.select(s, "1"));
    assert.equal(calls.preview.length, 1, "an update that does not change the request asks nothing");
    calls.preview[0].resolve(previewAnswer(store));
    await settle();
    assert.deepEqual(store.state.preview.answer.radii, [40]);
    assert.equal(store.state.preview.key, store.state.requests.preview.key);
  });

  test("a request no longer wanted is aborted, and its late answer dropped", async () => {
    const { store, calls } = setup(own([{ id: "1", points: [[10, 10]] }]));
    const first = calls.preview[0];
    store.update((s) => commands.setRadius(s, "1", 30));
    assert.equal(first.signal.aborted, true);
    assert.equal(calls.preview.length, 2);
    first.resolve({ document: {}, radii: [1] });
    calls.preview[1].resolve(previewAnswer(store));
    await settle();
    assert.deepEqual(store.state.preview.answer.radii, [40]);
  });

  test("going back to an earlier state (undo) is answered from the cache", async () => {
    const { store, calls } = setup(own([{ id: "1", points: [[10, 10]] }]));
    calls.preview[0].resolve(previewAnswer(store));
    await settle();
    store.update((s) => commands.setLabel(s, "1", "fish"));
    calls.preview[1].resolve(previewAnswer(store));
    await settle();
    store.update(commands.undo);
    assert.equal(calls.preview.length, 2, "no third request");
    assert.equal(store.state.preview.key, store.state.requests.preview.key);
  });

  test("a failed request is reported once and not retried until it changes", async () => {
    const { store, calls } = setup(own([{ id: "1", points: [[10, 10]] }]));
    calls.preview[0].reject(new Error("'mode' must be one of ..."));
    await settle();
    assert.equal(store.state.notices.value.text, "Cannot preview the value: 'mode' must be one of ...");
    store.update((s) => commands.select(s, "1"));
    assert.equal(calls.preview.length, 1);
    store.update((s) => commands.setLabel(s, "1", "fish"));
    assert.equal(calls.preview.length, 2);
  });

  test("one mask request per entity prompt; a changed prompt cancels the old one", async () => {
    const { store, calls } = setup(own([{ id: "1", points: [[10, 10]] }, { id: "2", points: [[500, 300]] }]));
    assert.equal(calls.mask.length, 0, "no picture, no masks");
    store.update((s) => commands.setImage(s, FISH));
    assert.deepEqual(calls.mask.map((c) => c.body.clicks[0].x), [10, 500]);
    store.update((s) => commands.select(s, "1"));
    store.update((s) => commands.addClick(s, [20, 20], false));
    assert.equal(calls.mask[0].signal.aborted, true);
    assert.equal(calls.mask[1].signal.aborted, false);
    assert.equal(calls.mask.length, 3);
    calls.mask[2].resolve({ radius: 12, note: "GrabCut fallback" });
    await settle();
    assert.equal(store.state.masks["1"].radius, 12);
    assert.deepEqual(store.state.requests.preview.body.mask_radii, [12, null]);
  });

  test("nothing is asked while a drag is in progress; what the drag changed is asked for when it ends", () => {
    // An imported entity without clicks: its mask prompt is its first point, which the drag moves.
    const { store, calls } = setup(own([{ id: "1", points: [[10, 10], [50, 50]] }]));
    store.update((s) => commands.setImage(s, FISH));
    assert.equal(calls.mask.length, 1);
    const previews = calls.preview.length;
    store.update((s) => (s.gesture = { mode: "move" }));
    for (const x of [12, 14, 16, 18]) store.update((s) => commands.movePoint(s, "1", 0, [x, 10]));
    assert.equal(calls.mask.length, 1);
    assert.equal(calls.preview.length, previews);
    store.update((s) => (s.gesture = null));
    assert.deepEqual(calls.mask.map((c) => c.body.clicks[0].x), [10, 18]);
    assert.equal(calls.preview.length, previews + 1);
  });

  test("deleting an entity cancels its mask request", () => {
    const { store, calls } = setup(own([{ id: "1", points: [[10, 10]] }]));
    store.update((s) => commands.setImage(s, FISH));
    store.update((s) => commands.deleteEntity(s, "1"));
    assert.equal(calls.mask[0].signal.aborted, true);
  });

  test("the Gaussian waits for the preview, then follows the frame", async () => {
    const { store, calls } = setup(own([{ id: "1", points: [[10, 10], [90, 90]] }]));
    assert.equal(calls.gaussian.length, 0);
    calls.preview[0].resolve(previewAnswer(store));
    await settle();
    assert.deepEqual(calls.gaussian.map((c) => c.body.frame), [0]);
    store.update((s) => commands.setFrame(s, 3));
    assert.deepEqual(calls.gaussian.map((c) => c.body.frame), [0, 3]);
    assert.equal(calls.gaussian[0].signal.aborted, true);
    calls.gaussian[1].resolve("image at frame 3");
    await settle();
    assert.equal(store.state.gaussian.element, "image at frame 3");
  });

  test("destroy cancels whatever is in flight", () => {
    const { store, calls, cache } = setup(own([{ id: "1", points: [[10, 10]] }]));
    store.update((s) => commands.setImage(s, FISH));
    cache.destroy();
    assert.ok([...calls.preview, ...calls.mask].every((c) => c.signal.aborted));
  });
});
