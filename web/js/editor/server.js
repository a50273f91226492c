// Calls to the pack's editor routes (nodes/editor_routes.py). Each returns the parsed answer or throws an Error
// whose message is the server's one-line explanation, which the editor shows in its status line.
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

export async function fetchPreview(body) {
  return (await post("preview", body)).json();
}

export async function fetchMask(body) {
  return (await post("mask", body, { timeoutMs: MASK_TIMEOUT_MS })).json();
}

/** The Gaussian map at one frame as an object URL of an RGBA PNG (the caller revokes it). */
export async function fetchGaussian(body) {
  return URL.createObjectURL(await (await post("gaussian", body)).blob());
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
