// The elements every message gets (buttons, groups), built once and cloned: a clone is far
// cheaper than creating an element and setting it up, and a long conversation has a thousand
// messages to equip when it opens.

const prototypes = new Map();

/** A fresh copy of the element `build()` makes (called once per `key`). */
export function cloneOf(key, build) {
  let prototype = prototypes.get(key);
  if (!prototype) {
    prototype = build();
    prototypes.set(key, prototype);
  }
  return prototype.cloneNode(true);
}
