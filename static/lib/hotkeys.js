// Labelling hotkeys: the key that labels an item with each class. The rule is the server's
// (service/domain/hotkeys.py): a class named with one key character gets that very key (on
// `digits`, `3` labels "3"); every other class gets the first free letter or digit of its name,
// then any free one. The dataset's own map (GET /api/datasets/{d} `hotkeys`) wins when present.

const SPARE = [..."1234567890abcdefghijklmnopqrstuvwxyz"];
const ONE_KEY = /^[^\p{C}\p{Z}]$/u; // one printable, non-space character (Python's isprintable and not isspace)

function isOneKey(name) {
  return [...name].length === 1 && ONE_KEY.test(name);
}

// class -> key for `classes`, avoiding the keys in `taken`; classes beyond the spare keys get none.
export function defaults(classes, taken = []) {
  const used = new Set(taken);
  const keys = {};
  for (const name of classes) {
    const key = name.toLowerCase();
    if (isOneKey(name) && !used.has(key)) {
      keys[name] = key;
      used.add(key);
    }
  }
  for (const name of classes) {
    if (name in keys) continue;
    const free = [...name.toLowerCase(), ...SPARE].find((c) => SPARE.includes(c) && !used.has(c));
    if (free) {
      keys[name] = free;
      used.add(free);
    }
  }
  return keys;
}

// The chosen keys for the current classes, defaults for the others, in class order.
export function effective(classes, chosen = {}) {
  const kept = Object.fromEntries(Object.entries(chosen).filter(([name, key]) => classes.includes(name) && key));
  const filled = defaults(
    classes.filter((c) => !(c in kept)),
    Object.values(kept).map((k) => k.toLowerCase()),
  );
  const out = {};
  for (const name of classes) {
    const key = kept[name]?.toLowerCase() ?? filled[name];
    if (key) out[name] = key;
  }
  return out;
}

// The keys a dataset's labelling uses: the server's map, completed by the rule for any class it
// does not cover (labels in use on a dataset without declared classes).
export function forDataset(dataset, classes) {
  return effective(classes, dataset.hotkeys || {});
}

// What is wrong with a chosen map, in words; "" when it is valid.
export function problem(chosen) {
  const seen = new Map();
  for (const [name, key] of Object.entries(chosen)) {
    if (!isOneKey(key)) return `The key for “${name}” must be one character (a letter, digit or sign).`;
    const lower = key.toLowerCase();
    if (seen.has(lower)) return `“${seen.get(lower)}” and “${name}” cannot share the key ${lower}.`;
    seen.set(lower, name);
  }
  return "";
}

// key -> class, for looking up a key press.
export function byKey(keys) {
  return new Map(Object.entries(keys).map(([name, key]) => [key, name]));
}

// The key a keydown names, compared case-insensitively (Shift+A is still `a`).
export function pressed(event) {
  return event.key.length === 1 || isOneKey(event.key) ? event.key.toLowerCase() : event.key;
}
