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

/** Build generators by recipe kind. The image target carries pyfleet's own; an App gets them from its targets. */
export type BuildGenerators = Readonly<Record<string, BuildGenerator<any>>>;

/** The generated files of a recipe, made by the generator of its kind. */
export function generateBuildFiles(recipe: BuildRecipe, generators: BuildGenerators, where: string): Record<string, string> {
  const generator = generators[recipe.kind];
  if (!generator) {
    throw new PyfleetError(where, `no build generator for recipes of kind "${recipe.kind}" is among the App's targets`, 'keep the built-in image target in `new App({ targets })` (targets.defaults()), or pass a target whose buildGenerators include this kind');
  }
  return generator(recipe);
}
