// Shared helpers for generate.mjs and bench.mjs: argument parsing, PNG pixels,
// loading Human (node-wasm build) with the detector + emotion only configuration.

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import os from 'node:os';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export const EXPECTED = { human: '3.3.6', tfjs: '4.22.0' };

// Human's package.json "exports" map lists "dist/human.node-wasm" without the "./"
// prefix, so Node refuses the subpath: locate the file next to the "node" entry point.
const humanDist = path.dirname(require.resolve('@vladmandic/human'));
const Human = require(path.join(humanDist, 'human.node-wasm.js'));
// human.node-wasm.js requires these three packages itself; require() returns the same
// cached module instances, so ops run here use Human's engine, backend and models.
export const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-converter');
const wasmPkg = require('@tensorflow/tfjs-backend-wasm');
export const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.sep);

export function log(...args) {
  process.stderr.write(`${args.join(' ')}\n`);
}

export function fail(msg) {
  process.stderr.write(`ERROR: ${msg}\n`);
  process.exit(1);
}

// --flag value / --flag (boolean) parser.
export function parseArgs(argv, spec) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) fail(`unexpected argument ${a}`);
    const key = a.slice(2);
    if (!(key in spec)) fail(`unknown option ${a}; options: ${Object.keys(spec).map((k) => `--${k}`).join(' ')}`);
    if (spec[key] === 'bool') out[key] = true;
    else {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      out[key] = argv[++i];
    }
  }
  return out;
}

export function modelsDir() {
  const home = process.env.FRAMECAST_HOME || path.join(os.homedir(), '.cache', 'framecast');
  return path.join(home, 'models');
}

// Reads <dir>/*.png in byte order of the name. Each must be an 8-bit RGB (or fully
// opaque RGBA) PNG. Returns {name, width, height, rgb: Uint8Array packed RGB, sha256}.
export async function listPixels(dir) {
  const { PNG } = require('pngjs');
  if (!fs.existsSync(dir)) fail(`pixels directory ${dir} does not exist`);
  const names = fs.readdirSync(dir).filter((f) => f.endsWith('.png')).sort();
  if (names.length === 0) fail(`no .png files in ${dir}`);
  return names.map((file) => {
    const png = PNG.sync.read(fs.readFileSync(path.join(dir, file)));
    if (png.depth !== 8 || (png.colorType !== 2 && png.colorType !== 6)) {
      fail(`${file}: need an 8-bit RGB PNG, got colorType ${png.colorType} depth ${png.depth}`);
    }
    const n = png.width * png.height;
    const rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      if (png.data[4 * i + 3] !== 255) fail(`${file}: pixel ${i} is not opaque`);
      rgb[3 * i] = png.data[4 * i];
      rgb[3 * i + 1] = png.data[4 * i + 1];
      rgb[3 * i + 2] = png.data[4 * i + 2];
    }
    const sha256 = crypto.createHash('sha256').update(rgb).digest('hex');
    return { name: file.slice(0, -4), width: png.width, height: png.height, rgb, sha256 };
  });
}

// [1,H,W,3] int32 tensor of the pixels, as tf.node.decodeImage / a canvas would give
// Human; Human's image.process() casts it to float32 without other change.
export function pixelTensor(img) {
  return tf.tensor4d(Int32Array.from(img.rgb), [1, img.height, img.width, 3], 'int32');
}

// The options that decide detector + emotion results. Everything else Human does is off.
export const DETECTOR = {
  rotation: false, maxDetected: 100, minConfidence: 0.5, iouThreshold: 0.1, scale: 1.4,
  skipFrames: 0, skipTime: 0, return: false,
};
export const EMOTION = { enabled: true, minConfidence: 0, skipFrames: 0, skipTime: 0 };

export function humanConfig() {
  return {
    backend: 'wasm',
    wasmPath: wasmDir,
    wasmPlatformFetch: false,
    modelBasePath: `${pathToFileURL(modelsDir()).href}/`,
    debug: false,
    warmup: 'none',
    cacheSensitivity: 0,
    skipAllowed: false,
    filter: { enabled: false },
    face: {
      enabled: true,
      detector: { ...DETECTOR },
      mesh: { enabled: false },
      iris: { enabled: false },
      description: { enabled: false },
      attention: { enabled: false },
      antispoof: { enabled: false },
      liveness: { enabled: false },
      emotion: { ...EMOTION },
    },
    body: { enabled: false },
    hand: { enabled: false },
    object: { enabled: false },
    gesture: { enabled: false },
    segmentation: { enabled: false },
  };
}

// TensorFlow.js without tfjs-node has no file:// loader, and Node's fetch() refuses
// file: URLs ("not implemented... yet"), so Human's own fetch-based loading fails.
// Register a load router for file:// URLs (what tfjs-node does) in the shared tf.io
// registry; Human's loadModel() -> GraphModel.findIOHandler() then picks it up.
let routerRegistered = false;
function registerFileRouter() {
  if (routerRegistered) return;
  routerRegistered = true;
  tf.io.registerLoadRouter((url) => {
    const u = Array.isArray(url) ? url[0] : url;
    if (typeof u !== 'string' || !u.startsWith('file://')) return null;
    const modelPath = fileURLToPath(u);
    return {
      load: async () => {
        const modelJSON = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
        return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
          const specs = [];
          const buffers = [];
          for (const group of manifest) {
            specs.push(...group.weights);
            for (const p of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(modelPath), p)));
          }
          const all = Buffer.concat(buffers);
          return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
        });
      },
    };
  });
}

// Creates Human, loads the two models through file://, and checks versions and backend.
export async function loadHuman() {
  registerFileRouter();
  // Human reports through console.log; keep stdout for our own output.
  console.log = (...a) => process.stderr.write(`${a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ')}\n`);
  const human = new Human.Human(humanConfig());
  await human.load();
  if (human.version !== EXPECTED.human) fail(`Human version ${human.version}, expected ${EXPECTED.human}`);
  const versions = {
    core: tf.version_core,
    converter: require('@tensorflow/tfjs-converter').version_converter,
    wasm: wasmPkg.version_wasm,
  };
  for (const [k, v] of Object.entries(versions)) if (v !== EXPECTED.tfjs) fail(`tfjs-${k} ${v}, expected ${EXPECTED.tfjs}`);
  if (human.tf.getBackend() !== 'wasm' || tf.getBackend() !== 'wasm') fail(`backend is ${human.tf.getBackend()}, expected wasm`);
  if (human.tf.engine() !== tf.engine()) fail('Human uses a different tfjs-core instance than this script');
  const models = human.models.models;
  for (const m of ['blazeface', 'emotion']) {
    if (!models[m] || !models[m].executor) fail(`Human did not load model ${m} from ${modelsDir()}`);
  }
  for (const [k, v] of Object.entries(models)) {
    if (v && k !== 'blazeface' && k !== 'emotion') fail(`unexpected model loaded: ${k}`);
  }
  const wasm = {
    simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    multithread: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
    threads: typeof wasmPkg.getThreadsCount === 'function' ? wasmPkg.getThreadsCount() : null,
  };
  return { human, models, wasm };
}

export function median(xs) { return quantile(xs, 0.5); }

// Linear interpolation between order statistics (same as numpy's default).
export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
