// Preloaded (`node --expose-gc --require`) into `whatisup serve` by stress/load.test.ts, the one
// addition to the real server process: asked over IPC, it collects all garbage and reports the
// heap that remains, so that a leak shows as growth between two quiet moments.
process.on("message", (message) => {
  if (message !== "heap") return;
  for (let round = 0; round < 4; round += 1) global.gc();
  const { heapUsed, rss } = process.memoryUsage();
  process.send({ heapUsed, rss });
});
