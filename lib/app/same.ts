import * as fs from 'fs';

// Whether a file already holds the bytes a synth would write, without reading it whole: the file is
// read in slices into one reused buffer and compared with the new text, encoded slice by slice into a
// second one. Reading a 2,000-service manifest as one string (or one Buffer) took its size twice
// more at the very moment the synth's heap was largest (measured: +96 MB of peak RSS at N=2000).

/** Characters of the new text compared per slice (at most 3 UTF-8 bytes each, 4 per surrogate pair). */
const SLICE_CHARS = 1 << 18;
let fileBuffer: Buffer | undefined;
let textBuffer: Buffer | undefined;

/** Reads exactly `length` bytes at `position` into `buffer` (fewer only at the end of the file); returns how many. */
function readFully(fd: number, buffer: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * Whether `file` is a file (or a link to one) holding exactly the UTF-8 bytes of `content`. Only a
 * file of the same size is read; a path that is not there, or is a folder, does not hold it.
 */
export function holdsText(file: string, content: string, stat?: fs.Stats): boolean {
  const st = stat ?? fs.statSync(file, { throwIfNoEntry: false });
  if (!st?.isFile() || st.size !== Buffer.byteLength(content)) return false;
  fileBuffer ??= Buffer.allocUnsafe(4 * SLICE_CHARS);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    let position = 0;
    const same = eachSlice(content, (text, bytes) => {
      if (readFully(fd, fileBuffer!, bytes, position) !== bytes) return false;
      if (fileBuffer!.compare(text, 0, bytes, 0, bytes) !== 0) return false;
      position += bytes;
      return true;
    });
    // Sizes were equal: nothing is left to read (unless the file grew meanwhile).
    return same && readFully(fd, fileBuffer, 1, position) === 0;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Encodes `content` slice by slice into the reused text buffer and hands each slice's bytes to `use`
 * (which returns false to stop); returns whether every slice was used.
 */
function eachSlice(content: string, use: (buffer: Buffer, bytes: number) => boolean): boolean {
  textBuffer ??= Buffer.allocUnsafe(4 * SLICE_CHARS);
  for (let from = 0; from < content.length;) {
    let to = Math.min(content.length, from + SLICE_CHARS);
    // Never split a surrogate pair: each half alone would encode as U+FFFD.
    const last = content.charCodeAt(to - 1);
    if (to < content.length && last >= 0xd800 && last <= 0xdbff) to++;
    if (!use(textBuffer, textBuffer.write(content.slice(from, to), 0, 'utf8'))) return false;
    from = to;
  }
  return true;
}

/**
 * Writes `content` to `file` as UTF-8. A large text goes out slice by slice through the reused
 * buffer: `writeFileSync` would first encode all of it into a new Buffer (23 MB for the manifests of
 * 2,000 services, at the end of the synth, when the heap is largest).
 */
export function writeText(file: string, content: string): void {
  if (content.length <= SLICE_CHARS) {
    fs.writeFileSync(file, content);
    return;
  }
  const fd = fs.openSync(file, 'w');
  try {
    eachSlice(content, (text, bytes) => {
      for (let done = 0; done < bytes;) done += fs.writeSync(fd, text, done, bytes - done);
      return true;
    });
  } finally {
    fs.closeSync(fd);
  }
}
