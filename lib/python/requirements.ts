import * as fs from 'fs';
import * as path from 'path';
import { PyfleetError } from '../core/errors';

/** What pyfleet reads from a pip requirements file (and the files it includes). */
export interface RequirementsInfo {
  /** Every requirements/constraints file needed to install, relative to the source ('/'-separated), the main file first. */
  readonly files: readonly string[];
  /** Normalized names (PEP 503) of the packages required, from the main file and its `-r` includes. */
  readonly packages: ReadonlySet<string>;
}

/** PEP 503 name normalization: `Flask_SQLAlchemy` -> `flask-sqlalchemy`. */
export function normalizePackageName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

const INCLUDE = /^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+)(\S+)$/;
const NAME = /^([A-Za-z0-9][A-Za-z0-9._-]*)/;

/** Whether `p` is a file (or a link to one), in one stat call; false where it cannot be stat'ed. */
function isFile(p: string): boolean {
  try {
    return fs.statSync(p, { throwIfNoEntry: false })?.isFile() === true;
  } catch {
    return false;
  }
}

/**
 * Reads a requirements file and follows its `-r`/`-c` includes, all of which must lie inside the
 * source directory (they are copied into the build context before the source).
 */
export function readRequirements(constructPath: string, sourceDir: string, file: string): RequirementsInfo {
  const files: string[] = [];
  const packages = new Set<string>();
  const visit = (rel: string, isConstraint: boolean, from?: string): void => {
    const abs = path.resolve(sourceDir, rel);
    const relPosix = path.relative(sourceDir, abs).split(path.sep).join('/');
    if (relPosix.startsWith('../') || path.isAbsolute(relPosix)) {
      throw new PyfleetError(constructPath, `${from ?? 'requirements'} refers to ${rel}, which is outside the source directory ${sourceDir}`,
        'keep every requirements file inside the source directory (only it is copied into the build context)');
    }
    if (files.includes(relPosix)) return;
    if (!isFile(abs)) {
      throw new PyfleetError(constructPath, from
        ? `${from} includes ${relPosix}, which does not exist in ${sourceDir}`
        : `the requirements file ${relPosix} does not exist in ${sourceDir}`,
      from ? `create ${relPosix} or fix the include in ${from}` : 'create it (e.g. `pip freeze > requirements.txt` in the service\'s virtualenv) or point `requirements` at the right file');
    }
    files.push(relPosix);
    const text = fs.readFileSync(abs, 'utf8').replace(/\\\r?\n/g, ' ');
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.replace(/(^|\s)#.*$/, '').trim();
      if (!line) continue;
      const inc = INCLUDE.exec(line);
      if (inc) {
        visit(path.posix.join(path.posix.dirname(relPosix), inc[2]), isConstraint || inc[1] === '-c' || inc[1] === '--constraint', relPosix);
        continue;
      }
      if (line.startsWith('-') || isConstraint) continue;
      const m = NAME.exec(line);
      if (m) packages.add(normalizePackageName(m[1]));
    }
  };
  visit(file, false);
  return { files, packages };
}
