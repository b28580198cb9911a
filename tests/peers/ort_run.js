// ort_run.js - runs an ONNX model in onnxruntime (the peer kdc is checked
// against) on .npy inputs bound in graph-input order, and writes each output
// as OUT_DIR/output_K.npy.
//
//   node tests/peers/ort_run.js MODEL OUT_DIR INPUT.npy...
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const { readNpy, writeNpy } = require('./npy.js');

async function main() {
  const [model, outDir, ...inputs] = process.argv.slice(2);
  if (!model || !outDir) {
    console.error('usage: node ort_run.js MODEL OUT_DIR INPUT.npy...');
    process.exit(2);
  }
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 2, interOpNumThreads: 1 });
  if (inputs.length !== session.inputNames.length) {
    throw new Error(`${model}: takes ${session.inputNames.length} inputs, ${inputs.length} given`);
  }
  const feeds = {};
  session.inputNames.forEach((name, i) => { feeds[name] = readNpy(ort, inputs[i]); });
  const results = await session.run(feeds);
  fs.mkdirSync(outDir, { recursive: true });
  session.outputNames.forEach((name, k) => writeNpy(path.join(outDir, `output_${k}.npy`), results[name]));
}

main().catch((e) => { console.error(`ort_run: ${e.message}`); process.exit(1); });
