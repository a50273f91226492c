// What the editor asks the server, and when. The store derives the requests its state needs (state.requests,
// and one mask request per entity); this cache, a store subscriber, makes sure each is answered once:
//
//   - an answer already held (in the state, or in the cache from an earlier state: undo, scrubbing back) is not
//     asked again; a request that failed is not retried until the request itself changes;
//   - a request that is no longer wanted is cancelled (its fetch aborted, a late answer dropped);
//   - nothing is asked while a pointer gesture is in progress;
//   - answers come back into the store through its update path, like every other change.
//
// Views never ask the server for anything: drawing the canvas or the entity list only reads the state.
// The network is in `fetchers` (server.js in the browser), so this module has no DOM or host imports.
import {
  receiveCamera,
  receiveCameraError,
  receiveGaussian,
  receiveGaussianError,
  receiveMask,
  receiveMaskError,
  receivePreview,
  receivePreviewError,
} from "./commands.js";
import { maskRequest } from "./store.js";

export const PREVIEW_DEBOUNCE_MS = 60;
const CACHE_LIMIT = 64;

/** A Map that forgets its oldest entries beyond `limit`. */
class Recent extends Map {
  constructor(limit) {
    super();
    this.limit = limit;
  }

  set(key, value) {
    this.delete(key);
    super.set(key, value);
    while (this.size > this.limit) this.delete(this.keys().next().value);
    return this;
  }
}

/** One kind of request: at most one in flight (the wanted one), answers cached by key. */
class Channel {
  constructor({ fetch, deliver, fail, debounceMs, cache }) {
    Object.assign(this, { fetch, deliver, fail, debounceMs, cache });
    this.current = null; // {key, controller, timer}
    this.failedKey = null;
  }

  /** Make `request` ({key, body} or null) the one this channel answers; `held` says the state already has it. */
  want(request, held) {
    if (!request) this.failedKey = null; // asked again after a pause: a new try (a camera tool clicked again)
    if (!request || held) return this.cancel();
    if (this.current?.key === request.key) return;
    this.cancel();
    if (this.cache.has(request.key)) return this.deliver(request.key, this.cache.get(request.key));
    if (this.failedKey === request.key) return;
    const token = { key: request.key, controller: new AbortController(), timer: null };
    this.current = token;
    const run = async () => {
      try {
        const answer = await this.fetch(request.body, token.controller.signal);
        if (this.current !== token) return;
        this.current = null;
        this.failedKey = null;
        this.cache.set(token.key, answer);
        this.deliver(token.key, answer);
      } catch (error) {
        if (this.current !== token) return;
        this.current = null;
        this.failedKey = token.key;
        this.fail(token.key, error?.message ?? String(error));
      }
    };
    if (this.debounceMs > 0) token.timer = setTimeout(run, this.debounceMs);
    else run();
  }

  cancel() {
    if (!this.current) return;
    clearTimeout(this.current.timer);
    this.current.controller.abort();
    this.current = null;
  }
}

export class ServerCache {
  /**
   * @param store     the EditorStore
   * @param fetchers  {preview(body, signal) -> answer, gaussian(body, signal) -> image, mask(body, signal) -> mask,
   *                   camera(body, signal) -> answer}
   */
  constructor(store, fetchers, { debounceMs = PREVIEW_DEBOUNCE_MS } = {}) {
    this.store = store;
    this.fetchers = fetchers;
    // One channel per route: answers and failures come back through the store as the given commands.
    const channel = (fetch, receive, receiveError, wait) => new Channel({
      fetch,
      deliver: (key, answer) => store.update((s) => receive(s, key, answer)),
      fail: (key, message) => store.update((s) => receiveError(s, key, message)),
      debounceMs: wait,
      cache: new Recent(CACHE_LIMIT),
    });
    this.preview = channel(fetchers.preview, receivePreview, receivePreviewError, debounceMs);
    this.gaussian = channel(fetchers.gaussian, receiveGaussian, receiveGaussianError, debounceMs);
    // A camera tool's click: asked at once, the moved document delivered as one edit.
    this.camera = channel(fetchers.camera, receiveCamera, receiveCameraError, 0);
    this.maskCache = new Recent(4 * CACHE_LIMIT);
    this.masks = new Map(); // entity id -> Channel
    this.unsubscribe = store.subscribe((state) => this.sync(state));
    this.sync(store.state);
  }

  sync(s) {
    // A drag changes the document at every pointer move; what it needs is asked for once, when it ends.
    if (s.gesture) return;
    const { preview, gaussian, camera } = s.requests;
    this.preview.want(preview, preview && s.preview?.key === preview.key);
    this.gaussian.want(gaussian, gaussian && s.gaussian?.key === gaussian.key);
    this.camera.want(camera, false);
    const ids = new Set();
    for (const entity of s.doc.entities) {
      ids.add(entity.id);
      const request = maskRequest(s, entity);
      this.maskChannel(entity.id).want(request, request && s.masks[entity.id]?.key === request.key);
    }
    for (const [id, channel] of this.masks) {
      if (ids.has(id)) continue;
      channel.cancel();
      this.masks.delete(id);
    }
  }

  maskChannel(id) {
    let channel = this.masks.get(id);
    if (!channel) {
      channel = new Channel({
        fetch: this.fetchers.mask,
        deliver: (key, mask) => this.store.update((s) => receiveMask(s, id, key, mask)),
        fail: (key, message) => this.store.update((s) => receiveMaskError(s, id, key, message)),
        debounceMs: 0,
        cache: this.maskCache,
      });
      this.masks.set(id, channel);
    }
    return channel;
  }

  destroy() {
    this.unsubscribe();
    this.preview.cancel();
    this.gaussian.cancel();
    this.camera.cancel();
    for (const channel of this.masks.values()) channel.cancel();
  }
}
