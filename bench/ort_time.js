// ort_time.js - times onnxruntime-node's forward pass the way `kdc run
// --repeat` times kdc's: one warm-up run, then N timed runs; prints
// "forward: mean X ms, best Y ms over N runs".
//
//   node bench/ort_time.js MODEL INPUT.npy... [--repeat N] [--threads T]
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '..', 'tests', 'peers', 'node_modules', 'onnxruntime-node'));
const { readNpy } = require(path.join(__dirname, '..', 'tests', 'peers', 'npy.js'));

async function main() {
  const args = process.argv.slice(2);
  let repeat = 20, threads = 2;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--repeat') repeat = Number(args[++i]);
    else if (args[i] === '--threads') threads = Number(args[++i]);
    else files.push(args[i]);
  }
  const [model, ...inputs] = files;
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const feeds = {};
  session.inputNames.forEach((name, i) => { feeds[name] = readNpy(ort, inputs[i]); });
  await session.run(feeds);
  let total = 0, best = Infinity;
  for (let r = 0; r < repeat; r++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    total += ms;
    best = Math.min(best, ms);
  }
  console.log(`forward: mean ${(total / repeat).toFixed(3)} ms, best ${best.toFixed(3)} ms over ${repeat} runs`);
}

main().catch((e) => { console.error(`ort_time: ${e.message}`); process.exit(1); });
