// BullMQ peer of the engine benchmarks: the same spike and steady shapes as `bench engine-spike`
// and `bench engine-steady`, with no-op handlers, against one Redis on 127.0.0.1. Lateness of a
// job is processedOn - (timestamp + delay), BullMQ's own record of when it was due and started.
// Prints one JSON object on stdout.
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const port = Number(args.port ?? 6379);
const spikeN = Number(args.spike ?? 100000);
const rate = Number(args.rate ?? 1000);
const secs = Number(args.secs ?? 60);
const densityN = Number(args.density ?? 0);
const concurrency = Number(args.concurrency ?? 100);
const leadMs = Number(args['lead-ms'] ?? 20000);
const maxWaitMs = Number(args['max-wait-ms'] ?? 180000);
// BullMQ 6 leaves the Redis client to the caller; each queue and worker gets its own.
const connection = () => new IORedis({ host: '127.0.0.1', port, maxRetriesPerRequest: null });
const BULK = 1000;

function summary(values) {
  const v = [...values].sort((a, b) => a - b);
  const at = (q) => v[Math.min(v.length - 1, Math.round((v.length - 1) * q))];
  return v.length === 0
    ? { count: 0 }
    : { count: v.length, min_ms: at(0), p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), p999_ms: at(0.999), max_ms: at(1) };
}

const admin = connection();

async function usedMemory() {
  const info = await admin.info('memory');
  const field = (name) => Number((info.match(new RegExp(`^${name}:(\\d+)`, 'm')) ?? [])[1] ?? 0);
  return { used: field('used_memory'), peak: field('used_memory_peak') };
}

// Adds one job per due time (ms since epoch), in bulks, before the first is due.
async function addDue(queue, dueTimes) {
  for (let i = 0; i < dueTimes.length; i += BULK) {
    const now = Date.now();
    const jobs = dueTimes.slice(i, i + BULK).map((due, k) => ({
      name: 'deliver',
      data: { i: i + k },
      opts: { delay: Math.max(0, due - now), removeOnComplete: true, removeOnFail: true },
    }));
    await queue.addBulk(jobs);
  }
}

// Runs a shape: adds the jobs, starts one worker, waits until every job completed.
async function runShape(name, dueOffsets) {
  const queue = new Queue(`${name}-${Date.now()}`, { connection: connection() });
  const first = Math.ceil((Date.now() + leadMs) / 1000) * 1000;
  const due = dueOffsets.map((o) => first + o);
  const addStart = Date.now();
  await addDue(queue, due);
  const addMs = Date.now() - addStart;
  const addedBeforeDue = Date.now() < first;
  const lateness = [];
  let lastFinished = 0;
  const worker = new Worker(queue.name, async () => {}, { connection: connection(), concurrency });
  const lastDue = Math.max(...due.slice(-1), first);
  const done = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), lastDue - Date.now() + maxWaitMs);
    worker.on('completed', (job) => {
      lateness.push(job.processedOn - (job.timestamp + job.opts.delay));
      lastFinished = Math.max(lastFinished, job.finishedOn ?? Date.now());
      if (lateness.length === due.length) {
        clearTimeout(timer);
        resolve(true);
      }
    });
  });
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  const drained = lastFinished - lastDue;
  return {
    jobs: due.length,
    all_completed: done,
    add_ms: addMs,
    added_before_due: addedBeforeDue,
    drained_after_due_ms: drained,
    jobs_per_sec: lateness.length / Math.max(0.001, (lastFinished - first) / 1000),
    lateness: summary(lateness),
  };
}

// Arms `n` delayed jobs an hour out and reports Redis memory.
async function density(n) {
  const queue = new Queue(`density-${Date.now()}`, { connection: connection() });
  const before = await usedMemory();
  const due = Date.now() + 3600 * 1000;
  const start = Date.now();
  await addDue(queue, new Array(n).fill(due));
  const addMs = Date.now() - start;
  const after = await usedMemory();
  await queue.obliterate({ force: true });
  await queue.close();
  return {
    jobs: n,
    add_ms: addMs,
    redis_used_memory_delta_bytes: after.used - before.used,
    redis_used_memory_peak_bytes: after.peak,
  };
}

const result = { concurrency, lead_ms: leadMs };
result.spike = await runShape('spike', new Array(spikeN).fill(0));
result.steady = await runShape('steady', Array.from({ length: rate * secs }, (_, i) => Math.floor((i * 1000) / rate)));
result.steady.rate_per_sec = rate;
result.steady.secs = secs;
if (densityN > 0) result.density = await density(densityN);
console.log(JSON.stringify(result));
process.exit(0);
