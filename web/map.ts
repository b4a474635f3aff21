/**
 * A map of California on a canvas, drawn from data the package ships (no tiles): a simplified state outline
 * and the model's 4,128 hold-out block groups coloured by their median house value. Clicking (or arrow keys
 * when the map has focus) sets Latitude/Longitude in the form.
 */
import { byId, make } from "./dom";

/** The map's frame in degrees, a little wider than the state. */
const WEST = -124.6;
const EAST = -113.9;
const SOUTH = 32.3;
const NORTH = 42.2;
/** Equirectangular with the longitude scaled at the state's middle latitude, so the shape is not stretched. */
const X_SCALE = Math.cos(((SOUTH + NORTH) / 2) * (Math.PI / 180));
export const MAP_ASPECT = ((EAST - WEST) * X_SCALE) / (NORTH - SOUTH);

/** California's border, simplified to ~50 vertices (longitude, latitude), clockwise from the north-west corner. */
const OUTLINE: [number, number][] = [
  [-124.21, 42.0],
  [-120.0, 42.0],
  [-120.0, 39.0],
  [-114.63, 35.0],
  [-114.63, 34.87],
  [-114.14, 34.3],
  [-114.43, 34.08],
  [-114.53, 33.93],
  [-114.72, 33.4],
  [-114.5, 33.03],
  [-114.72, 32.72],
  [-117.12, 32.53],
  [-117.25, 32.75],
  [-117.28, 33.0],
  [-117.4, 33.2],
  [-117.7, 33.46],
  [-117.95, 33.6],
  [-118.3, 33.72],
  [-118.42, 33.9],
  [-118.53, 34.03],
  [-118.8, 34.02],
  [-119.2, 34.15],
  [-119.7, 34.4],
  [-120.45, 34.45],
  [-120.65, 34.6],
  [-120.63, 35.1],
  [-120.9, 35.45],
  [-121.35, 35.8],
  [-121.9, 36.3],
  [-121.95, 36.6],
  [-121.8, 36.8],
  [-122.0, 36.95],
  [-122.4, 37.2],
  [-122.5, 37.5],
  [-122.52, 37.8],
  [-122.95, 38.0],
  [-123.05, 38.3],
  [-123.73, 38.95],
  [-123.85, 39.8],
  [-124.35, 40.3],
  [-124.2, 40.8],
  [-124.1, 41.4],
  [-124.21, 42.0],
];

/** Value bins in units of $100,000 and their colours (viridis, readable on the dark map). */
export const BINS: { below: number; colour: string; label: string }[] = [
  { below: 1, colour: "#7b3fa0", label: "under $100k" },
  { below: 2, colour: "#4a6fc4", label: "$100k–200k" },
  { below: 3, colour: "#22a39b", label: "$200k–300k" },
  { below: 4, colour: "#73d055", label: "$300k–400k" },
  { below: Infinity, colour: "#fde725", label: "$400k and over" },
];

interface Points {
  count: number;
  points: number[];
}

export interface MapView {
  /** Moves the marker (the form's current position). */
  mark(lat: number, lon: number): void;
}

export function createMap(onPick: (lat: number, lon: number) => void): MapView {
  const canvas = byId<HTMLCanvasElement>("map");
  const ctx = canvas.getContext("2d");
  // The projection's own shape (CSSOM, which the CSP allows, unlike a style attribute).
  canvas.style.aspectRatio = String(MAP_ASPECT);
  /** Per value bin, flat [longitude, latitude, ...] in degrees: one fill per colour. */
  let byBin: number[][] = BINS.map(() => []);
  let marker: { lat: number; lon: number } | undefined;

  const toX = (lon: number) => ((lon - WEST) * X_SCALE * canvas.width) / ((EAST - WEST) * X_SCALE);
  const toY = (lat: number) => ((NORTH - lat) * canvas.height) / (NORTH - SOUTH);

  function draw(): void {
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const height = Math.round(width / MAP_ASPECT);
    if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
    ctx.fillStyle = "#17212b";
    ctx.fillRect(0, 0, width, height);
    ctx.beginPath();
    OUTLINE.forEach(([lon, lat], k) => (k === 0 ? ctx.moveTo(toX(lon), toY(lat)) : ctx.lineTo(toX(lon), toY(lat))));
    ctx.fillStyle = "#26333f";
    ctx.fill();
    ctx.strokeStyle = "#8aa0b4";
    ctx.lineWidth = dpr;
    ctx.stroke();
    const r = Math.max(1.2, width / 260);
    byBin.forEach((xy, b) => {
      ctx.fillStyle = BINS[b]!.colour;
      ctx.beginPath();
      for (let k = 0; k < xy.length; k += 2) {
        const x = toX(xy[k]!);
        const y = toY(xy[k + 1]!);
        ctx.moveTo(x + r, y);
        ctx.arc(x, y, r, 0, 2 * Math.PI);
      }
      ctx.fill();
    });
    if (marker) drawMarker(ctx, toX(marker.lon), toY(marker.lat), 6 * r);
  }

  function pick(clientX: number, clientY: number): void {
    const box = canvas.getBoundingClientRect();
    const lon = WEST + ((clientX - box.left) / box.width) * (EAST - WEST);
    const lat = NORTH - ((clientY - box.top) / box.height) * (NORTH - SOUTH);
    set(lat, lon);
  }

  function set(lat: number, lon: number): void {
    const clamped = { lat: clamp(lat, SOUTH, NORTH), lon: clamp(lon, WEST, EAST) };
    marker = clamped;
    onPick(clamped.lat, clamped.lon);
    draw();
  }

  canvas.addEventListener("click", (e) => pick(e.clientX, e.clientY));
  canvas.addEventListener("keydown", (e) => {
    const move = arrowMove(e);
    if (!move || !marker) return;
    e.preventDefault();
    set(marker.lat + move[0], marker.lon + move[1]);
  });
  new ResizeObserver(draw).observe(canvas);
  void fetch("/app/holdout-points.json")
    .then((r) => (r.ok ? (r.json() as Promise<Points>) : undefined))
    .then((data) => {
      byBin = groupByBin(data?.points ?? []);
      byId("map-count").textContent = data ? `${data.count.toLocaleString("en-US")} hold-out block groups` : "";
      draw();
    });
  renderLegend();
  return {
    mark(lat, lon) {
      marker = { lat, lon };
      draw();
    },
  };
}

function groupByBin(points: number[]): number[][] {
  const groups: number[][] = BINS.map(() => []);
  for (let k = 0; k < points.length; k += 3) {
    const value = points[k + 2]! / 100;
    groups[BINS.findIndex((b) => value < b.below)]!.push(points[k]! / 100, points[k + 1]! / 100);
  }
  return groups;
}

/** The marker's move for an arrow key, [degrees north, degrees east]: 0.05° a press, 0.5° with Shift. */
function arrowMove(e: KeyboardEvent): [number, number] | undefined {
  const step = e.shiftKey ? 0.5 : 0.05;
  const moves: Record<string, [number, number]> = {
    ArrowUp: [step, 0],
    ArrowDown: [-step, 0],
    ArrowLeft: [0, -step],
    ArrowRight: [0, step],
  };
  return moves[e.key];
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

function drawMarker(ctx: CanvasRenderingContext2D, x: number, y: number, size: number): void {
  ctx.lineWidth = size / 3;
  ctx.strokeStyle = "#000";
  ctx.beginPath();
  ctx.arc(x, y, size, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.lineWidth = size / 6;
  ctx.strokeStyle = "#fff";
  ctx.stroke();
}

function renderLegend(): void {
  const legend = byId("map-legend");
  BINS.forEach((bin, k) => {
    const item = make("li");
    const swatch = make("span", { className: `swatch bin-${k}` });
    swatch.setAttribute("aria-hidden", "true");
    item.append(swatch, bin.label);
    legend.append(item);
  });
}
