import { Size } from '../core/units';

/** Gunicorn worker classes for a WSGI (Flask) app. */
export enum WsgiWorkerClass {
  /**
   * One request at a time per process. Simple and robust for CPU-bound handlers, but a slow client or
   * a slow downstream call holds a whole worker; it also closes every connection after one response.
   */
  SYNC = 'sync',
  /**
   * A thread pool per process: I/O waits (database, other services) overlap, keep-alive connections
   * are parked cheaply. The usual production choice for a Flask service without a buffering proxy.
   */
  GTHREAD = 'gthread',
  /**
   * Green threads (needs `gevent` in the requirements): thousands of mostly-waiting connections per
   * process. The app's libraries must be gevent-friendly (monkey-patched I/O).
   */
  GEVENT = 'gevent',
}

/** Gunicorn worker classes for an ASGI (FastAPI) app. */
export enum AsgiWorkerClass {
  /** uvicorn's gunicorn worker (`uvicorn.workers.UvicornWorker`, needs `uvicorn` in the requirements). */
  UVICORN = 'uvicorn.workers.UvicornWorker',
}

/** How many processes a worker class gets for a CPU budget: `clamp(ceil(perCore x cores) + extra, min, max)`. */
export interface WorkerSizing {
  /** Processes per core of CPU limit (the product is rounded up). */
  readonly perCore: number;
  /** Processes added on top. */
  readonly extra: number;
  /** Never fewer (one worker stuck in a long request should not stall the service). */
  readonly min: number;
  /** Never more (beyond this, memory and context switches cost more than they give). */
  readonly max: number;
}

/** What pyfleet knows of a worker class: how to size it and what one worker typically costs. */
export interface WorkerProfile {
  /** The gunicorn `worker_class` value. */
  readonly gunicornClass: string;
  /** Python package (requirement name) the worker class needs besides gunicorn. */
  readonly needs?: string;
  /** How many worker processes the class gets for a CPU limit. */
  readonly sizing: WorkerSizing;
  /** Whether `threads` applies. */
  readonly threaded: boolean;
  /** Typical resident memory of one worker of a small app (measured with Flask 3.1 / FastAPI 0.142). */
  readonly typicalWorkerMemory: Size;
}

/** Memory of the gunicorn arbiter (master) process. */
export const ARBITER_MEMORY = Size.mebibytes(25);

const PROFILES: Record<string, WorkerProfile> = {
  [WsgiWorkerClass.SYNC]: {
    gunicornClass: 'sync',
    // gunicorn's own rule of thumb, 2 x cores + 1: a worker waiting on I/O leaves its core to another.
    sizing: { perCore: 2, extra: 1, min: 2, max: 12 },
    threaded: false,
    typicalWorkerMemory: Size.mebibytes(40),
  },
  [WsgiWorkerClass.GTHREAD]: {
    gunicornClass: 'gthread',
    // Threads overlap the I/O waits; one process per core (plus one) runs the Python code under the GIL.
    sizing: { perCore: 1, extra: 1, min: 2, max: 8 },
    threaded: true,
    typicalWorkerMemory: Size.mebibytes(45),
  },
  [WsgiWorkerClass.GEVENT]: {
    gunicornClass: 'gevent',
    needs: 'gevent',
    sizing: { perCore: 1, extra: 0, min: 1, max: 8 },
    threaded: false,
    typicalWorkerMemory: Size.mebibytes(50),
  },
  [AsgiWorkerClass.UVICORN]: {
    gunicornClass: 'uvicorn.workers.UvicornWorker',
    needs: 'uvicorn',
    // One event loop per core.
    sizing: { perCore: 1, extra: 0, min: 1, max: 8 },
    threaded: false,
    typicalWorkerMemory: Size.mebibytes(75),
  },
};

/** The profile of a worker class. */
export function workerProfile(workerClass: WsgiWorkerClass | AsgiWorkerClass): WorkerProfile {
  return PROFILES[workerClass];
}

/** Worker processes for a CPU budget in millicores (the same formula the generated gunicorn.conf.py runs). */
export function workersFor(sizing: WorkerSizing, cpuMillis: number): number {
  const n = Math.ceil((sizing.perCore * cpuMillis) / 1000) + sizing.extra;
  return Math.max(sizing.min, Math.min(sizing.max, n));
}
