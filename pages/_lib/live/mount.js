// The live component's entry (st.components.v2 module), sent with every run of a page that
// shows the component: a few hundred bytes. The code it runs (main.js and the files joined
// before it) arrives once per browser tab in the sidebar's code element and publishes
// globalThis.__vaeLive. Both modules load asynchronously, so a mount that comes first waits
// in globalThis.__vaeLiveWaiting (main.js starts it) and shows a line meanwhile.
const PENDING = new WeakMap(); // parentElement -> {component, cleanup, dead}
const LATE_MS = 15000;

export default function liveEntry(component) {
  if (globalThis.__vaeLive) return globalThis.__vaeLive(component);
  const { parentElement } = component;
  let wait = PENDING.get(parentElement);
  if (!wait) {
    const note = document.createElement("div");
    note.setAttribute("data-testid", "vae-live-loading");
    note.textContent = "Loading the live decoder\u2026";
    parentElement.appendChild(note);
    const late = setTimeout(() => {
      note.textContent = "The live decoder's code has not arrived: reload the page.";
    }, LATE_MS);
    wait = { component, cleanup: null, dead: false };
    PENDING.set(parentElement, wait);
    const entry = wait;
    (globalThis.__vaeLiveWaiting ||= []).push(() => {
      clearTimeout(late);
      note.remove();
      PENDING.delete(parentElement);
      if (!entry.dead) entry.cleanup = globalThis.__vaeLive(entry.component);
    });
  }
  wait.component = component; // the latest data wins
  const entry = wait;
  return () => {
    entry.dead = true;
    if (entry.cleanup) entry.cleanup();
  };
}
