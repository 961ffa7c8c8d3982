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

/** Made with `new`: an empty plain object whose keys hang off a hidden class of their own. */
const Dictionary = function Dictionary(): void { /* an empty object */ } as unknown as new () => Record<string, unknown>;
(Dictionary as unknown as { prototype: object }).prototype = Object.prototype;

/** An empty plain object for keys made up at run time (see above). */
export function dictionary<V>(): Record<string, V> {
  return new Dictionary() as Record<string, V>;
}

/** A dictionary of `entries`, in their order. */
export function dictionaryOf<V>(entries: Iterable<readonly [string, V]>): Record<string, V> {
  const out = dictionary<V>();
  for (const [k, v] of entries) out[k] = v;
  return out;
}
