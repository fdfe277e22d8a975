#!/usr/bin/env node
// Speed of Human 3.3.6 detect() (TensorFlow.js 4.22.0, wasm backend) with the same
// detector + emotion configuration as generate.mjs, for the framecast-vs-Human comparison.
//
//   node bench.mjs --pixels DIR [--iterations N] [--warmup N] --json
//
// Input: the same <name>.png pixels as generate.mjs, uploaded once per image as a
// [1,H,W,3] int32 tensor; PNG decoding and the upload are not timed. Every timed call
// is one full human.detect() on that tensor (Human's input handling, BlazeFace on the
// 256x256 resize, NMS, then crop + emotion once per face).
// Prints one JSON object on stdout; narration goes to stderr.

import os from 'node:os';
import { tf, log, fail, parseArgs, listPixels, pixelTensor, loadHuman, median, quantile, DETECTOR, EMOTION } from './common.mjs';

const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

// Least squares ms = base + perFace * faces over the per-image medians.
function fit(points) {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.faces, 0) / n;
  const my = points.reduce((s, p) => s + p.ms, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.faces - mx) ** 2, 0);
  if (n < 2 || sxx === 0) return null;
  const sxy = points.reduce((s, p) => s + (p.faces - mx) * (p.ms - my), 0);
  const perFace = sxy / sxx;
  return { base_ms: round(my - perFace * mx), per_face_ms: round(perFace) };
}

async function main() {
  const args = parseArgs(process.argv.slice(2), { pixels: 'value', iterations: 'value', warmup: 'value', json: 'bool' });
  if (!args.pixels) fail('usage: node bench.mjs --pixels DIR [--iterations N] [--warmup N] --json');
  if (!args.json) fail('only --json output is implemented: pass --json');
  const iterations = args.iterations ? Number.parseInt(args.iterations, 10) : 20;
  const warmup = args.warmup ? Number.parseInt(args.warmup, 10) : 3;
  if (!(iterations > 0) || !(warmup >= 0)) fail('--iterations must be > 0 and --warmup >= 0');

  const images = await listPixels(args.pixels);
  const { human, wasm } = await loadHuman();
  log(`Human ${human.version}, tfjs ${tf.version_core}, backend ${tf.getBackend()}, wasm simd=${wasm.simd} multithread=${wasm.multithread} threads=${wasm.threads}`);

  // Round-robin over the images, so that a burst of load from elsewhere on the machine
  // spreads over all images instead of skewing one of them.
  const inputs = images.map((img) => pixelTensor(img));
  const times = images.map(() => []);
  const faceCounts = images.map(() => -1);
  const load1 = os.loadavg();
  for (let i = 0; i < warmup; i++) for (const input of inputs) await human.detect(input);
  for (let it = 0; it < iterations; it++) {
    for (let k = 0; k < images.length; k++) {
      const t0 = performance.now();
      const res = await human.detect(inputs[k]);
      const ms = performance.now() - t0;
      if (res.error) fail(`${images[k].name}: ${res.error}`);
      if (faceCounts[k] >= 0 && res.face.length !== faceCounts[k]) fail(`${images[k].name}: face count changed between runs`);
      faceCounts[k] = res.face.length;
      times[k].push(ms);
    }
  }
  const load2 = os.loadavg();
  tf.dispose(inputs);
  const perImage = [];
  const all = [];
  const allPerFace = [];
  let totalFaces = 0;
  images.forEach((img, k) => {
    const faces = faceCounts[k];
    const ts = times[k];
    totalFaces += faces;
    all.push(...ts);
    if (faces > 0) allPerFace.push(...ts.map((t) => t / faces));
    const med = median(ts);
    const p90 = quantile(ts, 0.9);
    perImage.push({
      name: img.name,
      width: img.width,
      height: img.height,
      faces,
      median_ms: round(med),
      p90_ms: round(p90),
      min_ms: round(Math.min(...ts)),
      median_ms_per_face: faces > 0 ? round(med / faces) : null,
      p90_ms_per_face: faces > 0 ? round(p90 / faces) : null,
    });
    log(`${img.name}: ${img.width}x${img.height} ${faces} faces: median ${med.toFixed(2)} ms, p90 ${p90.toFixed(2)} ms, min ${Math.min(...ts).toFixed(2)} ms`);
  });
  const sumMedians = perImage.reduce((s, p) => s + p.median_ms, 0);
  const out = {
    tool: 'framecast tools/reference/bench.mjs',
    human: human.version,
    tfjs: tf.version_core,
    backend: tf.getBackend(),
    wasm: { simd: wasm.simd, multithread: wasm.multithread, threads: wasm.threads },
    node: process.version,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? null,
    loadavg_1min: { start: round(load1[0], 2), end: round(load2[0], 2) },
    config: { detector: DETECTOR, emotion: EMOTION, other: 'mesh, iris, description, attention, antispoof, liveness, body, hand, object, gesture, segmentation, filter off; cacheSensitivity 0' },
    input: 'pre-decoded [1,H,W,3] int32 tensor made from the PNG pixels once per image; PNG decode and tensor upload are excluded from the timings',
    timed: 'one human.detect() call: input handling, BlazeFace on the 256x256 resize, NMS, per-face crop + emotion',
    warmup,
    iterations,
    order: 'round-robin: each iteration runs every image once',
    images: perImage,
    summary: {
      images: perImage.length,
      total_faces: totalFaces,
      median_ms_per_image: round(median(all)),
      p90_ms_per_image: round(quantile(all, 0.9)),
      median_ms_per_face: allPerFace.length > 0 ? round(median(allPerFace)) : null,
      p90_ms_per_face: allPerFace.length > 0 ? round(quantile(allPerFace, 0.9)) : null,
      sum_of_medians_ms_per_face: totalFaces > 0 ? round(sumMedians / totalFaces) : null,
      fit_ms: fit(perImage.map((p) => ({ faces: p.faces, ms: p.median_ms }))),
    },
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
