// Calls to the pack's editor routes (nodes/editor_routes.py). Each returns the answer or throws an Error whose
// message is the server's one-line explanation, which the editor shows in its status line; each takes an
// AbortSignal, so a request the editor no longer needs is cancelled.
import { api } from "../../../../scripts/api.js";

const PREFIX = "/draganything/editor";

// The first SAM click on a picture computes its embedding: ViT-H on a CPU can take a minute or more, longer than
// the default request timeout of newer frontends (fetchApi's `timeoutMs`; older ones ignore the option).
const MASK_TIMEOUT_MS = 10 * 60 * 1000;

async function post(path, body, options = {}) {
  const response = await api.fetchApi(`${PREFIX}/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    ...options,
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error ?? message;
    } catch {
      // not JSON: keep the status line
    }
    throw new Error(message);
  }
  return response;
}

export async function fetchPreview(body, signal) {
  return (await post("preview", body, { signal })).json();
}

/** The document with every held entity moved by a camera move: {document}. */
export async function fetchCamera(body, signal) {
  return (await post("camera", body, { signal })).json();
}

/** The entity mask: the route's answer, with the mask as an image and its pixels (alpha = mask) for hit tests. */
export async function fetchMask(body, signal) {
  const answer = await (await post("mask", body, { signal, timeoutMs: MASK_TIMEOUT_MS })).json();
  const element = await loadImage(answer.mask);
  return { ...answer, element, alpha: imagePixels(element) };
}

/** The Gaussian map at one frame, as a loaded image (RGBA: JET colours, alpha = map value). */
export async function fetchGaussian(body, signal) {
  const url = URL.createObjectURL(await (await post("gaussian", body, { signal })).blob());
  try {
    return await loadImage(url);
  } finally {
    URL.revokeObjectURL(url); // a loaded image keeps its pixels
  }
}

export function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`could not load ${String(src).slice(0, 80)}`));
    image.src = src;
  });
}

function imagePixels(image) {
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(image, 0, 0);
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

/** Upload a dropped or pasted picture to the input folder; returns the name to store ("sub/name.png" or "name.png"). */
export async function uploadImage(file) {
  const form = new FormData();
  form.append("image", file, file.name || "pasted.png");
  form.append("type", "input");
  form.append("subfolder", "");
  const response = await api.fetchApi("/upload/image", { method: "POST", body: form });
  if (!response.ok) throw new Error(`upload failed: ${response.status} ${response.statusText}`);
  const { name, subfolder } = await response.json();
  return subfolder ? `${subfolder}/${name}` : name;
}

/** The /view URL of an image reference as LoadImage stores it ("sub/name.png [input]"). */
export function viewUrl(reference) {
  const match = /^(.*?)(?:\s*\[(input|output|temp)\])?$/.exec(reference.trim());
  const path = match[1];
  const type = match[2] ?? "input";
  const slash = path.lastIndexOf("/");
  const subfolder = slash >= 0 ? path.slice(0, slash) : "";
  const filename = slash >= 0 ? path.slice(slash + 1) : path;
  const query = new URLSearchParams({ filename, type, subfolder });
  return api.apiURL(`/view?${query}`);
}
