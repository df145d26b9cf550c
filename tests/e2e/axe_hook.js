// Injected (after axe.min.js) into every document of an e2e browser context by tests/e2e/conftest.py. On Onramp's
// own HTML pages it runs axe-core (WCAG 2.0/2.1 A and AA) once the page has loaded and again after htmx swaps,
// but only for a URL and page state the suite has not checked yet, so a poll that only changes text or a progress
// value costs one signature, not an axe run.
(() => {
  if (window.top !== window || !window.axe) return;
  const config = __AXE_CONFIG__;
  if (location.origin !== config.origin) return;
  let queue = Promise.resolve();
  let timer = null;

  // The page's state: the set of kinds of element it shows (tag, id, classes, role). Another row of a table, a new
  // percentage or message is the same state; a new panel, pill colour or form error is a new one.
  const signature = () => {
    const kinds = new Set();
    for (const el of document.body.querySelectorAll("*")) {
      kinds.add(`${el.tagName}#${el.id}.${el.getAttribute("class") || ""}[${el.getAttribute("role") || ""}]`);
    }
    const text = [...kinds].sort().join("\n");
    let hash = 0;
    for (let i = 0; i < text.length; i++) hash = (Math.imul(31, hash) + text.charCodeAt(i)) | 0;
    return `${location.pathname}${location.search} ${hash >>> 0}`;
  };

  const check = () =>
    (queue = queue.then(async () => {
      if (!document.body || document.contentType !== "text/html") return;
      const key = signature();
      if (!(await window.__axeFirstTime(key))) return;
      const started = performance.now();
      try {
        const results = await window.axe.run(document, {
          runOnly: { type: "tag", values: config.tags },
          resultTypes: ["violations"],
        });
        const violations = results.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          targets: v.nodes.map((n) => n.target.join(" ")),
          summary: v.nodes.map((n) => n.failureSummary).slice(0, 1).join(""),
        }));
        await window.__axeReport(location.href, key, violations, performance.now() - started);
      } catch (error) {
        await window.__axeReport(location.href, key, null, performance.now() - started, String(error));
      }
    }));

  // Later checks wait for the page to settle: an htmx swap is followed by its settle and, often, by another swap.
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(check, 150);
  };
  window.__axeIdle = () => {
    if (timer) {
      clearTimeout(timer);
      timer = null;
      check();
    }
    return queue;
  };
  if (document.readyState === "complete") soon();
  else window.addEventListener("load", soon);
  document.addEventListener("htmx:afterSettle", soon);
})();
