// The canvas: the first frame with every entity's mask, path, caption, radius and position at the current frame,
// and the Gaussian map the model receives at that frame. It draws the store's state, once per animation frame
// however many updates came in between, and never changes the state or asks the server for anything.
import { UNKNOWN_RADIUS_HANDLE_PX, captionBox, fitLayout, outlineColor, radiusHandlePoint, toScreen } from "./geometry.js";
import { entityColor, entityRadius, entityShownNow, entityTrack, frameSize } from "./store.js";

const CAPTION_FONT = "12px sans-serif";
const CAPTION_HEIGHT = 15;
const OUTLINE_WIDTH = 3;
const PLACEHOLDER_TEXT = "Connect a LoadImage, or drop / paste a picture here";
const HIDDEN_COLOR = "#8b8b8b"; // an entity the model does not see at the current frame

/** Where the radius handle of the entity at `index` is, in frame pixels. */
export function radiusHandle(s, index, layout) {
  const entity = s.doc.entities[index];
  const radius = entityRadius(s, index)?.radius ?? UNKNOWN_RADIUS_HANDLE_PX / layout.scale;
  return radiusHandlePoint(entity.points[0], radius);
}

export class CanvasView {
  constructor(canvas, store) {
    this.canvas = canvas;
    this.store = store;
    this.frameRequest = 0;
    this.captions = []; // [{entityId, x, y, width, height}] in canvas pixels, as last drawn
    this.tinted = new WeakMap(); // mask image -> {color, canvas}: the mask in its entity's colour
    this.unsubscribe = store.subscribe(() => this.schedule());
    this.resizeObserver = new ResizeObserver(() => this.schedule());
    this.resizeObserver.observe(canvas);
  }

  destroy() {
    this.unsubscribe();
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frameRequest);
  }

  /** The frame's place in the canvas (canvas pixels, before the graph's zoom). */
  layout() {
    return fitLayout(this.canvas.clientWidth, this.canvas.clientHeight, frameSize(this.store.state));
  }

  schedule() {
    if (!this.frameRequest) this.frameRequest = requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.frameRequest = 0;
    const s = this.store.state;
    const dpr = window.devicePixelRatio || 1;
    const l = this.layout();
    if (!l.width || !l.height) return;
    if (this.canvas.width !== Math.round(l.width * dpr) || this.canvas.height !== Math.round(l.height * dpr)) {
      this.canvas.width = Math.round(l.width * dpr);
      this.canvas.height = Math.round(l.height * dpr);
    }
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, l.width, l.height);
    const frame = [l.ox, l.oy, l.frameWidth * l.scale, l.frameHeight * l.scale];
    ctx.fillStyle = "#1b1b1f";
    ctx.fillRect(...frame);
    if (s.image) ctx.drawImage(s.image.element, ...frame);
    else drawPlaceholder(ctx, l);

    s.doc.entities.forEach((entity, index) => this.drawMask(ctx, frame, s, entity, index));
    if (s.showGaussian && s.requests.gaussian && s.gaussian?.element) {
      ctx.globalAlpha = 0.75;
      ctx.drawImage(s.gaussian.element, ...frame);
      ctx.globalAlpha = 1;
    }
    this.captions = [];
    s.doc.entities.forEach((entity, index) => this.drawEntity(ctx, l, s, entity, index));
    drawGesture(ctx, l, s);
  }

  drawMask(ctx, frame, s, entity, index) {
    const image = s.masks[entity.id]?.element;
    if (!image) return;
    const color = entityColor(s, index);
    let tinted = this.tinted.get(image);
    if (tinted?.color !== color) {
      const canvas = document.createElement("canvas");
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      const tctx = canvas.getContext("2d");
      tctx.drawImage(image, 0, 0);
      tctx.globalCompositeOperation = "source-in";
      tctx.fillStyle = color;
      tctx.fillRect(0, 0, canvas.width, canvas.height);
      tinted = { color, canvas };
      this.tinted.set(image, tinted);
    }
    ctx.globalAlpha = !entityShownNow(s, index) ? 0.1 : entity.id === s.selection.entityId ? 0.45 : 0.3;
    ctx.drawImage(tinted.canvas, ...frame);
    ctx.globalAlpha = 1;
  }

  drawEntity(ctx, l, s, entity, index) {
    const color = entityColor(s, index);
    const selected = entity.id === s.selection.entityId;
    const screen = entity.points.map((p) => toScreen(p, l));
    const track = entityTrack(s, index);

    // The path as the nodes resample it, one dot per frame; the raw polyline, dashed, until the server answers.
    if (track && !entity.anchor) {
      ctx.strokeStyle = color;
      ctx.lineWidth = selected ? 2.5 : 1.5;
      ctx.beginPath();
      track.forEach((p, i) => (i ? ctx.lineTo(...toScreen(p, l)) : ctx.moveTo(...toScreen(p, l))));
      ctx.stroke();
      ctx.fillStyle = color;
      for (const p of track) {
        const [sx, sy] = toScreen(p, l);
        ctx.fillRect(sx - 1.5, sy - 1.5, 3, 3);
      }
      if (track.length > 1) drawArrowHead(ctx, toScreen(track.at(-2), l), toScreen(track.at(-1), l), color);
    } else if (screen.length > 1 && !entity.anchor) {
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = color;
      ctx.lineWidth = 1;
      ctx.beginPath();
      screen.forEach(([sx, sy], i) => (i ? ctx.lineTo(sx, sy) : ctx.moveTo(sx, sy)));
      ctx.stroke();
      ctx.setLineDash([]);
    }

    screen.forEach(([sx, sy], i) => {
      ctx.beginPath();
      ctx.arc(sx, sy, i === 0 ? 5 : 3.5, 0, Math.PI * 2);
      ctx.fillStyle = selected && i === s.selection.point ? "#ffffff" : color;
      ctx.fill();
      ctx.strokeStyle = "#000000";
      ctx.lineWidth = 1;
      ctx.stroke();
    });
    ctx.font = "bold 12px sans-serif";
    ctx.textBaseline = "alphabetic";
    for (const click of entity.clicks) {
      const [sx, sy] = toScreen([click.x, click.y], l);
      outlinedText(ctx, click.positive ? "+" : "−", sx + 4, sy - 4, click.positive ? "#39d353" : "#f85149");
    }
    if (entity.box) {
      const [bx0, by0] = toScreen(entity.box.slice(0, 2), l);
      const [bx1, by1] = toScreen(entity.box.slice(2), l);
      ctx.strokeStyle = color;
      ctx.lineWidth = 1;
      ctx.setLineDash([6, 3]);
      ctx.strokeRect(bx0, by0, bx1 - bx0, by1 - by0);
      ctx.setLineDash([]);
    }

    const [lx, ly] = screen[0];
    const radius = entityRadius(s, index);
    if (selected) {
      // The radius the maps use (the server's, solid) or, until it answers, the typed or mask radius (dashed).
      if (radius) {
        ctx.beginPath();
        ctx.setLineDash(radius.provisional ? [3, 3] : []);
        ctx.arc(lx, ly, radius.radius * l.scale, 0, Math.PI * 2);
        ctx.strokeStyle = color;
        ctx.lineWidth = 1.5;
        ctx.stroke();
        ctx.setLineDash([]);
      }
      const [hx, hy] = toScreen(radiusHandle(s, index, l), l);
      ctx.beginPath();
      ctx.moveTo(hx, hy - 6);
      ctx.lineTo(hx + 6, hy);
      ctx.lineTo(hx, hy + 6);
      ctx.lineTo(hx - 6, hy);
      ctx.closePath();
      ctx.fillStyle = "#ffffff";
      ctx.fill();
      ctx.strokeStyle = color;
      ctx.lineWidth = 1;
      ctx.stroke();
    }
    // Where the entity is at the current frame: a white ring, or a grey dashed one while it is hidden there.
    const shown = entityShownNow(s, index);
    if (track) {
      const [fx, fy] = toScreen(track[Math.min(s.frame, track.length - 1)], l);
      ctx.beginPath();
      ctx.arc(fx, fy, Math.max(4, (radius?.radius ?? 0) * l.scale * 0.35), 0, Math.PI * 2);
      ctx.setLineDash(shown ? [] : [4, 3]);
      ctx.strokeStyle = shown ? "#ffffff" : HIDDEN_COLOR;
      ctx.lineWidth = 2;
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.lineWidth = 1;
    }

    // The caption, kept inside the canvas and outlined so it reads on any picture.
    const caption = `${entity.anchor ? "⚓ " : ""}${shown ? "" : "(hidden) "}${entity.label || entity.id}`;
    ctx.font = CAPTION_FONT;
    ctx.textBaseline = "top";
    const width = Math.ceil(ctx.measureText(caption).width) + OUTLINE_WIDTH;
    const box = captionBox([lx, ly], width, CAPTION_HEIGHT, l);
    outlinedText(ctx, caption, box.x + OUTLINE_WIDTH / 2, box.y + 1.5, shown ? color : HIDDEN_COLOR);
    ctx.textBaseline = "alphabetic";
    this.captions.push({ entityId: entity.id, ...box });
  }
}

function outlinedText(ctx, text, x, y, color) {
  ctx.lineJoin = "round";
  ctx.lineWidth = OUTLINE_WIDTH;
  ctx.strokeStyle = outlineColor(color);
  ctx.strokeText(text, x, y);
  ctx.fillStyle = color;
  ctx.fillText(text, x, y);
  ctx.lineWidth = 1;
}

function drawPlaceholder(ctx, l) {
  ctx.fillStyle = "#9aa0a6";
  ctx.font = "13px sans-serif";
  ctx.textAlign = "center";
  ctx.fillText(PLACEHOLDER_TEXT, l.width / 2, l.height / 2);
  ctx.textAlign = "start";
}

function drawGesture(ctx, l, s) {
  const gesture = s.gesture;
  if (!gesture?.moved) return;
  if (gesture.mode === "path") {
    const entity = s.doc.entities.find((e) => e.id === gesture.entityId);
    if (!entity) return;
    const start = entity.points.at(-1);
    const points = [start, ...gesture.path, gesture.current ?? start].map((p) => toScreen(p, l));
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach(([sx, sy], i) => (i ? ctx.lineTo(sx, sy) : ctx.moveTo(sx, sy)));
    ctx.stroke();
    ctx.lineWidth = 1;
  } else if (gesture.mode === "box" && gesture.current) {
    const [ax, ay] = toScreen(gesture.start, l);
    const [bx, by] = toScreen(gesture.current, l);
    ctx.strokeStyle = "#ffffff";
    ctx.setLineDash([6, 3]);
    ctx.strokeRect(Math.min(ax, bx), Math.min(ay, by), Math.abs(bx - ax), Math.abs(by - ay));
    ctx.setLineDash([]);
  }
}

function drawArrowHead(ctx, [ax, ay], [bx, by], color) {
  const angle = Math.atan2(by - ay, bx - ax);
  ctx.beginPath();
  ctx.moveTo(bx, by);
  ctx.lineTo(bx - 9 * Math.cos(angle - 0.45), by - 9 * Math.sin(angle - 0.45));
  ctx.lineTo(bx - 9 * Math.cos(angle + 0.45), by - 9 * Math.sin(angle + 0.45));
  ctx.closePath();
  ctx.fillStyle = color;
  ctx.fill();
}
