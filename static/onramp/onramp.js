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
