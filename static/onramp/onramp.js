// Copy buttons: <button data-copy="#element-id"> copies that element's text (or value) to the clipboard.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = "value" in source && source.tagName !== "BUTTON" ? source.value : source.textContent;
  const label = button.textContent;
  const spokenLabel = button.getAttribute("aria-label");
  // A button named for what it copies ("Copy the PowerShell") says "Copied" too, not only on screen.
  const say = (words) => {
    button.textContent = words;
    if (spokenLabel) button.setAttribute("aria-label", words);
  };
  try {
    await navigator.clipboard.writeText(text.trim());
    say("Copied");
  } catch {
    // No clipboard permission (plain http, old browser): select the text so Ctrl+C works.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    say("Press Ctrl+C");
  }
  setTimeout(() => {
    button.textContent = label;
    if (spokenLabel) button.setAttribute("aria-label", spokenLabel);
  }, 2000);
});

// <button data-print> opens the browser's print dialog; the print stylesheet shapes the report.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});

// The steps list (templates/wizard/_nav.html) is rendered open, which is right beside the step on a wide screen.
// On a phone it would fill the first screen before the step, so there it folds to its one-line summary. htmx:load
// also fires for the wizard area swapped in when a step finishes, which brings a fresh, open list.
const narrowScreen = window.matchMedia("(max-width: 760px)");

function fitStepsList(root) {
  for (const list of root.querySelectorAll("details.steps-list")) list.open = !narrowScreen.matches;
}

fitStepsList(document);
document.addEventListener("htmx:load", (event) => fitStepsList(event.detail.elt));
narrowScreen.addEventListener("change", () => fitStepsList(document));

// Choosing "Explicit endpoints" as the cloud opens the endpoint fields folded under it (wizard.forms.ConnectForm).
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[name=cloud]");
  if (!select || select.value !== "custom") return;
  const advanced = select.form && select.form.querySelector("details.advanced");
  if (advanced) advanced.open = true;
});

// Screen readers and htmx swaps. The polled fragments (a running step's #progress, every second) are replaced
// whole, so none of them is a live region: a replaced live region is either silent or read out at every poll. One
// polite live region of the page's own (#live-status, templates/base.html) is never swapped; an element swapped in
// with data-announce="…" puts its words there only when they differ from what was last said, so a step's state is
// announced when it changes (Queued, Running, Waiting on Microsoft, Done, failed), not at every poll.
const liveStatus = document.getElementById("live-status");
let lastSaid = (document.querySelector("[data-announce]") || {}).dataset?.announce || "";

function announce(root) {
  const source = root.matches?.("[data-announce]") ? root : root.querySelector?.("[data-announce]");
  if (!liveStatus || !source || source.dataset.announce === lastSaid) return;
  lastSaid = source.dataset.announce;
  if (lastSaid) liveStatus.textContent = lastSaid;
}

// Focus after a swap. When the step's whole area is replaced (the step stopped: #wizard), a keyboard or screen
// reader user lands on the first error if there is one, else on the step's heading, instead of the page's start.
// Any other swap that removed the focused element gives focus to its counterpart: the same id, the current filter
// link, or the new fragment's heading.
let focusOnPage = false; // nothing focused (the page itself), as after a reload
let focusInside = false; // the focused element is in what the swap replaces
document.addEventListener("htmx:beforeSwap", (event) => {
  const active = document.activeElement;
  const target = event.detail.target;
  focusOnPage = !active || active === document.body;
  focusInside = !focusOnPage && Boolean(target && target.contains(active));
});

function focusOn(element) {
  if (!element) return false;
  if (!element.matches("a[href], button, input, select, textarea, summary, [tabindex]")) {
    element.setAttribute("tabindex", "-1");
  }
  element.focus();
  return document.activeElement === element;
}

document.addEventListener("htmx:afterSettle", (event) => {
  const root = event.detail.elt;
  if (!root || !root.isConnected) return;
  announce(root);
  if (root.id === "wizard" && (focusOnPage || focusInside)) {
    const first = (...selectors) => selectors.map((s) => root.querySelector(s)).find(Boolean);
    focusOn(first(".panel-error h2", ".field.has-error :is(input, select, textarea)", ".panel-error", "h1"));
  } else if (focusInside && (!document.activeElement || document.activeElement === document.body)) {
    focusOn(root.querySelector("[aria-current]") || root.querySelector("h1, h2, h3") || root);
  }
});
