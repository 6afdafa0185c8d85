// Compiled models kept by payload id (least recently used first), shared by every view.

const MAX_CACHED_MODELS = 4;

const MODELS = new Map(); // id -> compiled model, least recently used first

function cachedModel(id) {
  const m = MODELS.get(id);
  if (m) {
    MODELS.delete(id);
    MODELS.set(id, m);
  }
  return m || null;
}

/** The compiled model for a payload; compiles (and caches by id) when it carries weights. */
function getModel(payload) {
  const hit = payload.id ? cachedModel(payload.id) : null;
  if (hit) return hit;
  if (typeof payload.weights_b64 !== "string") return null;
  const m = compileModel(payload);
  if (payload.id) {
    MODELS.set(payload.id, m);
    while (MODELS.size > MAX_CACHED_MODELS) MODELS.delete(MODELS.keys().next().value);
  }
  return m;
}

