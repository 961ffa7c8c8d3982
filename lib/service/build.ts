import { PyfleetError } from '../core/errors';

/**
 * A target-neutral description of how to build an image (which runtime, which dependencies, which
 * server settings), made by a construct. A build generator turns it into files (a Dockerfile and
 * friends); the construct never knows their syntax.
 */
export interface BuildRecipe {
  /** Which generator understands this recipe. */
  readonly kind: string;
}

/** Turns a recipe into the files of a staged build context (file name to content). */
export type BuildGenerator<R extends BuildRecipe> = (recipe: R) => Record<string, string>;

const generators = new Map<string, BuildGenerator<any>>();

/** Registers the generator of one recipe kind (the image renderer registers pyfleet's own). */
export function registerBuildGenerator<R extends BuildRecipe>(kind: R['kind'], generator: BuildGenerator<R>): void {
  generators.set(kind, generator);
}

/** The generated files of a recipe. */
export function generateBuildFiles(recipe: BuildRecipe): Record<string, string> {
  const generator = generators.get(recipe.kind);
  if (!generator) {
    throw new PyfleetError('', `no build generator is registered for recipes of kind "${recipe.kind}"`, 'import the constructs from the package entry point (it registers every renderer), not from a deep path');
  }
  return generator(recipe);
}
