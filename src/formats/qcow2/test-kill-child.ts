// Child process of the kill -9 test (kill.test.ts): writes a random source into a
// qcow2 image, prints a checkpoint state as one JSON line each time another
// `every` bytes have been received, and never finishes: once the source is fed it
// waits to be killed.
// Usage: node --import tsx test-kill-child.ts <image> <virtualSize> <seed> <every>
import { open } from 'node:fs/promises';
import { feed, MiB, randomSource, rng } from './test-support.js';
import { Qcow2Writer } from './writer.js';

const [path, sizeArg, seedArg, everyArg] = process.argv.slice(2);
const virtualSize = Number(sizeArg);
const every = Number(everyArg);
const source = randomSource(virtualSize, Number(seedArg), 400, 256 * 1024);
const fh = await open(path!, 'w+');
const writer = await Qcow2Writer.create(fh, { virtualSize });
const next = rng(1);
let nextCheckpoint = every;
for (let at = 0; at < virtualSize; at = Math.min(virtualSize, at + MiB)) {
  await feed(writer, source, at, Math.min(virtualSize, at + MiB), next);
  if (writer.receivedOffset >= nextCheckpoint) {
    process.stdout.write(`${JSON.stringify(await writer.checkpoint())}\n`);
    nextCheckpoint += every;
  }
}
setInterval(() => undefined, 60_000);
