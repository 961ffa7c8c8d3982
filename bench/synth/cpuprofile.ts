// A small reader of V8 CPU profiles (`node --cpu-prof` writes them as *.cpuprofile JSON): self time per
// function, optionally cut to a time window, with locations of compiled files mapped back to the
// TypeScript sources through their source maps.
//
// The format: `nodes` is the call tree (each node a call frame: function name, script url, 0-based line
// and column of the function's start); `samples[i]` is the id of the node that was on top of the stack
// at sample i, and `timeDeltas[i]` the µs since the previous sample (the first from `startTime`). The
// self time of a node is the time until the next sample, summed over its samples.
import * as fs from 'fs';
import * as path from 'path';
import { fileURLToPath } from 'url';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: CallFrame }[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Self time of one function. */
export interface SelfTime {
  /** Function name (`(anonymous)` when it has none; V8's own entries such as `(garbage collector)` as they are). */
  readonly name: string;
  /** `file:line` (1-based), relative to `root` when below it; empty for V8's own entries. */
  readonly location: string;
  readonly selfMs: number;
}

/** A profile's self times, largest first, and the total time they add up to. */
export interface ProfileSummary {
  readonly functions: readonly SelfTime[];
  readonly totalMs: number;
}

/**
 * Self time per function (name + location) of a CPU profile, largest first. With `windowUs`
 * ([start, end] on the profile's clock, the monotonic clock of the process), only samples inside it count.
 */
export function selfTimes(file: string, root: string, windowUs?: readonly [number, number]): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const sourceMaps = new SourceMaps();
  const byKey = new Map<string, { name: string; location: string; us: number }>();
  let totalUs = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const next = i + 1 < profile.samples.length ? t + profile.timeDeltas[i + 1] : profile.endTime;
    if (windowUs && (t < windowUs[0] || t > windowUs[1])) continue;
    const us = Math.max(0, next - t);
    const frame = frames.get(profile.samples[i])!;
    const name = frame.functionName || '(anonymous)';
    const location = frame.url ? sourceMaps.locate(frame, root) : '';
    const key = `${name}\0${location}`;
    const entry = byKey.get(key) ?? { name, location, us: 0 };
    entry.us += us;
    byKey.set(key, entry);
    totalUs += us;
  }
  const functions = [...byKey.values()]
    .map((e) => ({ name: e.name, location: e.location, selfMs: e.us / 1000 }))
    .sort((a, b) => b.selfMs - a.selfMs);
  return { functions, totalMs: totalUs / 1000 };
}

/** Maps generated positions to source lines, reading each script's `.map` file once. */
class SourceMaps {
  private readonly maps = new Map<string, { source: string; lines: number[][][] } | null>();

  /** `file:line` of a call frame, through the script's source map when it has one. */
  public locate(frame: CallFrame, root: string): string {
    let file = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : frame.url;
    let line = frame.lineNumber + 1;
    const map = this.load(file);
    if (map) {
      const mapped = originalLine(map.lines, frame.lineNumber, frame.columnNumber);
      if (mapped !== undefined) {
        file = map.source;
        line = mapped + 1;
      }
    }
    const rel = path.isAbsolute(file) ? path.relative(root, file) : file;
    return `${rel.startsWith('..') ? file : rel}:${line}`;
  }

  private load(file: string): { source: string; lines: number[][][] } | null {
    if (!this.maps.has(file)) {
      let value: { source: string; lines: number[][][] } | null = null;
      try {
        const map = JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')) as { sources: string[]; mappings: string };
        value = { source: map.sources[0], lines: decodeMappings(map.mappings) };
      } catch { /* no source map: keep the generated location */ }
      this.maps.set(file, value);
    }
    return this.maps.get(file)!;
  }
}

/** The source line of the last segment at or before (line, column) on that generated line. */
function originalLine(lines: number[][][], line: number, column: number): number | undefined {
  const segments = lines[line] ?? [];
  let found: number | undefined;
  for (const s of segments) {
    if (s.length >= 4 && s[0] <= column) found = s[2];
  }
  return found ?? segments.find((s) => s.length >= 4)?.[2];
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * Decodes source map v3 `mappings`: per generated line, segments of [column, source, source line,
 * source column(, name)], made absolute (the encoding is relative to the previous segment, base64 VLQ).
 */
function decodeMappings(mappings: string): number[][][] {
  const state = [0, 0, 0, 0, 0];
  return mappings.split(';').map((lineText) => {
    state[0] = 0; // the generated column restarts on every line; the other fields carry over
    return lineText.split(',').filter((s) => s !== '').map((segment) => {
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of segment) {
        const digit = BASE64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) {
          shift += 5;
        } else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      return fields.map((d, i) => (state[i] += d));
    });
  });
}
