#!/usr/bin/env node
// Reference generator: runs Human 3.3.6 (TensorFlow.js 4.22.0, wasm backend) on pixels
// that framecast's Go decoder produced, and writes golden files for the Go tests.
//
//   node generate.mjs --pixels DIR --out DIR [--raw name1,name2]
//
// For every <name>.png in --pixels (8-bit RGB) it runs Human's detect() with the
// detector + emotion configuration of common.mjs, and replicates with tfjs ops on the
// same loaded models the steps of blazeface.ts getBoxes() and of the emotion crop
// chain (facemeshutil.cutAndResize + gear/emotion.ts predict) to obtain the unrounded
// detector box and the raw emotion softmax per face. The replication must coincide
// with detect() exactly, otherwise the generator fails.
// Output: <out>/faces.json and, for --raw images, <out>/raw/<name>/{tensors.json,*.f32.gz}.

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import {
  tf, log, fail, parseArgs, listPixels, pixelTensor, loadHuman, DETECTOR, EMOTION,
} from './common.mjs';

const LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
const KEYPOINTS = 6;

// ---------------------------------------------------------------- replication of Human

// facemeshutil.generateAnchors for the 256-pixel BlazeFace (strides 16 and 32).
function generateAnchors(inputSize) {
  const spec = { strides: [inputSize / 16, inputSize / 8], anchors: [2, 6] };
  const anchors = [];
  for (let i = 0; i < spec.strides.length; i++) {
    const stride = spec.strides[i];
    const gridRows = Math.floor((inputSize + stride - 1) / stride);
    const gridCols = Math.floor((inputSize + stride - 1) / stride);
    for (let gridY = 0; gridY < gridRows; gridY++) {
      const anchorY = stride * (gridY + 0.5);
      for (let gridX = 0; gridX < gridCols; gridX++) {
        const anchorX = stride * (gridX + 0.5);
        for (let n = 0; n < spec.anchors[i]; n++) anchors.push([anchorX, anchorY]);
      }
    }
  }
  return anchors;
}

const getBoxSize = (box) => [Math.abs(box.endPoint[0] - box.startPoint[0]), Math.abs(box.endPoint[1] - box.startPoint[1])];
const getBoxCenter = (box) => [box.startPoint[0] + (box.endPoint[0] - box.startPoint[0]) / 2, box.startPoint[1] + (box.endPoint[1] - box.startPoint[1]) / 2, 1];

function scaleBoxCoordinates(box, factor, anchor) {
  const startPoint = [box.startPoint[0] * factor[0], box.startPoint[1] * factor[1]];
  const endPoint = [box.endPoint[0] * factor[0], box.endPoint[1] * factor[1]];
  const landmarks = box.landmarks.map((pt) => [(pt[0] + anchor[0]) * factor[0], (pt[1] + anchor[1]) * factor[1]]);
  return { startPoint, endPoint, landmarks, confidence: box.confidence };
}

function enlargeBox(box, factor) {
  const center = getBoxCenter(box);
  const size = getBoxSize(box);
  const halfSize = [factor * size[0] / 2, factor * size[1] / 2];
  return {
    startPoint: [center[0] - halfSize[0], center[1] - halfSize[1]],
    endPoint: [center[0] + halfSize[0], center[1] + halfSize[1]],
    landmarks: box.landmarks,
    confidence: box.confidence,
    size,
  };
}

function squarifyBox(box) {
  const centers = getBoxCenter(box);
  const size = getBoxSize(box);
  const halfSize = Math.max(...size) / 2;
  return {
    startPoint: [Math.round(centers[0] - halfSize), Math.round(centers[1] - halfSize)],
    endPoint: [Math.round(centers[0] + halfSize), Math.round(centers[1] + halfSize)],
    landmarks: box.landmarks,
    confidence: box.confidence,
    size: [Math.round(size[0]), Math.round(size[1])],
  };
}

const clampBox = (box, W, H) => [
  Math.trunc(Math.max(0, box.startPoint[0])),
  Math.trunc(Math.max(0, box.startPoint[1])),
  Math.trunc(Math.min(W, box.endPoint[0]) - Math.max(0, box.startPoint[0])),
  Math.trunc(Math.min(H, box.endPoint[1]) - Math.max(0, box.startPoint[1])),
];

const getRawBox = (box, W, H) => [
  box.startPoint[0] / W,
  box.startPoint[1] / H,
  (box.endPoint[0] - box.startPoint[0]) / W,
  (box.endPoint[1] - box.startPoint[1]) / H,
];

// Human's emotion result list from the raw softmax (gear/emotion.ts).
function humanEmotionList(raw, minConfidence) {
  const obj = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] > (minConfidence || 0)) obj.push({ score: Math.min(0.99, Math.trunc(100 * raw[i]) / 100), emotion: LABELS[i] });
  }
  obj.sort((a, b) => b.score - a.score);
  return obj;
}

const C = {}; // the scalar constants of Human's tfjs/constants.ts
function initConstants() {
  C.tf255 = tf.scalar(255.0, 'float32');
  C.tf1 = tf.scalar(1.0, 'float32');
  C.tf2 = tf.scalar(2.0, 'float32');
  C.tf05 = tf.scalar(0.5, 'float32');
  C.tf127 = tf.scalar(127.5, 'float32');
  C.rgb = tf.tensor1d([0.2989, 0.5870, 0.1140], 'float32');
}

// blazeface.ts getBoxes() + per-face crop and emotion, step by step.
// Returns { faces, tensors } where tensors holds the model-level inputs/outputs.
async function replicate(models, pixels, W, H) {
  const bf = models.blazeface;
  const em = models.emotion;
  const inputSize = bf.inputs[0].shape[2];
  const emotionSize = em.inputs[0].shape[2];
  if (inputSize !== 256 || emotionSize !== 64 || em.inputs[0].shape[3] !== 1) {
    fail(`unexpected model input shapes ${JSON.stringify(bf.inputs[0].shape)} ${JSON.stringify(em.inputs[0].shape)}`);
  }
  const inputSizeT = tf.scalar(inputSize, 'int32');
  const anchorsArr = generateAnchors(inputSize);
  const anchors = tf.tensor2d(anchorsArr);
  const t = {};
  // image.process(): int32 tensor -> float32
  t.input = tf.cast(pixels, 'float32');
  // getBoxes(): detector.square is off, so padded = input and scale/pad are identity.
  t.resized = tf.image.resizeBilinear(t.input, [inputSize, inputSize]);
  t.div = tf.div(t.resized, C.tf127);
  t.normalized = tf.sub(t.div, C.tf1);
  const res = bf.execute(t.normalized);
  if (!Array.isArray(res) || res.length !== 4) fail(`blazeface returned ${Array.isArray(res) ? res.length : 1} outputs, expected 4`);
  const tensors = {
    blazeface_input: { tensor: t.normalized },
    blazeface_outputs: res.map((r, i) => ({ name: bf.outputNodes[i], tensor: r })),
  };
  const sorted = [...res].sort((a, b) => a.size - b.size);
  t.concat384 = tf.concat([sorted[0], sorted[2]], 2);
  t.concat512 = tf.concat([sorted[1], sorted[3]], 2);
  t.concat = tf.concat([t.concat512, t.concat384], 1);
  t.batch = tf.squeeze(t.concat, [0]);
  // decodeBoxes()
  const d = {};
  d.boxStarts = tf.slice(t.batch, [0, 1], [-1, 2]);
  d.centers = tf.add(d.boxStarts, anchors);
  d.boxSizes = tf.slice(t.batch, [0, 3], [-1, 2]);
  d.boxSizesNormalized = tf.div(d.boxSizes, inputSizeT);
  d.centersNormalized = tf.div(d.centers, inputSizeT);
  d.halfBoxSize = tf.div(d.boxSizesNormalized, C.tf2);
  d.starts = tf.sub(d.centersNormalized, d.halfBoxSize);
  d.ends = tf.add(d.centersNormalized, d.halfBoxSize);
  d.startNormalized = tf.mul(d.starts, inputSizeT);
  d.endNormalized = tf.mul(d.ends, inputSizeT);
  t.boxes = tf.concat2d([d.startNormalized, d.endNormalized], 1);
  tf.dispose(Object.values(d));
  t.logits = tf.slice(t.batch, [0, 0], [-1, 1]);
  t.sigmoid = tf.sigmoid(t.logits);
  t.scores = tf.squeeze(t.sigmoid);
  t.nms = await tf.image.nonMaxSuppressionAsync(t.boxes, t.scores, DETECTOR.maxDetected, DETECTOR.iouThreshold, DETECTOR.minConfidence);
  const nms = await t.nms.array();
  const scores = await t.scores.data();
  const boxesData = await t.boxes.array();
  const batchData = await t.batch.array();
  const faces = [];
  for (let i = 0; i < nms.length; i++) {
    const confidence = scores[nms[i]];
    if (!(confidence > DETECTOR.minConfidence)) continue;
    const points = boxesData[nms[i]];
    const row = batchData[nms[i]].slice(KEYPOINTS - 1);
    const landmarksRaw = [];
    for (let k = 0; k < KEYPOINTS; k++) landmarksRaw.push([row[2 * k], row[2 * k + 1]]);
    const rawBox = { startPoint: [points[0], points[1]], endPoint: [points[2], points[3]], landmarks: landmarksRaw, confidence };
    // anchors tensor is float32; the anchor values are exact in float32.
    const anchor = anchorsArr[nms[i]];
    const scaledBox = scaleBoxCoordinates(rawBox, [W / inputSize, H / inputSize], anchor);
    const enlargedBox = enlargeBox(scaledBox, DETECTOR.scale);
    const squaredBox = squarifyBox(enlargedBox);
    if (!(squaredBox.size[0] > 0 && squaredBox.size[1] > 0)) continue; // detector.minSize = 0
    faces.push({ index: nms[i], confidence, scaledBox, squaredBox });
  }
  // per face: correctFaceRotation(rotation=false) -> cutAndResize to blazeface size, then emotion.predict
  const greys = [];
  for (const f of faces) {
    const e = {};
    const box = f.squaredBox;
    const cutBox = [box.startPoint[1] / H, box.startPoint[0] / W, box.endPoint[1] / H, box.endPoint[0] / W];
    e.crop = tf.image.cropAndResize(t.input, [cutBox], [0], [inputSize, inputSize]);
    e.norm = tf.div(e.crop, C.tf255); // this is Human's face.tensor
    e.resize = tf.image.resizeBilinear(e.norm, [emotionSize, emotionSize], false);
    e.channels = tf.mul(e.resize, C.rgb);
    e.grayscale = tf.sum(e.channels, 3, true);
    e.grayscaleSub = tf.sub(e.grayscale, C.tf05);
    e.grayscaleMul = tf.mul(e.grayscaleSub, C.tf2);
    e.emotion = em.execute(e.grayscaleMul);
    f.emotionRaw = Array.from(await e.emotion.data());
    f.faceTensor = e.norm;
    greys.push(e.grayscaleMul);
    for (const [k, v] of Object.entries(e)) if (k !== 'norm' && k !== 'grayscaleMul') tf.dispose(v);
  }
  // The batch of all faces, for the model-level test (Human itself runs one face at a time).
  if (faces.length > 0) {
    tensors.emotion_input = { tensor: tf.concat(greys, 0) };
    tensors.emotion_output = { name: em.outputNodes[0], tensor: em.execute(tensors.emotion_input.tensor) };
  }
  tf.dispose(greys);
  tf.dispose(Object.values(t).filter((x) => x !== t.normalized));
  tf.dispose([inputSizeT, anchors]);
  return { faces, tensors };
}

// ---------------------------------------------------------------- comparison with detect()

function maxAbs(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function compareWithHuman(name, W, H, faces, hfaces, stats) {
  const problems = [];
  if (faces.length !== hfaces.length) {
    problems.push(`face count: replication ${faces.length}, Human ${hfaces.length}`);
  } else {
    for (let i = 0; i < faces.length; i++) {
      const f = faces[i];
      const h = hfaces[i];
      const box = clampBox(f.squaredBox, W, H);
      const dBox = maxAbs(box, h.box);
      const dRaw = maxAbs(getRawBox(f.squaredBox, W, H), h.boxRaw);
      const dLm = Math.max(...f.scaledBox.landmarks.map((p, k) => maxAbs(p, h.mesh[k])));
      const boxScore = Math.round(100 * f.confidence) / 100;
      const dScore = Math.max(Math.abs(boxScore - h.boxScore), Math.abs(boxScore - h.score));
      const expect = humanEmotionList(f.emotionRaw, EMOTION.minConfidence);
      let dEmo = expect.length === h.emotion.length ? 0 : Infinity;
      for (let k = 0; k < Math.min(expect.length, h.emotion.length); k++) {
        if (expect[k].emotion !== h.emotion[k].emotion) dEmo = Infinity;
        else dEmo = Math.max(dEmo, Math.abs(expect[k].score - h.emotion[k].score));
      }
      // Human's scores are truncations of the raw softmax: s <= p < s + 0.01 (or capped at 0.99).
      let consistent = true;
      for (const e of h.emotion) {
        const p = f.emotionRaw[LABELS.indexOf(e.emotion)];
        if (!(p >= e.score - 1e-12 && (p < e.score + 0.01 + 1e-12 || e.score === 0.99))) consistent = false;
      }
      stats.box = Math.max(stats.box, dBox);
      stats.boxRaw = Math.max(stats.boxRaw, dRaw);
      stats.landmarks = Math.max(stats.landmarks, dLm);
      stats.score = Math.max(stats.score, dScore);
      stats.emotion = Math.max(stats.emotion, dEmo);
      stats.faces++;
      if (dBox !== 0) problems.push(`face ${i}: box ${JSON.stringify(box)} vs Human ${JSON.stringify(h.box)}`);
      if (dRaw > 1e-12) problems.push(`face ${i}: boxRaw differs by ${dRaw}`);
      if (dLm > 1e-9) problems.push(`face ${i}: landmarks differ by ${dLm}`);
      if (dScore !== 0) problems.push(`face ${i}: score ${boxScore} vs Human ${h.boxScore}/${h.score}`);
      if (dEmo !== 0) problems.push(`face ${i}: emotion ${JSON.stringify(expect)} vs Human ${JSON.stringify(h.emotion)}`);
      if (!consistent) problems.push(`face ${i}: Human emotion scores ${JSON.stringify(h.emotion)} not truncations of raw ${JSON.stringify(f.emotionRaw)}`);
      if (h.size[0] !== f.squaredBox.size[0] || h.size[1] !== f.squaredBox.size[1]) problems.push(`face ${i}: size ${h.size} vs ${f.squaredBox.size}`);
    }
  }
  if (problems.length > 0) fail(`${name}: replication does not match Human detect():\n  ${problems.join('\n  ')}`);
}

// ---------------------------------------------------------------- output

// JSON with 2-space indent, keys in insertion order, arrays of numbers/strings and
// objects of at most two plain values on one line.
function stringify(v, indent = '') {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail(`non-finite number in output: ${v}`);
    return JSON.stringify(v);
  }
  if (v === undefined) fail('undefined value in output');
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (v.every((x) => x === null || typeof x !== 'object')) return `[${v.map((x) => stringify(x)).join(', ')}]`;
    return `[\n${v.map((x) => inner + stringify(x, inner)).join(',\n')}\n${indent}]`;
  }
  const keys = Object.keys(v).filter((k) => v[k] !== undefined); // as JSON.stringify does
  if (keys.length === 0) return '{}';
  if (keys.length <= 2 && keys.every((k) => typeof v[k] !== 'object')) { // e.g. {"score": 0.5, "emotion": "happy"}
    return `{${keys.map((k) => `${JSON.stringify(k)}: ${stringify(v[k])}`).join(', ')}}`;
  }
  return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${stringify(v[k], inner)}`).join(',\n')}\n${indent}}`;
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}

// Little-endian float32, gzip (zlib's gzip header carries no time stamp, so output is stable).
async function writeTensor(dir, file, tensor) {
  const data = await tensor.data();
  const buf = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) buf.writeFloatLE(data[i], 4 * i);
  fs.writeFileSync(path.join(dir, file), zlib.gzipSync(buf, { level: 9 }));
  return { shape: tensor.shape, dtype: 'float32', file };
}

// The configuration in effect after the run, for the keys that decide the results.
function effectiveConfig(human) {
  const c = human.config;
  const pick = (o, keys) => Object.fromEntries(keys.map((k) => [k, o[k]]));
  return sortKeys({
    async: c.async,
    cacheSensitivity: c.cacheSensitivity,
    skipAllowed: c.skipAllowed,
    filter: { enabled: c.filter.enabled },
    face: {
      enabled: c.face.enabled,
      detector: pick(c.face.detector, ['modelPath', 'rotation', 'maxDetected', 'minConfidence', 'minSize', 'iouThreshold', 'scale', 'skipFrames', 'skipTime', 'return', 'mask', 'square']),
      emotion: pick(c.face.emotion, ['enabled', 'modelPath', 'minConfidence', 'skipFrames', 'skipTime', 'crop']),
      mesh: { enabled: c.face.mesh.enabled },
      iris: { enabled: c.face.iris.enabled },
      description: { enabled: c.face.description.enabled },
      attention: { enabled: c.face.attention.enabled },
      antispoof: { enabled: c.face.antispoof.enabled },
      liveness: { enabled: c.face.liveness.enabled },
    },
    body: { enabled: c.body.enabled },
    hand: { enabled: c.hand.enabled },
    object: { enabled: c.object.enabled },
    gesture: { enabled: c.gesture.enabled },
    segmentation: { enabled: c.segmentation.enabled },
  });
}

function checkConfig(cfg) {
  const bad = [];
  for (const [k, v] of Object.entries(DETECTOR)) if (cfg.face.detector[k] !== v) bad.push(`face.detector.${k}=${cfg.face.detector[k]}`);
  for (const [k, v] of Object.entries(EMOTION)) if (cfg.face.emotion[k] !== v) bad.push(`face.emotion.${k}=${cfg.face.emotion[k]}`);
  if (cfg.face.detector.square || cfg.face.detector.mask || cfg.face.detector.minSize) bad.push('face.detector square/mask/minSize set');
  if (cfg.face.emotion.crop) bad.push('face.emotion.crop set');
  for (const m of ['mesh', 'iris', 'description', 'attention', 'antispoof', 'liveness']) if (cfg.face[m].enabled) bad.push(`face.${m} enabled`);
  for (const m of ['body', 'hand', 'object', 'gesture', 'segmentation']) if (cfg[m].enabled) bad.push(`${m} enabled`);
  if (cfg.filter.enabled || cfg.cacheSensitivity !== 0 || cfg.skipAllowed) bad.push('filter/cacheSensitivity/skipAllowed');
  if (bad.length > 0) fail(`Human's effective configuration differs from the requested one: ${bad.join(', ')}`);
}

// ---------------------------------------------------------------- main

async function main() {
  const args = parseArgs(process.argv.slice(2), { pixels: 'value', out: 'value', raw: 'value' });
  if (!args.pixels || !args.out) fail('usage: node generate.mjs --pixels DIR --out DIR [--raw name1,name2]');
  const rawNames = args.raw ? args.raw.split(',').map((s) => s.trim()).filter(Boolean) : [];
  const images = await listPixels(args.pixels);
  for (const n of rawNames) if (!images.find((im) => im.name === n)) fail(`--raw ${n}: no ${n}.png in ${args.pixels}`);

  const { human, models, wasm } = await loadHuman();
  log(`Human ${human.version}, tfjs ${tf.version_core}, backend ${tf.getBackend()}, wasm simd=${wasm.simd} multithread=${wasm.multithread} threads=${wasm.threads}`);
  log(`models: ${models.blazeface.modelUrl} ${models.emotion.modelUrl}`);
  initConstants();
  const tensorsAtStart = tf.memory().numTensors;

  fs.mkdirSync(args.out, { recursive: true });
  const rawRoot = path.join(args.out, 'raw');
  // raw/ always reflects this run only: stale tensors next to a new faces.json would mislead.
  fs.rmSync(rawRoot, { recursive: true, force: true });

  const stats = { faces: 0, box: 0, boxRaw: 0, landmarks: 0, score: 0, emotion: 0, faceTensor: 0, emotionBatch: 0 };
  const outImages = [];
  for (const img of images) {
    const W = img.width;
    const H = img.height;
    const pixels = pixelTensor(img);
    const result = await human.detect(pixels);
    if (result.error) fail(`${img.name}: Human detect() error: ${result.error}`);
    const hfaces = result.face;
    // A second detect() returning Human's face.tensor (the 256x256 crop /255 that feeds
    // emotion) to check the crop chain tensor for tensor; the returned results must repeat.
    const check = await human.detect(pixels, { face: { detector: { return: true } } });
    human.config.face.detector.return = false;
    const { faces, tensors } = await replicate(models, pixels, W, H);
    compareWithHuman(img.name, W, H, faces, hfaces, stats);
    for (let i = 0; i < faces.length; i++) {
      const a = hfaces[i];
      const b = check.face[i];
      if (JSON.stringify([a.box, a.boxRaw, a.mesh, a.score, a.emotion]) !== JSON.stringify([b.box, b.boxRaw, b.mesh, b.score, b.emotion])) {
        fail(`${img.name} face ${i}: two detect() calls disagree`);
      }
      if (!b.tensor) fail(`${img.name} face ${i}: Human returned no face tensor with detector.return`);
      const ht = await b.tensor.data();
      const mt = await faces[i].faceTensor.data();
      if (ht.length !== mt.length) fail(`${img.name} face ${i}: face tensor shape ${b.tensor.shape} vs ${faces[i].faceTensor.shape}`);
      const d = maxAbs(ht, mt);
      stats.faceTensor = Math.max(stats.faceTensor, d);
      if (d !== 0) fail(`${img.name} face ${i}: Human's face.tensor differs from the replicated crop by ${d}`);
    }
    tf.dispose(check.face.map((f) => f.tensor).filter(Boolean));
    if (tensors.emotion_output) {
      const batched = await tensors.emotion_output.tensor.array();
      for (let i = 0; i < faces.length; i++) stats.emotionBatch = Math.max(stats.emotionBatch, maxAbs(batched[i], faces[i].emotionRaw));
    }

    const outFaces = faces.map((f, i) => ({
      score: f.confidence,
      box: [f.scaledBox.startPoint[0], f.scaledBox.startPoint[1], f.scaledBox.endPoint[0], f.scaledBox.endPoint[1]],
      crop_box: [f.squaredBox.startPoint[0], f.squaredBox.startPoint[1], f.squaredBox.endPoint[0], f.squaredBox.endPoint[1]],
      human_box: hfaces[i].box,
      landmarks: f.scaledBox.landmarks,
      emotions: Object.fromEntries(LABELS.map((l, k) => [l, f.emotionRaw[k]])),
      human_emotion: hfaces[i].emotion.map((e) => ({ score: e.score, emotion: e.emotion })),
    }));
    outImages.push({ name: img.name, width: W, height: H, pixels_sha256: img.sha256, faces: outFaces });
    const top = outFaces.map((f) => f.human_emotion[0]?.emotion ?? '-');
    log(`${img.name}: ${W}x${H}, ${outFaces.length} faces: ${top.join(' ')}`);

    if (rawNames.includes(img.name)) {
      const dir = path.join(rawRoot, img.name);
      fs.mkdirSync(dir, { recursive: true });
      const index = {};
      index.blazeface_input = await writeTensor(dir, 'blazeface_input.f32.gz', tensors.blazeface_input.tensor);
      for (let k = 0; k < tensors.blazeface_outputs.length; k++) {
        const o = tensors.blazeface_outputs[k];
        index[`blazeface_output_${k}`] = { name: o.name, ...(await writeTensor(dir, `blazeface_output_${k}.f32.gz`, o.tensor)) };
      }
      if (tensors.emotion_input) {
        index.emotion_input = await writeTensor(dir, 'emotion_input.f32.gz', tensors.emotion_input.tensor);
        index.emotion_output = { name: tensors.emotion_output.name, labels: LABELS, ...(await writeTensor(dir, 'emotion_output.f32.gz', tensors.emotion_output.tensor)) };
      }
      fs.writeFileSync(path.join(dir, 'tensors.json'), `${stringify(index)}\n`);
      log(`  raw tensors -> ${dir}`);
    }
    tf.dispose([pixels, tensors.blazeface_input.tensor, ...tensors.blazeface_outputs.map((o) => o.tensor)]);
    if (tensors.emotion_input) tf.dispose([tensors.emotion_input.tensor, tensors.emotion_output.tensor]);
    tf.dispose(faces.map((f) => f.faceTensor));
  }

  const config = effectiveConfig(human);
  checkConfig(config);
  const doc = {
    generator: { human: human.version, tfjs: tf.version_core, backend: tf.getBackend(), config },
    images: outImages,
  };
  fs.writeFileSync(path.join(args.out, 'faces.json'), `${stringify(doc)}\n`);
  log(`replication vs Human detect() over ${stats.faces} faces: max |diff| box ${stats.box}, boxRaw ${stats.boxRaw}, landmarks ${stats.landmarks}, score ${stats.score}, emotion ${stats.emotion}, face tensor ${stats.faceTensor}; batched vs single emotion ${stats.emotionBatch}`);
  log(`wrote ${path.join(args.out, 'faces.json')} (${outImages.length} images, ${stats.faces} faces), tensors alive ${tf.memory().numTensors} (after load ${tensorsAtStart})`);
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
