// Where compiled models come from, fastest first:
//   1. MODELS: compiled models in this page's memory, by payload id (survives Streamlit page
//      switches: the module is evaluated once per browser page);
//   2. IndexedDB: the wire weights of the last MAX_STORED_MODELS models, by payload id (the
//      content hash), shared by every page, tab and reload of this origin;
//   3. Python: a view that finds neither asks for the weights (BaseView.requestWeights), and
//      the next run sends them once, in binary (the envelope read by unpackEnvelope).
// The header (layers, shapes, dtype) comes with every run's data: it is small.

const MAX_CACHED_MODELS = 4;
const MAX_STORED_MODELS = 8;
const DB_NAME = "vae-live-decoder";
const DB_STORE = "weights"; // {id, dtype, n_floats, bytes: ArrayBuffer, t: ms since epoch}

const MODELS = new Map(); // id -> compiled model, least recently used first

/** The compiled model for this payload id if this page has it, else null. */
function memoryModel(id) {
  const m = MODELS.get(id);
  if (m) {
    MODELS.delete(id);
    MODELS.set(id, m);
  }
  return m || null;
}

/** Compile header + wire bytes and keep the result in memory. */
function addModel(header, bytes) {
  const m = compileModel(header, weightsToFloat32(bytes, header.dtype, header.n_floats));
  MODELS.set(header.id, m);
  while (MODELS.size > MAX_CACHED_MODELS) MODELS.delete(MODELS.keys().next().value);
  return m;
}

/** A JSON payload with weights_b64 (test hooks) -> its compiled model. */
function payloadModel(payload) {
  checkHeader(payload);
  return memoryModel(payload.id) || addModel(payload, base64ToBytes(payload.weights_b64));
}

// ----- IndexedDB --------------------------------------------------------------------------

let dbPromise = null;

/** The database, or null where IndexedDB is unavailable (opaque origins, some private modes). */
function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve) => {
      try {
        const req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = () => {
          const store = req.result.createObjectStore(DB_STORE, { keyPath: "id" });
          store.createIndex("t", "t");
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => resolve(null);
        req.onblocked = () => resolve(null);
      } catch (err) {
        resolve(null);
      }
    });
  }
  return dbPromise;
}

/** Run fn(store) in one transaction; resolves with fn's request result (null on any error). */
async function withStore(mode, fn) {
  const db = await openDb();
  if (!db) return null;
  return new Promise((resolve) => {
    try {
      const tx = db.transaction(DB_STORE, mode);
      const req = fn(tx.objectStore(DB_STORE));
      tx.oncomplete = () => resolve(req ? req.result : null);
      tx.onerror = () => resolve(null);
      tx.onabort = () => resolve(null);
    } catch (err) {
      resolve(null);
    }
  });
}

/** The stored model for this header, compiled into memory; null when this browser lacks it. */
async function storedModel(header) {
  const rec = await withStore("readonly", (s) => s.get(header.id));
  if (!rec || rec.dtype !== header.dtype || rec.n_floats !== header.n_floats) return null;
  try {
    return memoryModel(header.id) || addModel(header, new Uint8Array(rec.bytes));
  } catch (err) {
    return null; // a damaged record: ask Python again
  }
}

/** Keep the wire bytes for later pages, tabs and reloads; drop the oldest beyond the limit. */
async function storeWeights(header, bytes) {
  const rec = { id: header.id, dtype: header.dtype, n_floats: header.n_floats, t: Date.now() };
  rec.bytes = bytes.slice().buffer;
  await withStore("readwrite", (s) => s.put(rec));
  await withStore("readwrite", (s) => {
    const count = s.count();
    count.onsuccess = () => {
      let extra = count.result - MAX_STORED_MODELS;
      if (extra <= 0) return;
      s.index("t").openKeyCursor().onsuccess = (e) => {
        const cursor = e.target.result;
        if (!cursor || extra-- <= 0) return;
        s.delete(cursor.primaryKey);
        cursor.continue();
      };
    };
    return count;
  });
}

// ----- the binary envelope ----------------------------------------------------------------

/**
 * Data sent as bytes (pages/_lib/live_decoder.py, _envelope): WIRE_MAGIC, a little-endian
 * uint32 n, n bytes of the run's JSON data, then the model's wire weights.
 * -> {data, weights: Uint8Array}; null for anything else.
 */
function unpackEnvelope(raw) {
  if (!(raw instanceof Uint8Array) || raw.length < WIRE_MAGIC.length + 4) return null;
  for (let i = 0; i < WIRE_MAGIC.length; i++) {
    if (raw[i] !== WIRE_MAGIC.charCodeAt(i)) return null;
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = view.getUint32(WIRE_MAGIC.length, true);
  const start = WIRE_MAGIC.length + 4;
  const data = JSON.parse(new TextDecoder().decode(raw.subarray(start, start + n)));
  return { data, weights: raw.subarray(start + n) };
}

/** Weights that arrived from Python: compile them now, store them for next time. */
function receiveWeights(header, bytes) {
  const m = addModel(header, bytes);
  storeWeights(header, bytes).catch(() => {});
  return m;
}
