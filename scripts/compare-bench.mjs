// Compares `framecast bench --json` with tools/reference/bench.mjs output
// image by image (median ms of detection + classification, decode excluded
// on both sides) and exits 1 unless framecast is ≥ 3× faster overall.
import { readFileSync } from 'node:fs';

const [fcPath, humanPath] = process.argv.slice(2);
const fc = JSON.parse(readFileSync(fcPath, 'utf8'));
const human = JSON.parse(readFileSync(humanPath, 'utf8'));
const byName = new Map(fc.images.map((i) => [i.name.replace(/\.[^.]+$/, ''), i]));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const rows = [];
for (const h of human.images) {
  const f = byName.get(h.name);
  if (!f) throw new Error(`framecast did not measure ${h.name}`);
  if (f.faces !== h.faces) console.error(`warning: ${h.name}: framecast found ${f.faces} faces, Human ${h.faces}`);
  rows.push({ name: h.name, size: `${h.width}x${h.height}`, faces: h.faces, human: h.median_ms, framecast: f.analyze_ms_p50, speedup: h.median_ms / f.analyze_ms_p50 });
}
const pad = (s, n) => String(s).padStart(n);
console.log(`${'image'.padEnd(20)}${pad('size', 11)}${pad('faces', 7)}${pad('Human ms', 11)}${pad('framecast ms', 14)}${pad('speed-up', 10)}`);
for (const r of rows) console.log(`${r.name.padEnd(20)}${pad(r.size, 11)}${pad(r.faces, 7)}${pad(r.human.toFixed(2), 11)}${pad(r.framecast.toFixed(2), 14)}${pad(r.speedup.toFixed(1) + 'x', 10)}`);
const hm = median(rows.map((r) => r.human));
const fm = median(rows.map((r) => r.framecast));
const ratio = hm / fm;
console.log(`\nmedian per image: Human ${hm.toFixed(2)} ms, framecast ${fm.toFixed(2)} ms → framecast is ${ratio.toFixed(1)}x faster`);
console.log(`(Human ${human.human}, TensorFlow.js ${human.tfjs} ${human.backend}, SIMD ${human.wasm?.simd}, threads ${human.wasm?.threads}; framecast ONNX Runtime ${fc.onnxruntime}, ${fc.threads} thread)`);
if (ratio < 3) {
  console.error('FAIL: framecast must be at least 3x faster than Human');
  process.exit(1);
}
console.log('PASS: at least 3x faster');
