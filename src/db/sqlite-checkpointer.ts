import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * SQLite in WAL mode copies the log back into the database file (a checkpoint) from inside the
 * COMMIT that makes the log pass 1,000 pages, and that checkpoint ends with an fsync. better-sqlite3
 * runs on the event loop, so every request waited for it: more than half of the average COMMIT
 * of a key issue. The server turns that off on its connection and checkpoints from a thread of
 * its own instead, on a second connection to the same file.
 *
 * PASSIVE never waits for the writer, and the writer never waits for it: the log is copied up to
 * what has been committed, and once it has all been copied the next write starts the log over.
 * Under writes that never pause, though, a commit always lands while a PASSIVE copy runs, the log
 * is never all copied at the moment a write begins, and it grows without end (600 MB in 25 s of
 * issuing keys), with every read slower for it. So once the log holds `restartPages`, the thread
 * checkpoints with RESTART: it holds the writer back for the last few milliseconds of copying, so
 * that the next write starts the log over. A writer that finds it busy waits in its busy timeout.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const database = new Database(workerData.path);
// How long a RESTART waits for the writer to finish its transaction, and then for readers to leave
// the log, before it gives up until the next turn.
database.pragma("busy_timeout = 100");
let timer;
let lastLog = -1;
function checkpoint() {
  let writing = false;
  try {
    const [{ log }] = database.pragma("wal_checkpoint(PASSIVE)");
    writing = log !== lastLog;
    lastLog = log;
    if (log >= workerData.restartPages) database.pragma("wal_checkpoint(RESTART)");
  } catch {
    // A checkpoint that fails (the disk is full, say) leaves the log as it was: the next one copies it.
  }
  // While writes keep coming the log is copied again soon; an idle database is looked at less often.
  timer = setTimeout(checkpoint, writing ? 20 : 200);
}
parentPort.on("message", () => {
  clearTimeout(timer);
  database.close();
  parentPort.close();
});
checkpoint();
`;

export type Checkpointer = { stop(): Promise<void> };

/**
 * The log's length, in pages, at which the thread makes it start over (4 KiB pages: 64 MiB, the
 * size the main connection cuts a grown log back to). Each restart holds writes back for the last
 * copy and its fsync: at 16 MiB they came four times as often, for no better p99 of issuing keys
 * under sustained load.
 */
const LOG_RESTART_PAGES = 16_384;

/**
 * Checkpoints the database at `path` from a worker thread until stopped. `onLost` runs if the
 * thread ends on its own (it cannot open the file, say), so that the caller can go back to
 * checkpointing on its own connection rather than let the log grow without end.
 */
export function startCheckpointer(path: string, onLost: () => void): Checkpointer {
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver, restartPages: LOG_RESTART_PAGES } });
  worker.unref();
  let stopping = false;
  // The thread's own error is answered by onLost, through its exit.
  worker.on("error", () => undefined);
  const exited = new Promise<void>((resolve) =>
    worker.once("exit", () => {
      if (!stopping) onLost();
      resolve();
    }),
  );
  return {
    async stop() {
      stopping = true;
      // Unreferenced, the thread would not keep the process alive until it has closed, and a
      // process with nothing else to do would end in the middle of this await.
      worker.ref();
      worker.postMessage("stop");
      await exited;
    },
  };
}
