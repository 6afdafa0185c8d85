// The live component's entry (st.components.v2 module), sent with every run of a page that
// shows the component: a few hundred bytes. The code it runs (main.js and the files joined
// before it) arrives once per browser tab in the sidebar's code element and publishes
// globalThis.__vaeLive. Both modules load asynchronously, so a mount that comes first waits
// in globalThis.__vaeLiveWaiting (main.js starts it) and shows a line meanwhile.
const PENDING = new WeakMap(); // parentElement -> {component, cleanup, dead}
const LATE_MS = 15000;

/** A mount that came before the code: a loading line until main.js starts it. */
function waitForCode(parentElement) {
  const note = document.createElement("div");
  note.setAttribute("data-testid", "vae-live-loading");
  note.textContent = "Loading the live decoder\u2026";
  parentElement.appendChild(note);
  const late = setTimeout(() => {
    note.textContent = "The live decoder's code has not arrived: reload the page.";
  }, LATE_MS);
  const wait = { component: null, cleanup: null, dead: false };
  PENDING.set(parentElement, wait);
  (globalThis.__vaeLiveWaiting ||= []).push(() => {
    clearTimeout(late);
    note.remove();
    PENDING.delete(parentElement);
    if (!wait.dead) wait.cleanup = globalThis.__vaeLive(wait.component);
  });
  return wait;
}

export default function liveEntry(component) {
  if (globalThis.__vaeLive) return globalThis.__vaeLive(component);
  const wait = PENDING.get(component.parentElement) || waitForCode(component.parentElement);
  wait.component = component; // the latest data wins
  return () => {
    wait.dead = true;
    if (wait.cleanup) wait.cleanup();
  };
}
