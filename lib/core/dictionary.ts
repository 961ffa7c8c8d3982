// Objects keyed by names a program makes up (network names, service names, variables): plain objects
// (their prototype is Object.prototype, their constructor Object), made from a root of their own.
//
// V8 gives every object made as `{}` the same first hidden class, and each distinct first key added to
// one hangs a transition off it. After 1,536 of them it makes no more: from then on every object of
// the process that starts empty and gets a key not seen before is laid out anew, several times slower.
// A compose project of 1,000 services has that many network names, each the first key of some
// container's `networks`; measured at N=1,000, the Kubernetes target rendered after compose then took
// 425 ms instead of 245 (its serializer builds every object from `{}`). Dictionaries made here hang
// their keys off this constructor's hidden class instead, and leave `{}`'s to the rest of the code.

/**
 * A maker of dictionaries whose keys hang off a hidden class of its own (made with `new`: an empty
 * plain object). The same budget of first keys holds per maker: a kind of dictionary with many (the
 * network names of a large project) gets a maker of its own, so that it cannot use up the others'.
 */
export function dictionaryMaker(): <V>() => Record<string, V> {
  const Dictionary = function Dictionary(): void { /* an empty object */ } as unknown as new () => Record<string, unknown>;
  (Dictionary as unknown as { prototype: object }).prototype = Object.prototype;
  return <V>() => new Dictionary() as Record<string, V>;
}

/** An empty plain object for keys made up at run time (see above). */
export const dictionary: <V>() => Record<string, V> = dictionaryMaker();

/** A dictionary of `entries`, in their order, made by `make`. */
export function dictionaryOf<V>(entries: Iterable<readonly [string, V]>, make: <W>() => Record<string, W> = dictionary): Record<string, V> {
  const out = make<V>();
  for (const [k, v] of entries) out[k] = v;
  return out;
}
